//! micro ↔ real go-micro (v5.30.0, v4.11.0 and v6.10.0), over go-micro's default plugins: mDNS
//! registry and HTTP transport. Runs inside `scripts/netns.sh`.

use micro::error::status_text;
use micro::registry::cache::Cache;
use micro::registry::mdns::{Mdns, Options};
use micro::registry::Registry;
use micro::{CallOptions, Error, Service};
use micro_interop::{go_bin, in_netns, port_outside_ephemeral_range, run, unique, unix_ms, Proc, GO_VERSIONS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Codes whose reason phrase the old 14-entry table lacked, and two it had; go-micro's
/// `errors.New` fills `status` with Go's `http.StatusText`.
const STATUS_CASES: [(i32, &str); 6] = [
    (409, "Conflict"),
    (418, "I'm a teapot"),
    (422, "Unprocessable Entity"),
    (451, "Unavailable For Legal Reasons"),
    (503, "Service Unavailable"),
    (507, "Insufficient Storage"),
];

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
    /// Only for the name `md` (as the Go harness' `Greeter.Hello`): the metadata the handler got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<BTreeMap<String, String>>,
}

impl Reply {
    fn hello(name: &str) -> Reply {
        Reply { message: format!("Hello {name}"), metadata: None }
    }
}

/// `Greeter.Fail`'s request; without fields our greeter fails with 418 and HTML in the detail.
#[derive(Deserialize)]
struct Fail {
    code: Option<i32>,
    detail: Option<String>,
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
    s.handle_json("Greeter.Hello", |req: Hello, r| async move {
        let mut reply = Reply::hello(&req.name);
        if req.name == "md" {
            reply.metadata = Some(r.header.clone());
        }
        Ok(reply)
    });
    let id = name.to_string();
    s.handle_json("Greeter.Fail", move |req: Fail, _| {
        let id = id.clone();
        let detail = req.detail.unwrap_or_else(|| "rust says no <&>".into());
        async move { Err::<Reply, _>(Error::new(id, detail, req.code.unwrap_or(418))) }
    });
    s.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let hello: Hello = serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("rust", e.to_string()))?;
            stream.send(serde_json::to_vec(&Reply::hello(&hello.name)).unwrap()).await?;
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
/// The whole budget is generous: a go-micro peer on a loaded 2-core machine can take seconds
/// to answer, and what is asserted is the answer, not its speed. Each attempt has go-micro's
/// 5 s and a timed-out one is re-sent (these endpoints are safe to repeat): go-micro's server
/// now and then reads a request and never answers it (docs/library.md, "Lost requests").
async fn call_go(svc: &Service, service: &str, endpoint: &str, body: &str) -> micro::Result<micro::Reply> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let patient = CallOptions {
        timeout: Some(Duration::from_secs(5)),
        request_timeout: Some(Duration::from_secs(30)),
        retry_timeouts: true,
        ..Default::default()
    };
    loop {
        match svc.client().call(service, endpoint, body.to_string(), &patient).await {
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

        // (d) a go-micro error keeps id, code, detail and status (Go's http.StatusText).
        for (code, text) in STATUS_CASES {
            let body = format!("{{\"code\":{code},\"detail\":\"taken\"}}");
            let err = call_go(&client_svc, &name, "Greeter.Fail", &body).await.unwrap_err();
            assert_eq!(
                (err.id.as_str(), err.code, err.detail.as_str(), err.status.as_str()),
                ("go.greeter", code, "taken", text),
                "{gm}"
            );
            assert_eq!(status_text(code), text, "our table agrees with go-micro for {code}");
        }

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
        let out = go_run(
            gm,
            strs(&["call", "--service", &name, "--endpoint", "Greeter.Hello", "--body", "{\"name\":\"Bob\"}"]),
        )
        .await;
        assert_eq!(out[0]["ok"], true, "{gm}: {out:?}");
        assert_eq!(out[0]["body"], "{\"message\":\"Hello Bob\"}\n", "{gm}");

        // (d) our error reaches Go intact, HTML-escaping and Go's status text included.
        let out = go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Fail", "--body", "{}"])).await;
        assert_eq!(out[0]["ok"], false, "{gm}: {out:?}");
        let e = &out[0]["error"];
        assert_eq!(
            (e["id"].as_str(), e["code"].as_i64(), e["detail"].as_str(), e["status"].as_str()),
            (Some(name.as_str()), Some(418), Some("rust says no <&>"), Some("I'm a teapot")),
            "{gm}: {e}"
        );
        for (code, text) in STATUS_CASES.into_iter().chain([(599, "")]) {
            let body = format!("{{\"code\":{code},\"detail\":\"d\"}}");
            let out =
                go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Fail", "--body", &body])).await;
            let e = &out[0]["error"];
            assert_eq!((e["code"].as_i64(), e["status"].as_str()), (Some(code.into()), Some(text)), "{gm}: {out:?}");
        }
        let out =
            go_run(gm, strs(&["call", "--service", &name, "--endpoint", "Greeter.Missing", "--body", "{}"])).await;
        assert_eq!(out[0]["error"]["code"], 404, "{gm}: {out:?}");
        assert_eq!(out[0]["error"]["detail"], "rpc: can't find method Missing", "{gm}");

        // (c) a bidirectional stream from the Go client.
        let out =
            go_run(gm, strs(&["stream", "--service", &name, "--endpoint", "Greeter.Stream", "--names", "p,q,r"])).await;
        let bodies: Vec<&str> = out.iter().map(|l| l["body"].as_str().unwrap_or("?")).collect();
        assert_eq!(
            bodies,
            ["{\"message\":\"Hello p\"}", "{\"message\":\"Hello q\"}", "{\"message\":\"Hello r\"}"],
            "{gm}: {out:?}"
        );

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

/// The value of `key` in `md`, compared without case (HTTP header names), with the key as
/// it arrived.
fn md_get<'a>(md: &'a BTreeMap<String, String>, key: &str) -> Option<(&'a str, &'a str)> {
    md.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(k, v)| (k.as_str(), v.as_str()))
}

