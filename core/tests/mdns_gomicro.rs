//! Our mDNS registry against real go-micro v5.30.0 (`gm5`), v4.11.0 (`gm4`) and v6.10.0 (`gm6`).
//!
//! Needs the harness binaries (`tests/interop/go/build.sh`) and a private network
//! namespace with multicast on loopback (`scripts/netns.sh`, which sets `MICRO_NETNS=1`);
//! otherwise each test prints why it is skipped and passes.

use micro::registry::mdns::{Mdns, Options};
use micro::registry::{Action, Endpoint, Metadata, Node, RegisterOptions, Registry, Service, Value, Watcher};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

fn harness(bin: &str) -> Option<PathBuf> {
    if std::env::var("MICRO_NETNS").as_deref() != Ok("1") {
        eprintln!("skipping: go-micro mDNS interop runs only in a private network namespace (MICRO_NETNS=1)");
        return None;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/go/bin").join(bin);
    if !path.exists() {
        eprintln!("skipping: {} not built (run tests/interop/go/build.sh)", path.display());
        return None;
    }
    Some(path)
}

async fn registry() -> Mdns {
    Mdns::new(Options { timeout: Duration::from_millis(200), ..Default::default() }).await.unwrap()
}

/// Starts `bin serve --name NAME`; returns the child and its ready line.
async fn serve(bin: &PathBuf, name: &str) -> (Child, serde_json::Value) {
    let mut child = Command::new(bin)
        .args(["serve", "--name", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["event"], "ready", "{line}");
    (child, ready)
}

/// SIGTERM (go-micro's graceful stop: deregister + goodbye), then wait for exit.
async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    }
    let _ = timeout(Duration::from_secs(10), child.wait()).await;
}

async fn run_json(bin: &PathBuf, args: &[&str]) -> serde_json::Value {
    let out = Command::new(bin).args(args).stderr(Stdio::null()).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("null").to_string();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

async fn next_event(w: &mut Watcher, action: Action, node_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, w.next()).await {
            Ok(Some(e)) if e.action == action && e.service.nodes.iter().any(|n| n.id == node_id) => return,
            Ok(Some(_)) => continue,
            other => panic!("no {action:?} event for {node_id}: {:?}", other.map(|o| o.map(|e| e.action))),
        }
    }
}

async fn go_service_is_found_by_our_registry(bin: &str, name: &str) {
    let Some(bin) = harness(bin) else { return };
    let ours = registry().await;
    let mut w = ours.watch(Some(name)).await.unwrap();
    let (child, ready) = serve(&bin, name).await;
    let id = ready["id"].as_str().unwrap().to_string();
    let address = ready["address"].as_str().unwrap().to_string();

    // go-micro announces on start: our watcher sees it.
    next_event(&mut w, Action::Create, &id).await;

    let got = ours.get_service(name).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let svc = &got[0];
    assert_eq!(svc.version, "latest");
    let node = svc.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| panic!("{id} not in {got:?}"));
    assert_eq!(node.address, address);
    assert_eq!(node.metadata.get("protocol").map(String::as_str), Some("mucp"));
    assert_eq!(node.metadata.get("registry").map(String::as_str), Some("mdns"));
    let names: Vec<&str> = svc.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Greeter.Fail", "Greeter.Hello", "Greeter.Slow", "Greeter.Stream", "Greeter.Whoami"]);
    let hello = &svc.endpoints[1];
    assert_eq!(hello.request.as_ref().unwrap().values, vec![Value::leaf("name", "string")]);

    let listed = ours.list_services().await.unwrap();
    assert!(listed.iter().any(|s| s.name == name), "{listed:?}");

    // SIGTERM: go-micro deregisters and says goodbye.
    stop(child).await;
    next_event(&mut w, Action::Delete, &id).await;
    assert!(ours.get_service(name).await.unwrap().is_empty());
}

