//! Wrappers (go-micro's `WrapHandler`, `client.Wrap`, `WrapSubscriber`) and the shipped
//! metrics wrapper, over real sockets on loopback with the memory registry and broker.

use micro::broker::{Broker, SubscribeOptions};
use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::wrapper::{call_wrapper, handler_wrapper, subscriber_wrapper};
use micro::{
    CallOptions, Client, ClientOptions, Error, PublishOptions, Reply, Response, Server, ServerOptions, Service,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn options(name: &str) -> ServerOptions {
    let mut o = ServerOptions::new(name);
    o.address = "127.0.0.1:0".into();
    o.drain_timeout = Duration::from_secs(2);
    o
}

fn with_header(k: &str, v: &str) -> CallOptions {
    let mut o = CallOptions::default();
    o.metadata.insert(k.into(), v.into());
    o
}

#[tokio::test]
async fn handler_wrappers_see_change_and_short_circuit_in_order() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("wrapped"), Arc::clone(&reg));
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    server.handle("Greeter.Echo", move |req| {
        h.fetch_add(1, Ordering::SeqCst);
        async move { Ok(Response::from(req.body)) }
    });
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = Arc::clone(&log);
    // Outermost: refuses calls marked `Block`, brackets the body both ways.
    server.wrap(handler_wrapper(move |mut req, next| {
        let l = Arc::clone(&l);
        async move {
            l.lock().unwrap().push(format!("outer in {}", req.endpoint));
            if req.header.contains_key("Block") {
                return Err(Error::forbidden("wrapped", "blocked by a wrapper"));
            }
            req.body = [b"[", &req.body[..], b"]"].concat().into();
            let mut out = next.run(req).await?;
            out.body = [&out.body[..], b"!"].concat().into();
            l.lock().unwrap().push("outer out".into());
            Ok(out)
        }
    }));
    let l = Arc::clone(&log);
    server.wrap(handler_wrapper(move |req, next| {
        let l = Arc::clone(&l);
        async move {
            l.lock().unwrap().push("inner in".into());
            if req.header.contains_key("Panic") {
                panic!("wrapper boom");
            }
            let out = next.run(req).await;
            l.lock().unwrap().push("inner out".into());
            out
        }
    }));
    server.start().await.expect("server starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    let opts = CallOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };

    let reply = client.call("wrapped", "Greeter.Echo", &b"hi"[..], &opts).await.expect("a wrapped call");
    assert_eq!(&reply.body[..], b"[hi]!", "the outer wrapper changed the request and the answer");
    assert_eq!(*log.lock().unwrap(), ["outer in Greeter.Echo", "inner in", "inner out", "outer out"]);
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    let blocked = client.call("wrapped", "Greeter.Echo", &b"x"[..], &with_header("Block", "1")).await;
    let e = blocked.expect_err("a short-circuit answers with the wrapper's error");
    assert_eq!((e.code, e.detail.as_str()), (403, "blocked by a wrapper"));
    assert_eq!(handled.load(Ordering::SeqCst), 1, "the handler did not run");

    let mut panics = with_header("Panic", "1");
    panics.retries = Some(0);
    let e = client.call("wrapped", "Greeter.Echo", &b"x"[..], &panics).await.expect_err("a panicking wrapper");
    assert_eq!(e.code, 500, "{e:?}");
    assert!(e.detail.contains("wrapper boom"), "{e:?}");
    let reply = client.call("wrapped", "Greeter.Echo", &b"ok"[..], &opts).await.expect("the next call is served");
    assert_eq!(&reply.body[..], b"[ok]!");
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn call_wrappers_see_change_and_short_circuit_in_order() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("traced"), Arc::clone(&reg));
    server.handle("Greeter.Meta", |req| async move {
        Ok(Response::from(req.header.get("Trace-Id").cloned().unwrap_or_default().into_bytes()))
    });
    server.start().await.expect("server starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    let order = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let o = Arc::clone(&order);
    // Answers calls to `cache` itself: no service of that name exists.
    client.wrap(call_wrapper(move |call, next| {
        let o = Arc::clone(&o);
        async move {
            o.lock().unwrap().push("first");
            if call.service == "cache" {
                return Ok(Reply { body: "from the wrapper".into(), ..Default::default() });
            }
            next.run(call).await
        }
    }));
    let o = Arc::clone(&order);
    client.wrap(call_wrapper(move |mut call, next| {
        let o = Arc::clone(&o);
        async move {
            o.lock().unwrap().push("second");
            call.options.metadata.insert("Trace-Id".into(), "t-42".into());
            let mut reply = next.run(call).await?;
            reply.body = [&reply.body[..], b"/seen"].concat().into();
            Ok(reply)
        }
    }));
    let reply = client.call("traced", "Greeter.Meta", &b"{}"[..], &CallOptions::default()).await.expect("call");
    assert_eq!(&reply.body[..], b"t-42/seen", "metadata added by a wrapper reached the handler");
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);

    let cached = client.clone().call("cache", "Any.Thing", &b"{}"[..], &CallOptions::default()).await;
    assert_eq!(&cached.expect("short-circuit").body[..], b"from the wrapper", "clones share the wrappers");
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn subscriber_wrappers_see_and_drop_messages() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let broker: Arc<dyn Broker> = Arc::new(micro::broker::memory::Memory::new(1 << 20));
    let server = Server::new(options("listener"), Arc::clone(&reg));
    server.set_broker(Arc::clone(&broker));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    server.subscribe("events", SubscribeOptions::default(), move |ev| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(String::from_utf8_lossy(&ev.message.body).into_owned());
            Ok(())
        }
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    server.wrap_subscriber(subscriber_wrapper(move |ev, next| {
        s.fetch_add(1, Ordering::SeqCst);
        async move {
            if ev.message.header.contains_key("Drop") {
                return Ok(());
            }
            next.run(ev).await
        }
    }));
    server.start().await.expect("server starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    client.set_broker(Arc::clone(&broker));
    let mut dropped = PublishOptions::default();
    dropped.metadata.insert("Drop".into(), "1".into());
    client.publish("events", &b"\"dropped\""[..], &dropped).await.expect("publish");
    client.publish("events", &b"\"kept\""[..], &PublishOptions::default()).await.expect("publish");
    let got = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("a delivery").expect("open");
    assert_eq!(got, "\"kept\"", "the wrapper dropped the marked message and passed the other");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the wrapper saw both");
    server.stop().await.expect("stops");
}