/// RPC metadata both ways with every Go peer: a header our caller sets reaches the Go
/// handler's context (`metadata.FromContext`, echoed by the harness' `Greeter.Hello` for the
/// name `md`), and one a go-micro caller sets (`--metadata`) reaches our handler's
/// `Request::header`. Both arrive under the canonical MIME header name (`X-Trace-Id`),
/// whatever case the caller used, in v4, v5 and v6 alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_metadata_crosses_both_ways() {
    if !in_netns("rpc_metadata_crosses_both_ways") {
        return;
    }
    let client_svc = rust_greeter(&unique("rust.mdcaller", "x")).await;
    for gm in GO_VERSIONS {
        // ours → Go
        let name = unique("go.md", gm);
        let go = Proc::spawn(&go_bin(gm), &["serve", "--name", &name]);
        go.ready();
        // Safe to repeat, as in `call_go`.
        let mut opts = CallOptions {
            timeout: Some(Duration::from_secs(5)),
            request_timeout: Some(Duration::from_secs(30)),
            retry_timeouts: true,
            ..Default::default()
        };
        opts.metadata.insert("X-Trace-Id".into(), format!("rust-{gm}"));
        opts.metadata.insert("x-lower-key".into(), "low".into());
        let deadline = Instant::now() + Duration::from_secs(30);
        let reply = loop {
            match client_svc.client().call(&name, "Greeter.Hello", "{\"name\":\"md\"}".to_string(), &opts).await {
                Err(e) if e.code == 404 && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other.unwrap_or_else(|e| panic!("{gm}: {e}")),
            }
        };
        let got: Reply = serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{gm}: {e}"));
        let md = got.metadata.unwrap_or_else(|| panic!("{gm}: no metadata echoed"));
        let trace = format!("rust-{gm}");
        assert_eq!(md_get(&md, "X-Trace-Id"), Some(("X-Trace-Id", trace.as_str())), "{gm}: {md:?}");
        assert_eq!(md_get(&md, "X-Lower-Key"), Some(("X-Lower-Key", "low")), "{gm}: {md:?}");
        assert_eq!(md_get(&md, "Micro-Service").map(|(_, v)| v), Some(name.as_str()), "{gm}: {md:?}");
        assert!(go.terminate().success());

        // Go → ours
        let name = unique("rust.md", gm);
        let svc = rust_greeter(&name).await;
        let out = go_run(
            gm,
            strs(&[
                "call",
                "--service",
                &name,
                "--endpoint",
                "Greeter.Hello",
                "--body",
                "{\"name\":\"md\"}",
                "--metadata",
                &format!("X-Trace-Id=go-{gm}"),
                "--metadata",
                "x-lower-key=low",
            ]),
        )
        .await;
        assert_eq!(out[0]["ok"], true, "{gm}: {out:?}");
        let got: Reply =
            serde_json::from_str(out[0]["body"].as_str().unwrap_or("")).unwrap_or_else(|e| panic!("{gm}: {e}"));
        let md = got.metadata.unwrap_or_else(|| panic!("{gm}: no metadata echoed"));
        let trace = format!("go-{gm}");
        assert_eq!(md_get(&md, "X-Trace-Id"), Some(("X-Trace-Id", trace.as_str())), "{gm}: {md:?}");
        assert_eq!(md_get(&md, "X-Lower-Key"), Some(("X-Lower-Key", "low")), "{gm}: {md:?}");
        svc.stop().await.unwrap();
    }
    client_svc.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_text_is_go_micro_s_for_every_code() {
    if !in_netns("status_text_is_go_micro_s_for_every_code") {
        return;
    }
    for gm in GO_VERSIONS {
        // `status-text`: errors.New(…, code).Status for every code go-micro names.
        let out = go_run(gm, strs(&["status-text"])).await;
        let go: BTreeMap<i32, String> = out[0]
            .as_object()
            .unwrap_or_else(|| panic!("{gm}: {out:?}"))
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(go.len(), 62, "{gm}: {go:?}");
        for code in 0..1000 {
            let theirs = go.get(&code).map(String::as_str).unwrap_or("");
            assert_eq!(status_text(code), theirs, "{gm}: status text of {code}");
        }
    }
}

