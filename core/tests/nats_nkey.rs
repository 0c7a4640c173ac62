//! NKey and JWT (creds file) authentication against a real nats-server (Debian's): the
//! client signs the server's nonce with the seed in NATS_NKEY, or sends the user JWT of the
//! creds file NATS_CREDS names and signs with its seed (the `nats` CLI's variables). The
//! operator-mode setup is made by `tests/interop/nats_creds` with the NATS JWT library nsc
//! is built on. One test in its own binary, because the variables are process-wide.

mod common;

use common::nats::{nats_bin, NatsServer};
use micro::broker::nats::Nats;
use micro::broker::{self, Broker, Message, SubscribeOptions};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

/// Connects with what the environment says, subscribes and gets its own message back.
async fn round_trip(url: &str, topic: &str) {
    let nats = Nats::new(url, 1 << 20).unwrap();
    nats.connect().await.expect("the user is let in");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _sub = nats
        .subscribe(
            topic,
            SubscribeOptions::default(),
            broker::handler(move |e| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(e.message.body);
                    Ok(())
                }
            }),
        )
        .await
        .unwrap();
    nats.publish(topic, Message::new("signed")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivered").unwrap();
    assert_eq!(&got[..], b"signed");
}

/// The operator-mode setup of `tests/interop/nats_creds` (`go run`), in `dir`; `None` when
/// there is no Go toolchain (an error when the suite requires NATS).
fn operator_setup(dir: &std::path::Path) -> Option<()> {
    let gen = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/nats_creds");
    match Command::new("go").arg("run").arg(".").arg(dir).current_dir(&gen).status() {
        Ok(st) => {
            assert!(st.success(), "go run tests/interop/nats_creds failed: {st}");
            Some(())
        }
        Err(e) => {
            assert!(std::env::var("MICRO_REQUIRE_NATS").as_deref() != Ok("1"), "no go toolchain: {e}");
            eprintln!("skipping the creds part: no go toolchain ({e})");
            None
        }
    }
}

#[tokio::test]
async fn nkey_and_creds_users_sign_the_nonce_and_others_are_refused_by_name() {
    let Some(bin) = nats_bin("nkey_and_creds_users_sign_the_nonce_and_others_are_refused_by_name") else { return };
    let dir = std::env::temp_dir().join(format!("micro-nkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let user = nkeys::KeyPair::new_user();
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, format!("authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n", user.public_key())).unwrap();
    let server = NatsServer::start(&bin, &["-c", conf.to_str().unwrap()]);
    let url = server.url();

    // The seed file as the nats CLI takes it; NATS_NKEY names it.
    let seed = dir.join("user.nk");
    std::fs::write(&seed, format!("{}\n", user.seed().unwrap())).unwrap();
    std::env::set_var("NATS_NKEY", &seed);
    round_trip(&url, "nkey.topic").await;

    // Another user's key: refused, and the error names the key and NATS_NKEY.
    let stranger = nkeys::KeyPair::new_user();
    let other = dir.join("stranger.nk");
    std::fs::write(&other, stranger.seed().unwrap()).unwrap();
    std::env::set_var("NATS_NKEY", &other);
    let e = Nats::new(&url, 1 << 20).unwrap().connect().await.unwrap_err();
    assert!(e.detail.contains(&stranger.public_key()) && e.detail.contains("NATS_NKEY"), "{}", e.detail);

    // No key: the error says what the server wants, NKeys included.
    std::env::remove_var("NATS_NKEY");
    let e = Nats::new(&url, 1 << 20).unwrap().connect().await.unwrap_err();
    assert!(e.detail.contains("NATS_NKEY"), "{}", e.detail);

    // A file with no seed in it: a clear error when the client is made.
    let junk = dir.join("junk.nk");
    std::fs::write(&junk, "not a seed\n").unwrap();
    std::env::set_var("NATS_NKEY", &junk);
    let e = Nats::new(&url, 1 << 20).err().expect("refused");
    assert!(e.detail.contains("NATS_NKEY") && e.detail.contains("no user seed"), "{}", e.detail);
    std::env::remove_var("NATS_NKEY");

    // Operator mode: a server that trusts one operator and knows its accounts. A user JWT
    // from a creds file is let in; one of an account the server was never given is refused,
    // and the error names the user and NATS_CREDS.
    let ops = dir.join("operator");
    std::fs::create_dir_all(&ops).unwrap();
    if operator_setup(&ops).is_some() {
        let conf = ops.join("server.conf");
        let _server = NatsServer::start(&bin, &["-c", conf.to_str().unwrap()]);
        let url = _server.url();
        std::env::set_var("NATS_CREDS", ops.join("user.creds"));
        round_trip(&url, "creds.topic").await;

        std::env::set_var("NATS_CREDS", ops.join("stranger.creds"));
        let e = Nats::new(&url, 1 << 20).unwrap().connect().await.unwrap_err();
        assert_eq!(e.code, 401, "{e:?}");
        assert!(e.detail.contains("user JWT") && e.detail.contains("stranger.creds"), "{}", e.detail);
        eprintln!("a user of an unknown account: {}", e.detail);

        // Both variables set: which one is meant is not guessed.
        std::env::set_var("NATS_NKEY", &seed);
        let e = Nats::new(&url, 1 << 20).err().expect("refused");
        assert!(e.detail.contains("NATS_CREDS and NATS_NKEY"), "{}", e.detail);
        std::env::remove_var("NATS_NKEY");

        // A creds file without a JWT block (a bare seed): a clear error naming it.
        std::env::set_var("NATS_CREDS", &seed);
        let e = Nats::new(&url, 1 << 20).err().expect("refused");
        assert!(e.detail.contains("NATS_CREDS") && e.detail.contains("no user JWT"), "{}", e.detail);
        std::env::remove_var("NATS_CREDS");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
