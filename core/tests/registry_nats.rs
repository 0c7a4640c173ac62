//! The NATS registry against a real `nats-server` (Debian's package; `scripts/test.d/20-pubsub.sh`
//! installs it). Without one on PATH (or `NATS_SERVER`) the tests say so and pass, unless
//! `MICRO_REQUIRE_NATS=1`, which the pub/sub suite sets.

mod common;

use common::free_port;
use common::nats::{nats_bin, NatsServer};

use micro::registry::nats::Nats;
use micro::registry::{self, Action, Endpoint, Metadata, Node, RegisterOptions, Registry, Service, Value};
use std::process::Command;
use std::time::{Duration, Instant};

fn service(name: &str, version: &str, id: &str) -> Service {
    let mut md = Metadata::new();
    md.insert("protocol".into(), "mucp".into());
    Service {
        name: name.into(),
        version: version.into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value::leaf("Request", "Request")),
            ..Default::default()
        }],
        nodes: vec![Node { id: id.into(), address: "127.0.0.1:1".into(), metadata: md }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_find_each_other_watch_and_leave() {
    let Some(bin) = nats_bin("two_processes_find_each_other_watch_and_leave") else { return };
    let server = NatsServer::start(&bin, &[]);
    // Two processes, as far as NATS is concerned: URLs written differently do not share
    // the process's connection.
    let a = registry::from_url(&server.url()).await.unwrap();
    let b = Nats::from_urls(&format!("127.0.0.1:{}", server.port)).unwrap();
    assert_eq!(a.name(), "nats");

    let mut watch = b.watch(Some("greeter")).await.unwrap();
    let mut all = b.watch(None).await.unwrap();
    let one = service("greeter", "1", "greeter-1");
    a.register(&one, RegisterOptions::default()).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap();
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Create, "greeter-1"));
    let ev = tokio::time::timeout(Duration::from_secs(5), all.next()).await.unwrap().unwrap();
    assert_eq!(ev.service.name, "greeter");

    assert_eq!(b.get_service("greeter").await.unwrap(), vec![one.clone()]);
    b.register(&service("greeter", "1", "greeter-2"), RegisterOptions::default()).await.unwrap();
    b.register(&service("other", "2", "other-1"), RegisterOptions::default()).await.unwrap();
    let got = a.get_service("greeter").await.unwrap();
    assert_eq!(got.len(), 1, "one version: {got:?}");
    let mut ids: Vec<&str> = got[0].nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["greeter-1", "greeter-2"], "nodes from both processes merge");
    let names: Vec<String> = a.list_services().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["greeter", "other"]);
    assert!(a.get_service("nobody").await.unwrap().is_empty());

    a.deregister(&one).await.unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap();
        if ev.action == Action::Delete {
            assert_eq!(ev.service.nodes[0].id, "greeter-1");
            break;
        }
    }
    let got = b.get_service("greeter").await.unwrap();
    assert_eq!(got[0].nodes.len(), 1);
    assert_eq!(got[0].nodes[0].id, "greeter-2");

    // A process that goes away stops answering: gone from the next lookup.
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = a.get_service("greeter").await.unwrap();
        if got.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "a dropped registry still answers: {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_is_a_clear_503() {
    let r = Nats::from_urls(&format!("nats://127.0.0.1:{}", free_port())).unwrap();
    let err = r.get_service("x").await.unwrap_err();
    assert_eq!(err.code, 503, "{err:?}");
    assert!(err.detail.contains("nats registry") && err.detail.contains("cannot connect"), "{}", err.detail);
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_the_url_are_used_and_wrong_ones_are_a_clear_error() {
    let Some(bin) = nats_bin("credentials_in_the_url_are_used_and_wrong_ones_are_a_clear_error") else { return };
    let server = NatsServer::start(&bin, &["--user", "micro", "--pass", "s3cret"]);
    let good = Nats::from_urls(&format!("nats://micro:s3cret@127.0.0.1:{}", server.port)).unwrap();
    good.register(&service("auth", "1", "auth-1"), RegisterOptions::default()).await.unwrap();
    assert_eq!(good.get_service("auth").await.unwrap().len(), 1);

    let wrong = Nats::from_urls(&format!("nats://micro:nope@127.0.0.1:{}", server.port)).unwrap();
    let err = wrong.register(&service("auth", "1", "auth-2"), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 401, "a refusal, not an outage: {err:?}");
    assert!(
        err.detail.contains("nats registry")
            && err.detail.contains("Authorization Violation")
            && err.detail.contains("user and password"),
        "{}",
        err.detail
    );
    assert!(!err.detail.contains("nope"), "the password is not repeated: {}", err.detail);
    // A service whose password is wrong does not start (an outage would be retried).
    let refused = micro::Service::builder("auth")
        .address("127.0.0.1:0")
        .registry(std::sync::Arc::new(wrong))
        .build()
        .await
        .expect("service");
    let err = refused.start().await.expect_err("a wrong password fails the start");
    assert!(err.detail.contains("Authorization Violation"), "{}", err.detail);
    let none = Nats::from_urls(&server.url()).unwrap();
    let err = none.get_service("auth").await.unwrap_err();
    assert!(err.detail.contains("wants credentials"), "{}", err.detail);

    let token = NatsServer::start(&bin, &["--auth", "tok3n"]);
    let good = registry::from_url(&format!("nats://tok3n@127.0.0.1:{}", token.port)).await.unwrap();
    good.register(&service("tok", "1", "tok-1"), RegisterOptions::default()).await.unwrap();
    assert_eq!(good.get_service("tok").await.unwrap().len(), 1);
    let bad = Nats::from_urls(&format!("nats://wrong@127.0.0.1:{}", token.port)).unwrap();
    let err = bad.list_services().await.unwrap_err();
    assert!(err.detail.contains("Authorization Violation") && err.detail.contains("token"), "{}", err.detail);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_shares_the_brokers_connection() {
    use micro::broker;
    let Some(bin) = nats_bin("the_registry_shares_the_brokers_connection") else { return };
    let server = NatsServer::start(&bin, &[]);
    let monitor = server.monitor;
    let url = server.url();
    let reg = Nats::from_urls(&url).unwrap();
    let broker = broker::from_url(&url, std::sync::Arc::new(reg.clone()), 1 << 20).unwrap();
    broker.connect().await.unwrap();
    reg.register(&service("shared", "1", "shared-1"), RegisterOptions::default()).await.unwrap();
    let connz = || {
        let out = Command::new("curl").args(["-s", &format!("http://127.0.0.1:{monitor}/connz")]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["num_connections"].as_u64().unwrap_or(0)
    };
    assert_eq!(connz(), 1, "one connection for the broker and the registry");
    // The broker leaving does not take the registry's connection with it.
    broker.disconnect().await.unwrap();
    assert_eq!(reg.get_service("shared").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_servers_are_verified_and_a_wrong_ca_or_plain_dial_is_a_clear_error() {
    use micro::registry::nats::Options;
    let Some(bin) = nats_bin("tls_servers_are_verified_and_a_wrong_ca_or_plain_dial_is_a_clear_error") else { return };
    let dir = std::env::temp_dir().join(format!("micro-nats-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let server =
        NatsServer::start(&bin, &["--tls", "--tlscert", cert.to_str().unwrap(), "--tlskey", key.to_str().unwrap()]);
    let with_ca = |pem: &[u8], scheme: &str| {
        Nats::new(Options {
            urls: format!("{scheme}://127.0.0.1:{}", server.port),
            tls: Some(micro::transport::tls::client_config(pem).unwrap()),
            ..Options::default()
        })
        .unwrap()
    };
    let good = with_ca(made.cert.pem().as_bytes(), "tls");
    good.register(&service("tls", "1", "tls-1"), RegisterOptions::default()).await.unwrap();
    assert_eq!(good.get_service("tls").await.unwrap().len(), 1);
    // A nats:// URL still upgrades when the server requires TLS.
    assert_eq!(with_ca(made.cert.pem().as_bytes(), "nats").get_service("tls").await.unwrap().len(), 1);

    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let err = with_ca(other.cert.pem().as_bytes(), "tls").get_service("tls").await.unwrap_err();
    assert!(err.detail.contains("TLS with") && err.detail.contains("certificate"), "{}", err.detail);
    let plain = Nats::from_urls(&server.url()).unwrap();
    let err = plain.get_service("tls").await.unwrap_err();
    assert!(err.detail.contains("requires TLS"), "{}", err.detail);
    eprintln!("wrong CA: {}", with_ca(other.cert.pem().as_bytes(), "tls").list_services().await.unwrap_err().detail);
    let _ = std::fs::remove_dir_all(&dir);
}

/// #16 item 5: nats-server is not up yet when a service starts. That is not a failure: the
/// service serves callers that know its address, and registers by itself once the server
/// comes up (retried with backoff, 1 s doubling to 10 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_service_started_before_nats_registers_once_the_server_is_up() {
    let Some(bin) = nats_bin("a_service_started_before_nats_registers_once_the_server_is_up") else { return };
    let port = free_port(); // nats-server comes here later
    let url = format!("nats://127.0.0.1:{port}");
    let svc =
        common::start_before_the_registry("early-nats", std::sync::Arc::new(Nats::from_urls(&url).unwrap())).await;

    let _server = NatsServer::start_on(&bin, port, &[]);
    let look = Nats::from_urls(&format!("127.0.0.1:{port}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = look.get_service("early-nats").await.unwrap();
        if let Some(s) = got.first() {
            assert_eq!(s.nodes[0].id, svc.server().id());
            break;
        }
        assert!(Instant::now() < deadline, "not registered 60 s after nats-server came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::registered(&svc).await;
    svc.stop().await.expect("stop");
}

/// #16 item 5, NATS: the server is restarted (it keeps no data: go-micro's NATS registry is
/// answered by each live process). The node's process reconnects and resubscribes by itself,
/// and a lookup after the restart finds it again.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_server_restart_the_living_nodes_answer_again() {
    let Some(bin) = nats_bin("after_a_server_restart_the_living_nodes_answer_again") else { return };
    let port = free_port();
    let server = NatsServer::start_on(&bin, port, &[]);
    let node = Nats::from_urls(&format!("nats://127.0.0.1:{port}")).unwrap();
    node.register(&service("phoenix", "1", "phoenix-1"), RegisterOptions::default()).await.unwrap();
    let look = Nats::from_urls(&format!("127.0.0.1:{port}")).unwrap();
    assert_eq!(look.get_service("phoenix").await.unwrap().len(), 1);

    drop(server); // killed
    let _server = NatsServer::start_on(&bin, port, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match look.get_service("phoenix").await {
            Ok(got) if !got.is_empty() => {
                assert_eq!(got[0].nodes[0].id, "phoenix-1");
                break;
            }
            other => assert!(Instant::now() < deadline, "60 s after the restart: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
