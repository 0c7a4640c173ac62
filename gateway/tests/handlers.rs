//! The api, event, http/proxy and web handlers end to end, on loopback, without mDNS: a
//! gateway built in-process over a memory registry (and a memory broker for events), real
//! services behind it — a `micro::Service` endpoint that decodes the `go.api.Request`, plain
//! hyper HTTP servers registered by hand, a websocket echo — and an HTTP client in front.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro::broker::{self, Broker, SubscribeOptions};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Node, RegisterOptions, Registry, Service as RegService};
use micro::{Error, Service};
use micro_gateway::goapi;
use micro_gateway::{Gateway, HandlerKind, Options};
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// A gateway serving on a loopback port until the token is cancelled (on drop).
struct Gw {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn gateway(registry: Arc<dyn Registry>, broker: Option<Arc<dyn Broker>>, handler: HandlerKind, ns: &str) -> Gw {
    let opts = Options { handler, namespace: ns.to_string(), ..Options::default() };
    gateway_with(registry, broker, opts).await
}

async fn gateway_with(registry: Arc<dyn Registry>, broker: Option<Arc<dyn Broker>>, opts: Options) -> Gw {
    let mut b = micro::Client::builder().registry(Arc::clone(&registry)).request_timeout(Duration::from_secs(5));
    b = match broker {
        Some(br) => b.broker(br),
        None => b.without_broker(),
    };
    let client = b.build().await.expect("client");
    let gw = Gateway::new(client, registry, opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(gw.serve(listener, None, stop.clone()));
    Gw { addr, stop }
}

/// One HTTP/1.1 exchange: status, headers, whole body.
async fn send(
    gw: &Gw,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    let client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(format!("http://{}{path}", gw.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let rsp = client.request(req.body(Full::new(body.into())).expect("request")).await.expect("response");
    let (parts, body) = rsp.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("body").to_bytes())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

// ---------------------------------------------------------------- api

/// `go.micro.api.echo`: `Echo.Call` answers 201, `X-Fx: 1` and the JSON of the api.Request it
/// got; `Echo.Deny` fails with a 403. With `meta`, `Echo.Call` says `handler=api`.
async fn echo_api(registry: &Arc<dyn Registry>, meta: bool) -> Service {
    let svc = Service::builder("go.micro.api.echo")
        .registry(Arc::clone(registry))
        .broker(Arc::new(broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle("Echo.Call", |req: micro::Request| async move {
        if req.content_type != "application/protobuf" {
            return Err(Error::bad_request("go.micro.api.echo", format!("content type {}", req.content_type)));
        }
        let got = goapi::Request::decode(&req.body[..])
            .map_err(|e| Error::bad_request("go.micro.api.echo", format!("not an api.Request: {e}")))?;
        let mut rsp = goapi::Response {
            status_code: 201,
            body: serde_json::to_string(&got).expect("json"),
            ..Default::default()
        };
        goapi::set(&mut rsp.header, "X-Fx", "1".into());
        Ok(micro::Response { body: rsp.encode_to_vec().into(), content_type: Some("application/protobuf".into()) })
    });
    svc.server().handle("Echo.Deny", |_req: micro::Request| async move {
        Err::<micro::Response, _>(Error::new("go.micro.api.echo", "no entry", 403))
    });
    if meta {
        svc.server().describe("Echo.Call", "handler", "api");
    }
    svc.start().await.expect("start");
    svc
}

#[tokio::test]
async fn api_handler_sends_the_whole_request_and_writes_the_reply() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = echo_api(&registry, false).await;
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Api, "go.micro.api").await;

    let (status, headers, body) =
        send(&gw, "GET", "/echo/echo/call?a=1&a=2", &[("x-forwarded-for", "203.0.113.5"), ("x-user", "u1")], "").await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["x-fx"], "1");
    assert_eq!(headers["content-type"], "application/json");
    let r = json(&body);
    assert_eq!(r["method"], "GET");
    assert_eq!(r["path"], "/echo/echo/call");
    assert_eq!(r["url"], "/echo/echo/call?a=1&a=2");
    assert_eq!(r["get"]["a"], serde_json::json!({"key": "a", "values": ["1", "2"]}));
    assert_eq!(r["header"]["X-User"]["values"], serde_json::json!(["u1"]));
    assert_eq!(r["header"]["Host"]["values"], serde_json::json!([gw.addr.to_string()]));
    assert_eq!(r["header"]["Content-Type"]["values"], serde_json::json!(["text/plain; charset=UTF-8"]));
    // Appended, not overwritten.
    assert_eq!(r["header"]["X-Forwarded-For"]["values"], serde_json::json!(["203.0.113.5, 127.0.0.1"]));

    // A form goes in `post`, a JSON body in `body`.
    let (_, _, body) =
        send(&gw, "POST", "/echo/echo/call", &[("content-type", "application/x-www-form-urlencoded")], "name=x").await;
    let r = json(&body);
    assert_eq!((r["post"]["name"]["values"][0].as_str(), r["body"].as_str()), (Some("x"), Some("")));
    let (_, _, body) = send(&gw, "POST", "/echo/echo/call", &[("content-type", "application/json")], "{\"a\":1}").await;
    assert_eq!(json(&body)["body"], "{\"a\":1}");

    // A binary body no longer breaks the encoding: base64, and the header says so.
    let png: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00];
    let (status, _, body) = send(&gw, "POST", "/echo/echo/call", &[("content-type", "image/png")], png).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = json(&body);
    assert_eq!(r["header"]["Content-Transfer-Encoding"]["values"], serde_json::json!(["base64"]));
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(r["body"].as_str().expect("body")).expect("b64");
    assert_eq!(decoded, png);

    // Backend errors keep their code; no such service is a 404 that names it.
    let (status, headers, body) = send(&gw, "POST", "/echo/echo/deny", &[], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json(&body)["detail"], "no entry");
    let (status, _, body) = send(&gw, "GET", "/nosuch/x", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json(&body)["detail"].as_str().expect("detail").contains("go.micro.api.nosuch"));
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn meta_handler_uses_the_api_handler_when_the_endpoint_says_so() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = echo_api(&registry, true).await;
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Meta, "go.micro.api").await;
    let (status, headers, body) = send(&gw, "GET", "/echo/echo/call?a=1", &[], "").await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["x-fx"], "1");
    assert_eq!(json(&body)["get"]["a"]["values"], serde_json::json!(["1"]));
    // go-micro v5's form too.
    let (status, _, body) = send(&gw, "POST", "/echo/Echo.Call", &[], "").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(json(&body)["method"], "POST");
    svc.stop().await.expect("stop");
}

