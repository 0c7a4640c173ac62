//! The Consul registry against a real Consul agent (v1.14.11, built from the Go module proxy
//! by `tests/interop/consul/build.sh`; `scripts/test.d/26-consul.sh` builds it and sets
//! `CONSUL_BIN`). Without one the tests say so and pass, unless `MICRO_REQUIRE_CONSUL=1`.

mod common;

use common::free_port;

use micro::registry::consul::{Consul, Options};
use micro::registry::{Action, Endpoint, Event, Metadata, Node, RegisterOptions, Registry, Service, Value, Watcher};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent binary `CONSUL_BIN` names (26-consul.sh builds it and sets it); without it the
/// test is skipped (the workspace run), or fails with `MICRO_REQUIRE_CONSUL=1`.
fn consul_bin(test: &str) -> Option<PathBuf> {
    if let Some(c) = std::env::var("CONSUL_BIN").ok().filter(|c| PathBuf::from(c).exists()) {
        return Some(c.into());
    }
    assert!(std::env::var("MICRO_REQUIRE_CONSUL").as_deref() != Ok("1"), "{test}: consul not found (CONSUL_BIN)");
    eprintln!("skipping {test}: no consul (CONSUL_BIN; tests/interop/consul/build.sh)");
    None
}

/// A `consul agent -dev` on free loopback ports (ACLs on, default deny, when `acl_root` is
/// given); killed on drop.
struct Agent {
    child: Child,
    bin: PathBuf,
    http: u16,
    acl_root: Option<&'static str>,
    extra_hcl: String,
}

impl Agent {
    fn start(bin: &PathBuf, acl_root: Option<&'static str>) -> Agent {
        Self::start_with(bin, acl_root, String::new())
    }

