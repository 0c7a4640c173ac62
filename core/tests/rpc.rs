//! Rust ↔ Rust RPC over real sockets on loopback, with the memory registry.

use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::{CallOptions, Client, ClientOptions, Error, Server, ServerOptions};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Deserialize, Serialize)]
struct Hello {
    name: String,
}

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Greeting {
    message: String,
}

fn options(name: &str) -> ServerOptions {
    let mut o = ServerOptions::new(name);
    o.address = "127.0.0.1:0".into();
    o.drain_timeout = Duration::from_secs(2);
    o
}

async fn greeter(registry: Arc<dyn Registry>, name: &str) -> Server {
    let server = Server::new(options(name), registry);
    let id = server.id().to_string();
    server.handle_json("Greeter.Hello", |req: Hello, _| async move {
        if req.name.is_empty() {
            return Err(Error::bad_request("greeter", "name required"));
        }
        Ok(Greeting { message: format!("Hello {}", req.name) })
    });
    server.handle_json("Greeter.Whoami", move |_: serde_json::Value, _| {
        let id = id.clone();
        async move { Ok(Greeting { message: id }) }
    });
    server.handle("Greeter.Echo", |req| async move { Ok(micro::Response { body: req.body, content_type: None }) });
    server.handle("Greeter.Meta", |req| async move {
        let v = req.header.get("Trace-Id").cloned().unwrap_or_default();
        Ok(micro::Response::from(v.into_bytes()))
    });
    server.handle("Greeter.Panic", |_| async move {
        if true {
            panic!("boom");
        }
        Ok(micro::Response::default())
    });
    server.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let hello: Hello = serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("greeter", e.to_string()))?;
            if hello.name == "fail" {
                return Err(Error::new("greeter", "stream refused fail", 418));
            }
            stream.send(serde_json::to_vec(&Greeting { message: format!("Hello {}", hello.name) }).unwrap()).await?;
        }
        Ok(())
    });
    server.start().await.expect("server starts");
    server
}

fn client(registry: Arc<dyn Registry>) -> Client {
    Client::new(registry, ClientOptions::default())
}

#[tokio::test]
async fn rust_client_calls_rust_server_through_registry() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(reg.clone(), "greeter").await;
    let c = client(reg.clone());
    let rsp: Greeting = c.call_json("greeter", "Greeter.Hello", &Hello { name: "Alice".into() }, &CallOptions::default()).await.unwrap();
    assert_eq!(rsp.message, "Hello Alice");
    // Raw bytes round trip untouched, with any content type go-micro knows.
    let opts = CallOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
    let reply = c.call("greeter", "Greeter.Echo", vec![0u8, 159, 146, 150], &opts).await.unwrap();
    assert_eq!(&reply.body[..], &[0u8, 159, 146, 150]);
    assert_eq!(reply.content_type, "application/octet-stream");
    // The registry entry carries go-micro's node metadata and the endpoints.
    let svc = &reg.get_service("greeter").await.unwrap()[0];
    assert_eq!(svc.nodes[0].metadata.get("protocol").map(String::as_str), Some("mucp"));
    let names: Vec<&str> = svc.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"Greeter.Hello") && names.contains(&"Greeter.Stream"), "{names:?}");
    server.stop().await.unwrap();
    assert!(reg.get_service("greeter").await.unwrap().is_empty(), "stop deregisters");
}