// ---------------------------------------------------------------- event

#[tokio::test]
async fn event_handler_publishes_an_api_event() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let broker: Arc<dyn Broker> = Arc::new(broker::memory::Memory::new(1 << 20));
    let seen: Arc<Mutex<Vec<broker::Event>>> = Arc::default();
    let rec = Arc::clone(&seen);
    let _sub = broker
        .subscribe(
            "go.micro.evt.user",
            SubscribeOptions::default(),
            broker::handler(move |ev| {
                let rec = Arc::clone(&rec);
                async move {
                    rec.lock().expect("lock").push(ev);
                    Ok(())
                }
            }),
        )
        .await
        .expect("subscribe");
    let gw = gateway(Arc::clone(&registry), Some(Arc::clone(&broker)), HandlerKind::Event, "go.micro.evt").await;

    let (status, headers, body) = send(
        &gw,
        "POST",
        "/user/login",
        &[("content-type", "application/json"), ("x-user", "u1")],
        "{\"name\":\"john\"}",
    )
    .await;
    assert_eq!((status, body.len()), (StatusCode::OK, 0));
    assert!(headers.get("content-type").is_none());
    let (status, _, _) = send(&gw, "GET", "/user/login/john?a=1&a=2", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let png: &[u8] = &[0x89, b'P', 0xff];
    let (status, _, _) = send(&gw, "PUT", "/user/avatar", &[], png).await;
    assert_eq!(status, StatusCode::OK);

    let got = seen.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    let ev = |i: usize| goapi::Event::decode(&got[i].message.body[..]).expect("an api.Event");
    assert_eq!(got[0].message.get("Content-Type"), Some("application/protobuf"));
    assert_eq!(got[0].message.get("X-User"), Some("u1"));
    let first = ev(0);
    assert_eq!(first.name, "login");
    assert_eq!(first.data, "{\"name\":\"john\"}");
    assert!(first.id.starts_with("go.micro.evt.user-login-"), "{}", first.id);
    assert_eq!(first.id.len(), "go.micro.evt.user-login-".len() + 36);
    assert!(first.timestamp > 1_700_000_000);
    assert_eq!(first.header["Content-Type"].values, ["application/json"]);
    assert_eq!(first.header["X-User"].values, ["u1"]);
    let second = ev(1);
    assert_eq!((second.name.as_str(), second.data.as_str()), ("login.john", r#"{"a":["1","2"]}"#));
    let third = ev(2);
    assert_eq!((third.name.as_str(), third.data.as_str()), ("avatar", "iVD/"));
    assert_eq!(third.header["Content-Transfer-Encoding"].values, ["base64"]);
}

#[tokio::test]
async fn event_handler_answers_a_failed_publish_with_500_json() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let gw = gateway(registry, None, HandlerKind::Event, "go.micro.evt").await;
    let (status, headers, body) = send(&gw, "POST", "/user/login", &[], "{}").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["content-type"], "application/json");
    let detail = json(&body)["detail"].as_str().expect("detail").to_string();
    assert!(detail.contains("go.micro.evt.user") && detail.contains("broker"), "{detail}");
}

