//! Rust ↔ Rust RPC over real sockets on loopback, with the memory registry.

use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::{CallOptions, Client, ClientOptions, Error, Server, ServerOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
            let hello: Hello =
                serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("greeter", e.to_string()))?;
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
    let rsp: Greeting = c
        .call_json("greeter", "Greeter.Hello", &Hello { name: "Alice".into() }, &CallOptions::default())
        .await
        .unwrap();
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
    let err = c
        .call_json::<_, Greeting>("greeter", "Greeter.Hello", &Hello { name: "".into() }, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.id.as_str(), err.code, err.detail.as_str(), err.status.as_str()),
        ("greeter", 400, "name required", "Bad Request")
    );
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
        let who: Greeting =
            c.call_json("pair", "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default()).await.unwrap();
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
    let opts = CallOptions {
        timeout: Some(Duration::from_millis(50)),
        retries: Some(2),
        retry_timeouts: true,
        ..Default::default()
    };
    let _ = c.call("slow", "Slow.Sleep", "", &opts).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 4, "allowed retries re-send");
}

#[tokio::test]
async fn a_408_the_server_answers_is_retried_only_when_allowed() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Server::new(options("late"), reg.clone());
    let counter = calls.clone();
    // Every other call answers a 408, as a handler that overran the caller's `Timeout` does.
    server.handle("Late.Get", move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n % 2 == 0 {
                Err(micro::Error::timeout("late", "the handler overran the caller's timeout"))
            } else {
                Ok(micro::Response::from("done"))
            }
        }
    });
    server.start().await.unwrap();
    let c = client(reg);
    let err =
        c.call("late", "Late.Get", "", &CallOptions { retries: Some(2), ..Default::default() }).await.unwrap_err();
    assert_eq!((err.code, err.id.as_str()), (408, "late"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a 408 is final by default");
    let opts = CallOptions { retries: Some(2), retry_timeouts: true, ..Default::default() };
    calls.store(0, Ordering::SeqCst);
    let ok = c.call("late", "Late.Get", "", &opts).await.unwrap();
    assert_eq!(&ok.body[..], b"done");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "re-sent once after the server's 408");
}

#[tokio::test]
async fn oversized_request_gets_a_clear_error() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let mut o = options("small");
    o.limits.max_body = 1024;
    let server = Server::new(o, reg.clone());
    server.handle("Small.Echo", |req| async move { Ok(micro::Response { body: req.body, content_type: None }) });
    server.start().await.unwrap();
    let c = client(reg.clone());
    let err = c.call("small", "Small.Echo", vec![b'x'; 4096], &CallOptions::default()).await.unwrap_err();
    assert_eq!(err.code, 413, "{err}");
    assert_eq!(err.id, "small", "the server's answer: {err}");
    assert_eq!(err.detail, "request body of 4096 bytes exceeds the 1024-byte limit (MICRO_MAX_MESSAGE_SIZE)", "{err}");
    // A client with the same limit refuses before sending anything.
    let mut co = ClientOptions::default();
    co.limits.max_body = 1024;
    let small = Client::new(reg.clone(), co);
    let err = small.call("small", "Small.Echo", vec![b'x'; 4096], &CallOptions::default()).await.unwrap_err();
    assert_eq!((err.code, err.id.as_str()), (413, "go.micro.client"), "{err}");
    assert!(err.detail.contains("4096 bytes exceeds the 1024-byte limit"), "{err}");
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
    let rsp: Greeting =
        c.call_json("legacy", "Greeter.Hello", &Hello { name: "Old".into() }, &CallOptions::default()).await.unwrap();
    assert_eq!(rsp.message, "Hello Old");
    let err = c
        .call_json::<_, Greeting>("legacy", "Greeter.Hello", &Hello { name: "".into() }, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    // Debug.Health answers without being advertised.
    let c = client(reg);
    let h = c.call("legacy", "Debug.Health", "{}", &CallOptions::default()).await.unwrap();
    assert_eq!(&h.body[..], b"{\"status\":\"ok\"}\n");
    assert!(!server.endpoints().iter().any(|e| e.name == "Debug.Health"));
}

