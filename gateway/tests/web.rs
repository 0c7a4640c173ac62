//! The dashboard (`micro_gateway::web`) end to end over HTTP/1.1, on loopback, without mDNS:
//! a dashboard built in-process over a memory registry, real services behind it — a
//! `micro::Service` greeter, plain hyper HTTP servers and a websocket echo registered as web
//! apps — and an HTTP client in front. The browser side is scripts/web_check.py.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Endpoint, Node, RegisterOptions, Registry, Service as RegService, Value};
use micro::{Error, Service};
use micro_gateway::web::{Dashboard, DashboardOptions};
use micro_gateway::{Gateway, Options};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_util::sync::CancellationToken;

/// A dashboard serving on a loopback port until the token is cancelled (on drop).
struct Web {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn dashboard(registry: Arc<dyn Registry>, opts: DashboardOptions) -> Web {
    let client = micro::Client::builder()
        .registry(Arc::clone(&registry))
        .request_timeout(Duration::from_secs(5))
        .without_broker()
        .build()
        .await
        .expect("client");
    let gw_opts = Options { enable_rpc: true, stats: true, ..Options::default() };
    let web = Dashboard::new(Gateway::new(client, registry, gw_opts), opts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(web.serve(listener, None, stop.clone()));
    Web { addr, stop }
}

fn http_client() -> hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

/// One HTTP/1.1 exchange: status, headers, whole body.
async fn send(
    web: &Web,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = Request::builder().method(method).uri(format!("http://{}{path}", web.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let rsp = http_client().request(req.body(Full::new(body.into())).expect("request")).await.expect("response");
    let (parts, body) = rsp.into_parts();
    (parts.status, parts.headers, body.collect().await.expect("body").to_bytes())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[derive(Deserialize)]
struct Hello {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    message: String,
}

#[derive(Deserialize)]
struct Fail {
    code: i32,
    detail: String,
}

/// A greeter on the memory registry: `Greeter.Hello` and `Greeter.Fail` (a go-micro error
/// with the code and detail asked for).
async fn greeter(registry: &Arc<dyn Registry>, name: &str) -> Service {
    let svc = Service::builder(name)
        .registry(Arc::clone(registry))
        .broker(Arc::new(micro::broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle_json("Greeter.Hello", |req: Hello, _| async move {
        Ok(Greeting { message: format!("Hello {}", req.name) })
    });
    let id = name.to_string();
    svc.server().handle_json("Greeter.Fail", move |req: Fail, _| {
        let id = id.clone();
        async move { Err::<Greeting, _>(Error::new(&id, req.detail, req.code)) }
    });
    svc.start().await.expect("start");
    svc
}

/// A service registered by hand with the request and response shapes go-micro registers.
async fn shaped(registry: &Arc<dyn Registry>, name: &str) -> RegService {
    let svc = RegService {
        name: name.into(),
        version: "1.2.0".into(),
        metadata: [("team".to_string(), "core".to_string())].into(),
        endpoints: vec![Endpoint {
            name: "Shop.Order".into(),
            request: Some(Value {
                name: "OrderRequest".into(),
                kind: "OrderRequest".into(),
                values: vec![
                    Value::leaf("item", "string"),
                    Value::leaf("count", "int32"),
                    Value { name: "ship".into(), kind: "Address".into(), values: vec![Value::leaf("city", "string")] },
                ],
            }),
            response: Some(Value {
                name: "OrderResponse".into(),
                kind: "OrderResponse".into(),
                values: vec![Value::leaf("id", "string")],
            }),
            metadata: Default::default(),
        }],
        nodes: vec![Node { id: format!("{name}-1"), address: "127.0.0.1:9".into(), ..Default::default() }],
    };
    registry.register(&svc, RegisterOptions::default()).await.expect("register");
    svc
}

#[tokio::test]
async fn pages_render_and_json_lists_services_from_the_registry() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let _g = greeter(&registry, "web.greeter").await;
    shaped(&registry, "web.shop").await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;

    for page in ["/", "/registry", "/registry?service=web.shop", "/client", "/api", "/terminal"] {
        let (status, headers, body) = send(&web, "GET", page, &[("accept", "text/html")], "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8", "{page}");
        let html = text(&body);
        assert!(html.contains("<title>Micro Web</title>"), "{page}: {html}");
        assert!(html.contains("src=\"/_web/app.js\""), "{page}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page}: the page loads nothing from elsewhere"
        );
    }
    for (asset, kind) in [("/_web/app.js", "text/javascript"), ("/_web/style.css", "text/css")] {
        let (status, headers, body) = send(&web, "GET", asset, &[], "").await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(headers["content-type"].to_str().expect("ascii").starts_with(kind), "{asset}");
        assert!(body.len() > 1000, "{asset} is embedded whole");
    }

    let (status, _, body) = send(&web, "GET", "/_web/services", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let listing = json(&body);
    assert_eq!(listing["title"], "Micro Web");
    assert_eq!(listing["namespace"], "go.micro.web");
    assert_eq!(listing["stats"], true);
    let services = listing["services"].as_array().expect("services");
    let names: Vec<&str> = services.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["web.greeter", "web.shop"]);
    let greeter = &services[0];
    let endpoints: Vec<&str> =
        greeter["endpoints"].as_array().expect("endpoints").iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(endpoints.contains(&"Greeter.Hello") && endpoints.contains(&"Greeter.Fail"), "{endpoints:?}");
    assert_eq!(greeter["nodes"].as_array().expect("nodes").len(), 1);
    let shop = &services[1];
    assert_eq!(shop["version"], "1.2.0");
    assert_eq!(shop["metadata"]["team"], "core");
    assert_eq!(shop["endpoints"][0]["request"]["values"][2]["values"][0]["name"], "city");

    // The classic JSON variants (W7, W8).
    let (status, _, body) = send(&web, "GET", "/registry", &[("content-type", "application/json")], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["services"].as_array().expect("services").len(), 2);
    let (status, _, body) =
        send(&web, "GET", "/registry?service=web.shop", &[("accept", "application/json")], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["services"][0]["name"], "web.shop");
    let (status, _, body) = send(&web, "GET", "/registry?service=nope", &[("accept", "application/json")], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", text(&body));

    // The gateway's own routes stay reachable; stats count traffic.
    let (status, _, _) = send(&web, "GET", "/health", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = send(&web, "GET", "/stats", &[("accept", "application/json")], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(json(&body)["total_reqs"].as_u64().expect("count") >= 1);
}

/// Reads server-sent events from a streaming body until `pred` accepts one; returns it.
async fn next_event(
    body: &mut hyper::body::Incoming,
    buf: &mut String,
    pred: impl Fn(&str, &serde_json::Value) -> bool,
) -> (String, serde_json::Value) {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if name.is_empty() {
                continue;
            }
            let value = serde_json::from_str(&data).unwrap_or(serde_json::Value::Null);
            if pred(&name, &value) {
                return (name, value);
            }
        }
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("an event within 20 s")
            .expect("the stream is open")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn event_stream_says_when_services_come_and_go() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;
    let req = Request::get(format!("http://{}/_web/events", web.addr)).body(Full::new(Bytes::new())).expect("request");
    let rsp = http_client().request(req).await.expect("response");
    assert_eq!(rsp.status(), StatusCode::OK);
    assert_eq!(rsp.headers()["content-type"], "text/event-stream");
    let mut body = rsp.into_body();
    let mut buf = String::new();
    next_event(&mut body, &mut buf, |name, _| name == "ready").await;

    let svc = greeter(&registry, "web.comes-and-goes").await;
    let (_, added) = next_event(&mut body, &mut buf, |name, v| {
        name == "registry" && v["service"]["name"] == "web.comes-and-goes" && v["action"] == "create"
    })
    .await;
    let node = added["service"]["nodes"][0]["id"].as_str().expect("node id").to_string();
    assert!(added["service"]["endpoints"].as_array().is_some_and(|e| !e.is_empty()), "{added}");

    svc.stop().await.expect("stop");
    let (_, removed) = next_event(&mut body, &mut buf, |name, v| {
        name == "registry" && v["service"]["name"] == "web.comes-and-goes" && v["action"] == "delete"
    })
    .await;
    assert_eq!(removed["service"]["nodes"][0]["id"], node.as_str());
}

#[tokio::test]
async fn call_form_returns_the_reply_or_the_go_micro_error() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let _g = greeter(&registry, "web.caller").await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;
    let ct = [("content-type", "application/json")];

    let (status, _, body) = send(
        &web,
        "POST",
        "/_web/call",
        &ct,
        r#"{"service":"web.caller","endpoint":"Greeter.Hello","request":{"name":"Ann"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert_eq!(json(&body)["message"], "Hello Ann");
    // The raw JSON box sends its text as a string.
    let (status, _, body) = send(
        &web,
        "POST",
        "/_web/call",
        &ct,
        r#"{"service":"web.caller","endpoint":"Greeter.Hello","request":"{\"name\": \"Bo\"}"}"#,
    )
    .await;
    assert_eq!((status, json(&body)["message"].clone()), (StatusCode::OK, "Hello Bo".into()));

    let (status, _, body) = send(
        &web,
        "POST",
        "/_web/call",
        &ct,
        r#"{"service":"web.caller","endpoint":"Greeter.Fail","request":{"code":409,"detail":"taken"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{}", text(&body));
    let e = json(&body);
    assert_eq!(
        (e["id"].as_str(), e["code"].as_i64(), e["detail"].as_str()),
        (Some("web.caller"), Some(409), Some("taken"))
    );

    let (status, _, body) =
        send(&web, "POST", "/_web/call", &ct, r#"{"service":"web.none","endpoint":"X.Y","request":{}}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", text(&body));
    let (status, _, body) =
        send(&web, "POST", "/_web/call", &ct, r#"{"service":"../x","endpoint":"X.Y","request":{}}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    let (status, _, _) = send(&web, "POST", "/_web/call", &ct, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(&web, "GET", "/_web/call", &[], "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn cli(web: &Web, command: &str) -> (String, bool) {
    let body = serde_json::json!({ "command": command }).to_string();
    let (status, _, body) = send(web, "POST", "/_web/cli", &[("content-type", "application/json")], body).await;
    assert_eq!(status, StatusCode::OK, "{command}: {}", text(&body));
    let v = json(&body);
    (v["output"].as_str().expect("output").to_string(), v["ok"].as_bool().expect("ok"))
}

#[tokio::test]
async fn terminal_runs_cli_commands_in_process() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let _g = greeter(&registry, "web.term").await;
    shaped(&registry, "web.term-shop").await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;

    assert_eq!(cli(&web, "list services").await, ("web.term\nweb.term-shop".to_string(), true));
    let (out, ok) = cli(&web, "get service web.term").await;
    assert!(ok && out.contains("Greeter.Hello"), "{out}");
    let (out, ok) = cli(&web, r#"call web.term Greeter.Hello {"name": "Cy"}"#).await;
    assert!(ok && out.contains("Hello Cy"), "{out}");
    let (out, ok) = cli(&web, r#"call web.term Greeter.Fail '{"code": 400, "detail": "no"}'"#).await;
    assert!(!ok && out.contains("\"detail\": \"no\""), "{out}");
    // Our service serves Debug.Health; the hand-registered node listens nowhere.
    let (out, ok) = cli(&web, "health web.term").await;
    assert!(ok && out.contains("ok"), "{out}");
    let (out, ok) = cli(&web, "health web.term-shop").await;
    assert!(!ok && out.contains("unreachable"), "{out}");
    let (out, ok) = cli(&web, "rm -rf /").await;
    assert!(!ok && out.starts_with("rm: command not found"), "{out}");
    let (out, ok) = cli(&web, "help").await;
    assert!(ok && out.contains("call SERVICE ENDPOINT"), "{out}");
}

/// An HTTP server that answers `<method> <target> base=<X-Micro-Web-Base-Path>`.
async fn app_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let target = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                    let base = req.headers().get("x-micro-web-base-path").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    let body = format!("{} {target} base={base}", req.method());
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

/// A websocket server that first says the path and base path it was opened with, then
/// echoes every message.
// tungstenite's handshake callback returns its (large) error response by value.
#[allow(clippy::result_large_err)]
async fn ws_app() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let seen = Arc::new(std::sync::Mutex::new(String::new()));
                let keep = Arc::clone(&seen);
                let cb = move |req: &tungstenite::handshake::server::Request,
                               rsp: tungstenite::handshake::server::Response| {
                    let base = req.headers().get("x-micro-web-base-path").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    *keep.lock().unwrap_or_else(|p| p.into_inner()) = format!("path={} base={base}", req.uri());
                    Ok(rsp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await else { return };
                let hello = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if ws.send(tungstenite::Message::text(hello)).await.is_err() {
                    return;
                }
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

async fn register_app(registry: &Arc<dyn Registry>, name: &str, address: SocketAddr) {
    let svc = RegService {
        name: name.into(),
        version: "latest".into(),
        nodes: vec![Node { id: format!("{name}-1"), address: address.to_string(), ..Default::default() }],
        ..Default::default()
    };
    registry.register(&svc, RegisterOptions::default()).await.expect("register");
}

#[tokio::test]
async fn reverse_proxy_strips_the_app_and_sets_the_base_path() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register_app(&registry, "go.micro.web.hello", app_server().await).await;
    register_app(&registry, "go.micro.web.foo-bar", app_server().await).await;
    // W6: a web app named like a dashboard page does not shadow the page.
    register_app(&registry, "go.micro.web.registry", app_server().await).await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;

    let (status, _, body) = send(&web, "GET", "/hello/a/b?x=1", &[], "").await;
    assert_eq!((status, text(&body)), (StatusCode::OK, "GET /a/b?x=1 base=/hello".to_string()));
    let (_, _, body) = send(&web, "GET", "/hello", &[], "").await;
    assert_eq!(text(&body), "GET / base=/hello");
    let (_, _, body) = send(&web, "POST", "/foo-bar/", &[], "x").await;
    assert_eq!(text(&body), "POST / base=/foo-bar");
    let (status, _, body) = send(&web, "GET", "/registry", &[("accept", "text/html")], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains("<title>Micro Web</title>"));

    let (status, _, body) = send(&web, "GET", "/nosuch/x", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text(&body).contains("go.micro.web.nosuch"), "{}", text(&body));
    // No version folding (W2): /v1/hello is app v1.
    let (status, _, _) = send(&web, "GET", "/v1/hello", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reverse_proxy_carries_websockets_with_the_base_path() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    register_app(&registry, "go.micro.web.chat", ws_app().await).await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::web()).await;

    let (mut ws, rsp) =
        tokio_tungstenite::connect_async(format!("ws://{}/chat/ws?room=1", web.addr)).await.expect("websocket");
    assert_eq!(rsp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = ws.next().await.expect("a message").expect("ok");
    assert_eq!(hello.into_text().expect("text").as_str(), "path=/ws?room=1 base=/chat");
    for text in ["one", "two"] {
        ws.send(tungstenite::Message::text(text)).await.expect("send");
        let back = ws.next().await.expect("a message").expect("ok");
        assert_eq!(back.into_text().expect("text").as_str(), text);
    }
    ws.close(None).await.expect("close");
}

#[tokio::test]
async fn server_mode_puts_the_gateway_beside_the_dashboard() {
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let _g = greeter(&registry, "web.srv").await;
    let web = dashboard(Arc::clone(&registry), DashboardOptions::server()).await;

    let (status, _, body) = send(&web, "GET", "/", &[("accept", "text/html,application/xhtml+xml")], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains("<title>Micro Server</title>"));
    // Not a browser: the gateway's listing, as `micro api` answers it.
    let (status, _, body) = send(&web, "GET", "/", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)[0]["name"], "web.srv");
    for path in ["/web.srv/Greeter.Hello", "/api/web.srv/Greeter.Hello"] {
        let (status, _, body) =
            send(&web, "POST", path, &[("content-type", "application/json")], r#"{"name":"Di"}"#).await;
        assert_eq!((status, json(&body)["message"].clone()), (StatusCode::OK, "Hello Di".into()), "{path}");
    }
    let (status, _, body) = send(
        &web,
        "POST",
        "/rpc",
        &[("content-type", "application/json")],
        r#"{"service":"web.srv","endpoint":"Greeter.Hello","request":{"name":"Ed"}}"#,
    )
    .await;
    assert_eq!((status, json(&body)["message"].clone()), (StatusCode::OK, "Hello Ed".into()));
    let (_, _, body) = send(&web, "GET", "/_web/services", &[], "").await;
    assert_eq!(json(&body)["namespace"], serde_json::Value::Null);
}

/// With auth on (`micro server`'s default), every page, listing and form call needs a signed
/// in caller — a browser is sent to the sign-in page, a program gets a 401 — and a form call
/// is checked against the caller's scopes (403), while a caller with the scope gets the reply.
#[tokio::test]
async fn with_auth_the_dashboard_needs_a_caller_and_checks_scopes() {
    use micro_gateway::auth::account::Role;
    use micro_gateway::auth::{Guard, GuardOptions};
    let dir = std::env::temp_dir().join(format!("micro-web-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut gopts = GuardOptions::new(&dir);
    gopts.admin_password = Some("admin-pass-for-tests".into());
    let guard = Arc::new(Guard::open_with_notice(gopts, &mut std::io::sink()).expect("guard"));
    guard.create_account("bob", "bob-pass-for-tests", Role::User, vec![]).await.expect("bob");
    guard.set_rule("web.locked", vec!["locked".into()]).expect("rule");

    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let _g = greeter(&registry, "web.locked").await;
    let client = micro::Client::builder()
        .registry(Arc::clone(&registry))
        .request_timeout(Duration::from_secs(5))
        .without_broker()
        .build()
        .await
        .expect("client");
    let gw_opts = Options { enable_rpc: true, auth: Some(Arc::clone(&guard)), ..Options::default() };
    let dash = Dashboard::new(Gateway::new(client, Arc::clone(&registry), gw_opts), DashboardOptions::server());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(dash.serve(listener, None, stop.clone()));
    let web = Web { addr, stop };

    let (status, headers, _) = send(&web, "GET", "/", &[("accept", "text/html")], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["location"].to_str().expect("location").starts_with("/auth/login"), "{headers:?}");
    let (status, _, body) = send(&web, "GET", "/_web/services", &[], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", text(&body));
    assert_eq!(json(&body)["id"], "go.micro.auth");
    let (status, _, _) = send(&web, "GET", "/health", &[], "").await;
    assert_eq!(status, StatusCode::OK, "health stays open");

    let login = |id: &'static str, pw: &'static str| {
        let web = &web;
        async move {
            let (status, _, body) = send(
                web,
                "POST",
                "/auth/login",
                &[("content-type", "application/json")],
                serde_json::json!({"id": id, "password": pw}).to_string(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{}", text(&body));
            format!("Bearer {}", json(&body)["token"].as_str().expect("token"))
        }
    };
    let admin = login("admin", "admin-pass-for-tests").await;
    let bob = login("bob", "bob-pass-for-tests").await;

    let (status, _, body) = send(&web, "GET", "/_web/services", &[("authorization", &admin)], "").await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    assert!(text(&body).contains("web.locked"), "{}", text(&body));
    let call = r#"{"service":"web.locked","endpoint":"Greeter.Hello","request":{"name":"Ann"}}"#;
    let ct = ("content-type", "application/json");
    let (status, _, body) = send(&web, "POST", "/_web/call", &[ct, ("authorization", &admin)], call).await;
    assert_eq!((status, json(&body)["message"].clone()), (StatusCode::OK, "Hello Ann".into()), "{}", text(&body));
    let (status, _, body) = send(&web, "POST", "/_web/call", &[ct, ("authorization", &bob)], call).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", text(&body));
    let e = json(&body);
    assert_eq!(e["id"], "go.micro.auth");
    assert!(e["detail"].as_str().expect("detail").contains("locked"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