// ---------------------------------------------------------------- http / proxy / web

/// A plain HTTP server answering `<METHOD> <path?query>` (then the request body), with what
/// it saw of the forwarding headers in `x-seen-*` and its name in `x-node`.
async fn rest_server(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let target = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                    let mut text = format!("{} {target}", parts.method).into_bytes();
                    if !body.is_empty() {
                        text.push(b'\n');
                        text.extend_from_slice(&body);
                    }
                    let mut rsp = Response::new(Full::new(Bytes::from(text)));
                    let h = rsp.headers_mut();
                    h.insert("x-node", HeaderValue::from_static(name));
                    for (seen, header) in [
                        ("x-seen-xff", "x-forwarded-for"),
                        ("x-seen-xfh", "x-forwarded-host"),
                        ("x-seen-xfp", "x-forwarded-proto"),
                        ("x-seen-host", "host"),
                        ("x-seen-secret", "x-secret"),
                    ] {
                        if let Some(v) = parts.headers.get(header) {
                            h.insert(seen, v.clone());
                        }
                    }
                    Ok::<_, std::convert::Infallible>(rsp)
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

async fn register(registry: &Arc<dyn Registry>, name: &str, id: &str, address: String) {
    let svc = RegService {
        name: name.into(),
        version: "latest".into(),
        nodes: vec![Node { id: id.into(), address, ..Default::default() }],
        ..Default::default()
    };
    registry.register(&svc, RegisterOptions::default()).await.expect("register");
}

#[tokio::test]
async fn http_handler_proxies_path_query_and_bodies() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register(&registry, "go.micro.api.rest", "rest-1", rest_server("one").await.to_string()).await;
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Http, "go.micro.api").await;

    let (status, _, body) = send(&gw, "DELETE", "/rest/items/7?force=1", &[], "").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"DELETE /rest/items/7?force=1"[..]));
    let (status, headers, body) = send(
        &gw,
        "POST",
        "/rest/items",
        &[("x-forwarded-for", "203.0.113.5"), ("connection", "x-secret"), ("x-secret", "s")],
        "hello",
    )
    .await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"POST /rest/items\nhello"[..]));
    assert_eq!(headers["x-seen-xff"], "203.0.113.5, 127.0.0.1");
    assert_eq!(headers["x-seen-xfh"], gw.addr.to_string().as_str());
    assert_eq!(headers["x-seen-host"], gw.addr.to_string().as_str());
    assert_eq!(headers["x-seen-xfp"], "http");
    assert!(headers.get("x-seen-secret").is_none(), "a header Connection names is hop-by-hop");

    // The proxy alias, a short name (not namespaced) and a versioned path.
    let gw2 = gateway(Arc::clone(&registry), None, "proxy".parse().expect("kind"), "").await;
    register(&registry, "rest", "rest-2", rest_server("two").await.to_string()).await;
    register(&registry, "v1.rest", "rest-3", rest_server("three").await.to_string()).await;
    let (_, headers, body) = send(&gw2, "GET", "/rest/x", &[], "").await;
    assert_eq!((headers["x-node"].to_str().ok(), &body[..]), (Some("two"), &b"GET /rest/x"[..]));
    let (_, headers, body) = send(&gw2, "GET", "/v1/rest/x", &[], "").await;
    assert_eq!((headers["x-node"].to_str().ok(), &body[..]), (Some("three"), &b"GET /v1/rest/x"[..]));
}

