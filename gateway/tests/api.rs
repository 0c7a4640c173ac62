//! `micro api` end to end: our gateway binary (`target/debug/micro api`) in front of real
//! services — go-micro v5.30.0 fixtures (`gm5 fx-greeter`, see tests/interop/go/README.md)
//! and the Rust greeter (`target/debug/server`) — driven over HTTP/1.1, and the same
//! requests against go-micro's own `micro api` (`bin/gomicro`) where the two should agree.
//!
//! Rows of spec micro-toolkit.md §1.1 and rules of §2 are named in each test. Needs mDNS:
//! runs inside `scripts/netns.sh` (suite `scripts/test.d/55-gateway.sh`), skipped outside.
//! Each test has its own service names (and namespace) so tests may run in parallel; the
//! listing test, which sees every service, runs alone (a lock).

use micro_interop::{go_bin, in_netns, port_outside_ephemeral_range, Proc};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Held for reading by every test, for writing by the one that lists all services.
static MESH: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    MESH.read().unwrap_or_else(|p| p.into_inner())
}

fn target_bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug").join(name);
    assert!(p.exists(), "{} missing: cargo build -p micro-cli -p greeter-example", p.display());
    p
}

/// A unique name per test: `gwt.<what>.<pid>`.
fn uniq(what: &str) -> String {
    format!("gwt.{what}.{}", std::process::id())
}

// ---------------------------------------------------------------------------
// Processes that print text (our gateway, the Rust greeter, go-micro's micro).

struct TextProc {
    child: Child,
    lines: mpsc::Receiver<String>,
    what: String,
    /// Where our `micro`'s log goes: its tail is printed when the test fails (a request
    /// that hung says there where it waited), and the file is removed otherwise.
    log: Option<PathBuf>,
}

impl TextProc {
    fn spawn(bin: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> TextProc {
        let mut cmd = Command::new(bin);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut log = None;
        if bin.file_name().is_some_and(|n| n == "micro") && !env.iter().any(|(k, _)| k.contains("LOG")) {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("micro-api-test-{}-{n}.log", std::process::id()));
            let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Each request (micro::api) and each call's lookup, exchange and round trip.
            cmd.env_remove("MICRO_LOG_LEVEL").env("RUST_LOG", "info,micro::api=debug,micro::client=trace").stderr(file);
            log = Some(path);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        TextProc { child, lines: rx, what: format!("{} {}", bin.display(), args.join(" ")), log }
    }

    /// The first line containing `needle` (20 s at most).
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("{} never printed {needle:?}", self.what);
    }