#[tokio::test]
async fn errors_round_trip_with_id_code_detail() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let _s = greeter(reg.clone(), "greeter").await;
    let c = client(reg);
    let err = c.call_json::<_, Greeting>("greeter", "Greeter.Hello", &Hello { name: "".into() }, &CallOptions::default()).await.unwrap_err();
    assert_eq!((err.id.as_str(), err.code, err.detail.as_str(), err.status.as_str()), ("greeter", 400, "name required", "Bad Request"));
    let err = c.call("greeter", "Greeter.Nope", "{}", &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 404);
    assert_eq!(err.detail, "rpc: can't find method Nope");
    let err = c.call("greeter", "Nothing.Here", "{}", &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.detail, "rpc: can't find service Nothing");
    let err = c.call("nobody", "A.B", "{}", &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 404);
    assert!(err.detail.contains("not found in the memory registry"), "{err}");
    // A handler panic becomes a 500 instead of a hang.
    let err = c.call("greeter", "Greeter.Panic", "{}", &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 500);
    assert!(err.detail.contains("boom"), "{err}");
    // Bad JSON for a typed handler says where.
    let err = c.call("greeter", "Greeter.Hello", "{\"name\":", &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 400);
    assert!(err.detail.contains("Greeter.Hello"), "{err}");
}

#[tokio::test]
async fn metadata_travels_as_headers() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let _s = greeter(reg.clone(), "greeter").await;
    let mut opts = CallOptions::default();
    opts.metadata.insert("trace-id".into(), "abc123".into());
    let reply = client(reg).call("greeter", "Greeter.Meta", "", &opts).await.unwrap();
    assert_eq!(&reply.body[..], b"abc123");
}

#[tokio::test]
async fn bidirectional_stream() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let _s = greeter(reg.clone(), "greeter").await;
    let c = client(reg);
    let mut stream = c.stream("greeter", "Greeter.Stream", &CallOptions::default()).await.unwrap();
    for name in ["a", "b", "c"] {
        stream.send(format!("{{\"name\":\"{name}\"}}")).await.unwrap();
        let got: Greeting = serde_json::from_slice(&stream.recv().await.unwrap().unwrap()).unwrap();
        assert_eq!(got.message, format!("Hello {name}"));
    }
    stream.close_send().await.unwrap();
    assert!(stream.recv().await.unwrap().is_none(), "EOS after close_send");
    // A handler error ends the stream with the go-micro error.
    let mut stream = c.stream("greeter", "Greeter.Stream", &CallOptions::default()).await.unwrap();
    stream.send("{\"name\":\"fail\"}").await.unwrap();
    let err = stream.recv().await.unwrap_err();
    assert_eq!((err.code, err.detail.as_str()), (418, "stream refused fail"));
}

#[tokio::test]
async fn refused_connection_moves_to_another_node() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let alive = greeter(reg.clone(), "pair").await;
    // A registered node nobody listens on (as after a SIGKILL): bind, register, close.
    let dead = greeter(reg.clone(), "pair").await;
    let dead_svc = dead.service().unwrap();
    dead.stop().await.unwrap();
    reg.register(&dead_svc, Default::default()).await.unwrap();
    assert_eq!(reg.get_service("pair").await.unwrap()[0].nodes.len(), 2);
    let c = client(reg);
    for _ in 0..20 {
        let who: Greeting = c.call_json("pair", "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default()).await.unwrap();
        assert_eq!(who.message, alive.id());
    }
}

#[tokio::test]
async fn slow_handler_is_not_reinvoked_unless_allowed() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Server::new(options("slow"), reg.clone());
    let counter = calls.clone();
    server.handle("Slow.Sleep", move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(micro::Response::from("done"))
        }
    });
    server.start().await.unwrap();
    let c = client(reg);
    let opts = CallOptions { timeout: Some(Duration::from_millis(50)), ..Default::default() };
    let err = c.call("slow", "Slow.Sleep", "", &opts).await.unwrap_err();
    assert_eq!(err.code, 408, "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a timed-out call is not re-sent by default");
    let opts = CallOptions { timeout: Some(Duration::from_millis(50)), retries: Some(2), retry_timeouts: true, ..Default::default() };
    let _ = c.call("slow", "Slow.Sleep", "", &opts).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "allowed retries re-send");
}

