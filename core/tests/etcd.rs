//! The etcd registry against a real `etcd` (Debian's `etcd-server`; `scripts/test.d/25-etcd.sh`
//! installs it). Without one on PATH (or `ETCD_BIN`) the tests say so and pass, unless
//! `MICRO_REQUIRE_ETCD=1`, which that suite sets.

mod common;

use common::free_port;

use micro::registry::etcd::{node_key, Etcd, Options};
use micro::registry::{Action, Endpoint, Event, Metadata, Node, RegisterOptions, Registry, Service, Value, Watcher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn etcd_bin(test: &str) -> Option<PathBuf> {
    let candidates = [std::env::var("ETCD_BIN").ok(), Some("/usr/bin/etcd".into()), Some("/usr/local/bin/etcd".into())];
    for c in candidates.into_iter().flatten() {
        if PathBuf::from(&c).exists() {
            return Some(c.into());
        }
    }
    assert!(std::env::var("MICRO_REQUIRE_ETCD").as_deref() != Ok("1"), "{test}: etcd not found");
    eprintln!("skipping {test}: no etcd (apt-get install etcd-server)");
    None
}

/// A single-member etcd on free loopback ports, in its own data directory; killed on drop.
struct EtcdServer {
    child: Child,
    bin: PathBuf,
    name: String,
    port: u16,
    peer: u16,
    dir: PathBuf,
    /// Clients are served over https.
    tls: bool,
}

impl EtcdServer {
    /// A member on free ports. A port found free can be taken before etcd binds it (by
    /// another test): etcd then exits, and it is started again on new ports, up to three times.
    fn start(bin: &PathBuf, name: &str) -> EtcdServer {
        Self::start_with(bin, name, None, None)
    }

    /// A member serving clients on `port` (the test chose it before); only its peer port is
    /// picked again when etcd exits at start.
    fn start_on(bin: &PathBuf, name: &str, port: u16) -> EtcdServer {
        Self::start_with(bin, name, Some(port), None)
    }

    /// The member of [`EtcdServer::start`], on `port` when given, serving clients over https
    /// with `tls` (certificate and key files) when given.
    fn start_with(bin: &PathBuf, name: &str, port: Option<u16>, tls: Option<(&Path, &Path)>) -> EtcdServer {
        let dir = std::env::temp_dir().join(format!("micro-etcd-{name}-{}", std::process::id()));
        for attempt in 1.. {
            let _ = std::fs::remove_dir_all(&dir);
            let (port, peer) = (port.unwrap_or_else(free_port), free_port());
            let child = Self::spawn(bin, name, port, peer, &dir, tls);
            let mut s = EtcdServer {
                child,
                bin: bin.clone(),
                name: name.to_string(),
                port,
                peer,
                dir: dir.clone(),
                tls: tls.is_some(),
            };
            match s.wait_ready() {
                Ok(()) => return s,
                Err(why) if attempt < 3 => eprintln!("{why}: starting it again on new ports"),
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn spawn(bin: &PathBuf, name: &str, port: u16, peer: u16, dir: &Path, tls: Option<(&Path, &Path)>) -> Child {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(bin);
        cmd.args(["--name", name, "--data-dir", dir.to_str().unwrap()])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("{name}={peer_url}")]);
        if let Some((cert, key)) = tls {
            cmd.args(["--cert-file", cert.to_str().unwrap(), "--key-file", key.to_str().unwrap()]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("etcd starts")
    }

    /// Waits until the member answers a read (up to 30 s); an error when it exited first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let scheme = if self.tls { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{}/v3/kv/range", self.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // -k: readiness only; the https test checks certificates through our client.
            let ok = std::process::Command::new("curl")
                .args(["-sfk", "-o", "/dev/null", "-X", "POST", &url, "-d", r#"{"key":"eA=="}"#])
                .status()
                .is_ok_and(|st| st.success());
            if ok {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited ({status}) before serving on {}", self.port));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("etcd did not serve on {} within 30 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs the member, as a crash would; its data directory stays.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the member again on the same ports and data.
    fn restart(&mut self) {
        self.child = Self::spawn(&self.bin, &self.name, self.port, self.peer, &self.dir, None);
        self.wait_ready().unwrap_or_else(|why| panic!("{why}"));
    }

    fn registry(&self) -> Etcd {
        Etcd::new(Options {
            endpoints: vec![format!("127.0.0.1:{}", self.port)],
            timeout: Duration::from_secs(3),
            ..Options::default()
        })
        .unwrap()
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn service(name: &str, version: &str, id: &str, port: u16) -> Service {
    let mut md = Metadata::new();
    md.insert("protocol".into(), "mucp".into());
    md.insert("registry".into(), "etcd".into());
    Service {
        name: name.into(),
        version: version.into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value {
                name: "Request".into(),
                kind: "Request".into(),
                values: vec![Value::leaf("name", "string")],
            }),
            response: Some(Value::leaf("Response", "Response")),
            metadata: Metadata::new(),
        }],
        nodes: vec![Node { id: id.into(), address: format!("127.0.0.1:{port}"), metadata: md }],
        ..Default::default()
    }
}

async fn next_event(w: &mut Watcher, within: Duration) -> Event {
    tokio::time::timeout(within, w.next()).await.expect("a watch event in time").expect("watch open")
}

/// Polls `get_service` until `pred` holds or `within` passes; the last answer.
async fn poll(r: &Etcd, name: &str, within: Duration, pred: impl Fn(&[Service]) -> bool) -> Vec<Service> {
    let deadline = Instant::now() + within;
    loop {
        let got = r.get_service(name).await.unwrap();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_get_list_watch_deregister() {
    let Some(bin) = etcd_bin("register_get_list_watch_deregister") else { return };
    let server = EtcdServer::start(&bin, "a");
    let a = server.registry();
    let b = server.registry();
    let mut w = b.watch(Some("greeter")).await.unwrap();
    let mut all = b.watch(None).await.unwrap();

    let v1 = service("greeter", "1.0", "greeter-1", 40001);
    let v1b = service("greeter", "1.0", "greeter-2", 40002);
    let v2 = service("greeter", "2.0", "greeter-3", 40003);
    for s in [&v1, &v1b, &v2] {
        a.register(s, RegisterOptions { ttl: Duration::from_secs(30) }).await.unwrap();
    }
    let e = next_event(&mut w, Duration::from_secs(5)).await;
    assert_eq!(e.action, Action::Create);
    assert_eq!(e.service.nodes, v1.nodes);
    assert_eq!(e.service.endpoints, v1.endpoints);
    assert_eq!(next_event(&mut all, Duration::from_secs(5)).await.service.name, "greeter");

    let mut got = b.get_service("greeter").await.unwrap();
    got.sort_by(|x, y| x.version.cmp(&y.version));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].version, "1.0");
    let mut ids: Vec<&str> = got[0].nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["greeter-1", "greeter-2"]);
    assert_eq!(got[1].nodes, v2.nodes);
    assert_eq!(got[1].endpoints, v2.endpoints);
    assert!(b.get_service("nobody").await.unwrap().is_empty());

    a.register(&service("other", "latest", "other-1", 40010), RegisterOptions::default()).await.unwrap();
    let names: Vec<String> = b.list_services().await.unwrap().into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"greeter".to_string()) && names.contains(&"other".to_string()), "{names:?}");

    // A changed node is an update; an unchanged re-registration writes nothing new.
    let mut moved = v1.clone();
    moved.nodes[0].address = "127.0.0.1:40999".into();
    a.register(&moved, RegisterOptions { ttl: Duration::from_secs(30) }).await.unwrap();
    let e = loop {
        let e = next_event(&mut w, Duration::from_secs(5)).await;
        if e.service.nodes[0].id == "greeter-1" {
            break e;
        }
    };
    assert_eq!(e.action, Action::Update);
    assert_eq!(e.service.nodes[0].address, "127.0.0.1:40999");

    a.deregister(&moved).await.unwrap();
    let e = loop {
        let e = next_event(&mut w, Duration::from_secs(5)).await;
        if e.action == Action::Delete {
            break e;
        }
    };
    assert_eq!(e.service.nodes[0].id, "greeter-1");
    let got = b.get_service("greeter").await.unwrap();
    assert!(got.iter().all(|s| s.nodes.iter().all(|n| n.id != "greeter-1")), "{got:?}");
}

/// A registry that dies without deregistering (SIGKILL) leaves when its lease expires; a
/// live one survives many TTLs on its keep-alives alone.
#[tokio::test(flavor = "multi_thread")]
async fn leases_expire_for_the_dead_and_are_kept_alive_for_the_living() {
    let Some(bin) = etcd_bin("leases_expire_for_the_dead_and_are_kept_alive_for_the_living") else { return };
    let server = EtcdServer::start(&bin, "b");
    let observer = server.registry();
    let ttl = RegisterOptions { ttl: Duration::from_secs(2) };

    let living = server.registry();
    living.register(&service("alive", "1", "alive-1", 40100), ttl).await.unwrap();
    let dying = server.registry();
    dying.register(&service("dead", "1", "dead-1", 40101), ttl).await.unwrap();
    assert_eq!(observer.get_service("dead").await.unwrap().len(), 1);
    let started = Instant::now();
    drop(dying); // its keep-alive stops, as in a killed process

    let got = poll(&observer, "dead", Duration::from_secs(6), |s| s.is_empty()).await;
    assert!(got.is_empty(), "the dead node is still registered after {:?}", started.elapsed());
    assert!(started.elapsed() <= Duration::from_secs(4), "expiry took {:?} (TTL 2 s)", started.elapsed());

    // Three TTLs later the living node is still there, with no re-registration.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(observer.get_service("alive").await.unwrap().len(), 1, "a kept-alive lease expired");
}

/// A key deleted behind our back comes back on the next re-registration (go-micro skips
/// the write for an unchanged node and loses it); a lease etcd lost is granted again by
/// the keep-alive, without any re-registration.
#[tokio::test(flavor = "multi_thread")]
async fn lost_keys_and_lost_leases_come_back() {
    let Some(bin) = etcd_bin("lost_keys_and_lost_leases_come_back") else { return };
    let server = EtcdServer::start(&bin, "c");
    let r = server.registry();
    let observer = server.registry();
    let svc = service("sturdy", "1", "sturdy-1", 40200);
    let ttl = RegisterOptions { ttl: Duration::from_secs(3) };
    r.register(&svc, ttl).await.unwrap();

    let curl = |path: &str, body: String| {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", &format!("http://127.0.0.1:{}{path}", server.port), "-d", &body])
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "{path} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(node_key("sturdy", "sturdy-1"));

    curl("/v3/kv/deleterange", format!(r#"{{"key":"{key}"}}"#));
    assert!(observer.get_service("sturdy").await.unwrap().is_empty());
    r.register(&svc, ttl).await.unwrap();
    assert_eq!(observer.get_service("sturdy").await.unwrap().len(), 1, "the deleted key was not written again");

    // Revoke the lease under us: the key goes with it, and the keep-alive restores both.
    let range = curl("/v3/kv/range", format!(r#"{{"key":"{key}"}}"#));
    let lease =
        serde_json::from_str::<serde_json::Value>(&range).unwrap()["kvs"][0]["lease"].as_str().unwrap().to_string();
    curl("/v3/lease/revoke", format!(r#"{{"ID":"{lease}"}}"#));
    assert!(observer.get_service("sturdy").await.unwrap().is_empty());
    let got = poll(&observer, "sturdy", Duration::from_secs(4), |s| !s.is_empty()).await;
    assert_eq!(got.len(), 1, "the keep-alive did not grant a new lease and write the key again");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_etcd_is_a_clear_503_in_time() {
    let port = free_port(); // nothing listens there
    let r = Etcd::new(Options {
        endpoints: vec![format!("127.0.0.1:{port}")],
        timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .unwrap();
    let started = Instant::now();
    let e = r.get_service("x").await.unwrap_err();
    assert_eq!(e.code, 503, "{e:?}");
    assert!(e.detail.contains("cannot reach any member"), "{}", e.detail);
    assert!(started.elapsed() < Duration::from_secs(2));
    let e = r.register(&service("x", "1", "x-1", 1), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(e.code, 503);
    assert!(Etcd::new(Options { endpoints: vec![], ..Options::default() }).is_err());
    assert!(micro::registry::from_url("etcd://127.0.0.1:1").await.is_ok());
}

/// An etcd outage (checklist §4.4 item 7): etcd is SIGKILLed under a client that keeps
/// calling a service. Calls are answered by the node known before for several cache TTLs;
/// when etcd comes back on its data, a node started then is found, and the first node's
/// registration is still there — no process restarts.
#[tokio::test(flavor = "multi_thread")]
async fn an_etcd_outage_is_served_from_the_cache_and_resyncs() {
    use micro::registry::cache::{Cache, CacheOptions};
    use micro::{CallOptions, Client};
    use std::sync::Arc;
    let Some(bin) = etcd_bin("an_etcd_outage_is_served_from_the_cache_and_resyncs") else { return };
    let mut server = EtcdServer::start(&bin, "d");
    let quick = |s: &EtcdServer| -> Arc<dyn Registry> {
        Arc::new(
            Etcd::new(Options {
                endpoints: vec![format!("127.0.0.1:{}", s.port)],
                timeout: Duration::from_millis(500),
                ..Options::default()
            })
            .unwrap(),
        )
    };
    let node = |registry: Arc<dyn Registry>| async move {
        let svc = micro::Service::builder("sturdy-rpc")
            .address("127.0.0.1:0")
            .registry(registry)
            .register_ttl(Duration::from_secs(10))
            .register_interval(Duration::from_millis(500))
            .build()
            .await
            .expect("service");
        let id = svc.server().id().to_string();
        svc.server().handle("Sturdy.Who", move |_| {
            let id = id.clone();
            async move { Ok(micro::Response::from(id.into_bytes())) }
        });
        svc.start().await.expect("start");
        svc
    };
    let a = node(quick(&server)).await;
    let ages = CacheOptions {
        refresh: Duration::from_millis(200),
        ttl: Duration::from_millis(600),
        negative_ttl: Duration::from_millis(100),
    };
    let client = Client::with_cache(Some(Cache::with_options(quick(&server), ages)), Default::default());
    let who = |client: Client| async move {
        let r = client.call("sturdy-rpc", "Sturdy.Who", "{}", &CallOptions::default()).await.expect("call");
        String::from_utf8_lossy(&r.body).into_owned()
    };
    assert_eq!(who(client.clone()).await, a.server().id());

    server.kill();
    let until = Instant::now() + Duration::from_secs(3);
    let mut calls = 0;
    while Instant::now() < until {
        assert_eq!(who(client.clone()).await, a.server().id(), "a call during the outage");
        calls += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(calls > 20, "{calls} calls in 3 s of outage");

    server.restart();
    let b = node(quick(&server)).await;
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        seen.insert(who(client.clone()).await);
        assert!(Instant::now() < deadline, "after the outage the client saw only {seen:?}");
    }
    assert!(seen.contains(a.server().id()) && seen.contains(b.server().id()), "{seen:?}");
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}

/// POSTs `body` to etcd's JSON gateway with curl; the answer.
fn gateway(port: u16, path: &str, body: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-X", "POST", &format!("http://127.0.0.1:{port}{path}"), "-d", body])
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_authentication_on_the_password_is_used_and_a_wrong_one_is_a_clear_error() {
    let Some(bin) = etcd_bin("with_authentication_on_the_password_is_used_and_a_wrong_one_is_a_clear_error") else {
        return;
    };
    let server = EtcdServer::start(&bin, "auth");
    for (path, body) in [
        ("/v3/auth/user/add", r#"{"name":"root","password":"s3cret"}"#),
        ("/v3/auth/role/add", r#"{"name":"root"}"#),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/enable", "{}"),
    ] {
        let out = gateway(server.port, path, body);
        assert!(out.contains("header"), "{path}: {out}");
    }
    let with = |password: &str| {
        Etcd::new(Options {
            endpoints: vec![format!("127.0.0.1:{}", server.port)],
            credentials: Some(("root".into(), password.into())),
            ..Options::default()
        })
        .unwrap()
    };
    let good = with("s3cret");
    let svc = service("authed", "1", "authed-1", 6001);
    good.register(&svc, RegisterOptions { ttl: Duration::from_secs(10) }).await.unwrap();
    assert_eq!(good.get_service("authed").await.unwrap(), vec![svc.clone()]);
    let mut w = good.watch(Some("authed")).await.unwrap();
    good.deregister(&svc).await.unwrap();
    assert_eq!(next_event(&mut w, Duration::from_secs(5)).await.action, Action::Delete);

    let err = with("wrong").register(&svc, RegisterOptions::default()).await.unwrap_err();
    assert!(err.detail.contains("etcd") && err.detail.contains("authentication failed"), "{}", err.detail);
    assert!(!err.detail.contains("wrong"), "the password is not repeated: {}", err.detail);
    assert!((400..500).contains(&err.code), "a refusal, not an outage: {err:?}");
    // A service whose password is wrong does not start (an outage would be retried).
    let refused = micro::Service::builder("authed")
        .address("127.0.0.1:0")
        .registry(std::sync::Arc::new(with("wrong")))
        .build()
        .await
        .expect("service");
    let err = refused.start().await.expect_err("a wrong password fails the start");
    assert!(err.detail.contains("authentication failed"), "{}", err.detail);
    let anonymous = server.registry();
    let err = anonymous.get_service("authed").await.unwrap_err();
    assert!(err.detail.contains("etcd"), "{}", err.detail);
    eprintln!(
        "wrong password: {}\nno credentials: {}",
        with("x").get_service("a").await.unwrap_err().detail,
        err.detail
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_members_are_verified_against_the_ca() {
    let Some(bin) = etcd_bin("https_members_are_verified_against_the_ca") else { return };
    let dir = std::env::temp_dir().join(format!("micro-etcd-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let server = EtcdServer::start_with(&bin, "secure", None, Some((&cert, &key)));
    let client = format!("https://127.0.0.1:{}", server.port);
    let with_ca = |pem: &[u8]| {
        Etcd::new(Options {
            endpoints: vec![client.clone()],
            tls: Some(micro::transport::tls::client_config(pem).unwrap()),
            ..Options::default()
        })
        .unwrap()
    };
    let good = with_ca(made.cert.pem().as_bytes());
    let svc = service("secure", "1", "secure-1", 6101);
    good.register(&svc, RegisterOptions::default()).await.expect("a registration over https");
    assert_eq!(good.get_service("secure").await.unwrap(), vec![svc]);
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let err = with_ca(other.cert.pem().as_bytes()).get_service("secure").await.unwrap_err();
    assert!(
        err.detail.contains("etcd") && err.detail.contains("https://") && err.detail.contains("certificate"),
        "{}",
        err.detail
    );
    eprintln!("untrusted certificate: {}", err.detail);
    assert!(
        Etcd::new(Options { endpoints: vec![client.clone()], ..Options::default() }).is_err(),
        "https without a CA"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// #16 item 5: etcd is not up yet when a service starts. That is not a failure: the
/// service serves callers that know its address, is not registered, and registers by
/// itself once etcd comes up on its address (retried with backoff, 1 s doubling to 10 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_service_started_before_etcd_registers_once_etcd_is_up() {
    use std::sync::Arc;
    let Some(bin) = etcd_bin("a_service_started_before_etcd_registers_once_etcd_is_up") else { return };
    let port = free_port(); // etcd comes here later
    let registry: Arc<dyn Registry> = Arc::new(
        Etcd::new(Options {
            endpoints: vec![format!("127.0.0.1:{port}")],
            timeout: Duration::from_millis(500),
            ..Options::default()
        })
        .unwrap(),
    );
    let svc = common::start_before_the_registry("early-rpc", registry).await;

    let server = EtcdServer::start_on(&bin, "late", port);
    let found = poll(&server.registry(), "early-rpc", Duration::from_secs(60), |s| !s.is_empty()).await;
    assert_eq!(found.len(), 1, "the service registered once etcd was up: {found:?}");
    assert_eq!(found[0].nodes[0].id, svc.server().id());
    common::registered(&svc).await;
    svc.stop().await.expect("stop");
    assert!(poll(&server.registry(), "early-rpc", Duration::from_secs(10), |s| s.is_empty()).await.is_empty());
}
