//! micro ↔ real go-micro (v5.30.0 and v4.11.0), over go-micro's default plugins: mDNS
//! registry and HTTP transport. Runs inside `scripts/netns.sh`.

use micro::registry::mdns::{Mdns, Options};
use micro::registry::Registry;
use micro::{CallOptions, Error, Service};
use micro_interop::{go_bin, in_netns, run, unique, Proc, GO_VERSIONS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Our Rust twin of `gm serve`, built with this crate.
fn rust_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_rgreeter"))
}

#[derive(Serialize, Deserialize)]
struct Hello {
    name: String,
}

#[derive(Serialize, Deserialize, Debug)]
struct Reply {
    message: String,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

async fn go_run(bin: &'static str, args: Vec<String>) -> Vec<Value> {
    blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&go_bin(bin), &args)
    })
    .await
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A Rust greeter in this process, on mDNS.
async fn rust_greeter(name: &str) -> Service {
    let svc = Service::builder(name).address("127.0.0.1:0").build().await.expect("service builds");
    let s = svc.server();
    s.handle_json("Greeter.Hello", |req: Hello, _| async move { Ok(Reply { message: format!("Hello {}", req.name) }) });
    let id = name.to_string();
    s.handle_json("Greeter.Fail", move |_: Value, _| {
        let id = id.clone();
        async move { Err::<Reply, _>(Error::new(id, "rust says no <&>", 418)) }
    });
    s.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let hello: Hello = serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("rust", e.to_string()))?;
            stream.send(serde_json::to_vec(&Reply { message: format!("Hello {}", hello.name) }).unwrap()).await?;
        }
        Ok(())
    });
    svc.start().await.expect("service starts");
    svc
}

async fn mdns() -> Arc<dyn Registry> {
    Arc::new(Mdns::new(Options::default()).await.expect("mdns registry"))
}