async fn our_service_is_found_by_go_micro(bin: &str, name: &str) {
    let Some(bin) = harness(bin) else { return };
    let ours = registry().await;
    let mut md = Metadata::new();
    for (k, v) in
        [("protocol", "mucp"), ("transport", "http"), ("broker", "http"), ("registry", "mdns"), ("server", "mucp")]
    {
        md.insert(k.into(), v.into());
    }
    md.insert("html".into(), "<a&b>".into());
    let svc = Service {
        name: name.into(),
        version: "latest".into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value {
                name: "Request".into(),
                kind: "Request".into(),
                values: vec![Value::leaf("name", "string")],
            }),
            response: Some(Value {
                name: "Response".into(),
                kind: "Response".into(),
                values: vec![Value::leaf("message", "string")],
            }),
            metadata: Metadata::new(),
        }],
        nodes: vec![
            Node { id: format!("{name}-1"), address: "127.0.0.1:40123".into(), metadata: md.clone() },
            Node { id: format!("{name}-2"), address: "127.0.0.1:40124".into(), metadata: md.clone() },
        ],
        ..Default::default()
    };
    ours.register(&svc, RegisterOptions::default()).await.unwrap();

    let got = run_json(&bin, &["get", "--service", name]).await;
    let got: Vec<Service> = serde_json::from_value(got).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].name, name);
    assert_eq!(got[0].version, "latest");
    assert_eq!(got[0].endpoints, svc.endpoints);
    let mut nodes = got[0].nodes.clone();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(nodes, svc.nodes);

    let listed = run_json(&bin, &["list"]).await;
    assert!(listed.as_array().unwrap().iter().any(|n| n == name), "{listed}");

    ours.deregister(&svc).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = run_json(&bin, &["get", "--service", name]).await;
        if got.as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "still listed after deregister: {got}");
        sleep(Duration::from_millis(100)).await;
    }
}

/// go-micro lists every service of one process of ours holding many (issue 18's registry
/// row): a listing is a packet per service, and our responder's per-source limit once cut it
/// at 64 packets.
async fn our_many_services_are_listed_whole_by_go_micro(bin: &str, prefix: &str) {
    let Some(bin) = harness(bin) else { return };
    let ours = Mdns::new(Options { announce: false, ..Default::default() }).await.unwrap();
    let names: Vec<String> = (0..100).map(|i| format!("{prefix}{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let node = Node { id: format!("{name}-1"), address: format!("127.0.0.1:{}", 42000 + i), ..Default::default() };
        let svc = Service { name: name.clone(), version: "latest".into(), nodes: vec![node], ..Default::default() };
        ours.register(&svc, RegisterOptions::default()).await.unwrap();
    }
    let listed = run_json(&bin, &["list"]).await;
    let listed: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    let missing: Vec<&String> = names.iter().filter(|n| !listed.contains(&n.as_str())).collect();
    assert!(
        missing.is_empty(),
        "go-micro listed {} of our {} services; missing {missing:?}",
        names.len() - missing.len(),
        names.len()
    );
    ours.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_rust_services_of_one_process_are_listed_whole_by_go_v5() {
    our_many_services_are_listed_whole_by_go_micro("gm5", "rust.many5.").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go_v5_service_is_found_watched_and_removed_by_rust_mdns() {
    go_service_is_found_by_our_registry("gm5", "go.greeter5").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go_v4_service_is_found_watched_and_removed_by_rust_mdns() {
    go_service_is_found_by_our_registry("gm4", "go.greeter4").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_service_is_found_and_listed_by_go_v5() {
    our_service_is_found_by_go_micro("gm5", "rust.greeter5").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_service_is_found_and_listed_by_go_v4() {
    our_service_is_found_by_go_micro("gm4", "rust.greeter4").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go_v6_service_is_found_watched_and_removed_by_rust_mdns() {
    go_service_is_found_by_our_registry("gm6", "go.greeter6").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_service_is_found_and_listed_by_go_v6() {
    our_service_is_found_by_go_micro("gm6", "rust.greeter6").await;
}
