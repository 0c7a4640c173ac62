//! The sidecar (`micro_gateway::sidecar`) in-process, on loopback, without mDNS: a memory
//! registry and broker, a `micro::Service` greeter in the mesh, and a plain hyper HTTP server
//! as the neighbour program. What needs go-micro peers and network namespaces is in
//! tests/sidecar/e2e.sh (suite 59-sidecar).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro::broker::{self, Broker};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Registry, Service as RegService};
use micro::{CallOptions, Service};
use micro_gateway::sidecar::neighbour::{Health, Neighbour, NeighbourConfig};
use micro_gateway::sidecar::remote::Remote;
use micro_gateway::sidecar::{Sidecar, SidecarOptions};
use micro_gateway::Gateway;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

struct Sc {
    addr: SocketAddr,
    stop: CancellationToken,
    client: micro::Client,
}

impl Drop for Sc {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn sidecar(registry: Arc<dyn Registry>, broker: Arc<dyn Broker>, queue: usize) -> Sc {
    sidecar_with(registry, broker, SidecarOptions { subscriber_queue: queue, ..Default::default() }).await
}

async fn sidecar_with(registry: Arc<dyn Registry>, broker: Arc<dyn Broker>, opts: SidecarOptions) -> Sc {
    let client = micro::Client::builder()
        .registry(Arc::clone(&registry))
        .broker(broker)
        .request_timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("client");
    let gw = Gateway::new(client.clone(), registry, opts.gateway.clone());
    let sc = Sidecar::new(gw, &opts, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(sc.serve(listener, None, stop.clone()));
    Sc { addr, stop, client }
}

async fn send(addr: SocketAddr, method: &str, path: &str, ct: &str, body: impl Into<Bytes>) -> (StatusCode, Bytes) {
    let client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", ct)
        .body(Full::new(body.into()))
        .expect("request");
    let rsp = client.request(req).await.expect("response");
    let status = rsp.status();
    (status, rsp.into_body().collect().await.expect("body").to_bytes())
}

async fn greeter(registry: &Arc<dyn Registry>) -> Service {
    let svc = Service::builder("go.micro.srv.greeter")
        .registry(Arc::clone(registry))
        .broker(Arc::new(broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle("Say.Hello", |req: micro::Request| async move {
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let name = v["name"].as_str().unwrap_or_default().to_string();
        Ok(micro::Response::from(format!("{{\"msg\":\"Hello {name}\"}}").into_bytes()))
    });
    svc.start().await.expect("start");
    svc
}

#[tokio::test]
async fn registry_api_registers_lists_gets_and_deregisters() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let sc = sidecar(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), 8).await;
    let svc = r#"{"name":"foo.bar","nodes":[{"id":"foo.bar-1","address":"127.0.0.1:9091"}]}"#;
    let (status, _) = send(sc.addr, "POST", "/registry?ttl=10s", "application/json", svc).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(sc.addr, "GET", "/registry?service=foo.bar", "", "").await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<RegService> = serde_json::from_slice(&body).expect("services");
    assert_eq!(got[0].nodes[0].id, "foo.bar-1");
    let (_, body) = send(sc.addr, "GET", "/registry", "", "").await;
    assert!(String::from_utf8_lossy(&body).contains("foo.bar"));
    // The CLI's view of it, through the same API.
    let remote = Remote::new(&sc.addr.to_string(), Duration::from_secs(5));
    assert_eq!(remote.get_service("foo.bar").await.expect("get")[0].nodes[0].address, "127.0.0.1:9091");
    let (status, _) = send(sc.addr, "DELETE", "/registry", "application/json", svc).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(sc.addr, "GET", "/registry?service=foo.bar", "", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(remote.get_service("foo.bar").await.expect("get").is_empty());
    let (status, body) = send(sc.addr, "POST", "/registry", "application/json", "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn rpc_paths_bad_json_and_unknown_services() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let sc = sidecar(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), 8).await;
    let (status, body) = send(sc.addr, "POST", "/greeter/say/hello", "application/json", r#"{"name":"s"}"#).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &br#"{"msg":"Hello s"}"#[..]));
    let rpc = r#"{"service":"go.micro.srv.greeter","endpoint":"Say.Hello","request":{"name":"p"}}"#;
    let (status, body) = send(sc.addr, "POST", "/rpc", "application/json", rpc).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &br#"{"msg":"Hello p"}"#[..]));
    let remote = Remote::new(&sc.addr.to_string(), Duration::from_secs(5));
    assert_eq!(
        &remote.call("go.micro.srv.greeter", "Say.Hello", r#"{"name":"r"}"#, None).await.expect("call")[..],
        br#"{"msg":"Hello r"}"#
    );
    let (status, body) = send(sc.addr, "POST", "/greeter/say/hello", "application/json", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("not JSON"));
    let (status, _) = send(sc.addr, "POST", "/nosuch/say/hello", "application/json", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let e = remote.call("nosuch", "Say.Hello", "{}", None).await.expect_err("unknown service");
    assert_eq!(e.code, 404, "{e}");
    svc.stop().await.expect("stop");
}

async fn ws(
    addr: SocketAddr,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/broker?{query}")).await.expect("websocket");
    ws
}

#[tokio::test]
async fn broker_publishes_and_delivers_over_a_websocket() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let broker: Arc<dyn Broker> = Arc::new(broker::memory::Memory::new(1 << 20));
    let sc = sidecar(registry, Arc::clone(&broker), 8).await;
    let mut sub = ws(sc.addr, "topic=t1&queue=q").await;
    // The subscription is made after the handshake: publish until a frame arrives.
    let frame = loop {
        let (status, _) = send(sc.addr, "POST", "/broker?topic=t1", "text/plain", "Hello World!").await;
        assert_eq!(status, StatusCode::OK);
        if let Ok(Some(Ok(f))) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            break f;
        }
    };
    let env: serde_json::Value = serde_json::from_str(frame.to_text().expect("text")).expect("envelope");
    assert_eq!(env["Body"], "SGVsbG8gV29ybGQh");
    assert_eq!(env["Header"]["Content-Type"], "text/plain");
    // A frame from the client is published on the topic.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let got = broker
        .subscribe(
            "t1",
            Default::default(),
            broker::handler(move |ev: broker::Event| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(ev.message.body);
                    Ok(())
                }
            }),
        )
        .await
        .expect("subscribe");
    sub.send(tungstenite::Message::text("from the socket")).await.expect("send");
    assert_eq!(&rx.recv().await.expect("message")[..], b"from the socket");
    got.unsubscribe().await.expect("unsubscribe");
    let (status, _) = send(sc.addr, "POST", "/broker", "text/plain", "x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_websocket_client_that_never_reads_is_dropped() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let broker: Arc<dyn Broker> = Arc::new(broker::memory::Memory::new(1 << 20));
    let sc = sidecar(registry, Arc::clone(&broker), 4).await;
    // A raw socket with a small receive buffer that completes the handshake and then never reads.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stream = sock.connect(sc.addr).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hello = format!(
        "GET /broker?topic=flood HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        sc.addr
    );
    stream.write_all(hello.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).await.expect("101");
        head.push(b[0]);
    }
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 101"));
    // Publishing never waits for the slow client; the sidecar drops it once its queue is full.
    let pad = Bytes::from(vec![b'x'; 16 * 1024]);
    let opts = micro::PublishOptions { content_type: Some("text/plain".into()), ..Default::default() };
    let count = 2000usize;
    for _ in 0..count {
        sc.client.publish("flood", pad.clone(), &opts).await.expect("publish never blocks on a slow subscriber");
    }
    // Dropped: the socket ends (EOF) after what was already in flight, a small part of it all.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < count * pad.len() / 2, "the slow client got {got} bytes of {}", count * pad.len());
}

/// A neighbour program: plain hyper, `/greeter/hello` answers, `/slow/hang` never does,
/// `/health` follows `well`.
async fn neighbour(well: Arc<AtomicBool>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let well = Arc::clone(&well);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let well = Arc::clone(&well);
                    async move {
                        let path = req.uri().path().to_string();
                        let endpoint =
                            req.headers().get("micro-endpoint").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let (status, text) = match path.as_str() {
                            "/greeter/hello" => (
                                200,
                                format!("{{\"echo\":{},\"endpoint\":\"{endpoint}\"}}", String::from_utf8_lossy(&body)),
                            ),
                            "/greeter/fail" => (418, "no tea".to_string()),
                            "/slow/hang" => {
                                std::future::pending::<()>().await;
                                (200, String::new())
                            }
                            "/health" if well.load(Ordering::SeqCst) => (200, "ok".into()),
                            "/health" => (503, "sick".into()),
                            _ => (404, "no route".into()),
                        };
                        let mut rsp = Response::new(Full::new(Bytes::from(text)));
                        *rsp.status_mut() = StatusCode::from_u16(status).expect("status");
                        Ok::<_, std::convert::Infallible>(rsp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn neighbour_is_registered_forwarded_to_and_follows_its_health() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let well = Arc::new(AtomicBool::new(true));
    let app = neighbour(Arc::clone(&well)).await;
    let mut cfg = NeighbourConfig::new("py.app", app.to_string());
    cfg.endpoints = micro_gateway::sidecar::neighbour::endpoints_from_list("Greeter.Hello,Slow.Hang");
    cfg.healthcheck_url = Some(format!("http://{app}/health"));
    cfg.health_interval = Duration::from_millis(50);
    cfg.rpc_address = "127.0.0.1:0".into();
    cfg.call_timeout = Duration::from_millis(300);
    let n = Neighbour::start(cfg, Arc::clone(&registry)).await.expect("neighbour");
    let got = registry.get_service("py.app").await.expect("get");
    assert_eq!(got[0].nodes[0].id, n.id());
    assert_eq!(got[0].endpoints.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["Greeter.Hello", "Slow.Hang"]);

    let client =
        micro::Client::builder().registry(Arc::clone(&registry)).without_broker().build().await.expect("client");
    let opts = CallOptions { content_type: Some("application/json".into()), ..Default::default() };
    let reply = client.call("py.app", "Greeter.Hello", &br#"{"a":1}"#[..], &opts).await.expect("forwarded");
    assert_eq!(&reply.body[..], br#"{"echo":{"a":1},"endpoint":"Greeter.Hello"}"#);
    let e = client.call("py.app", "Greeter.Fail", &b"{}"[..], &opts).await.expect_err("418");
    assert_eq!((e.code, e.detail.as_str()), (418, "no tea"));
    let mut hang = opts.clone();
    hang.retries = Some(0);
    let e = client.call("py.app", "Slow.Hang", &b"{}"[..], &hang).await.expect_err("hangs");
    assert_eq!(e.code, 408, "{e}");
    client.call("py.app", "Greeter.Hello", &b"{}"[..], &opts).await.expect("still serving after a hang");

    let mut health = n.health();
    well.store(false, Ordering::SeqCst);
    health.wait_for(|h| matches!(h, Health::Unhealthy(_))).await;
    assert!(registry.get_service("py.app").await.expect("get").iter().all(|s| s.nodes.is_empty()));
    well.store(true, Ordering::SeqCst);
    health.wait_for(|h| *h == Health::Healthy).await;
    assert_eq!(registry.get_service("py.app").await.expect("get")[0].nodes.len(), 1);
    n.stop().await.expect("stop");
    assert!(registry.get_service("py.app").await.expect("get").iter().all(|s| s.nodes.is_empty()));
}

/// Streams through the sidecar's `/rpc` websocket (what `micro stream --proxy_address` uses):
/// messages both ways in order, the half-close (an empty text frame) answered by a
/// client-streaming endpoint, a handler's error arriving as the go-micro error in the close
/// frame, and an unknown service answered as an HTTP error before any upgrade.
#[tokio::test]
async fn streams_go_through_the_rpc_websocket() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let sc = sidecar(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), 16).await;
    let svc = Service::builder("streamer")
        .registry(Arc::clone(&registry))
        .broker(Arc::new(broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle_stream("Streamer.Echo", |_, mut s| async move {
        while let Some(m) = s.recv().await {
            s.send(m?).await?;
        }
        Ok(())
    });
    svc.server().handle_stream("Streamer.Count", |_, mut s| async move {
        let mut n = 0u32;
        while let Some(m) = s.recv().await {
            m?;
            n += 1;
        }
        s.send(format!("{{\"count\":{n}}}")).await?;
        Ok(())
    });
    svc.server().handle_stream("Streamer.Fail", |_, mut s| async move {
        let _ = s.recv().await;
        Err(micro::Error::new("streamer", "no more", 409))
    });
    svc.start().await.expect("start");
    let remote = Remote::new(&sc.addr.to_string(), Duration::from_secs(5));

    let (mut tx, mut rx) = remote.stream("streamer", "Streamer.Echo").await.expect("open");
    for i in 0..3 {
        tx.send(format!("{{\"n\":{i}}}").into_bytes()).await.expect("send");
        let got = rx.recv().await.expect("recv").expect("a reply");
        assert_eq!(&got[..], format!("{{\"n\":{i}}}").as_bytes());
    }
    tx.close_send().await.expect("half-close");
    assert_eq!(rx.recv().await.expect("the end"), None, "the echo ends once the client's side is closed");

    let (mut tx, mut rx) = remote.stream("streamer", "Streamer.Count").await.expect("open");
    for _ in 0..4 {
        tx.send(b"{}".to_vec()).await.expect("send");
    }
    tx.close_send().await.expect("half-close");
    assert_eq!(&rx.recv().await.expect("recv").expect("the count")[..], b"{\"count\":4}");
    assert_eq!(rx.recv().await.expect("the end"), None);

    let (mut tx, mut rx) = remote.stream("streamer", "Streamer.Fail").await.expect("open");
    tx.send(b"{}".to_vec()).await.expect("send");
    let e = rx.recv().await.expect_err("the handler's error");
    assert_eq!((e.code, e.detail.as_str()), (409, "no more"), "{e:?}");

    let e = remote.stream("nobody", "Nobody.Home").await.err().expect("no such service");
    assert_eq!(e.code, 404, "{e:?}");

    // A websocket on the service's own path opens the same stream (the rpc handler's rules).
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/streamer/Streamer/Echo", sc.addr))
        .await
        .expect("a websocket on the service path");
    ws.send(tungstenite::Message::text("{\"path\":true}")).await.expect("send");
    match ws.next().await {
        Some(Ok(tungstenite::Message::Text(t))) => assert_eq!(t.as_str(), "{\"path\":true}"),
        other => panic!("no echo on the path's stream: {other:?}"),
    }
    // The client's close frame ends the stream at once: the service's handler returns, so
    // the service stops without waiting out its drain timeout.
    ws.close(None).await.expect("close");
    svc.stop().await.expect("stop");
}

/// Streams open at once are capped (`--max_streams`): one past the cap is a 503 naming the
/// limit, answered before the upgrade, and a stream that ends gives its slot back.
#[tokio::test]
async fn streams_past_the_cap_are_refused_until_one_ends() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let mut opts = SidecarOptions { subscriber_queue: 16, ..Default::default() };
    opts.gateway.max_streams = 1;
    let sc = sidecar_with(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), opts).await;
    let svc = Service::builder("capped")
        .registry(Arc::clone(&registry))
        .broker(Arc::new(broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle_stream("Capped.Echo", |_, mut s| async move {
        while let Some(m) = s.recv().await {
            s.send(m?).await?;
        }
        Ok(())
    });
    svc.start().await.expect("start");
    let remote = Remote::new(&sc.addr.to_string(), Duration::from_secs(5));

    let (mut tx, mut rx) = remote.stream("capped", "Capped.Echo").await.expect("the first stream");
    tx.send(b"{\"a\":1}".to_vec()).await.expect("send");
    assert_eq!(&rx.recv().await.expect("recv").expect("echo")[..], b"{\"a\":1}");
    let e = remote.stream("capped", "Capped.Echo").await.err().expect("a second stream past the cap");
    assert_eq!(e.code, 503, "{e:?}");
    assert!(e.detail.contains("1 at once"), "the limit is named: {e:?}");

    tx.close_send().await.expect("half-close");
    assert_eq!(rx.recv().await.expect("the end"), None);
    // The slot comes back when the first stream's task has sent its close frame: ask until
    // it has (the task ends within its 500 ms close deadline; 30 s leaves a loaded machine room).
    let mut again = None;
    for _ in 0..3000 {
        match remote.stream("capped", "Capped.Echo").await {
            Ok(s) => {
                again = Some(s);
                break;
            }
            Err(e) if e.code == 503 => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    let (mut tx, mut rx) = again.expect("a stream once the first ended");
    tx.send(b"{\"b\":2}".to_vec()).await.expect("send");
    assert_eq!(&rx.recv().await.expect("recv").expect("echo")[..], b"{\"b\":2}");
    tx.close_send().await.expect("half-close");
    svc.stop().await.expect("stop");
}

/// The registry's watch through the sidecar's `/registry` websocket (spec P7): the raw frame
/// is go-micro's `registry.Result` JSON, and `Remote::watch` (what the CLI gets with
/// `--proxy_address`) turns frames back into events, for one service or for all.
async fn next(w: &mut micro::registry::Watcher) -> micro::registry::Event {
    tokio::time::timeout(Duration::from_secs(10), w.next()).await.expect("an event in time").expect("open")
}

#[tokio::test]
async fn the_registry_watch_goes_through_a_websocket() {
    use micro::registry::{Action, Node, RegisterOptions};
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let sc = sidecar(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), 8).await;
    let remote = Remote::new(&sc.addr.to_string(), Duration::from_secs(5));
    let mut one = remote.watch(Some("watched")).await.expect("watch one");
    let mut all = remote.watch(None).await.expect("watch all");
    let (mut raw, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/registry", sc.addr)).await.expect("a raw websocket");
    // The sidecar has subscribed once the upgrade is answered; changes from here on are seen.
    let svc = |name: &str| RegService {
        name: name.into(),
        nodes: vec![Node { id: format!("{name}-1"), address: "127.0.0.1:9".into(), ..Default::default() }],
        ..Default::default()
    };
    registry.register(&svc("other"), RegisterOptions::default()).await.expect("register other");
    registry.register(&svc("watched"), RegisterOptions::default()).await.expect("register watched");
    let ev = next(&mut one).await;
    assert_eq!((ev.action, ev.service.name.as_str()), (Action::Create, "watched"), "only the named service");
    assert_eq!(next(&mut all).await.service.name, "other");
    assert_eq!(next(&mut all).await.service.name, "watched");
    match tokio::time::timeout(Duration::from_secs(10), raw.next()).await.expect("a frame") {
        Some(Ok(tungstenite::Message::Text(t))) => {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("JSON");
            assert_eq!(v["Action"], "create", "{v}");
            assert_eq!(v["Service"]["name"], "other", "{v}");
            assert_eq!(v["Service"]["nodes"][0]["id"], "other-1", "{v}");
        }
        other => panic!("no result frame: {other:?}"),
    }
    registry.deregister(&svc("watched")).await.expect("deregister");
    let ev = next(&mut one).await;
    assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Delete, "watched-1"));
}

/// `micro proxy --handler=proxy --namespace=go.micro.api` (spec P3): a path is proxied to the
/// HTTP service `<namespace>.<first segment>` untouched, body and all (no JSON check: the
/// body is not decoded).
#[tokio::test]
async fn the_proxy_handler_forwards_paths_to_http_services() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let backend = neighbour(Arc::new(AtomicBool::new(true))).await;
    let node = micro::registry::Node { id: "api-1".into(), address: backend.to_string(), ..Default::default() };
    let svc = RegService { name: "go.micro.api.greeter".into(), nodes: vec![node], ..Default::default() };
    registry.register(&svc, Default::default()).await.expect("register");
    let mut opts = SidecarOptions::default();
    opts.gateway.handler = "proxy".parse().expect("a handler");
    opts.gateway.namespace = "go.micro.api".into();
    let sc = sidecar_with(Arc::clone(&registry), Arc::new(broker::memory::Memory::new(1 << 20)), opts).await;
    let (status, body) = send(sc.addr, "POST", "/greeter/hello", "application/json", "[1,2]").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(&body[..], b"{\"echo\":[1,2],\"endpoint\":\"\"}");
    let (status, _) = send(sc.addr, "POST", "/greeter/fail", "application/json", "not json, not checked").await;
    assert_eq!(status.as_u16(), 418, "the service's own status comes back");
    let (status, _) = send(sc.addr, "GET", "/nobody/x", "", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
