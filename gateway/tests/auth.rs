//! Who may call what, end to end over HTTP: a gateway built in-process with a
//! [`micro_gateway::auth::Guard`] over a fresh directory, a real `micro::Service` greeter
//! behind it on a memory registry (and a memory broker, and a plain hyper HTTP backend, for
//! the event and http handlers), an HTTP client in front. Tokens are obtained the way a user
//! obtains them (`/auth/login`, `/auth/tokens`); the forged ones are made as an attacker
//! would make them (another key, `alg: none`, an edited payload), and the expired one is
//! signed with the server's own key read from its store.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro::broker::{self, Broker};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Node, RegisterOptions, Registry, Service as RegService};
use micro::Service;
use micro_gateway::auth::token::{Claims, Keys};
use micro_gateway::auth::{Guard, GuardOptions};
use micro_gateway::{Gateway, HandlerKind, Options};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const ADMIN_PW: &str = "first-admin-secret-1";
const ALICE_PW: &str = "alice-secret-pass-2";
const NEW_PW: &str = "alice-changed-pass-3";

/// A fresh auth directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        Dir(std::env::temp_dir().join(format!("micro-auth-{}", uuid::Uuid::new_v4().simple())))
    }
    fn store(&self) -> String {
        std::fs::read_to_string(self.0.join("auth.json")).expect("store file")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn guard(dir: &Dir) -> Arc<Guard> {
    let mut o = GuardOptions::new(&dir.0);
    o.admin_password = Some(ADMIN_PW.into());
    Arc::new(Guard::open(o).expect("guard"))
}

/// A gateway on a loopback port until dropped.
struct Gw {
    addr: SocketAddr,
    stop: CancellationToken,
    /// Every response body and header seen, to look for passwords in.
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn gateway(registry: &Arc<dyn Registry>, auth: Arc<Guard>, opts: Options) -> Gw {
    let broker: Arc<dyn Broker> = Arc::new(broker::memory::Memory::new(1 << 20));
    let client = micro::Client::builder()
        .registry(Arc::clone(registry))
        .broker(broker)
        .request_timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("client");
    let gw = Gateway::new(client, Arc::clone(registry), Options { auth: Some(auth), ..opts });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(gw.serve(listener, None, stop.clone()));
    Gw { addr, stop, seen: Arc::default() }
}

/// One exchange: status, headers, body.
async fn send(
    gw: &Gw,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(format!("http://{}{path}", gw.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let rsp =
        client.request(req.body(Full::new(Bytes::from(body.to_string()))).expect("request")).await.expect("response");
    let (parts, body) = rsp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    let mut seen = gw.seen.lock().expect("lock");
    for (k, v) in &parts.headers {
        seen.extend_from_slice(k.as_str().as_bytes());
        seen.extend_from_slice(v.as_bytes());
    }
    seen.extend_from_slice(&body);
    (parts.status, parts.headers, body)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Asserts a go-micro auth error with `status` whose detail contains `words`.
fn refused(got: (StatusCode, HeaderMap, Bytes), status: StatusCode, words: &str) {
    let (s, h, body) = got;
    assert_eq!(s, status, "{}", String::from_utf8_lossy(&body));
    assert_eq!(h["content-type"], "application/json");
    let e = json_of(&body);
    assert_eq!(e["id"], "go.micro.auth", "{e}");
    assert_eq!(e["code"], status.as_u16(), "{e}");
    let detail = e["detail"].as_str().expect("detail");
    assert!(detail.contains(words), "{detail:?} should say {words:?}");
}

async fn login(gw: &Gw, id: &str, password: &str) -> String {
    let (s, _, body) = send(
        gw,
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        &json!({"id": id, "password": password}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    json_of(&body)["token"].as_str().expect("token").to_string()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `greeter`: `Greeter.Hello` answers `{"msg": "Hello <name>"}`.
async fn greeter(registry: &Arc<dyn Registry>) -> Service {
    let svc = Service::builder("greeter")
        .registry(Arc::clone(registry))
        .broker(Arc::new(broker::memory::Memory::new(1 << 20)))
        .address("127.0.0.1:0")
        .build()
        .await
        .expect("service");
    svc.server().handle("Greeter.Hello", |req: micro::Request| async move {
        let v: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let msg = format!("Hello {}", v["name"].as_str().unwrap_or("nobody"));
        Ok(micro::Response { body: json!({ "msg": msg }).to_string().into(), content_type: None })
    });
    svc.server().handle("Greeter.Admin", |_req: micro::Request| async move {
        Ok(micro::Response { body: Bytes::from_static(b"{\"admin\":true}"), content_type: None })
    });
    svc.start().await.expect("start");
    svc
}

/// A plain HTTP server registered as `go.micro.api.rest`, answering `ok <path>`.
async fn rest(registry: &Arc<dyn Registry>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
                    let text =
                        format!("ok {} authorization={} cookie={}", req.uri().path(), h("authorization"), h("cookie"));
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(text))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    let svc = RegService {
        name: "go.micro.api.rest".into(),
        version: "latest".into(),
        nodes: vec![Node { id: "rest-1".into(), address: addr.to_string(), ..Default::default() }],
        ..Default::default()
    };
    registry.register(&svc, RegisterOptions::default()).await.expect("register");
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn login_with_the_right_password_gives_a_token_and_a_wrong_one_is_a_401() {
    let dir = Dir::new();
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let gw = gateway(&registry, guard(&dir), Options::default()).await;

    let bad = send(
        &gw,
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        &json!({"id": "admin", "password": "not-the-password"}).to_string(),
    )
    .await;
    refused(bad, StatusCode::UNAUTHORIZED, "invalid credentials");
    let nobody = send(
        &gw,
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        &json!({"id": "nobody", "password": ADMIN_PW}).to_string(),
    )
    .await;
    refused(nobody, StatusCode::UNAUTHORIZED, "invalid credentials");

    let token = login(&gw, "admin", ADMIN_PW).await;
    let (s, _, body) =
        send(&gw, "POST", "/greeter/Greeter.Hello", &[("authorization", &bearer(&token))], r#"{"name":"Ann"}"#).await;
    assert_eq!((s, json_of(&body)["msg"].as_str()), (StatusCode::OK, Some("Hello Ann")));
    let (s, _, body) = send(&gw, "GET", "/auth/account", &[("authorization", &bearer(&token))], "").await;
    assert_eq!((s, json_of(&body)["id"].as_str()), (StatusCode::OK, Some("admin")));

    // The form login (a browser): a redirect and an HttpOnly, SameSite cookie that then works.
    let (s, h, _) = send(
        &gw,
        "POST",
        "/auth/login",
        &[("content-type", "application/x-www-form-urlencoded"), ("accept", "text/html")],
        &format!("id=admin&password={ADMIN_PW}&next=%2Fgreeter"),
    )
    .await;
    assert_eq!((s, h["location"].to_str().ok()), (StatusCode::SEE_OTHER, Some("/greeter")));
    let set = h["set-cookie"].to_str().expect("cookie");
    assert!(set.starts_with("micro_token=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().expect("pair").to_string();
    let (s, _, body) = send(&gw, "POST", "/greeter/Greeter.Hello", &[("cookie", &cookie)], r#"{"name":"Bo"}"#).await;
    assert_eq!((s, json_of(&body)["msg"].as_str()), (StatusCode::OK, Some("Hello Bo")));

    // A wrong password on the form: the page again, with a 401 and the reason.
    let (s, h, body) = send(
        &gw,
        "POST",
        "/auth/login",
        &[("content-type", "application/x-www-form-urlencoded"), ("accept", "text/html")],
        "id=admin&password=wrong-password",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get("set-cookie").is_none());
    assert!(String::from_utf8_lossy(&body).contains("invalid credentials"));
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn missing_expired_and_forged_tokens_are_401() {
    let dir = Dir::new();
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let gw = gateway(&registry, guard(&dir), Options::default()).await;
    let call = |auth: String| {
        let gw = &gw;
        async move { send(gw, "POST", "/greeter/Greeter.Hello", &[("authorization", &auth)], "{}").await }
    };

    refused(send(&gw, "POST", "/greeter/Greeter.Hello", &[], "{}").await, StatusCode::UNAUTHORIZED, "no token");
    // Before any name is resolved: no token tells nobody which services exist.
    refused(send(&gw, "POST", "/nosuch/Thing.Do", &[], "{}").await, StatusCode::UNAUTHORIZED, "no token");
    let token = login(&gw, "admin", ADMIN_PW).await;
    let (s, _, _) = send(&gw, "POST", "/nosuch/Thing.Do", &[("authorization", &bearer(&token))], "{}").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let parts: Vec<&str> = token.split('.').collect();
    let claims: Claims = serde_json::from_slice(&unb64(parts[1])).expect("claims");

    // Signed with another key.
    let (other, _) = Keys::generate().expect("keys");
    refused(
        call(bearer(&other.sign(&claims).expect("sign"))).await,
        StatusCode::UNAUTHORIZED,
        "signature does not verify",
    );
    // alg none, and HS256 keyed with the server's public key.
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    refused(call(bearer(&none)).await, StatusCode::UNAUTHORIZED, "\"none\" is not accepted");
    let hs = format!("{}.{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), parts[1], parts[2]);
    refused(call(bearer(&hs)).await, StatusCode::UNAUTHORIZED, "\"HS256\" is not accepted");
    // The payload edited, the signature kept.
    let mut edited = claims.clone();
    edited.sub = "root".into();
    edited.exp += 3600;
    let tampered = format!("{}.{}.{}", parts[0], b64(&serde_json::to_vec(&edited).expect("json")), parts[2]);
    refused(call(bearer(&tampered)).await, StatusCode::UNAUTHORIZED, "signature does not verify");
    refused(call(bearer("not.a.jwt")).await, StatusCode::UNAUTHORIZED, "malformed");

    // Expired: signed with the server's own key (from its store), exp in the past.
    let stored: Value = serde_json::from_str(&dir.store()).expect("store");
    let keys = Keys::from_pem(stored["key"].as_str().expect("key")).expect("key");
    let mut old = claims.clone();
    old.iat -= 7200;
    old.exp = old.iat + 3600;
    refused(call(bearer(&keys.sign(&old).expect("sign"))).await, StatusCode::UNAUTHORIZED, "token expired");
    // The same key with a live exp is accepted: the refusals above are for what they say.
    let (s, _, _) = call(bearer(&keys.sign(&claims).expect("sign"))).await;
    assert_eq!(s, StatusCode::OK);
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn revoked_tokens_are_401() {
    let dir = Dir::new();
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let gw = gateway(&registry, guard(&dir), Options::default()).await;
    let admin = login(&gw, "admin", ADMIN_PW).await;
    let call = |token: String| {
        let gw = &gw;
        async move { send(gw, "POST", "/greeter/Greeter.Hello", &[("authorization", &bearer(&token))], "{}").await }
    };

    // Logout revokes the session's token.
    let session = login(&gw, "admin", ADMIN_PW).await;
    assert_eq!(call(session.clone()).await.0, StatusCode::OK);
    let (s, h, _) = send(&gw, "POST", "/auth/logout", &[("authorization", &bearer(&session))], "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
    refused(call(session).await, StatusCode::UNAUTHORIZED, "token revoked");

    // An API token, revoked.
    let (s, _, body) = send(
        &gw,
        "POST",
        "/auth/tokens",
        &[("authorization", &bearer(&admin)), ("content-type", "application/json")],
        r#"{"name":"worker","scopes":["greeter"]}"#,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let created = json_of(&body);
    let api = created["token"].as_str().expect("token").to_string();
    let id = created["record"]["id"].as_str().expect("id").to_string();
    assert_eq!(call(api.clone()).await.0, StatusCode::OK);
    let (s, _, _) = send(&gw, "DELETE", &format!("/auth/tokens/{id}"), &[("authorization", &bearer(&admin))], "").await;
    assert_eq!(s, StatusCode::OK);
    refused(call(api).await, StatusCode::UNAUTHORIZED, "token revoked");

    // A password change ends the account's sessions; a deleted account's tokens end too.
    let (s, _, body) = send(
        &gw,
        "POST",
        "/auth/users",
        &[("authorization", &bearer(&admin)), ("content-type", "application/json")],
        &json!({"id": "alice", "password": ALICE_PW, "scopes": "greeter"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let alice = login(&gw, "alice", ALICE_PW).await;
    let (s, _, _) = send(
        &gw,
        "POST",
        "/auth/users/alice/password",
        &[("authorization", &bearer(&alice)), ("content-type", "application/json")],
        &json!({ "password": NEW_PW }).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    refused(call(alice).await, StatusCode::UNAUTHORIZED, "password changed");
    let alice = login(&gw, "alice", NEW_PW).await;
    assert_eq!(call(alice.clone()).await.0, StatusCode::OK);
    let (s, _, _) = send(&gw, "DELETE", "/auth/users/alice", &[("authorization", &bearer(&admin))], "").await;
    assert_eq!(s, StatusCode::OK);
    refused(call(alice).await, StatusCode::UNAUTHORIZED, "no longer exists");
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn scopes_are_enforced_on_every_call_path() {
    let dir = Dir::new();
    let g = guard(&dir);
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    rest(&registry).await;
    let gw = gateway(&registry, Arc::clone(&g), Options { enable_rpc: true, ..Options::default() }).await;
    let admin = login(&gw, "admin", ADMIN_PW).await;
    let json_admin = [("authorization", bearer(&admin)), ("content-type", "application/json".to_string())];
    let h = |a: &[(&'static str, String)]| a.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let post_json = |path: &'static str, body: Value| {
        let gw = &gw;
        let hs = h(&json_admin);
        async move {
            let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(gw, "POST", path, &hs, &body.to_string()).await
        }
    };

    // Rules: Greeter.Hello needs `greet`, the rest of greeter `greeter-admin`; the events of
    // user and the rest service need `ops`.
    for (resource, scopes) in [
        ("greeter", json!(["greeter-admin"])),
        ("greeter.Greeter.Hello", json!(["greet"])),
        ("go.micro.evt.*", json!(["ops"])),
        ("go.micro.api.rest", json!(["ops"])),
    ] {
        let (s, _, body) = post_json("/auth/rules", json!({"resource": resource, "scopes": scopes})).await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    let (s, _, _) = post_json("/auth/users", json!({"id": "alice", "password": ALICE_PW, "scopes": ["greet"]})).await;
    assert_eq!(s, StatusCode::CREATED);
    let alice = login(&gw, "alice", ALICE_PW).await;
    let (s, _, body) = send(
        &gw,
        "POST",
        "/auth/tokens",
        &[("authorization", &bearer(&alice)), ("content-type", "application/json")],
        r#"{"name":"ci","scopes":"greet"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let alice_api = json_of(&body)["token"].as_str().expect("token").to_string();
    // Alice cannot give a token scopes she lacks, nor change rules.
    let (s, _, _) = send(
        &gw,
        "POST",
        "/auth/tokens",
        &[("authorization", &bearer(&alice)), ("content-type", "application/json")],
        r#"{"name":"x","scopes":"greeter-admin"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = send(
        &gw,
        "POST",
        "/auth/rules",
        &[("authorization", &bearer(&alice)), ("content-type", "application/json")],
        r#"{"resource":"greeter","scopes":[]}"#,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    for who in [&alice, &alice_api] {
        let auth = bearer(who);
        let a = [("authorization", auth.as_str())];
        let aj = [("authorization", auth.as_str()), ("content-type", "application/json")];
        // Allowed: Greeter.Hello on the meta handler's forms, the classic path, v5's /api/ and /rpc.
        for path in ["/greeter/Greeter.Hello", "/api/greeter/Greeter.Hello"] {
            let (s, _, body) = send(&gw, "POST", path, &a, r#"{"name":"A"}"#).await;
            assert_eq!((s, json_of(&body)["msg"].as_str()), (StatusCode::OK, Some("Hello A")), "{path}");
        }
        let rpc = json!({"service": "greeter", "endpoint": "Greeter.Hello", "request": {"name": "R"}}).to_string();
        let (s, _, body) = send(&gw, "POST", "/rpc", &aj, &rpc).await;
        assert_eq!((s, json_of(&body)["msg"].as_str()), (StatusCode::OK, Some("Hello R")));
        // Refused, 403 naming the rule: another endpoint, by every path.
        let wrong = "insufficient scopes";
        refused(send(&gw, "POST", "/greeter/Greeter.Admin", &a, "{}").await, StatusCode::FORBIDDEN, wrong);
        refused(
            send(&gw, "POST", "/api/greeter/Greeter.Admin", &a, "{}").await,
            StatusCode::FORBIDDEN,
            "rule \"greeter\" needs one of [greeter-admin]",
        );
        let rpc = json!({"service": "greeter", "endpoint": "Greeter.Admin", "request": {}}).to_string();
        refused(send(&gw, "POST", "/rpc", &aj, &rpc).await, StatusCode::FORBIDDEN, wrong);
        refused(
            send(
                &gw,
                "POST",
                "/greeter/x",
                &[("authorization", auth.as_str()), ("micro-endpoint", "Greeter.Admin")],
                "{}",
            )
            .await,
            StatusCode::FORBIDDEN,
            wrong,
        );
    }
    // The admin passes every rule.
    let (s, _, body) = post_json("/greeter/Greeter.Admin", json!({})).await;
    assert_eq!((s, json_of(&body)["admin"].as_bool()), (StatusCode::OK, Some(true)));

    // The other handlers: api, http (proxy) and event check before they call or publish.
    let gw_api = gateway(
        &registry,
        Arc::clone(&g),
        Options { handler: HandlerKind::Api, namespace: String::new(), ..Options::default() },
    )
    .await;
    refused(send(&gw_api, "POST", "/greeter/greeter/admin", &[], "").await, StatusCode::UNAUTHORIZED, "no token");
    refused(
        send(&gw_api, "POST", "/greeter/greeter/admin", &[("authorization", &bearer(&alice))], "").await,
        StatusCode::FORBIDDEN,
        "may not call greeter Greeter.Admin",
    );
    let gw_http =
        gateway(&registry, Arc::clone(&g), Options { handler: HandlerKind::Http, ..Options::default() }).await;
    refused(send(&gw_http, "GET", "/rest/items", &[], "").await, StatusCode::UNAUTHORIZED, "no token");
    refused(
        send(&gw_http, "GET", "/rest/items", &[("authorization", &bearer(&alice))], "").await,
        StatusCode::FORBIDDEN,
        "ops",
    );
    // The backend gets the request without the gateway's credentials (other cookies kept).
    let cookie = format!("theme=dark; micro_token={admin}");
    let (s, _, body) =
        send(&gw_http, "GET", "/rest/items", &[("authorization", &bearer(&admin)), ("cookie", &cookie)], "").await;
    assert_eq!(
        (s, String::from_utf8_lossy(&body).as_ref()),
        (StatusCode::OK, "ok /rest/items authorization=- cookie=theme=dark")
    );
    let gw_web = gateway(&registry, Arc::clone(&g), Options { handler: HandlerKind::Web, ..Options::default() }).await;
    refused(
        send(&gw_web, "GET", "/rest/items", &[("authorization", &bearer(&alice))], "").await,
        StatusCode::FORBIDDEN,
        "ops",
    );
    let gw_evt = gateway(
        &registry,
        Arc::clone(&g),
        Options { handler: HandlerKind::Event, namespace: "go.micro.evt".into(), ..Options::default() },
    )
    .await;
    refused(
        send(&gw_evt, "POST", "/user/login", &[("authorization", &bearer(&alice))], "{}").await,
        StatusCode::FORBIDDEN,
        "ops",
    );
    let (s, _, _) = send(&gw_evt, "POST", "/user/login", &[("authorization", &bearer(&admin))], "{}").await;
    assert_eq!(s, StatusCode::OK);

    // Listings need a signed-in caller: a browser is sent to the sign-in page, a program gets a 401.
    let (s, h, _) = send(&gw, "GET", "/", &[("accept", "text/html")], "").await;
    assert_eq!((s, h["location"].to_str().ok()), (StatusCode::SEE_OTHER, Some("/auth/login?next=%2F")));
    refused(send(&gw, "GET", "/", &[], "").await, StatusCode::UNAUTHORIZED, "no token");
    assert_eq!(send(&gw, "GET", "/", &[("authorization", &bearer(&alice))], "").await.0, StatusCode::OK);
    assert_eq!(send(&gw, "GET", "/health", &[], "").await.0, StatusCode::OK);
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn accounts_tokens_rules_and_revocations_persist_across_a_restart() {
    let dir = Dir::new();
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let (admin, api, revoked) = {
        let gw = gateway(&registry, guard(&dir), Options::default()).await;
        let admin = login(&gw, "admin", ADMIN_PW).await;
        let hs = [("authorization", bearer(&admin)), ("content-type", "application/json".to_string())];
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (s, _, _) =
            send(&gw, "POST", "/auth/users", &hs, &json!({"id": "alice", "password": ALICE_PW}).to_string()).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, _, _) =
            send(&gw, "POST", "/auth/rules", &hs, r#"{"resource":"greeter.Greeter.Admin","scopes":"boss"}"#).await;
        assert_eq!(s, StatusCode::OK);
        let (_, _, body) = send(&gw, "POST", "/auth/tokens", &hs, r#"{"name":"job","scopes":"greeter"}"#).await;
        let api = json_of(&body)["token"].as_str().expect("token").to_string();
        let gone = login(&gw, "admin", ADMIN_PW).await;
        let (s, _, _) = send(&gw, "POST", "/auth/logout", &[("authorization", &bearer(&gone))], "").await;
        assert_eq!(s, StatusCode::OK);
        (admin, api, gone)
    };
    // A new guard over the same directory (the first start's admin password is not used again).
    let mut o = GuardOptions::new(&dir.0);
    o.admin_password = Some("a-different-password".into());
    let gw = gateway(&registry, Arc::new(Guard::open(o).expect("reopen")), Options::default()).await;
    let hello = |t: String| {
        let gw = &gw;
        async move { send(gw, "POST", "/greeter/Greeter.Hello", &[("authorization", &bearer(&t))], "{}").await }
    };
    assert_eq!(hello(admin.clone()).await.0, StatusCode::OK, "a session from before the restart");
    assert_eq!(hello(api).await.0, StatusCode::OK, "an API token from before the restart");
    refused(hello(revoked).await, StatusCode::UNAUTHORIZED, "token revoked");
    let alice = login(&gw, "alice", ALICE_PW).await;
    refused(
        send(&gw, "POST", "/greeter/Greeter.Admin", &[("authorization", &bearer(&alice))], "{}").await,
        StatusCode::FORBIDDEN,
        "boss",
    );
    login(&gw, "admin", ADMIN_PW).await;
    svc.stop().await.expect("stop");
}

#[tokio::test]
async fn a_generated_admin_password_is_printed_once_and_stored_only_as_a_hash() {
    let dir = Dir::new();
    let mut notice = Vec::new();
    let g = Guard::open_with_notice(GuardOptions::new(&dir.0), &mut notice).expect("guard");
    let text = String::from_utf8(notice).expect("utf8");
    let password = text
        .split("with password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password in the notice: {text:?}"))
        .to_string();
    assert!(password.len() >= 16, "{password}");
    assert!(!text.contains("micro\n") && password != "micro");
    let store = dir.store();
    assert!(!store.contains(&password), "the password is in the store file");
    assert!(store.contains("$2b$"), "the store keeps a bcrypt hash");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.0.join("auth.json")).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let gw = gateway(&registry, Arc::new(g), Options::default()).await;
    login(&gw, "admin", &password).await;
    drop(gw);
    // A second start prints nothing: the account exists.
    let mut again = Vec::new();
    Guard::open_with_notice(GuardOptions::new(&dir.0), &mut again).expect("reopen");
    assert!(again.is_empty(), "{}", String::from_utf8_lossy(&again));
}

/// Captures every log line (all levels) into a buffer.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_appears_in_any_response_log_line_or_the_store() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let dir = Dir::new();
    let registry: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = greeter(&registry).await;
    let gw = gateway(&registry, guard(&dir), Options::default()).await;
    let html = [("accept", "text/html"), ("content-type", "application/x-www-form-urlencoded")];
    let admin = login(&gw, "admin", ADMIN_PW).await;
    let cookie = format!("micro_token={admin}");
    let page = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, String)> = extra.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.push(("cookie", cookie.clone()));
        v
    };

    // Every page and form, with the passwords in the requests.
    let hs = page(&html);
    for (path, body) in [
        ("/auth/users", format!("action=create&id=alice&password={ALICE_PW}&role=user&scopes=greeter")),
        ("/auth/users", format!("action=password&id=alice&password={NEW_PW}")),
        ("/auth/users", "action=password&id=alice&password=short".to_string()),
        ("/auth/tokens", "action=create&name=ci&scopes=greeter&days=7".to_string()),
        ("/auth/rules", "action=set&resource=greeter&scopes=greeter".to_string()),
        ("/auth/login", format!("id=alice&password={ALICE_PW}")),
        ("/auth/login", format!("id=alice&password={NEW_PW}")),
    ] {
        let (s, _, body) = send(&gw, "POST", path, &as_refs(&hs), &body).await;
        assert!(s.is_success() || s.is_redirection() || s.is_client_error(), "{path}: {s}");
        assert!(!body.is_empty() || s.is_redirection());
    }
    for path in ["/auth/users", "/auth/tokens", "/auth/rules", "/auth/login", "/auth/account"] {
        let (s, h, body) = send(&gw, "GET", path, &as_refs(&page(&[("accept", "text/html")])), "").await;
        assert_eq!(s, StatusCode::OK, "{path}");
        if path != "/auth/account" {
            assert!(h["content-type"].to_str().expect("ct").starts_with("text/html"));
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains("<meta name=\"viewport\""), "{path} is readable on a phone");
            assert!(!text.contains("http://") && !text.contains("https://"), "{path} loads nothing from elsewhere");
        }
        let (s, _, _) = send(&gw, "GET", path, &[("authorization", &bearer(&admin))], "").await;
        assert_eq!(s, StatusCode::OK, "{path} as JSON");
    }
    let (s, _, body) = send(&gw, "GET", "/auth/users", &[("authorization", &bearer(&admin))], "").await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("alice"));
    login(&gw, "alice", NEW_PW).await;
    refused(
        send(
            &gw,
            "POST",
            "/auth/login",
            &[("content-type", "application/json")],
            &json!({"id": "alice", "password": ALICE_PW}).to_string(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid credentials",
    );

    let seen = gw.seen.lock().expect("lock").clone();
    let logged = logs.0.lock().expect("lock").clone();
    let store = dir.store();
    assert!(!logged.is_empty(), "the gateway logged nothing: the check below would prove nothing");
    for pw in [ADMIN_PW, ALICE_PW, NEW_PW] {
        assert!(!String::from_utf8_lossy(&seen).contains(pw), "a response carried {pw:?}");
        assert!(!String::from_utf8_lossy(&logged).contains(pw), "a log line carried {pw:?}");
        assert!(!store.contains(pw), "the store carries {pw:?}");
    }
    svc.stop().await.expect("stop");
}