#[tokio::test]
async fn http_handler_errors_are_json_with_the_right_status() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    // A node nobody listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    register(&registry, "go.micro.api.gone", "gone-1", dead_addr.clone()).await;
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Http, "go.micro.api").await;

    let (status, headers, body) = send(&gw, "GET", "/gone/x", &[], "").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["content-type"], "application/json");
    assert!(json(&body)["detail"].as_str().expect("detail").contains(&dead_addr));

    let (status, _, body) = send(&gw, "GET", "/nosuch/x", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let detail = json(&body)["detail"].as_str().expect("detail").to_string();
    assert!(detail.contains("go.micro.api.nosuch") && detail.contains("/nosuch/x"), "{detail}");

    let (status, _, body) = send(&gw, "GET", "/a_b/x", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json(&body)["detail"].as_str().expect("detail").contains("/a_b/x"));
}

#[tokio::test]
async fn http_handler_spreads_requests_over_every_node_of_every_version() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register(&registry, "go.micro.api.rest", "rest-a", rest_server("a").await.to_string()).await;
    let other = RegService {
        name: "go.micro.api.rest".into(),
        version: "v2".into(),
        nodes: vec![Node { id: "rest-b".into(), address: rest_server("b").await.to_string(), ..Default::default() }],
        ..Default::default()
    };
    registry.register(&other, RegisterOptions::default()).await.expect("register");
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Http, "go.micro.api").await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let (status, headers, _) = send(&gw, "GET", "/rest/x", &[], "").await;
        assert_eq!(status, StatusCode::OK);
        seen.insert(headers["x-node"].to_str().expect("node").to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b"]);
}