/// Calls until the registry has the service (go-micro registers before it prints ready,
/// but a lookup can race the first announcement).
async fn call_go(svc: &Service, service: &str, endpoint: &str, body: &str) -> micro::Result<micro::Reply> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match svc.client().call(service, endpoint, body.to_string(), &CallOptions::default()).await {
            Err(e) if e.code == 404 && e.detail.contains("not found in") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_calls_go_server_unary_stream_and_errors() {
    if !in_netns("rust_client_calls_go_server") {
        return;
    }
    let client_svc = rust_greeter(&unique("rust.caller", "x")).await;
    for gm in GO_VERSIONS {
        let name = unique("go.greeter", gm);
        let go = Proc::spawn(&go_bin(gm), &["serve", "--name", &name]);
        let ready = go.ready();

        // (a) unary: exact bytes of go-micro's JSON codec.
        let reply = call_go(&client_svc, &name, "Greeter.Hello", "{\"name\":\"Alice\"}").await.unwrap();
        assert_eq!(&reply.body[..], b"{\"message\":\"Hello Alice\"}\n", "{gm}");
        assert_eq!(reply.node, ready["id"].as_str().unwrap(), "{gm}");

        // (d) a go-micro error keeps id, code, detail and status.
        let err = call_go(&client_svc, &name, "Greeter.Fail", "{\"code\":409,\"detail\":\"taken\"}").await.unwrap_err();
        assert_eq!((err.id.as_str(), err.code, err.detail.as_str(), err.status.as_str()), ("go.greeter", 409, "taken", "Conflict"), "{gm}");

        // (c) a bidirectional stream to the Go server.
        let mut stream = client_svc.client().stream(&name, "Greeter.Stream", &CallOptions::default()).await.unwrap();
        for n in ["x", "y", "z"] {
            stream.send(format!("{{\"name\":\"{n}\"}}")).await.unwrap();
            let got: Reply = serde_json::from_slice(&stream.recv().await.unwrap().expect("a reply")).unwrap();
            assert_eq!(got.message, format!("Hello {n}"), "{gm}");
        }
        stream.close().await.unwrap();

        // (e) our registry lists the Go service with its endpoints and metadata.
        let svcs = client_svc.registry().get_service(&name).await.unwrap();
        assert_eq!(svcs.len(), 1, "{gm}: {svcs:?}");
        let eps: Vec<&str> = svcs[0].endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(eps, ["Greeter.Fail", "Greeter.Hello", "Greeter.Slow", "Greeter.Stream", "Greeter.Whoami"], "{gm}");
        let hello = svcs[0].endpoints.iter().find(|e| e.name == "Greeter.Hello").unwrap();
        assert_eq!(hello.request.as_ref().unwrap().values[0].name, "name", "{gm}");
        assert_eq!(svcs[0].nodes[0].metadata.get("protocol").map(String::as_str), Some("mucp"));
        let listed = client_svc.registry().list_services().await.unwrap();
        assert!(listed.iter().any(|s| s.name == name), "{gm}: {name} not listed in {listed:?}");

        assert!(go.terminate().success());
    }
    client_svc.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_client_calls_rust_server_unary_stream_and_errors() {
    if !in_netns("go_client_calls_rust_server") {
        return;
    }
    for gm in GO_VERSIONS {
        let name = unique("rust.greeter", gm);
        let svc = rust_greeter(&name).await;

        // (b) unary.
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Hello", "--body", "{\"name\":\"Bob\"}"])).await;
        assert_eq!(out[0]["ok"], true, "{gm}: {out:?}");
        assert_eq!(out[0]["body"], "{\"message\":\"Hello Bob\"}\n", "{gm}");

        // (d) our error reaches Go intact, HTML-escaping included.
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Fail", "--body", "{}"])).await;
        assert_eq!(out[0]["ok"], false, "{gm}: {out:?}");
        let e = &out[0]["error"];
        assert_eq!((e["id"].as_str(), e["code"].as_i64(), e["detail"].as_str(), e["status"].as_str()),
            (Some(name.as_str()), Some(418), Some("rust says no <&>"), Some("")), "{gm}: {e}");
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Missing", "--body", "{}"])).await;
        assert_eq!(out[0]["error"]["code"], 404, "{gm}: {out:?}");
        assert_eq!(out[0]["error"]["detail"], "rpc: can't find method Missing", "{gm}");

        // (c) a bidirectional stream from the Go client.
        let out = go_run(gm, strs(&["stream", "--service", &name, "--endpoint", "Greeter.Stream", "--names", "p,q,r"])).await;
        let bodies: Vec<&str> = out.iter().map(|l| l["body"].as_str().unwrap_or("?")).collect();
        assert_eq!(bodies, ["{\"message\":\"Hello p\"}", "{\"message\":\"Hello q\"}", "{\"message\":\"Hello r\"}"], "{gm}: {out:?}");

        // (e) go-micro's registry lists our service with endpoints and node metadata.
        let out = go_run(gm, strs(&["get", "--service", &name, "--wait-ms", "3000"])).await;
        let got = &out[0][0];
        assert_eq!(got["name"], name.as_str(), "{gm}: {out:?}");
        assert_eq!(got["version"], "latest");
        let eps: Vec<&str> = got["endpoints"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(eps, ["Greeter.Fail", "Greeter.Hello", "Greeter.Stream"], "{gm}");
        assert_eq!(got["nodes"][0]["id"], svc.server().id());
        assert_eq!(got["nodes"][0]["metadata"]["protocol"], "mucp");
        let out = go_run(gm, strs(&["list"])).await;
        assert!(out[0].as_array().unwrap().iter().any(|n| n == name.as_str()), "{gm}: {out:?}");

        // Stop deregisters: a goodbye reaches go-micro and a fresh lookup finds nothing.
        svc.stop().await.unwrap();
        let out = go_run(gm, strs(&["get", "--service", &name])).await;
        assert_eq!(out[0], serde_json::json!([]), "{gm}: still listed after stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_rust_node_go_calls_move_to_survivor() {
    if !in_netns("killed_rust_node") {
        return;
    }
    let name = unique("rust.pair", "kill");
    let a = Proc::spawn(&rust_bin(), &["--name", &name]);
    let b = Proc::spawn(&rust_bin(), &["--name", &name]);
    let a_id = a.ready()["id"].as_str().unwrap().to_string();
    let b_id = b.ready()["id"].as_str().unwrap().to_string();

    // Our own long-lived client sees both nodes before the kill.
    let reg = mdns().await;
    let client = micro::Client::new(reg.clone(), Default::default());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let r: Reply = client.call_json(&name, "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default()).await.unwrap();
        seen.insert(r.message);
    }
    assert_eq!(seen.len(), 2, "both nodes answer: {seen:?}");
    for gm in GO_VERSIONS {
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Whoami", "--body", "{}", "--count", "20"])).await;
        assert!(out.iter().all(|l| l["ok"] == true), "{gm}: {out:?}");
    }

    a.kill();

    for gm in GO_VERSIONS {
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Whoami", "--body", "{}", "--count", "20"])).await;
        for l in &out {
            assert_eq!(l["ok"], true, "{gm}: {out:?}");
            assert_eq!(l["body"], format!("{{\"message\":\"{b_id}\"}}\n"), "{gm}: a Go call reached the dead node");
        }
        let out = go_run(gm, strs(&["get", "--service", &name])).await;
        let ids: Vec<&str> = out[0][0]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [b_id.as_str()], "{gm}: the dead node left go-micro's view");
    }
    // Our client, which had the dead node cached, moves every call to the survivor.
    for _ in 0..30 {
        let r: Reply = client.call_json(&name, "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default()).await.unwrap();
        assert_eq!(r.message, b_id);
    }
    let nodes: Vec<String> = reg.get_service(&name).await.unwrap().iter().flat_map(|s| s.nodes.iter().map(|n| n.id.clone())).collect();
    assert_eq!(nodes, std::slice::from_ref(&b_id), "the dead node {a_id} left our registry view");
    assert!(b.terminate().success());
}