async fn scrape(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("metrics listener");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("an answer");
    out
}

#[tokio::test]
async fn metrics_count_requests_under_go_micro_names() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let broker: Arc<dyn Broker> = Arc::new(micro::broker::memory::Memory::new(1 << 20));
    let svc = Service::builder("counted")
        .registry(Arc::clone(&reg))
        .broker(broker)
        .address("127.0.0.1:0")
        .metrics_address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle("Greeter.Hello", |req| async move {
        if req.body.is_empty() {
            return Err(Error::bad_request("counted", "empty"));
        }
        Ok(Response::from(req.body))
    });
    svc.start().await.expect("starts");
    let addr = svc.metrics_address().expect("metrics are served while the service runs");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    let opts =
        CallOptions { content_type: Some("application/octet-stream".into()), retries: Some(0), ..Default::default() };
    for _ in 0..3 {
        client.call("counted", "Greeter.Hello", &b"x"[..], &opts).await.expect("a success");
    }
    for _ in 0..2 {
        client.call("counted", "Greeter.Hello", &b""[..], &opts).await.expect_err("a failure");
    }
    let text = scrape(addr, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for line in [
        r#"micro_request_total{service="counted",endpoint="Greeter.Hello",status="success"} 3"#,
        r#"micro_request_total{service="counted",endpoint="Greeter.Hello",status="fail"} 2"#,
        r#"micro_request_duration_seconds_count{service="counted",endpoint="Greeter.Hello",status="success"} 3"#,
        r#"micro_request_duration_seconds_bucket{le="10.0",service="counted",endpoint="Greeter.Hello",status="fail"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(scrape(addr, "/other").await.starts_with("HTTP/1.1 404"));
    svc.stop().await.expect("stops");
}

#[tokio::test]
async fn a_rate_limit_refuses_with_429_per_endpoint_and_runs_no_handler() {
    use micro::wrapper::limit::{self, RateLimit};
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("limited"), Arc::clone(&reg));
    let handled = Arc::new(AtomicUsize::new(0));
    for endpoint in ["L.One", "L.Two"] {
        let h = Arc::clone(&handled);
        server.handle(endpoint, move |req| {
            h.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Response::from(req.body)) }
        });
    }
    // A rate so slow no token comes back during the test: the burst is all there is.
    server.wrap(limit::handler(RateLimit { per_second: 0.0001, burst: 2 }));
    server.start().await.expect("starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    let opts =
        CallOptions { content_type: Some("application/octet-stream".into()), retries: Some(0), ..Default::default() };
    for _ in 0..2 {
        client.call("limited", "L.One", &b"x"[..], &opts).await.expect("within the burst");
    }
    let e = client.call("limited", "L.One", &b"x"[..], &opts).await.expect_err("over the limit");
    assert_eq!((e.code, e.id.as_str()), (429, "limited"), "{e}");
    assert!(e.detail.contains("too many requests"), "{e}");
    assert_eq!(handled.load(Ordering::SeqCst), 2, "the refused call ran no handler");
    client.call("limited", "L.Two", &b"x"[..], &opts).await.expect("another endpoint has its own bucket");
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn a_breaker_opens_after_failures_fails_fast_then_closes_after_a_good_trial() {
    use micro::wrapper::breaker::{self, Breaker};
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("flaky"), Arc::clone(&reg));
    let handled = Arc::new(AtomicUsize::new(0));
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (h, ok) = (Arc::clone(&handled), Arc::clone(&healthy));
    server.handle("F.Call", move |req| {
        h.fetch_add(1, Ordering::SeqCst);
        let ok = ok.load(Ordering::SeqCst);
        async move {
            if req.body.as_ref() == b"mine" {
                return Err(Error::bad_request("flaky", "your mistake"));
            }
            if ok {
                Ok(Response::from(req.body))
            } else {
                Err(Error::internal("flaky", "unwell"))
            }
        }
    });
    server.start().await.expect("starts");
    // Long enough that the calls meant to meet an open circuit do, even on a loaded machine.
    let cooldown = Duration::from_secs(2);
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    client.wrap(breaker::call(Breaker { failures: 3, cooldown }));
    let opts =
        CallOptions { content_type: Some("application/octet-stream".into()), retries: Some(0), ..Default::default() };

    // 4xx answers are the caller's: they never open the circuit.
    for _ in 0..5 {
        assert_eq!(client.call("flaky", "F.Call", &b"mine"[..], &opts).await.expect_err("400").code, 400);
    }
    for _ in 0..3 {
        assert_eq!(client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect_err("500").code, 500);
    }
    let before = handled.load(Ordering::SeqCst);
    let e = client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect_err("open");
    assert_eq!((e.code, e.id.as_str()), (503, "go.micro.client"), "{e}");
    assert!(e.detail.contains("circuit open for flaky.F.Call"), "{e}");
    assert_eq!(handled.load(Ordering::SeqCst), before, "an open circuit sends nothing");

    // After the cooldown (waited for, at least), one trial goes through: it fails, so the
    // circuit opens again; the next trial succeeds and closes it.
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    assert_eq!(client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect_err("trial").code, 500);
    assert_eq!(client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect_err("open again").code, 503);
    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect("a good trial closes it");
    for _ in 0..5 {
        client.call("flaky", "F.Call", &b"x"[..], &opts).await.expect("closed");
    }
    server.stop().await.expect("stops");
}