/// go-micro's `Debug.Stats` answer as a JSON object of protojson strings, zeros absent.
fn stats_of(body: &[u8]) -> BTreeMap<String, u64> {
    let v: BTreeMap<String, String> = serde_json::from_slice(body).expect("Debug.Stats answers an object of strings");
    v.into_iter().map(|(k, n)| (k, n.parse().expect("a uint64 as a string"))).collect()
}

#[tokio::test]
async fn debug_stats_counts_calls_and_errors_without_being_advertised() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(reg.clone(), "stats").await;
    let c = client(reg);
    let o = CallOptions::default();
    let before = stats_of(&c.call("stats", "Debug.Stats", "{}", &o).await.unwrap().body);
    assert!(before["started"] > 0 && before["timestamp"] >= before["started"], "{before:?}");
    if cfg!(target_os = "linux") {
        assert!(before["memory"] > 0 && before["threads"] > 0, "{before:?}");
    }
    assert!(!before.contains_key("gc"), "gc is zero and so left out: {before:?}");
    let errors = |m: &BTreeMap<String, u64>| m.get("errors").copied().unwrap_or(0);
    let requests = |m: &BTreeMap<String, u64>| m.get("requests").copied().unwrap_or(0);

    // Three good calls, two failures (the handler's 400 and an unknown endpoint).
    for name in ["a", "b", "c"] {
        let _: Greeting = c.call_json("stats", "Greeter.Hello", &Hello { name: name.into() }, &o).await.unwrap();
    }
    let e = c.call_json::<_, Greeting>("stats", "Greeter.Hello", &Hello { name: "".into() }, &o).await.unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(c.call("stats", "Greeter.Nope", "{}", &o).await.unwrap_err().code, 404);

    let after = stats_of(&c.call("stats", "Debug.Stats", "{}", &o).await.unwrap().body);
    // The first Debug.Stats call counts too, once it was answered.
    assert_eq!(requests(&after), requests(&before) + 1 + 5, "{before:?} -> {after:?}");
    assert_eq!(errors(&after), errors(&before) + 2, "{before:?} -> {after:?}");
    assert_eq!(after["started"], before["started"]);
    let local = server.stats();
    assert_eq!((local.requests, local.errors), (requests(&after) + 1, errors(&after)));
    assert!(!server.endpoints().iter().any(|e| e.name.starts_with("Debug.")));

    // Protobuf callers get the same message in protobuf (field 2 = started, a varint).
    let po = CallOptions { content_type: Some("application/protobuf".into()), ..Default::default() };
    let pb = c.call("stats", "Debug.Stats", Vec::new(), &po).await.unwrap();
    assert_eq!(pb.body[0], 0x08, "field 1 (timestamp) first: {:?}", &pb.body[..]);

    // A handler of that name wins.
    server.handle_json("Debug.Stats", |_: serde_json::Value, _| async move { Ok(serde_json::json!({"mine": true})) });
    let mine = c.call("stats", "Debug.Stats", "{}", &o).await.unwrap();
    assert_eq!(&mine.body[..], b"{\"mine\":true}\n");
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
                let r: Greeting = c
                    .call_json("greeter", "Greeter.Hello", &Hello { name: name.clone() }, &CallOptions::default())
                    .await
                    .unwrap();
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

// ---------------------------------------------------------------------------
// Spec §4.11, the worked unary JSON call, byte for byte.