#[tokio::test]
async fn oversized_request_gets_a_clear_error() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let mut o = options("small");
    o.limits.max_body = 1024;
    let server = Server::new(o, reg.clone());
    server.handle("Small.Echo", |req| async move { Ok(micro::Response { body: req.body, content_type: None }) });
    server.start().await.unwrap();
    let c = client(reg);
    let err = c.call("small", "Small.Echo", vec![b'x'; 4096], &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 413, "{err}");
    assert!(err.detail.contains("limit of 1024"), "{err}");
    // The server is still healthy afterwards.
    let ok = c.call("small", "Small.Echo", "\"hi\"", &CallOptions::default()).await.unwrap();
    assert_eq!(&ok.body[..], b"\"hi\"");
}

#[tokio::test]
async fn legacy_json_rpc_node_and_health() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(reg.clone(), "legacy").await;
    // Present the node without `protocol`, as a pre-2019 go-micro server registers.
    let mut svc = server.service().unwrap();
    svc.nodes[0].metadata.remove("protocol");
    let mem: Arc<dyn Registry> = Arc::new(Memory::new());
    mem.register(&svc, Default::default()).await.unwrap();
    let c = client(mem);
    let rsp: Greeting = c.call_json("legacy", "Greeter.Hello", &Hello { name: "Old".into() }, &CallOptions::default()).await.unwrap();
    assert_eq!(rsp.message, "Hello Old");
    let err = c.call_json::<_, Greeting>("legacy", "Greeter.Hello", &Hello { name: "".into() }, &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 400);
    // Debug.Health answers without being advertised.
    let c = client(reg);
    let h = c.call("legacy", "Debug.Health", "{}", &CallOptions::default()).await.unwrap();
    assert_eq!(&h.body[..], b"{\"status\":\"ok\"}\n");
    assert!(!server.endpoints().iter().any(|e| e.name == "Debug.Health"));
}

#[tokio::test]
async fn concurrent_calls_share_the_pool() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let _s = greeter(reg.clone(), "greeter").await;
    let c = client(reg);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                let name = format!("{i}-{j}");
                let r: Greeting = c.call_json("greeter", "Greeter.Hello", &Hello { name: name.clone() }, &CallOptions::default()).await.unwrap();
                assert_eq!(r.message, format!("Hello {name}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn stop_deregisters_first_then_drains_calls_in_flight() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("drain"), reg.clone());
    server.handle("Drain.Slow", |req| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // go-micro's per-attempt timeout travels in nanoseconds.
        Ok(micro::Response::from(req.header.get("Timeout").cloned().unwrap_or_default().into_bytes()))
    });
    server.start().await.unwrap();
    let c = client(reg.clone());
    let call = tokio::spawn(async move { c.call("drain", "Drain.Slow", "", &CallOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopping = tokio::spawn({
        let server = server.clone();
        async move { server.stop().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(reg.get_service("drain").await.unwrap().is_empty(), "deregistered while the call is still running");
    let reply = call.await.unwrap().expect("the call in flight completes");
    assert_eq!(&reply.body[..], b"5000000000");
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn nested_calls_get_the_remaining_budget_and_metadata() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let _backend = greeter(reg.clone(), "backend").await;
    let front = Server::new(options("front"), reg.clone());
    let c = client(reg.clone());
    front.handle("Front.Relay", move |req| {
        let c = c.clone();
        async move {
            let opts = CallOptions::from_request(&req);
            let left = opts.timeout.expect("a deadline came with the request");
            assert!(left <= Duration::from_millis(200), "{left:?}");
            let inner = c.call("backend", "Greeter.Meta", "", &opts).await?;
            Ok(micro::Response::from(inner.body))
        }
    });
    front.start().await.unwrap();
    let mut opts = CallOptions { timeout: Some(Duration::from_millis(200)), ..Default::default() };
    opts.metadata.insert("Trace-Id".into(), "t-1".into());
    let reply = client(reg).call("front", "Front.Relay", "", &opts).await.unwrap();
    assert_eq!(&reply.body[..], b"t-1", "metadata crossed two hops");
}