#[test]
fn metrics_series_appear_once_recorded_and_clones_share_them() {
    let m = micro::wrapper::metrics::Metrics::new();
    let again = m.clone();
    m.observe("svc", "A.B", true, std::time::Instant::now());
    again.observe("svc", "A.B", true, std::time::Instant::now());
    m.observe("other", "A.B", false, std::time::Instant::now());
    let text = m.render();
    for line in [
        r#"micro_request_total{service="svc",endpoint="A.B",status="success"} 2"#,
        r#"micro_request_duration_seconds_count{service="svc",endpoint="A.B",status="success"} 2"#,
        r#"micro_request_total{service="other",endpoint="A.B",status="fail"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    for absent in
        [r#"service="svc",endpoint="A.B",status="fail""#, r#"service="other",endpoint="A.B",status="success""#]
    {
        assert!(!text.contains(absent), "a series never recorded shows: {absent} in:\n{text}");
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn access_log_writes_a_line_per_request_only_while_someone_listens() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = Server::new(options("logged"), Arc::clone(&reg));
    server.handle("Greeter.Echo", |req| async move { Ok(Response::from(req.body)) });
    server.wrap(micro::wrapper::logging::handler());
    server.start().await.expect("starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    let opts =
        CallOptions { content_type: Some("application/octet-stream".into()), retries: Some(0), ..Default::default() };
    // No subscriber: the wrapper passes the call through.
    client.call("logged", "Greeter.Echo", &b"quiet"[..], &opts).await.expect("a call with no subscriber");
    // A subscriber on this thread (the runtime's only one): one line for the call.
    let buf = Captured::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || w.clone()).with_ansi(false).finish();
    let guard = tracing::subscriber::set_default(subscriber);
    client.call("logged", "Greeter.Echo", &b"heard"[..], &opts).await.expect("a call with a subscriber");
    drop(guard);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("micro::access")).collect();
    assert_eq!(lines.len(), 1, "one access line:\n{text}");
    for part in ["kind=\"handler\"", "service=\"logged\"", "endpoint=\"Greeter.Echo\"", "status=\"success\""] {
        assert!(lines[0].contains(part), "{part} in {:?}", lines[0]);
    }
    server.stop().await.expect("stops");
}