    fn sigterm(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {within:?}", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TextProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let Some(log) = &self.log else { return };
        if std::thread::panicking() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(120)..];
            eprintln!(
                "--- last {} lines of the log of {} ({}):\n{}",
                tail.len(),
                self.what,
                log.display(),
                tail.join("\n")
            );
        } else {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// Our `micro api`, synchronised on its `micro api listening on http://ADDR` line.
struct Gateway {
    proc: TextProc,
    addr: String,
}

impl Gateway {
    /// `micro [global…] api --api_address 127.0.0.1:0 [args…]`.
    fn start(global: &[&str], args: &[&str]) -> Gateway {
        Self::start_env(global, args, &[])
    }

    fn start_env(global: &[&str], args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let mut all: Vec<&str> = global.to_vec();
        // Only the timeout tests rely on --client_request_timeout: elsewhere go-micro's 5 s
        // default would be a time bound a loaded 2-core machine can miss (a 504 mid-test).
        if !global.contains(&"--client_request_timeout") {
            all.extend(["--client_request_timeout", "60s"]);
        }
        all.push("api");
        if !env.iter().any(|(k, _)| *k == "MICRO_API_ADDRESS") {
            all.extend(["--api_address", "127.0.0.1:0"]);
        }
        all.extend(args);
        let proc = TextProc::spawn(&target_bin("micro"), &all, env);
        let line = proc.wait_for("micro api listening on http://");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Gateway { proc, addr }
    }
}

/// go-micro v5.30.0's own `micro api --address 127.0.0.1:PORT`, ready once `/health` answers.
struct GoGateway {
    _proc: TextProc,
    addr: String,
}

impl GoGateway {
    fn start() -> GoGateway {
        let port = port_outside_ephemeral_range();
        let addr = format!("127.0.0.1:{port}");
        let proc = TextProc::spawn(&go_bin("gomicro"), &["api", "--address", &addr], &[]);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if try_http(&addr, "GET", "/health", &[], b"").is_ok_and(|r| r.status == 200) {
                return GoGateway { _proc: proc, addr };
            }
            assert!(Instant::now() < deadline, "go-micro's micro api never answered /health on {addr}");
            // Polling for readiness (it prints no ready line with its address).
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The Rust greeter example (`Greeter.Hello` → `{"message":"Hello <name>"}`), named `name`.
fn rust_greeter(name: &str) -> TextProc {
    let p = TextProc::spawn(&target_bin("server"), &[], &[("MICRO_SERVER_NAME", name)]);
    p.wait_for("listening on");
    p
}

/// `gm5 fx-greeter --name NAME [args…]`, once registered.
fn go_greeter(name: &str, args: &[&str]) -> (Proc, Value) {
    let mut all = vec!["fx-greeter", "--name", name];
    all.extend(args);
    let p = Proc::spawn(&go_bin("gm5"), &all);
    let ready = p.ready();
    (p, ready)
}

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client (one request per connection).

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

fn try_http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {:?}", String::from_utf8_lossy(&raw))))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        rest = dechunk(&rest);
    }
    Ok(Reply { status, headers, body: rest })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_http(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post_json(addr: &str, path: &str, body: &str) -> Reply {
    http(addr, "POST", path, &[JSON], body.as_bytes())
}

/// Asserts a go-micro error JSON answer with `status`, `Content-Type: application/json`.
fn assert_error(r: &Reply, status: u16, id: &str, detail_has: &str) {
    assert_eq!(r.status, status, "{r:?} {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    let v = r.json();
    assert_eq!(v["code"], status, "{v}");
    assert_eq!(v["id"], id, "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.contains(detail_has)), "detail lacks {detail_has:?}: {v}");
    assert!(v["status"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
}

// ---------------------------------------------------------------------------
// Differential: our gateway and go-micro's on the same requests.

/// Status, body bytes and Content-Type equal on both gateways.
fn same(ours: &Gateway, theirs: &GoGateway, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let a = http(&ours.addr, method, path, headers, body.as_bytes());
    let b = http(&theirs.addr, method, path, headers, body.as_bytes());
    assert_eq!(
        (a.status, a.text(), a.header("content-type")),
        (b.status, b.text(), b.header("content-type")),
        "{method} {path}: ours (left) and go-micro's micro api (right) differ"
    );
    a
}

#[test]
fn v5_forms_answer_as_go_micro_s_micro_api() {
    if !in_netns("v5_forms_answer_as_go_micro_s_micro_api") {
        return;
    }
    let _g = shared();
    let go = uniq("diff.greeter");
    let rs = uniq("diff.rgreeter");
    let (_fx, _) = go_greeter(&go, &[]);
    let _rfx = rust_greeter(&rs);
    let ours = Gateway::start(&[], &[]);
    let theirs = GoGateway::start();

    // POST /{service}/{Endpoint.Method}: a go-micro and a Rust backend.
    let r = same(&ours, &theirs, "POST", &format!("/{go}/Say.Hello"), &[JSON], r#"{"name":"a"}"#);
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello a\"}\n".to_string()));
    let r = same(&ours, &theirs, "POST", &format!("/{rs}/Greeter.Hello"), &[JSON], r#"{"name":"r"}"#);
    assert_eq!((r.status, r.text()), (200, "{\"message\":\"Hello r\"}\n".to_string()));
    // Without a content type, and with an empty body (both send `{}`).
    let r = same(&ours, &theirs, "POST", &format!("/{go}/Say.Hello"), &[], r#"{"name":"n"}"#);
    assert_eq!(r.text(), "{\"msg\":\"Hello n\"}\n");
    let r = same(&ours, &theirs, "POST", &format!("/{go}/Say.Hello"), &[], "");
    assert_eq!(r.text(), "{\"msg\":\"Hello \"}\n");
    // The Micro-Endpoint header form.
    let r =
        same(&ours, &theirs, "POST", &format!("/{go}"), &[JSON, ("Micro-Endpoint", "Say.Hello")], r#"{"name":"h"}"#);
    assert_eq!(r.text(), "{\"msg\":\"Hello h\"}\n");
    // GET /{service} describes it; /micro/registry/{service} too; /health.
    let r = same(&ours, &theirs, "GET", &format!("/{go}"), &[], "");
    let v = r.json();
    assert_eq!(
        (v["name"].as_str(), v["nodes"].as_u64(), v["version"].as_str()),
        (Some(go.as_str()), Some(1), Some("latest"))
    );
    assert_eq!(v["endpoints"][0]["name"], "Say.Hello");
    let r = same(&ours, &theirs, "GET", &format!("/{rs}"), &[], "");
    assert_eq!(r.json()["endpoints"].as_array().map(Vec::len), Some(2), "{}", r.text());
    // /micro/registry/{service}: the same bytes; go-micro sets no Content-Type there (Go
    // sniffs text/plain), ours says application/json.
    let path = format!("/micro/registry/{go}");
    let (a, b) = (http(&ours.addr, "GET", &path, &[], b""), http(&theirs.addr, "GET", &path, &[], b""));
    assert_eq!((a.status, a.text()), (b.status, b.text()), "GET {path}");
    assert_eq!(a.text(), same(&ours, &theirs, "GET", &format!("/{go}"), &[], "").text());
    assert_eq!(
        (a.header("content-type"), b.header("content-type")),
        (Some("application/json"), Some("text/plain; charset=utf-8"))
    );
    let r = same(&ours, &theirs, "GET", "/health", &[], "");
    assert_eq!((r.status, r.text()), (200, "{\"status\":\"ok\"}\n".to_string()));

    // Where go-micro's micro api answers worse, both behaviours are pinned.
    let bad = format!("/{go}/Say.Hello");
    let want = format!("{{\"id\":\"{go}\",\"code\":400,\"detail\":\"bad name\",\"status\":\"Bad Request\"}}");
    let a = post_json(&ours.addr, &bad, r#"{"name":"bad"}"#);
    assert_eq!((a.status, a.text()), (400, want.clone()));
    assert_eq!(a.header("content-type"), Some("application/json"));
    let b = post_json(&theirs.addr, &bad, r#"{"name":"bad"}"#);
    let escaped = serde_json::to_string(&want).expect("string");
    assert_eq!((b.status, b.text()), (500, format!("{{\"error\":{escaped}}}\n")), "go-micro's answer to a 400");
    // A plain error: ours says what it was, as the classic toolkit did.
    let a = post_json(&ours.addr, &bad, r#"{"name":"plain"}"#);
    assert_error(&a, 500, "go.micro.api", "error during request: boom");
    let b = post_json(&theirs.addr, &bad, r#"{"name":"plain"}"#);
    assert_eq!((b.status, b.text()), (500, "{\"error\":\"boom\"}\n".to_string()));
    // An unknown service: ours 404 naming what was tried, theirs 500.
    let missing = uniq("diff.nosuch");
    let a = post_json(&ours.addr, &format!("/{missing}/Say.Hello"), "{}");
    assert_error(&a, 404, "go.micro.api", &missing);
    let b = post_json(&theirs.addr, &format!("/{missing}/Say.Hello"), "{}");
    assert_eq!(b.status, 500, "{}", b.text());
    let inner: Value = serde_json::from_str(b.json()["error"].as_str().expect("error string")).expect("JSON inside");
    assert_eq!(inner["detail"], format!("service {missing}: not found"));
    // GET /{unknown}: both 404; go-micro's body is {"error": …}.
    let a = http(&ours.addr, "GET", &format!("/{missing}"), &[], b"");
    assert_error(&a, 404, "go.micro.api", &missing);
    let b = http(&theirs.addr, "GET", &format!("/{missing}"), &[], b"");
    assert_eq!((b.status, b.text()), (404, format!("{{\"error\":\"service not found: {missing}\"}}\n")));
}

#[test]
fn the_service_listing_is_go_micro_s() {
    if !in_netns("the_service_listing_is_go_micro_s") {
        return;
    }
    // Alone: the listing shows every service in the namespace.
    let _g = MESH.write().unwrap_or_else(|p| p.into_inner());
    let go = uniq("list.greeter");
    let rs = uniq("list.rgreeter");
    let (_fx, _) = go_greeter(&go, &[]);
    let _rfx = rust_greeter(&rs);
    let ours = Gateway::start(&[], &[]);
    let theirs = GoGateway::start();
    for path in ["/", "/micro/registry"] {
        // mDNS answers arrive within a query window: ask again if one side missed one.
        let mut last = None;
        for _ in 0..5 {
            let a = http(&ours.addr, "GET", path, &[], b"");
            let b = http(&theirs.addr, "GET", path, &[], b"");
            if (a.status, &a.body) == (b.status, &b.body) {
                last = None;
                let v = a.json();
                let names: Vec<&str> = v.as_array().expect("list").iter().filter_map(|s| s["name"].as_str()).collect();
                assert!(names.contains(&go.as_str()) && names.contains(&rs.as_str()), "{names:?}");
                let mut sorted = names.clone();
                sorted.sort();
                assert_eq!(names, sorted, "sorted by name");
                let entry = v.as_array().and_then(|l| l.iter().find(|s| s["name"] == go.as_str())).cloned();
                assert_eq!(entry.map(|e| e["endpoints"].clone()), Some(serde_json::json!(["Say.Hello"])));
                break;
            }
            last = Some((a.text(), b.text()));
        }
        assert!(last.is_none(), "GET {path}: ours and go-micro's differ: {last:?}");
    }
}

// ---------------------------------------------------------------------------
// The classic toolkit's rules.

#[test]
fn classic_paths_resolve_under_the_namespace() {
    if !in_netns("classic_paths_resolve_under_the_namespace") {
        return;
    }
    let _g = shared();
    // The only test with services under the default namespace go.micro.api.
    let (_g0, _) = go_greeter("go.micro.api.greeter", &[]);
    let (_g1, _) = go_greeter("go.micro.api.v1.greeter", &[]);
    // A1: the listen address from MICRO_API_ADDRESS.
    let gw = Gateway::start_env(&[], &[], &[("MICRO_API_ADDRESS", "127.0.0.1:0")]);
    let a = &gw.addr;

    // A7 / §2.1: /greeter/say/hello → go.micro.api.greeter Say.Hello; A11: type and length.
    let r = post_json(a, "/greeter/say/hello", r#"{"name":"x"}"#);
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello x\"}\n".to_string()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-length"), Some("18"));
    let who = |path: &str| post_json(a, path, r#"{"name":"who"}"#).json()["service"].clone();
    assert_eq!(who("/greeter/say/hello"), "go.micro.api.greeter");
    // A19: /v1/… is served by go.micro.api.v1.greeter.
    assert_eq!(who("/v1/greeter/say/hello"), "go.micro.api.v1.greeter");
    // §2.1 the three-segment rule with the service repeated, and trailing slash.
    assert_eq!(who("/greeter/Say/Hello"), "go.micro.api.greeter");
    assert_eq!(who("/greeter/say/hello/"), "go.micro.api.greeter");
    // v5 forms find the namespaced name: /greeter/Say.Hello and /api/greeter/Say/Hello.
    assert_eq!(who("/greeter/Say.Hello"), "go.micro.api.greeter");
    assert_eq!(who("/api/greeter/Say/Hello"), "go.micro.api.greeter");
    // A10 / §2.8: GET query → JSON; a form body → JSON of its fields; curl -d '{…}' (a
    // form content type with a JSON body) → the JSON as it is; text/plain → as JSON.
    let r = http(a, "GET", "/greeter/say/hello?name=q", &[], b"");
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello q\"}\n".to_string()));
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(http(a, "POST", "/greeter/say/hello", &[form], b"name=f").text(), "{\"msg\":\"Hello f\"}\n");
    assert_eq!(http(a, "POST", "/greeter/say/hello", &[form], br#"{"name":"c"}"#).text(), "{\"msg\":\"Hello c\"}\n");
    let plain = ("Content-Type", "text/plain");
    assert_eq!(http(a, "POST", "/greeter/say/hello", &[plain], br#"{"name":"t"}"#).text(), "{\"msg\":\"Hello t\"}\n");
    // A query parameter without `=` is an error (400 here, the classic's 500).
    let r = http(a, "GET", "/greeter/say/hello?name", &[], b"");
    assert_error(&r, 400, "go.micro.api", "query");
    // A9: under meta any verb is served.
    let r = http(a, "PUT", "/greeter/say/hello", &[JSON], br#"{"name":"p"}"#);
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello p\"}\n".to_string()));
    // A21: request headers reach the Go handler as metadata.
    let r = http(a, "POST", "/greeter/say/hello", &[JSON, ("X-User", "u1")], br#"{"name":"md"}"#);
    assert_eq!(r.json()["metadata"]["X-User"], "u1", "{}", r.text());
    // §2.1: a path that names no registered service: 404 naming the names tried.
    let r = post_json(a, "/nosuch/say/hello", "{}");
    assert_error(&r, 404, "go.micro.api", "go.micro.api.nosuch");
    // A5: another namespace, from MICRO_API_NAMESPACE: /greeter/… is now the v1 greeter.
    let v1 = Gateway::start_env(&[], &[], &[("MICRO_API_NAMESPACE", "go.micro.api.v1")]);
    let r = post_json(&v1.addr, "/greeter/say/hello", r#"{"name":"who"}"#);
    assert_eq!(r.json()["service"], "go.micro.api.v1.greeter");
    // A9: --handler=rpc takes GET and POST only (405 after routing).
    let rpc = Gateway::start(&[], &["--handler", "rpc"]);
    let r = http(&rpc.addr, "PUT", "/greeter/say/hello", &[JSON], br#"{"name":"p"}"#);
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(http(&rpc.addr, "GET", "/greeter/say/hello?name=g", &[], b"").text(), "{\"msg\":\"Hello g\"}\n");
}

/// A call to the greeter's 20 s "slow" answer, cut short by a `budget` that the gateway sent
/// on as go-micro's `Timeout` header, within `bound`. Either side may end it: our client's
/// timer (a 504), or the go-micro handler itself, which returns `Hello slow` when the
/// deadline the header gave its context passes (`fixture.go`: `case <-ctx.Done()`), never
/// before `budget` has run out. Which comes first is a race the load decides: a loaded
/// machine that fires our timer late lets the handler's answer in.
fn assert_cut_short(r: &Reply, took: Duration, budget: Duration, bound: Duration) {
    if r.status == 200 {
        assert_eq!(r.text(), "{\"msg\":\"Hello slow\"}\n");
        assert!(took >= budget, "the backend answered after {took:?}, before its {budget:?} deadline");
        eprintln!("the backend's own deadline ({budget:?}) ended the call after {took:?}, before our timer");
    } else {
        assert_error(r, 504, "go.micro.api", "");
    }
    assert!(took >= budget.mul_f64(0.9) && took < bound, "cut short after {took:?} (budget {budget:?})");
}

#[test]
fn backend_errors_become_their_status() {
    if !in_netns("backend_errors_become_their_status") {
        return;
    }
    let _g = shared();
    let ns = uniq("err");
    let name = format!("{ns}.greeter");
    let (fx, _) = go_greeter(&name, &["--slow-ms", "20000"]);
    let gw = Gateway::start(&["--client_request_timeout", "1s"], &["--namespace", &ns, "--max_body", "1024"]);
    let a = &gw.addr;
    // §2.9 / A12: a go-micro 400 is a 400 with the error JSON, Content-Type application/json.
    let r = post_json(a, "/greeter/say/hello", r#"{"name":"bad"}"#);
    assert_eq!(
        r.text(),
        format!("{{\"id\":\"{name}\",\"code\":400,\"detail\":\"bad name\",\"status\":\"Bad Request\"}}")
    );
    assert_error(&r, 400, &name, "bad name");
    // A plain error: 500, error during request.
    let r = post_json(a, "/greeter/say/hello", r#"{"name":"plain"}"#);
    assert_error(&r, 500, "go.micro.api", "error during request: boom");
    // Malformed JSON: the backend cannot decode it; an error, never a hang.
    let r = post_json(a, "/greeter/say/hello", "{\"name\":");
    assert!(r.status >= 400, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    // A slow backend: cut short by --client_request_timeout (1 s), and sooner by a Timeout
    // header.
    let t = Instant::now();
    let r = post_json(a, "/greeter/say/hello", r#"{"name":"slow"}"#);
    assert_cut_short(&r, t.elapsed(), Duration::from_secs(1), Duration::from_secs(3));
    let mut seen = Vec::new();
    assert!(fx.wait_line(&mut seen, Duration::from_secs(5), |l| l["event"] == "slow").is_some());
    let t = Instant::now();
    let r = http(a, "POST", "/greeter/say/hello", &[JSON, ("Timeout", "0.3")], br#"{"name":"slow"}"#);
    assert_cut_short(&r, t.elapsed(), Duration::from_millis(300), Duration::from_millis(900));
    // The body limit: 413 naming it; the gateway keeps serving.
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(2000));
    let r = post_json(a, "/greeter/say/hello", &big);
    assert_error(&r, 413, "go.micro.api", "1024 bytes");
    assert_eq!(post_json(a, "/greeter/say/hello", r#"{"name":"ok"}"#).text(), "{\"msg\":\"Hello ok\"}\n");
}

#[test]
fn a_backend_killed_mid_request_is_a_502_or_503_and_the_gateway_goes_on() {
    if !in_netns("a_backend_killed_mid_request_is_a_502_or_503_and_the_gateway_goes_on") {
        return;
    }
    let _g = shared();
    let ns = uniq("kill");
    let (victim, _) = go_greeter(&format!("{ns}.greeter"), &["--slow-ms", "20000"]);
    let (_other, _) = go_greeter(&format!("{ns}.other"), &[]);
    let gw = Gateway::start(&["--client_request_timeout", "10s"], &["--namespace", &ns]);
    let addr = gw.addr.clone();
    let pending = std::thread::spawn(move || {
        let r = post_json(&addr, "/greeter/say/hello", r#"{"name":"slow"}"#);
        (r, Instant::now())
    });
    let mut seen = Vec::new();
    assert!(
        victim.wait_line(&mut seen, Duration::from_secs(10), |l| l["event"] == "slow").is_some(),
        "the call never reached the backend"
    );
    let killed = Instant::now();
    victim.kill();
    let (r, answered) = pending.join().expect("request thread");
    assert!(r.status == 502 || r.status == 503, "{} {}", r.status, r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Counted from the kill, not from the request: the gateway noticed the closed connection
    // rather than waiting out its 10 s budget (a 504 would be the other way to fail).
    let took = answered.saturating_duration_since(killed);
    assert!(took < Duration::from_secs(5), "answered {took:?} after the backend was killed");
    let r = post_json(&gw.addr, "/other/say/hello", r#"{"name":"after"}"#);
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello after\"}\n".to_string()));
}

// ---------------------------------------------------------------------------
// Fixed routes, /rpc, CORS, stats, shutdown.

#[test]
fn fixed_routes_and_the_rpc_endpoint() {
    if !in_netns("fixed_routes_and_the_rpc_endpoint") {
        return;
    }
    let _g = shared();
    let name = uniq("rpc.greeter");
    let (_fx, ready) = go_greeter(&name, &[]);
    let off = Gateway::start(&[], &[]);
    // A3: favicon; health and its v5 forms.
    let r = http(&off.addr, "GET", "/favicon.ico", &[], b"");
    assert_eq!((r.status, r.body.len()), (200, 0));
    for p in ["/health", "/health/live", "/health/ready"] {
        let r = http(&off.addr, "GET", p, &[], b"");
        assert_eq!((r.status, r.text()), (200, "{\"status\":\"ok\"}\n".to_string()), "{p}");
    }
    // A25: unclean paths redirect to the cleaned one, query kept.
    let r = http(&off.addr, "GET", "/greeter//say/hello?a=1", &[], b"");
    assert_eq!((r.status, r.header("location")), (301, Some("/greeter/say/hello?a=1")));
    let r = http(&off.addr, "GET", "/a/./b/../c", &[], b"");
    assert_eq!((r.status, r.header("location")), (301, Some("/a/c")));
    // A18 off: /rpc is a 404 that says how to turn it on (not the classic's 500).
    let body = format!(r#"{{"service":"{name}","endpoint":"Say.Hello","request":{{"name":"r"}}}}"#);
    let r = post_json(&off.addr, "/rpc", &body);
    assert_error(&r, 404, "go.micro.api", "--enable_rpc");

    let on = Gateway::start(&[], &["--enable_rpc"]);
    let a = &on.addr;
    // §2.5 JSON mode: request as a value and as a string of JSON; keys in any case; method.
    let r = post_json(a, "/rpc", &body);
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello r\"}\n".to_string()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r =
        post_json(a, "/rpc", &format!(r#"{{"Service":"{name}","Method":"Say.Hello","Request":"{{\"name\":\"s\"}}"}}"#));
    assert_eq!(r.text(), "{\"msg\":\"Hello s\"}\n");
    // Form mode (curl -d service=… -d endpoint=… -d request=…).
    let form = format!("service={name}&endpoint=Say.Hello&request=%7B%22name%22%3A%22f%22%7D");
    let r = http(a, "POST", "/rpc", &[("Content-Type", "application/x-www-form-urlencoded")], form.as_bytes());
    assert_eq!(r.text(), "{\"msg\":\"Hello f\"}\n");
    // address pins the node.
    let addr = ready["address"].as_str().expect("address");
    let r = post_json(
        a,
        "/rpc",
        &format!(r#"{{"service":"{name}","endpoint":"Say.Hello","address":"{addr}","request":{{"name":"p"}}}}"#),
    );
    assert_eq!(r.text(), "{\"msg\":\"Hello p\"}\n");
    // Validation: 400s from go.micro.rpc; GET is a 405; backend errors pass through.
    assert_error(&post_json(a, "/rpc", r#"{"endpoint":"Say.Hello"}"#), 400, "go.micro.rpc", "invalid service");
    assert_error(&post_json(a, "/rpc", &format!(r#"{{"service":"{name}"}}"#)), 400, "go.micro.rpc", "invalid endpoint");
    let r = post_json(a, "/rpc", &format!(r#"{{"service":"{name}","endpoint":"Say.Hello","request":"{{bad"}}"#));
    assert_error(&r, 400, "go.micro.rpc", "error decoding request string");
    assert_eq!(http(a, "GET", "/rpc", &[], b"").status, 405);
    let r =
        post_json(a, "/rpc", &format!(r#"{{"service":"{name}","endpoint":"Say.Hello","request":{{"name":"bad"}}}}"#));
    assert_error(&r, 400, &name, "bad name");
}

#[test]
fn cors_on_every_route_with_preflight() {
    if !in_netns("cors_on_every_route_with_preflight") {
        return;
    }
    let _g = shared();
    let ns = uniq("cors");
    let (_fx, _) = go_greeter(&format!("{ns}.greeter"), &[]);
    let any = Gateway::start(&[], &["--namespace", &ns]);
    let origin = ("Origin", "http://a.b");
    // A22: a call route, the listing, an error: each carries CORS headers.
    for (method, path, body) in
        [("POST", "/greeter/say/hello", &br#"{"name":"c"}"#[..]), ("GET", "/", b""), ("POST", "/nosuch/x/y", b"{}")]
    {
        let r = http(&any.addr, method, path, &[JSON, origin], body);
        assert_eq!(r.header("access-control-allow-origin"), Some("http://a.b"), "{method} {path}: {r:?}");
        assert!(r.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{r:?}");
    }
    // Without an Origin: `*`.
    let r = http(&any.addr, "GET", "/health", &[], b"");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Preflight on a handler route (the classic answered none).
    let pre = [origin, ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")];
    let r = http(&any.addr, "OPTIONS", "/greeter/say/hello", &pre, b"");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("http://a.b"));
    assert!(r.header("access-control-allow-headers").is_some_and(|h| h.contains("Content-Type")), "{r:?}");
    assert!(r.header("access-control-max-age").is_some());
    // An allow-list: others get no CORS headers and a 403 preflight.
    let list = Gateway::start(&[], &["--namespace", &ns, "--cors", "http://ok.example"]);
    let r = http(&list.addr, "OPTIONS", "/greeter/say/hello", &[("Origin", "http://ok.example"), pre[1]], b"");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (204, Some("http://ok.example")));
    let r = http(&list.addr, "OPTIONS", "/greeter/say/hello", &[("Origin", "http://evil.example"), pre[1]], b"");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (403, None));
    let r =
        http(&list.addr, "POST", "/greeter/say/hello", &[JSON, ("Origin", "http://evil.example")], br#"{"name":"e"}"#);
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}

#[test]
fn stats_count_every_status_class() {
    if !in_netns("stats_count_every_status_class") {
        return;
    }
    let _g = shared();
    let ns = uniq("stats");
    let (_fx, _) = go_greeter(&format!("{ns}.greeter"), &[]);
    let off = Gateway::start(&[], &["--namespace", &ns]);
    assert_eq!(http(&off.addr, "GET", "/stats", &[JSON], b"").status, 404, "/stats without --enable_stats");
    let gw = Gateway::start(&[], &["--namespace", &ns, "--enable_stats"]);
    let a = &gw.addr;
    // 2 × 20x, 1 × 30x, 2 × 40x, 1 × 50x.
    assert_eq!(post_json(a, "/greeter/say/hello", r#"{"name":"s"}"#).status, 200);
    assert_eq!(http(a, "GET", "/health", &[], b"").status, 200);
    assert_eq!(http(a, "GET", "/greeter//say/hello", &[], b"").status, 301);
    assert_eq!(post_json(a, "/greeter/say/hello", r#"{"name":"bad"}"#).status, 400);
    assert_eq!(post_json(a, "/nosuch/x/y", "{}").status, 404);
    assert_eq!(post_json(a, "/greeter/say/hello", r#"{"name":"plain"}"#).status, 500);
    // A23: the JSON snapshot (its own polling is not counted: ask twice).
    let _ = http(a, "GET", "/stats", &[JSON], b"");
    let r = http(a, "GET", "/stats", &[JSON], b"");
    assert_eq!(r.status, 200);
    let v = r.json();
    for k in ["started", "memory", "threads", "gc_pause", "counters"] {
        assert!(v.get(k).is_some(), "no {k} in {v}");
    }
    assert_eq!(v["total_reqs"], 6, "{v}");
    assert_eq!(v["totals"], serde_json::json!({"20x": 2, "30x": 1, "40x": 2, "50x": 1}), "{v}");
    let mut sum = [0u64; 5];
    for c in v["counters"].as_array().expect("counters") {
        for (i, k) in ["20x", "30x", "40x", "50x"].iter().enumerate() {
            sum[i] += c["status_codes"][k].as_u64().unwrap_or(0);
        }
        sum[4] += c["total_reqs"].as_u64().unwrap_or(0);
    }
    assert_eq!(sum, [2, 1, 2, 1, 6], "buckets {v}");
    // The HTML page and Prometheus text.
    let r = http(a, "GET", "/stats", &[], b"");
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{r:?}");
    let m = http(a, "GET", "/metrics", &[], b"").text();
    for line in ["micro_api_requests_total{code=\"2xx\"} 2", "micro_api_requests_total{code=\"5xx\"} 1"] {
        assert!(m.contains(line), "no {line:?} in\n{m}");
    }
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_stops() {
    if !in_netns("sigterm_lets_the_request_in_flight_finish_then_stops") {
        return;
    }
    let _g = shared();
    let ns = uniq("term");
    let (fx, _) = go_greeter(&format!("{ns}.greeter"), &["--slow-ms", "1500"]);
    let mut gw = Gateway::start(&[], &["--namespace", &ns]);
    let addr = gw.addr.clone();
    let pending = std::thread::spawn(move || post_json(&addr, "/greeter/say/hello", r#"{"name":"slow"}"#));
    let mut seen = Vec::new();
    assert!(fx.wait_line(&mut seen, Duration::from_secs(10), |l| l["event"] == "slow").is_some());
    // A27: SIGTERM closes the listener at once; the request in flight gets its answer.
    gw.proc.sigterm();
    let r = pending.join().expect("request thread");
    assert_eq!((r.status, r.text()), (200, "{\"msg\":\"Hello slow\"}\n".to_string()));
    let st = gw.proc.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "exit {st}");
    assert!(TcpStream::connect(&gw.addr).is_err(), "still listening after SIGTERM");
}

/// A service in another host language, once the gateway can describe it (`GET /NAME` is
/// 200 when the registry has a node): polled with a deadline, as these print no ready line.
fn wait_described(gw: &Gateway, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http(&gw.addr, "GET", &format!("/{name}"), &[], b"").status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never appeared in the registry");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Python's and Node's greeters (the bindings, in-process) behind `micro api`: both forms
/// of call, the classic path under the namespace, and a handler error with its status.
/// The interpreters come from the suite (`MICRO_TEST_PYTHON`: the test venv's python,
/// `MICRO_TEST_NODE_PACKAGE`: bindings/node with its addon built).
#[test]
fn python_and_node_services_answer_through_the_gateway() {
    if !in_netns("python_and_node_services_answer_through_the_gateway") {
        return;
    }
    let (Ok(python), Ok(node_pkg)) = (std::env::var("MICRO_TEST_PYTHON"), std::env::var("MICRO_TEST_NODE_PACKAGE"))
    else {
        eprintln!("skipped: MICRO_TEST_PYTHON / MICRO_TEST_NODE_PACKAGE are set by scripts/test.d/55-gateway.sh");
        return;
    };
    let _g = shared();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let py_name = uniq("py");
    let node_name = uniq("node");
    let _py = TextProc::spawn(
        &PathBuf::from(&python),
        &[root.join("examples/python/greeter/server.py").to_str().expect("utf-8 path"), &py_name],
        &[],
    );
    let node_src = "const micro = require(process.env.MICRO_TEST_NODE_PACKAGE);\
        const svc = new micro.Service(process.argv[1]);\
        svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));\
        svc.handle('Greeter.Fail', (req) => { throw new micro.MicroError(svc.name, req.code, req.detail); });\
        process.once('SIGTERM', () => svc.close());\
        svc.start();";
    let _node = TextProc::spawn(
        &PathBuf::from("node"),
        &["-e", node_src, &node_name],
        &[("MICRO_TEST_NODE_PACKAGE", node_pkg.as_str())],
    );
    let gw = Gateway::start(&[], &[]);
    for name in [&py_name, &node_name] {
        wait_described(&gw, name);
        let r = post_json(&gw.addr, &format!("/{name}/Greeter.Hello"), r#"{"name":"Ann"}"#);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.json()["message"], "Hello Ann", "{name}");
        let r = http(
            &gw.addr,
            "POST",
            &format!("/{name}"),
            &[("Micro-Endpoint", "Greeter.Hello"), JSON],
            br#"{"name":"Bo"}"#,
        );
        assert_eq!(r.json()["message"], "Hello Bo", "{name} by header");
        // A handler's own error code becomes the HTTP status, with its error JSON.
        let r = post_json(&gw.addr, &format!("/{name}/Greeter.Fail"), r#"{"code":409,"detail":"taken"}"#);
        assert_error(&r, 409, name, "taken");
    }
}
