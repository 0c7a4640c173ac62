//! NKey authentication against a real nats-server (Debian's) that knows users only by their
//! NKey: the client signs the server's nonce with the seed in NATS_NKEY, the `nats` CLI's
//! variable. One test in its own binary, because NATS_NKEY is process-wide.

use micro::broker::nats::Nats;
use micro::broker::{self, Broker, Message, SubscribeOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn nats_bin() -> Option<PathBuf> {
    let found =
        [std::env::var("NATS_SERVER").ok(), Some("/usr/sbin/nats-server".into()), Some("/usr/bin/nats-server".into())]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var("MICRO_REQUIRE_NATS").as_deref() != Ok("1"), "nats-server not found");
        eprintln!("skipping: no nats-server (apt-get install nats-server)");
    }
    found
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nats-server on a free port with `conf`; the port, once it listens.
fn start(bin: &PathBuf, conf: &PathBuf) -> (Server, u16) {
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let mut server = Server(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if server.0.try_wait().ok().flatten().is_some() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && server.0.try_wait().ok().flatten().is_none() {
            return (server, port);
        }
        drop(server.0.kill());
    }
    panic!("nats-server did not start with {conf:?}");
}

#[tokio::test]
async fn nkey_user_signs_the_nonce_and_others_are_refused_by_name() {
    let Some(bin) = nats_bin() else { return };
    let dir = std::env::temp_dir().join(format!("micro-nkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let user = nkeys::KeyPair::new_user();
    let conf = dir.join("nats.conf");
    std::fs::write(&conf, format!("authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n", user.public_key())).unwrap();
    let (_server, port) = start(&bin, &conf);
    let url = format!("nats://127.0.0.1:{port}");

    // The seed file as the nats CLI takes it; NATS_NKEY names it.
    let seed = dir.join("user.nk");
    std::fs::write(&seed, format!("{}\n", user.seed().unwrap())).unwrap();
    std::env::set_var("NATS_NKEY", &seed);
    let nats = Nats::new(&url, 1 << 20).unwrap();
    nats.connect().await.expect("the NKey user is let in");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _sub = nats
        .subscribe(
            "nkey.topic",
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
    nats.publish("nkey.topic", Message::new("signed")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("delivered").unwrap();
    assert_eq!(&got[..], b"signed");

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
    let _ = std::fs::remove_dir_all(&dir);
}