// ---------------------------------------------------------------------------
// application/protobuf: go-micro's `Proto.Echo` (`serve --proto`) takes and returns a
// google.protobuf.StringValue through its proto codec; ours does the same by hand.

/// `google.protobuf.StringValue{value: s}` encoded (proto3 omits an empty value).
fn string_value(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !s.is_empty() {
        out.push(0x0a); // field 1, length-delimited
        let mut n = s.len() as u64;
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint over 10 bytes".into())
}

/// Decodes a StringValue, skipping unknown fields like a protobuf library.
fn parse_string_value(b: &[u8]) -> Result<String, String> {
    let (mut pos, mut value) = (0, String::new());
    while pos < b.len() {
        let tag = varint(b, &mut pos)?;
        let len = match tag & 7 {
            0 => {
                varint(b, &mut pos)?;
                0
            }
            1 => 8,
            2 => usize::try_from(varint(b, &mut pos)?).map_err(|e| e.to_string())?,
            5 => 4,
            w => return Err(format!("wire type {w}")),
        };
        let field = b.get(pos..pos + len).ok_or("truncated field")?;
        if tag == 0x0a {
            value = String::from_utf8(field.to_vec()).map_err(|e| e.to_string())?;
        }
        pos += len;
    }
    Ok(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_bodies_cross_byte_exact_both_ways() {
    if !in_netns("protobuf_bodies_cross_byte_exact_both_ways") {
        return;
    }
    let long = "Zoë ✓ — a name over 127 bytes: ".repeat(5);
    let names = ["Alice", "", long.as_str()];
    for gm in GO_VERSIONS {
        let go_name = unique("go.proto", gm);
        let go = Proc::spawn(&go_bin(gm), &["serve", "--name", &go_name, "--proto"]);
        go.ready();
        let rust_name = unique("rust.proto", gm);
        let svc = Service::builder(rust_name.as_str()).address("127.0.0.1:0").build().await.expect("service builds");
        // (content type, body) of every request our handler took.
        type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let log = seen.clone();
        svc.server().handle("Proto.Echo", move |req| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((req.content_type.clone(), req.body.to_vec()));
                let v = parse_string_value(&req.body).map_err(|e| Error::bad_request("rust.proto", e))?;
                Ok(micro::Response::from(string_value(&format!("Hello {v}"))))
            }
        });
        svc.start().await.expect("service starts");
        // Safe to repeat, as in `call_go`.
        let proto = CallOptions {
            content_type: Some("application/protobuf".into()),
            request_timeout: Some(Duration::from_secs(30)),
            retry_timeouts: true,
            ..Default::default()
        };

        for name in &names {
            let request = string_value(name);
            let expected = string_value(&format!("Hello {name}"));

            // Rust → Go: go-micro's proto codec decodes our bytes and encodes its reply.
            let deadline = Instant::now() + Duration::from_secs(30);
            let reply = loop {
                match svc.client().call(&go_name, "Proto.Echo", request.clone(), &proto).await {
                    Err(e) if e.code == 404 && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    other => break other.unwrap_or_else(|e| panic!("{gm}: Rust → Go protobuf call failed: {e}")),
                }
            };
            assert_eq!(reply.body.to_vec(), expected, "{gm}: go-micro's protobuf reply to {name:?}");
            assert_eq!(reply.content_type, "application/protobuf", "{gm}");

            // Go → Rust, beside Go → Go: the same bytes out, the same bytes back.
            let b64 = base64_std(&request);
            for target in [&rust_name, &go_name] {
                let mut args = strs(&[
                    "call",
                    "--service",
                    target,
                    "--endpoint",
                    "Proto.Echo",
                    "--content-type",
                    "application/protobuf",
                ]);
                if request.is_empty() {
                    args.extend(strs(&["--body", ""])); // go-micro sends an empty body chunked
                } else {
                    args.extend(strs(&["--body-b64", &b64]));
                }
                let out = go_run(gm, args).await;
                assert_eq!(out[0]["ok"], true, "{gm} → {target}: {out:?}");
                assert_eq!(out[0]["body_b64"], base64_std(&expected), "{gm} → {target}: reply bytes for {name:?}");
            }
            let got = seen.lock().unwrap().pop().expect("our handler ran");
            assert_eq!(got, ("application/protobuf".to_string(), request.clone()), "{gm}: the bytes go-micro sent us");
        }
        svc.stop().await.unwrap();
        assert!(go.terminate().success());
    }
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

// ---------------------------------------------------------------------------
// (f) One of two nodes SIGKILLed under long-lived clients and registry views.

/// One `call --stamp` line: when it started, how long it took, who answered or why not.
#[derive(Debug)]
struct Call {
    at_ms: i64,
    took_ms: f64,
    node: Option<String>,
    /// For a failure: its code and `id code: detail` with digits masked (ports vary).
    code: i64,
    error: String,
}

fn parse_call(v: &Value) -> Option<Call> {
    let at_ms = v["at_ms"].as_i64()?;
    let took_ms = v["took_ms"].as_f64().unwrap_or(0.0);
    if v["ok"] == true {
        let body: Value = serde_json::from_str(v["body"].as_str()?).ok()?;
        let node = body["message"].as_str().map(str::to_string);
        return Some(Call { at_ms, took_ms, node, code: 0, error: String::new() });
    }
    let e = &v["error"];
    let detail: String =
        e["detail"].as_str().unwrap_or("").chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    let code = e["code"].as_i64().unwrap_or(0);
    Some(Call {
        at_ms,
        took_ms,
        node: None,
        code,
        error: format!("{} {code}: {detail}", e["id"].as_str().unwrap_or("")),
    })
}

/// How a client's calls went from the kill on.
#[derive(Debug, Default)]
struct AfterKill {
    calls: usize,
    failed: usize,
    /// Successful calls answered by anyone but the survivor.
    elsewhere: usize,
    /// Seconds from the kill to the start of the last failed call.
    last_failure_s: Option<f64>,
    /// Successful calls since the last failure.
    trailing_ok: usize,
    slowest_ms: f64,
    codes: BTreeSet<i64>,
    errors: BTreeMap<String, usize>,
}

fn after_kill(lines: &[Value], kill_ms: i64, survivor: &str) -> AfterKill {
    let mut r = AfterKill::default();
    for c in lines.iter().filter_map(parse_call).filter(|c| c.at_ms >= kill_ms) {
        r.calls += 1;
        r.slowest_ms = r.slowest_ms.max(c.took_ms);
        match &c.node {
            Some(n) => {
                r.trailing_ok += 1;
                if n != survivor {
                    r.elsewhere += 1;
                }
            }
            None => {
                r.failed += 1;
                r.trailing_ok = 0;
                r.last_failure_s = Some((c.at_ms - kill_ms) as f64 / 1000.0);
                r.codes.insert(c.code);
                *r.errors.entry(c.error).or_default() += 1;
            }
        }
    }
    r
}

/// Seconds from the kill until a view line without the dead node (the survivor only).
fn view_gone_s(lines: &[Value], kill_ms: i64, survivor: &str) -> Option<f64> {
    let only = BTreeSet::from([survivor.to_string()]);
    lines
        .iter()
        .filter(|v| v["at_ms"].as_i64().is_some_and(|t| t >= kill_ms))
        .find(|v| micro_interop::view_nodes(v).as_ref() == Some(&only))
        .and_then(|v| v["at_ms"].as_i64())
        .map(|t| (t - kill_ms) as f64 / 1000.0)
}

/// Two nodes of one service; `a` is the one to kill.
struct Pair {
    label: String,
    name: String,
    a: Option<Proc>,
    _b: Proc,
    a_id: String,
    b_id: String,
    kill_ms: i64,
}

fn start_pair(label: &str, name: String, spawn: impl Fn() -> Proc) -> Pair {
    let (a, b) = (spawn(), spawn());
    let a_id = a.ready()["id"].as_str().unwrap().to_string();
    let b_id = b.ready()["id"].as_str().unwrap().to_string();
    Pair { label: label.into(), name, a: Some(a), _b: b, a_id, b_id, kill_ms: 0 }
}

/// A go-micro client calling `Greeter.Whoami` every 100 ms for minutes, returned once both
/// nodes have answered it. A client whose first lookup heard only one node keeps that
/// answer for go-micro's one-minute TTL, so such a client is replaced (three tries).
fn go_caller(gm: &str, pair: &Pair) -> (Proc, Vec<Value>) {
    let args = [
        "call",
        "--service",
        &pair.name,
        "--endpoint",
        "Greeter.Whoami",
        "--body",
        "{}",
        "--count",
        "1500",
        "--interval-ms",
        "100",
        "--stamp",
    ];
    for _ in 0..3 {
        let p = Proc::spawn(&go_bin(gm), &args);
        let mut lines = Vec::new();
        let mut nodes = BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && nodes.len() < 2 {
            if let Some(v) = p.next(Duration::from_millis(100)) {
                if let Some(Call { node: Some(n), .. }) = parse_call(&v) {
                    nodes.insert(n);
                }
                lines.push(v);
            }
        }
        if nodes.len() == 2 {
            return (p, lines);
        }
        eprintln!("{gm} → {}: only {nodes:?} answered ({} lines); starting another client", pair.label, lines.len());
    }
    panic!("{gm} → {}: no go-micro client ever reached both nodes", pair.label);
}

/// A long-lived observer of one pair: a go-micro client or a go-micro registry cache view.
struct Observer {
    gm: &'static str,
    pair: usize,
    proc: Proc,
    lines: Vec<Value>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_long_lived_go_clients_and_views_vs_go_micro_and_ours() {
    if !in_netns("killed_node_long_lived_go_clients_and_views") {
        return;
    }
    // Our pair, and go-micro's own pair of each version as the baseline (ARCHITECTURE §5).
    // Fixed ports no other test can be given, so a dead node's address stays dead (with
    // `:0`, a server of a parallel test was seen taking it, answering "can't find method").
    let port = || format!("127.0.0.1:{}", port_outside_ephemeral_range());
    let name = unique("rust.pair", "kill");
    let mut pairs =
        vec![start_pair("rust", name.clone(), || Proc::spawn(&rust_bin(), &["--name", &name, "--address", &port()]))];
    for gm in GO_VERSIONS {
        let name = unique("go.pair", gm);
        pairs.push(start_pair(gm, name.clone(), || {
            Proc::spawn(&go_bin(gm), &["serve", "--name", &name, "--address", &port()])
        }));
    }

    // go-micro observers, each started before the kill: gmX → ours and gmX → gmX.
    let (mut clients, mut views) = (Vec::new(), Vec::new());
    tokio::task::block_in_place(|| {
        for (i, gm) in GO_VERSIONS.into_iter().enumerate() {
            for p in [0, i + 1] {
                let pair = &pairs[p];
                let (proc, lines) = micro_interop::go_view(gm, &pair.name, &[&pair.a_id, &pair.b_id], 200);
                views.push(Observer { gm, pair: p, proc, lines });
                let (proc, lines) = go_caller(gm, pair);
                clients.push(Observer { gm, pair: p, proc, lines });
            }
        }
    });

    // Our side, in charge of its own client and view: both long-lived, both started now.
    let rust = &pairs[0];
    let (name, a_id, b_id) = (rust.name.clone(), rust.a_id.clone(), rust.b_id.clone());
    let reg = mdns().await;
    let stop = Arc::new(AtomicBool::new(false));
    // (start, answering node or error) per call; (when, node ids) per change of the view.
    type Log<T> = Arc<Mutex<Vec<(Instant, T)>>>;
    let our_calls: Log<Result<String, Error>> = Arc::default();
    let our_view: Log<BTreeSet<String>> = Arc::default();
    let caller = {
        let (client, stop, log, name) =
            (micro::Client::new(reg.clone(), Default::default()), stop.clone(), our_calls.clone(), name.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = client
                    .call_json::<_, Reply>(&name, "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default())
                    .await;
                log.lock().unwrap().push((started, r.map(|r| r.message)));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let viewer = {
        let (cache, stop, log, name) = (Cache::new(reg.clone()), stop.clone(), our_view.clone(), name.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ids: BTreeSet<String> = match cache.lookup(&name).await {
                    Ok(s) => s.iter().flat_map(|s| s.nodes.iter().map(|n| n.id.clone())).collect(),
                    Err(_) => BTreeSet::new(),
                };
                {
                    let mut log = log.lock().unwrap();
                    if log.last().map(|(_, l)| l) != Some(&ids) {
                        log.push((Instant::now(), ids));
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let both = BTreeSet::from([a_id.clone(), b_id.clone()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let called: BTreeSet<String> =
            our_calls.lock().unwrap().iter().filter_map(|(_, r)| r.as_ref().ok().cloned()).collect();
        let viewed = our_view.lock().unwrap().last().map(|(_, v)| v.clone()).unwrap_or_default();
        if called == both && viewed == both {
            break;
        }
        // Our cache refreshes every 10 s, so a first lookup that heard one node is mended.
        assert!(Instant::now() < deadline, "our client/view never saw both nodes: called {called:?}, view {viewed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // SIGKILL: no deregistration, no goodbye.
    let mut our_kill = Instant::now();
    for (i, pair) in pairs.iter_mut().enumerate() {
        if let Some(a) = pair.a.take() {
            a.kill();
        }
        pair.kill_ms = unix_ms();
        if i == 0 {
            our_kill = Instant::now();
        }
    }

    // Watch until every go-micro view dropped the dead node and every go-micro client has
    // made 30 calls in a row on the survivor (go-micro keeps a cached node for its 1 min TTL).
    let deadline = Instant::now() + Duration::from_secs(110);
    loop {
        for o in clients.iter_mut().chain(views.iter_mut()) {
            o.lines.extend(o.proc.drain());
        }
        let clients_done = clients.iter().all(|o| {
            let p = &pairs[o.pair];
            after_kill(&o.lines, p.kill_ms, &p.b_id).trailing_ok >= 30
        });
        let views_done =
            views.iter().all(|o| view_gone_s(&o.lines, pairs[o.pair].kill_ms, &pairs[o.pair].b_id).is_some());
        let ours_done =
            our_view.lock().unwrap().iter().any(|(t, v)| *t >= our_kill && *v == BTreeSet::from([b_id.clone()]));
        if clients_done && views_done && ours_done {
            break;
        }
        if Instant::now() > deadline {
            break; // the assertions below say what is missing
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = caller.await;
    let _ = viewer.await;

    // The figures, then the assertions.
    let mut report = Vec::new();
    let mut results: BTreeMap<(&str, usize), AfterKill> = BTreeMap::new();
    for o in &clients {
        let p = &pairs[o.pair];
        let r = after_kill(&o.lines, p.kill_ms, &p.b_id);
        report.push(format!(
            "{} client → {} pair: {} calls after the kill, {} failed (last at +{:.1} s), {} answered by the dead node, slowest {:.0} ms, errors {:?}",
            o.gm, p.label, r.calls, r.failed, r.last_failure_s.unwrap_or(0.0), r.elsewhere, r.slowest_ms, r.errors
        ));
        results.insert((o.gm, o.pair), r);
    }
    let mut gone: BTreeMap<(&str, usize), Option<f64>> = BTreeMap::new();
    for o in &views {
        let p = &pairs[o.pair];
        let g = view_gone_s(&o.lines, p.kill_ms, &p.b_id);
        report.push(format!("{} registry cache view of the {} pair: dead node gone after {g:?} s", o.gm, p.label));
        gone.insert((o.gm, o.pair), g);
    }
    let ours: Vec<(Instant, Result<String, Error>)> = std::mem::take(&mut *our_calls.lock().unwrap());
    let ours_after: Vec<&Result<String, Error>> = ours.iter().filter(|(t, _)| *t >= our_kill).map(|(_, r)| r).collect();
    let ours_failed: Vec<&Error> = ours_after.iter().filter_map(|r| r.as_ref().err()).collect();
    let ours_elsewhere = ours_after.iter().filter(|r| matches!(r, Ok(n) if *n != b_id)).count();
    let our_gone = our_view
        .lock()
        .unwrap()
        .iter()
        .find(|(t, v)| *t >= our_kill && *v == BTreeSet::from([b_id.clone()]))
        .map(|(t, _)| t.duration_since(our_kill).as_secs_f64());
    report.push(format!(
        "our client → rust pair: {} calls after the kill, {} failed, {} answered by the dead node; our cache view: dead node gone after {our_gone:?} s",
        ours_after.len(),
        ours_failed.len(),
        ours_elsewhere
    ));
    let report = report.join("\n");
    eprintln!("SIGKILL of one of two nodes:\n{report}");

    for ((gm, p), r) in &results {
        let label = &pairs[*p].label;
        // What go-micro's client does after a kill, for Go and Rust nodes alike: calls the
        // cache still routes to the dead node fail at once with a 500 (connection refused,
        // not retried), the others reach the survivor, and the failures stop when the
        // cache's one-minute TTL runs out.
        assert_eq!(r.elsewhere, 0, "{gm} → {label}: a call after the kill was answered by the dead node\n{report}");
        assert!(r.codes.iter().all(|c| *c == 500), "{gm} → {label}: unexpected failure codes {:?}\n{report}", r.codes);
        assert!(r.slowest_ms < 5000.0, "{gm} → {label}: a call hung for {} ms\n{report}", r.slowest_ms);
        assert!(r.trailing_ok >= 30, "{gm} → {label}: calls still fail 110 s after the kill\n{report}");
        // How long the failures last is go-micro's client cache (a minute's TTL, then its
        // refresh): about 60 s unloaded, 102 s for Go and Rust pairs alike with two busy loops
        // on this 2-core machine. So it is compared with go-micro's own pair below, not with
        // a fixed bound.
    }
    for (i, gm) in GO_VERSIONS.into_iter().enumerate() {
        // Ours no worse than go-micro's own nodes, under the same go-micro client.
        let (r, g) = (&results[&(gm, 0)], &results[&(gm, i + 1)]);
        assert!(
            r.failed as f64 <= g.failed as f64 * 1.25 + 15.0,
            "{gm}: more failed calls to our pair than to go-micro's\n{report}"
        );
        assert!(
            r.last_failure_s.unwrap_or(0.0) <= g.last_failure_s.unwrap_or(0.0) + 10.0,
            "{gm}: failures to our pair lasted longer than to go-micro's\n{report}"
        );
        let (rg, gg) = (gone[&(gm, 0)], gone[&(gm, i + 1)]);
        let (Some(rg), Some(gg)) = (rg, gg) else {
            panic!("{gm}: a go-micro cache view kept the dead node for 110 s\n{report}")
        };
        assert!(rg <= gg + 10.0, "{gm}: our dead node stayed longer in go-micro's view than go-micro's own\n{report}");
    }
    // Where we are in charge: every call our client started after the kill reached the
    // survivor, and our long-lived view lost the dead node within its 10 s refresh (bound
    // 15 s: refresh + one 100 ms lookup + the 200 ms poll).
    assert!(ours_after.len() >= 100, "our client made only {} calls after the kill\n{report}", ours_after.len());
    assert!(ours_failed.is_empty() && ours_elsewhere == 0, "our client after the kill: {ours_failed:?}\n{report}");
    assert!(our_gone.is_some_and(|s| s <= 15.0), "our cache view kept the dead node {a_id}\n{report}");

    // And fresh lookups, ours and go-micro's, find only the survivor.
    let nodes: Vec<String> =
        reg.get_service(&name).await.unwrap().iter().flat_map(|s| s.nodes.iter().map(|n| n.id.clone())).collect();
    assert_eq!(nodes, std::slice::from_ref(&b_id), "a fresh lookup of ours still finds the dead node {a_id}");
    for gm in GO_VERSIONS {
        let out = go_run(gm, strs(&["get", "--service", &name])).await;
        let ids: Vec<&str> = out[0][0]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [b_id.as_str()], "{gm}: a fresh go-micro lookup still finds the dead node");
    }
}