/// A websocket server that echoes every message; plain HTTP requests get a 400 from
/// tungstenite's handshake.
async fn ws_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        if ws.send(msg).await.is_err() {
                            return;
                        }
                    } else if msg.is_close() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn web_handler_proxies_websockets_and_plain_requests() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register(&registry, "go.micro.web.chat", "chat-1", ws_echo().await.to_string()).await;
    register(&registry, "go.micro.web.rest", "rest-1", rest_server("web").await.to_string()).await;
    let gw = gateway(Arc::clone(&registry), None, HandlerKind::Web, "go.micro.web").await;

    let (mut ws, rsp) =
        tokio_tungstenite::connect_async(format!("ws://{}/chat/ws", gw.addr)).await.expect("websocket through web");
    assert_eq!(rsp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "again"] {
        ws.send(tungstenite::Message::text(text)).await.expect("send");
        let back = ws.next().await.expect("a message").expect("ok");
        assert_eq!(back.into_text().expect("text").as_str(), text);
    }
    ws.send(tungstenite::Message::binary(vec![0u8, 1, 2, 255])).await.expect("send");
    assert_eq!(ws.next().await.expect("a message").expect("ok").into_data().as_ref(), [0u8, 1, 2, 255]);
    ws.close(None).await.expect("close");

    // Plain requests go through as with the http handler.
    let (status, headers, body) = send(&gw, "PATCH", "/rest/a?b=c", &[], "x").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"PATCH /rest/a?b=c\nx"[..]));
    assert_eq!(headers["x-node"], "web");
    // The http handler does not upgrade: the handshake reaches the node without its
    // Connection and Upgrade headers, and the echo server refuses it.
    let gw_http = gateway(Arc::clone(&registry), None, HandlerKind::Http, "go.micro.web").await;
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/chat/ws", gw_http.addr)).await.is_err());
}

#[tokio::test]
async fn http_handler_holds_bodies_to_the_limit() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register(&registry, "go.micro.api.rest", "rest-1", rest_server("one").await.to_string()).await;
    let opts = Options { handler: HandlerKind::Http, max_body: 16, ..Options::default() };
    let gw = gateway_with(Arc::clone(&registry), None, opts).await;
    let (status, _, body) = send(&gw, "POST", "/rest/x", &[], "0123456789abcdef").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"POST /rest/x\n0123456789abcdef"[..]));
    // Declared too large: refused before the node is asked.
    let (status, _, body) = send(&gw, "POST", "/rest/x", &[], "0123456789abcdefg").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json(&body)["detail"].as_str().expect("detail").contains("16 bytes"));
    // Streamed (chunked, no length): cut off when it passes the limit.
    let chunks: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> =
        (0..4).map(|_| Ok(hyper::body::Frame::data(Bytes::from_static(b"0123456789")))).collect();
    let streamed = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{}/rest/x", gw.addr)).body(streamed).expect("request");
    let rsp = client.request(req).await.expect("response");
    assert_eq!(rsp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A6: `--resolver host|grpc` with the http handler: the service comes from the Host header,
/// or from the gRPC package of `/pkg.Service/Method`; the path is forwarded as it is.
#[tokio::test]
async fn host_and_grpc_resolvers_pick_the_service_for_the_http_handler() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register(&registry, "shop.example", "shop-1", rest_server("shop").await.to_string()).await;
    register(&registry, "greeter", "greeter-1", rest_server("greeter").await.to_string()).await;
    let by_host = Options {
        handler: HandlerKind::Http,
        resolver: micro_gateway::resolver::ResolverKind::Host,
        namespace: String::new(),
        ..Options::default()
    };
    let gw = gateway_with(Arc::clone(&registry), None, by_host).await;
    let (status, headers, body) = send(&gw, "GET", "/any/path", &[("host", "shop.example")], "").await;
    assert_eq!(
        (status, headers["x-node"].to_str().ok(), &body[..]),
        (StatusCode::OK, Some("shop"), &b"GET /any/path"[..])
    );
    let (status, _, _) = send(&gw, "GET", "/any/path", &[("host", "nowhere.example")], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let by_grpc = Options {
        handler: HandlerKind::Http,
        resolver: micro_gateway::resolver::ResolverKind::Grpc,
        namespace: String::new(),
        ..Options::default()
    };
    let gw = gateway_with(Arc::clone(&registry), None, by_grpc).await;
    let (status, headers, body) = send(&gw, "POST", "/greeter.Greeter/Hello", &[], "x").await;
    assert_eq!(
        (status, headers["x-node"].to_str().ok(), &body[..]),
        (StatusCode::OK, Some("greeter"), &b"POST /greeter.Greeter/Hello\nx"[..])
    );
}