    /// Starts an agent; one that exits before it has a leader (a port another test's agent
    /// took between `free_port` and its bind) is started again on new ports, up to 3 times.
    fn start_with(bin: &PathBuf, acl_root: Option<&'static str>, extra_hcl: String) -> Agent {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let http = free_port();
            let child = Self::spawn(bin, http, acl_root, &extra_hcl);
            let mut a = Agent { child, bin: bin.clone(), http, acl_root, extra_hcl: extra_hcl.clone() };
            match a.wait_leader() {
                Ok(()) => return a,
                Err(why) if attempt < 3 => eprintln!("consul agent attempt {attempt}: {why}; starting it again"),
                Err(why) => panic!("consul has no leader after {attempt} attempts: {why}"),
            }
        }
    }

    fn spawn(bin: &PathBuf, http: u16, acl_root: Option<&str>, extra_hcl: &str) -> Child {
        let mut cmd = Command::new(bin);
        cmd.args(["agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1"])
            .args(["-http-port", &http.to_string(), "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1"])
            .args(["-server-port", &free_port().to_string()])
            .args(["-serf-lan-port", &free_port().to_string(), "-serf-wan-port", &free_port().to_string()]);
        if let Some(root) = acl_root {
            let hcl = format!(
                "acl {{\nenabled = true\ndefault_policy = \"deny\"\ntokens {{ initial_management = \"{root}\" }}\n}}"
            );
            cmd.args(["-hcl", &hcl]);
        }
        if !extra_hcl.is_empty() {
            cmd.args(["-hcl", extra_hcl]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("consul starts")
    }

    /// Waits until the agent reports a leader (its catalog then accepts registrations), or
    /// says why not: it exited, or no leader within 60 s.
    fn wait_leader(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the agent exited ({status})"));
            }
            let out = Command::new("curl")
                .args(["-s", &format!("http://127.0.0.1:{}/v1/status/leader", self.http)])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if out.trim().len() > 2 {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("no leader within 60 s (last answer {out:?})"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An agent serving HTTP on `port`, which a test chose before.
    fn start_on(bin: &PathBuf, port: u16) -> Agent {
        let child = Self::spawn(bin, port, None, "");
        let mut a = Agent { child, bin: bin.clone(), http: port, acl_root: None, extra_hcl: String::new() };
        if let Err(why) = a.wait_leader() {
            panic!("the consul agent on {port} has no leader: {why}");
        }
        a
    }

    /// Kills the agent and starts a new one on the same HTTP port, with no data.
    fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Self::spawn(&self.bin, self.http, self.acl_root, &self.extra_hcl);
        if let Err(why) = self.wait_leader() {
            panic!("the restarted consul agent has no leader: {why}");
        }
    }

    fn registry(&self, token: Option<&str>) -> Consul {
        Consul::new(Options {
            addresses: vec![format!("127.0.0.1:{}", self.http)],
            token: token.map(str::to_string),
            ..Options::default()
        })
        .unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn service(name: &str, version: &str, id: &str, port: u16) -> Service {
    let mut md = Metadata::new();
    md.insert("protocol".into(), "mucp".into());
    md.insert("registry".into(), "consul".into());
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
    tokio::time::timeout(within, w.next()).await.expect("a watch event in time").expect("the watch is open")
}

async fn poll(r: &Consul, name: &str, within: Duration, pred: impl Fn(&[Service]) -> bool) -> Vec<Service> {
    let deadline = Instant::now() + within;
    loop {
        let got = r.get_service(name).await.unwrap_or_default();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_get_list_watch_deregister() {
    let Some(bin) = consul_bin("register_get_list_watch_deregister") else { return };
    let agent = Agent::start(&bin, None);
    let reg = agent.registry(None);
    let ttl = RegisterOptions { ttl: Duration::from_secs(10) };

    let mut all = reg.watch(None).await.unwrap();
    let mut one = reg.watch(Some("greeter")).await.unwrap();
    let a = service("greeter", "1.0.0", "greeter-a", 4001);
    reg.register(&a, ttl).await.unwrap();
    let got = reg.get_service("greeter").await.unwrap();
    assert_eq!(got, vec![a.clone()], "what we read is what we wrote, endpoints and metadata included");

    let ev = next_event(&mut one, Duration::from_secs(10)).await;
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Create, "greeter-a"));
    assert_eq!(ev.service.endpoints, a.endpoints);
    // The agent registers its own `consul` service as it starts: the watch of every service
    // may see it appear first.
    let mut ev = next_event(&mut all, Duration::from_secs(10)).await;
    while ev.service.name == "consul" {
        ev = next_event(&mut all, Duration::from_secs(10)).await;
    }
    assert_eq!((ev.action, ev.service.name.as_str()), (Action::Create, "greeter"));

    let b = service("greeter", "2.0.0", "greeter-b", 4002);
    reg.register(&b, ttl).await.unwrap();
    let ev = next_event(&mut one, Duration::from_secs(10)).await;
    assert_eq!((ev.action, ev.service.version.as_str()), (Action::Create, "2.0.0"));
    let got = reg.get_service("greeter").await.unwrap();
    assert_eq!(got.len(), 2, "one service per version: {got:?}");

    let names: Vec<String> = reg.list_services().await.unwrap().into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"greeter".to_string()), "{names:?}");

    // Re-registering unchanged only passes the check: no event.
    reg.register(&a, ttl).await.unwrap();
    reg.deregister(&a).await.unwrap();
    let ev = next_event(&mut one, Duration::from_secs(10)).await;
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Delete, "greeter-a"));
    reg.deregister(&b).await.unwrap();
    let ev = next_event(&mut one, Duration::from_secs(10)).await;
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Delete, "greeter-b"));
    assert!(reg.get_service("greeter").await.unwrap().is_empty());
    // Deregistering what is not there is not an error.
    reg.deregister(&a).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_node_leaves_the_healthy_view_within_its_ttl_and_the_living_stay() {
    let Some(bin) = consul_bin("killed_node_leaves_the_healthy_view_within_its_ttl_and_the_living_stay") else {
        return;
    };
    let agent = Agent::start(&bin, None);
    let observer = agent.registry(None);
    let ttl = RegisterOptions { ttl: Duration::from_secs(2) };
    let living = agent.registry(None);
    living.register(&service("ttl", "1", "ttl-living", 5001), ttl).await.unwrap();
    {
        let dying = agent.registry(None);
        dying.register(&service("ttl", "1", "ttl-dying", 5002), ttl).await.unwrap();
        let got = observer.get_service("ttl").await.unwrap();
        assert_eq!(got[0].nodes.len(), 2);
    } // dropped: its check is no longer passed, as when the process is killed
    let mut w = observer.watch(Some("ttl")).await.unwrap();
    let started = Instant::now();
    let ev = next_event(&mut w, Duration::from_secs(20)).await;
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Delete, "ttl-dying"));
    eprintln!("killed node left the healthy view after {:?} (TTL 2 s)", started.elapsed());
    // The living node is kept passing by its task, well past several TTLs.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = observer.get_service("ttl").await.unwrap();
    let ids: Vec<&str> = got.iter().flat_map(|s| s.nodes.iter().map(|n| n.id.as_str())).collect();
    assert_eq!(ids, ["ttl-living"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_restarted_empty_gets_the_living_nodes_back() {
    let Some(bin) = consul_bin("an_agent_restarted_empty_gets_the_living_nodes_back") else { return };
    let mut agent = Agent::start(&bin, None);
    let reg = agent.registry(None);
    reg.register(&service("back", "1", "back-1", 5101), RegisterOptions { ttl: Duration::from_secs(2) }).await.unwrap();
    agent.restart_empty();
    let observer = agent.registry(None);
    let got = poll(&observer, "back", Duration::from_secs(20), |s| !s.is_empty()).await;
    assert_eq!(got.len(), 1, "the keep-alive task registered the node again");
    assert_eq!(got[0].endpoints.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_acl_token_is_an_error_naming_consul_and_the_reason() {
    let Some(bin) = consul_bin("a_wrong_acl_token_is_an_error_naming_consul_and_the_reason") else { return };
    let agent = Agent::start(&bin, Some("root-token"));
    let bad = agent.registry(Some("not-the-token"));
    let err = bad.register(&service("acl", "1", "acl-1", 5201), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 403, "{err:?}");
    assert!(err.detail.contains("consul") && err.detail.contains("ACL not found"), "{}", err.detail);
    // A service started with the wrong token does not start, and says why.
    let svc = micro::Service::builder("acl.svc")
        .address("127.0.0.1:0")
        .registry(std::sync::Arc::new(agent.registry(Some("not-the-token"))))
        .build()
        .await
        .unwrap();
    let err = svc.start().await.unwrap_err();
    assert!(err.detail.contains("consul") && err.detail.contains("ACL not found"), "{}", err.detail);
    eprintln!("service start with a wrong ACL token: {}", err.detail);

    // The right token works; without one, Consul filters out what may not be read.
    let good = agent.registry(Some("root-token"));
    good.register(&service("acl", "1", "acl-1", 5201), RegisterOptions::default()).await.unwrap();
    assert_eq!(good.get_service("acl").await.unwrap().len(), 1);
    assert!(agent.registry(None).get_service("acl").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_agent_is_a_clear_503() {
    let port = free_port();
    let reg = Consul::new(Options {
        addresses: vec![format!("127.0.0.1:{port}")],
        timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .unwrap();
    let err = reg.get_service("x").await.unwrap_err();
    assert_eq!(err.code, 503);
    assert!(err.detail.contains("consul: cannot reach any agent"), "{}", err.detail);
    let err = Consul::new(Options { addresses: vec!["https://127.0.0.1:1".into()], ..Options::default() })
        .err()
        .expect("https without a CA is refused");
    assert!(err.detail.contains("CONSUL_CACERT"), "{}", err.detail);
}

/// A CA and a server certificate (SANs `localhost`, 127.0.0.1) made by `consul tls`, in `dir`.
fn consul_certs(bin: &PathBuf, dir: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for args in [&["tls", "ca", "create"][..], &["tls", "cert", "create", "-server", "-dc", "dc1"][..]] {
        let st = Command::new(bin).args(args).current_dir(dir).stdout(Stdio::null()).status().unwrap();
        assert!(st.success(), "consul {args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_the_right_ca_works_and_a_wrong_ca_is_an_error_naming_the_certificate() {
    let Some(bin) = consul_bin("https_with_the_right_ca_works_and_a_wrong_ca_is_an_error_naming_the_certificate")
    else {
        return;
    };
    let base = std::env::temp_dir().join(format!("micro-consul-tls-{}", std::process::id()));
    let (good_dir, other_dir) = (base.join("good"), base.join("other"));
    consul_certs(&bin, &good_dir);
    consul_certs(&bin, &other_dir);
    let https = free_port();
    let f = |n: &str| good_dir.join(n).to_string_lossy().into_owned();
    let hcl = format!(
        "ports {{ https = {https} }}\ntls {{ defaults {{ ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nverify_incoming = false }} }}",
        f("consul-agent-ca.pem"),
        f("dc1-server-consul-0.pem"),
        f("dc1-server-consul-0-key.pem")
    );
    let _agent = Agent::start_with(&bin, None, hcl);
    let with_ca = |dir: &std::path::Path| {
        let pem = std::fs::read(dir.join("consul-agent-ca.pem")).unwrap();
        Consul::new(Options {
            addresses: vec![format!("https://127.0.0.1:{https}")],
            tls: Some(micro::transport::tls::client_config(&pem).unwrap()),
            ..Options::default()
        })
        .unwrap()
    };
    let good = with_ca(&good_dir);
    good.register(&service("tls", "1", "tls-1", 5301), RegisterOptions { ttl: Duration::from_secs(5) }).await.unwrap();
    assert_eq!(good.get_service("tls").await.unwrap().len(), 1);

    let wrong = with_ca(&other_dir);
    let err = wrong.get_service("tls").await.unwrap_err();
    assert_eq!(err.code, 502, "reached and refused, not an outage: {err:?}");
    assert!(
        err.detail.contains("consul") && err.detail.contains("https://") && err.detail.contains("certificate"),
        "{}",
        err.detail
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// #16 item 5: the Consul agent is not up yet when a service starts. That is not a failure:
/// the service serves callers that know its address, and registers by itself once the agent
/// comes up (retried with backoff, 1 s doubling to 10 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_service_started_before_consul_registers_once_the_agent_is_up() {
    let Some(bin) = consul_bin("a_service_started_before_consul_registers_once_the_agent_is_up") else { return };
    let port = free_port(); // the agent comes here later
    let early = Consul::new(Options { addresses: vec![format!("127.0.0.1:{port}")], ..Options::default() }).unwrap();
    let svc = common::start_before_the_registry("early-consul", std::sync::Arc::new(early)).await;

    let agent = Agent::start_on(&bin, port);
    let got = poll(&agent.registry(None), "early-consul", Duration::from_secs(60), |s| !s.is_empty()).await;
    assert_eq!(got.len(), 1, "the service registered once the agent was up: {got:?}");
    assert_eq!(got[0].nodes[0].id, svc.server().id());
    common::registered(&svc).await;
    svc.stop().await.expect("stop");
}

/// An https agent that verifies its clients (`verify_incoming`): a client with the
/// certificate CONSUL_CLIENT_CERT/CONSUL_CLIENT_KEY name (Consul's own variables, read with
/// CONSUL_CACERT by `registry::from_url`) registers and reads; without one the agent refuses
/// the handshake, a 502 naming Consul; one of the two variables alone is a clear error. The
/// only test of this binary that sets CONSUL_* variables.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_verifies_clients_takes_the_client_certificate_from_the_environment() {
    let Some(bin) = consul_bin("an_agent_that_verifies_clients_takes_the_client_certificate_from_the_environment")
    else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("micro-consul-mtls-{}", std::process::id()));
    consul_certs(&bin, &dir);
    let st = Command::new(&bin)
        .args(["tls", "cert", "create", "-client", "-dc", "dc1"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "consul tls cert create -client");
    let https = free_port();
    let f = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let hcl = format!(
        "ports {{ https = {https} }}\ntls {{ defaults {{ ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nverify_incoming = true }} }}",
        f("consul-agent-ca.pem"),
        f("dc1-server-consul-0.pem"),
        f("dc1-server-consul-0-key.pem")
    );
    let _agent = Agent::start_with(&bin, None, hcl);
    let url = format!("consul://https://127.0.0.1:{https}");
    std::env::set_var("CONSUL_CACERT", f("consul-agent-ca.pem"));

    let anonymous = micro::registry::from_url(&url).await.expect("a registry without a client certificate");
    let err = anonymous.get_service("mtls").await.unwrap_err();
    assert_eq!(err.code, 502, "refused by the agent, not an outage: {err:?}");
    assert!(err.detail.contains("consul"), "{}", err.detail);
    eprintln!("without a client certificate: {}", err.detail);

    std::env::set_var("CONSUL_CLIENT_CERT", f("dc1-client-consul-0.pem"));
    let half = micro::registry::from_url(&url).await.err().expect("one variable alone");
    assert!(half.detail.contains("CONSUL_CLIENT_KEY"), "{}", half.detail);
    std::env::set_var("CONSUL_CLIENT_KEY", f("dc1-client-consul-0-key.pem"));
    let with_cert = micro::registry::from_url(&url).await.expect("a registry with the client certificate");
    with_cert
        .register(&service("mtls", "1", "mtls-1", 5401), RegisterOptions { ttl: Duration::from_secs(5) })
        .await
        .unwrap();
    assert_eq!(with_cert.get_service("mtls").await.unwrap().len(), 1);
    for v in ["CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY"] {
        std::env::remove_var(v);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