/// The client request of §4.11 (290 bytes), as a go-micro v5/v6 client writes it.
const SPEC_REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: 192.168.1.10:40123\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 17\r\nAccept: application/json\r\nContent-Type: application/json\r\nMicro-Endpoint: Greeter.Hello\r\nMicro-Id: 0\r\nMicro-Method: Greeter.Hello\r\nMicro-Service: greeter\r\nTimeout: 5000000000\r\n\r\n{\"name\":\"Alice\"}\n";

/// The server's success reply of §4.11 (273 bytes), request headers echoed.
const SPEC_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 26\r\nAccept: application/json\r\nContent-Type: application/json\r\nMicro-Endpoint: Greeter.Hello\r\nMicro-Id: 0\r\nMicro-Method: Greeter.Hello\r\nMicro-Service: greeter\r\nTimeout: 5000000000\r\nUser-Agent: Go-http-client/1.1\r\n\r\n{\"message\":\"Hello Alice\"}\n";

/// The server's reply of §4.11 for `errors.BadRequest("greeter", "name required")`.
const SPEC_ERROR_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nAccept: application/json\r\nContent-Type: application/json\r\nMicro-Endpoint: Greeter.Hello\r\nMicro-Error: {\"id\":\"greeter\",\"code\":400,\"detail\":\"name required\",\"status\":\"Bad Request\"}\r\nMicro-Id: 0\r\nMicro-Method: Greeter.Hello\r\nMicro-Service: greeter\r\nTimeout: 5000000000\r\nUser-Agent: Go-http-client/1.1\r\nX-Micro-Error: {\"id\":\"greeter\",\"code\":400,\"detail\":\"name required\",\"status\":\"Bad Request\"}\r\nContent-Length: 0\r\n\r\n";

/// The headers go-micro's server copies from the first request on the connection into
/// every reply (§3.2); clients must not trust them, and our server does not send them.
const ECHOED: [&str; 7] =
    ["Accept", "Micro-Endpoint", "Micro-Id", "Micro-Method", "Micro-Service", "Timeout", "User-Agent"];

/// One HTTP/1.1 message (head + `Content-Length` body) read off `s`, bounded in time.
async fn read_message(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map(|v| v.trim().parse().expect("numeric Content-Length"))
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    buf.truncate(end + 4 + len);
                    return;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "peer closed mid-message after {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("a whole message within 10 s");
    buf
}

/// Splits a message into its first line, its header lines and its body.
fn split_message(m: &[u8]) -> (String, Vec<String>, Vec<u8>) {
    let end = m.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8(m[..end].to_vec()).expect("UTF-8 head");
    let mut lines = head.split("\r\n").map(str::to_string);
    let first = lines.next().unwrap_or_default();
    (first, lines.collect(), m[end + 4..].to_vec())
}

fn header_name(line: &str) -> &str {
    line.split(": ").next().unwrap_or("")
}

/// Checks our reply against go-micro's: same status line and body, every header line of
/// ours verbatim in go-micro's, and go-micro's other lines exactly `extra`.
fn assert_reply_matches_spec(ours: &[u8], spec: &[u8], extra: &[&str]) {
    let (our_status, our_headers, our_body) = split_message(ours);
    let (spec_status, spec_headers, spec_body) = split_message(spec);
    assert_eq!(our_status, spec_status);
    assert_eq!(our_body, spec_body);
    for line in &our_headers {
        assert!(spec_headers.contains(line), "our header {line:?} is not go-micro's: {spec_headers:?}");
    }
    let mut missing: Vec<&str> =
        spec_headers.iter().filter(|l| !our_headers.contains(l)).map(|l| header_name(l)).collect();
    missing.sort_unstable();
    let mut extra = extra.to_vec();
    extra.sort_unstable();
    assert_eq!(missing, extra, "go-micro's header lines we do not send");
}

#[tokio::test]
async fn server_answers_the_spec_4_11_request_with_go_micro_s_bytes() {
    assert_eq!((SPEC_REQUEST.len(), SPEC_REPLY.len()), (290, 273));
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let ok = greeter(reg.clone(), "greeter").await;
    let failing = Server::new(options("greeter"), reg.clone());
    failing.handle_json("Greeter.Hello", |_: Hello, _| async move {
        Err::<Greeting, _>(Error::bad_request("greeter", "name required"))
    });
    failing.start().await.unwrap();

    // Success: go-micro's reply minus the echoed request headers; twice on one connection.
    let mut conn = tokio::net::TcpStream::connect(ok.advertised().unwrap()).await.unwrap();
    for _ in 0..2 {
        use tokio::io::AsyncWriteExt;
        conn.write_all(SPEC_REQUEST).await.unwrap();
        let reply = read_message(&mut conn).await;
        assert_eq!(
            reply,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{\"message\":\"Hello Alice\"}\n"
        );
        assert_reply_matches_spec(&reply, SPEC_REPLY, &ECHOED);
    }

    // Error: the same Micro-Error value byte for byte, empty body. We send neither the
    // echoes (Content-Type here is one: the request's) nor the X-Micro-Error twin, which
    // no go-micro client since v2 reads (spec §4.1).
    let mut conn = tokio::net::TcpStream::connect(failing.advertised().unwrap()).await.unwrap();
    {
        use tokio::io::AsyncWriteExt;
        conn.write_all(SPEC_REQUEST).await.unwrap();
    }
    let reply = read_message(&mut conn).await;
    assert_eq!(
        reply,
        &b"HTTP/1.1 200 OK\r\nMicro-Error: {\"id\":\"greeter\",\"code\":400,\"detail\":\"name required\",\"status\":\"Bad Request\"}\r\nContent-Length: 0\r\n\r\n"[..]
    );
    let mut extra = ECHOED.to_vec();
    extra.extend(["Content-Type", "X-Micro-Error"]);
    assert_reply_matches_spec(&reply, SPEC_ERROR_REPLY, &extra);
    ok.stop().await.unwrap();
    failing.stop().await.unwrap();
}

#[tokio::test]
async fn client_sends_the_spec_4_11_request_and_reads_go_micro_s_reply() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // A socket that records the request and answers with go-micro's exact reply bytes.
    let peer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let (mut s, _) = listener.accept().await.unwrap();
        let request = read_message(&mut s).await;
        s.write_all(SPEC_REPLY).await.unwrap();
        request
    });
    let c = Client::with_cache(None, ClientOptions::default());
    let opts = CallOptions { address: vec![addr.clone()], ..Default::default() };
    let reply = c.call("greeter", "Greeter.Hello", &b"{\"name\":\"Alice\"}\n"[..], &opts).await.unwrap();
    assert_eq!(&reply.body[..], b"{\"message\":\"Hello Alice\"}\n");
    assert_eq!(reply.content_type, "application/json");

    let (ours, ours_headers, ours_body) = split_message(&peer.await.unwrap());
    let (spec, spec_headers, spec_body) = split_message(SPEC_REQUEST);
    assert_eq!(ours, spec, "request line");
    assert_eq!(ours_body, spec_body);
    let map = |lines: &[String]| -> BTreeMap<String, String> {
        lines
            .iter()
            .map(|l| (header_name(l).to_string(), l.split_once(": ").map(|(_, v)| v.to_string()).unwrap_or_default()))
            .collect()
    };
    let (mut ours_map, mut spec_map) = (map(&ours_headers), map(&spec_headers));
    assert_eq!(ours_map.len(), ours_headers.len(), "no header twice: {ours_headers:?}");
    // Host names the node dialled, User-Agent names us; every other header is go-micro's.
    assert_eq!(ours_map.remove("Host"), Some(addr));
    assert_eq!(ours_map.remove("User-Agent"), Some(format!("micro/{}", micro::VERSION)));
    spec_map.remove("Host");
    spec_map.remove("User-Agent");
    assert_eq!(ours_map, spec_map);
}

// ---------------------------------------------------------------------------
// The connection pool, seen from the network: a counting TCP relay in front of a server.

/// Relays 127.0.0.1:<port> to `target`, counting the connections it accepts.
async fn counting_relay(target: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn pool_reuses_one_connection_for_sequential_calls() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(reg, "greeter").await;
    let (relay, accepted) = counting_relay(server.advertised().unwrap()).await;
    let c = Client::with_cache(None, ClientOptions::default());
    let opts = CallOptions { address: vec![relay], ..Default::default() };
    for i in 0..25 {
        let r: Greeting =
            c.call_json("greeter", "Greeter.Hello", &Hello { name: format!("n{i}") }, &opts).await.unwrap();
        assert_eq!(r.message, format!("Hello n{i}"));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "25 sequential calls, one connection");
    // An RPC error leaves the connection clean, so it stays in the pool (go-micro closes it).
    let err =
        c.call_json::<_, Greeting>("greeter", "Greeter.Hello", &Hello { name: "".into() }, &opts).await.unwrap_err();
    assert_eq!(err.code, 400);
    let _: Greeting = c.call_json("greeter", "Greeter.Hello", &Hello { name: "again".into() }, &opts).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "an error reply does not cost a connection");
    // Concurrent calls need one connection each, at most, and then share them.
    for _ in 0..3 {
        let calls = (0..8).map(|i| {
            let (c, opts) = (c.clone(), opts.clone());
            tokio::spawn(async move {
                c.call_json::<_, Greeting>("greeter", "Greeter.Hello", &Hello { name: format!("c{i}") }, &opts).await
            })
        });
        for t in calls.collect::<Vec<_>>() {
            t.await.unwrap().unwrap();
        }
    }
    let n = accepted.load(Ordering::SeqCst);
    assert!((1..=8).contains(&n), "3 rounds of 8 concurrent calls opened {n} connections (at most 8 expected)");
    // A stream dials its own connection and leaves the pooled ones alone.
    let mut stream = c.stream("greeter", "Greeter.Stream", &opts).await.unwrap();
    stream.send(&b"{\"name\":\"s\"}"[..]).await.unwrap();
    assert!(stream.recv().await.unwrap().is_some());
    stream.close().await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), n + 1, "one connection for the stream");
    let _: Greeting = c.call_json("greeter", "Greeter.Hello", &Hello { name: "after".into() }, &opts).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), n + 1, "unary calls still reuse the pool");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_bounds_running_handlers_and_waiting_calls_keep_their_timeout() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let mut o = options("bounded");
    o.max_concurrency = Some(2);
    let server = Server::new(o, reg.clone());
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let fast_started = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    server.handle("Bounded.Work", move |req| {
        let (r, p) = (r.clone(), p.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let ms: u64 = String::from_utf8_lossy(&req.body).parse().unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(micro::Response::from("done"))
        }
    });
    let f = fast_started.clone();
    server.handle("Bounded.Fast", move |_| {
        f.fetch_add(1, Ordering::SeqCst);
        async move { Ok(micro::Response::from("fast")) }
    });
    server.start().await.unwrap();
    let c = client(reg);

    // Ten calls of 100 ms each: two run at a time, all are answered.
    let started = std::time::Instant::now();
    let opts = CallOptions::default();
    let calls = (0..10).map(|_| c.call("bounded", "Bounded.Work", "100", &opts));
    let replies = futures::future::join_all(calls).await;
    assert!(replies.iter().all(|r| r.as_ref().is_ok_and(|r| &r.body[..] == b"done")), "{replies:?}");
    assert_eq!(peak.load(Ordering::SeqCst), 2, "at most two handlers at once");
    assert!(started.elapsed() >= Duration::from_millis(500), "five rounds of two: {:?}", started.elapsed());

    // Both slots held: a call that cannot get one within its timeout gets a 408, and its
    // handler never runs.
    let holder = c.clone();
    let hold = tokio::spawn(async move {
        let opts = CallOptions::default();
        let calls = (0..2).map(|_| holder.call("bounded", "Bounded.Work", "600", &opts));
        futures::future::join_all(calls).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let opts = CallOptions { timeout: Some(Duration::from_millis(150)), ..Default::default() };
    let err = c.call("bounded", "Bounded.Fast", "", &opts).await.unwrap_err();
    assert_eq!(err.code, 408, "{err}");
    assert!(hold.await.unwrap().iter().all(|r| r.is_ok()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fast_started.load(Ordering::SeqCst), 0, "the timed-out call never ran");
    // Once the slots are free the endpoint answers at once.
    assert_eq!(&c.call("bounded", "Bounded.Fast", "", &CallOptions::default()).await.unwrap().body[..], b"fast");
    server.stop().await.unwrap();
}
