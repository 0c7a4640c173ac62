//! The built `micro` binary against running services, over mDNS inside `scripts/netns.sh`:
//! a Rust service in this test process (micro) and real go-micro v5.30.0 and v6.10.0 ones
//! (`gm5`, `gm6`).
//! Every command, its output text and its exit code.

use micro::broker::Message;
use micro::{Error, Service};
use micro_interop::{go_bin, in_netns, Proc};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `micro ARGS…` → (exit code, stdout, stderr), stdin empty.
fn micro(args: &[&str]) -> (i32, String, String) {
    micro_in(args, "")
}

/// `micro ARGS…` with `input` on stdin.
fn micro_in(args: &[&str], input: &str) -> (i32, String, String) {
    micro_run(args, input, &[])
}

/// `micro ARGS…` with the environment variables `env` set (go-micro's `MICRO_*` names).
fn micro_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    micro_run(args, "", env)
}

fn micro_run(args: &[&str], input: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(args)
        .env_remove("MICRO_REGISTRY")
        .env_remove("MICRO_LOG_LEVEL")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start micro");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("micro output");
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    eprintln!("$ {}micro {}\n-> {:?}\n{o}{e}", env.concat(), args.join(" "), out.status.code());
    (out.status.code().unwrap_or(-1), o, e)
}

/// Kills a background `micro` on drop.
struct Bg(Child);
impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    name: String,
}
#[derive(Deserialize)]
struct Slow {
    #[serde(default)]
    ms: u64,
}
#[derive(Serialize)]
struct Reply {
    message: String,
}

/// Our greeter on mDNS; every message published on `topic` reaches the returned receiver.
async fn rust_greeter(name: &str, topic: &str) -> (Service, mpsc::Receiver<Message>) {
    let svc = Service::builder(name).address("127.0.0.1:0").registry_url("mdns").build().await.expect("service");
    let s = svc.server();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    s.subscribe(topic, Default::default(), move |ev: micro::broker::Event| {
        let _ = tx.lock().map(|tx| tx.send(ev.message));
        async { Ok(()) }
    });
    s.handle_json("Greeter.Hello", |r: Hello, _| async move { Ok(Reply { message: format!("Hello {}", r.name) }) });
    s.handle_json("Greeter.Slow", |r: Slow, _| async move {
        tokio::time::sleep(Duration::from_millis(r.ms)).await;
        Ok(Reply { message: "slept".into() })
    });
    s.handle_json("Greeter.Meta", |_: serde_json::Value, req| async move {
        Ok(Reply { message: req.header.get("X-A").cloned().unwrap_or_default() })
    });
    s.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let h: Hello = serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("t", e.to_string()))?;
            let out = serde_json::to_vec(&Reply { message: format!("Hello {}", h.name) })
                .map_err(|e| Error::internal("t", e.to_string()))?;
            stream.send(out).await?;
        }
        Ok(())
    });
    svc.start().await.expect("start");
    (svc, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_a_rust_service() {
    if !in_netns("every_command_against_a_rust_service") {
        return;
    }
    let name = format!("cli.rs.{}", std::process::id());
    let topic = format!("cli.rs.topic.{}", std::process::id());
    let (svc, messages) = rust_greeter(&name, &topic).await;
    let addr = svc.server().advertised().expect("advertised");
    let id = svc.server().id().to_string();
    let n = name.clone();
    tokio::task::spawn_blocking(move || {
        rust_checks(&n, &id, &addr);
        publish_to_rust_subscriber(&topic, &messages);
        retries_and_env(&n, &addr);
    })
    .await
    .expect("checks");
    svc.stop().await.expect("stop");
}

/// `micro publish` reaches a subscriber of ours (over the http broker, found in mDNS) with
/// the exact body, the content type, the topic and the metadata.
fn publish_to_rust_subscriber(topic: &str, messages: &mpsc::Receiver<Message>) {
    let (c, o, _) = micro(&["publish", "--metadata", "X-From=cli", topic, r#"{"b": [1, 2]}"#]);
    assert_eq!((c, o.as_str()), (0, "ok\n"));
    let m = messages.recv_timeout(Duration::from_secs(10)).expect("the Rust subscriber got the message");
    assert_eq!(&m.body[..], br#"{"b": [1, 2]}"#);
    assert_eq!(m.header.get("Content-Type").map(String::as_str), Some("application/json"), "{:?}", m.header);
    assert_eq!(m.header.get("Micro-Topic").map(String::as_str), Some(topic), "{:?}", m.header);
    assert_eq!(m.header.get("X-From").map(String::as_str), Some("cli"), "{:?}", m.header);
    assert!(messages.recv_timeout(Duration::from_millis(500)).is_err(), "one publish, one delivery");
}

/// `--client_retries` and go-micro's env names. A service registered with three nodes that
/// refuse connections and one live node: with no retries most calls fail; with three every
/// call reaches the live node, because a refused node is never tried twice in one call.
fn retries_and_env(name: &str, live: &str) {
    let svc = format!("cli.retry.{}", std::process::id());
    let node =
        |i: usize, addr: &str| format!(r#"{{"id":"{svc}-{i}","address":"{addr}","metadata":{{"protocol":"mucp"}}}}"#);
    let nodes = [node(1, "127.0.0.1:1"), node(2, "127.0.0.1:2"), node(3, "127.0.0.1:3"), node(4, live)];
    let json = format!(r#"{{"name":"{svc}","version":"latest","nodes":[{}]}}"#, nodes.join(","));
    let _holder = hold_registration(&json);

    let no_retries: Vec<i32> =
        (0..8).map(|_| micro(&["--client_retries", "0", "call", &svc, "Greeter.Hello", r#"{"name":"n"}"#]).0).collect();
    assert!(no_retries.contains(&1), "with --client_retries 0 a refused node fails the call: {no_retries:?}");
    for _ in 0..6 {
        let (c, o, e) = micro(&["--client_retries", "3", "call", &svc, "Greeter.Hello", r#"{"name":"r"}"#]);
        assert_eq!((c, o.contains("Hello r")), (0, true), "{e}");
    }
    let (c, o, e) = micro_env(&["call", &svc, "Greeter.Hello", r#"{"name":"e"}"#], &[("MICRO_CLIENT_RETRIES", "3")]);
    assert_eq!((c, o.contains("Hello e")), (0, true), "MICRO_CLIENT_RETRIES=3: {e}");

    // The registry from MICRO_REGISTRY: an empty memory registry lists nothing.
    let (c, o, _) = micro_env(&["list", "services"], &[("MICRO_REGISTRY", "memory")]);
    assert_eq!((c, o.as_str()), (0, ""));
    let (c, _, e) = micro_env(&["services"], &[("MICRO_REGISTRY", "zookeeper")]);
    assert_eq!(c, 2);
    assert!(e.contains("unknown registry") && e.contains("MICRO_REGISTRY"), "{e}");
    let (c, _, e) =
        micro_env(&["call", name, "Greeter.Slow", r#"{"ms":2000}"#], &[("MICRO_CLIENT_REQUEST_TIMEOUT", "300ms")]);
    assert_eq!(c, 1);
    assert!(e.contains("\"code\":408") && e.contains("300ms"), "MICRO_CLIENT_REQUEST_TIMEOUT: {e}");

    // -o json and -o raw for the listing.
    let (c, o, _) = micro(&["-o", "json", "list", "services"]);
    assert_eq!(c, 0);
    let listed: Vec<String> = serde_json::from_str(&o).expect("a JSON array of names");
    assert!(listed.iter().any(|n| n == name) && listed.contains(&svc), "{o}");
    let (c, o, _) = micro(&["-o", "raw", "list", "services"]);
    assert_eq!((c, o.starts_with("[\"") && !o.contains('\t')), (0, true), "{o}");
}

/// Runs `micro register service JSON` in the background until dropped.
fn hold_registration(json: &str) -> Bg {
    let mut child = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["register", "service", json])
        .env_remove("MICRO_REGISTRY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start micro register");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("read");
    assert_eq!(first, "ok\n");
    Bg(child)
}

fn rust_checks(name: &str, id: &str, addr: &str) {
    let (c, o, _) = micro(&["list", "services"]);
    assert_eq!(c, 0);
    assert!(o.lines().any(|l| l == name), "{o}");
    let (c, o2, _) = micro(&["services"]);
    assert_eq!((c, o2.lines().any(|l| l == name)), (0, true));

    let (c, o, _) = micro(&["get", "service", name]);
    assert_eq!(c, 0);
    assert!(
        o.starts_with(&format!("service  {name}\n\nversion latest\n\nID\tAddress\tMetadata\n{id}\t{addr}\tbroker=")),
        "{o}"
    );
    assert!(o.contains("\nEndpoint: Greeter.Stream\n\nMetadata: stream=true\n"), "{o}");
    let (c, o, _) = micro(&["-o", "json", "get", "service", name]);
    assert_eq!(c, 0);
    let v: serde_json::Value = serde_json::from_str(&o).expect("json");
    assert_eq!(v[0]["nodes"][0]["id"], id);

    let (c, o, _) = micro(&["call", name, "Greeter.Hello", r#"{"name": "John"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\n\t\"message\": \"Hello John\"\n}\n"));
    let (c, o, _) = micro(&["query", name, "Greeter.Hello", r#"{"name":"#, r#""Q"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\n\t\"message\": \"Hello Q\"\n}\n"));
    let (c, o, _) = micro(&["call", "-o", "raw", name, "Greeter.Hello", r#"{"name":"r"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\"message\":\"Hello r\"}\n"));
    let (c, o, _) = micro(&["--address", addr, "call", "whatever", "Greeter.Hello", r#"{"name":"d"}"#]);
    assert_eq!((c, o.contains("Hello d")), (0, true));
    let (c, o, _) = micro(&["call", "--metadata", "X-A=1=2", name, "Greeter.Meta"]);
    assert_eq!((c, o.contains("\"1=2\"")), (0, true), "{o}");

    // Errors a person can act on, with the right exit codes.
    let (c, _, e) = micro(&["call", name, "Greeter.Hello", r#"{"name" "x"}"#]);
    assert_eq!(c, 2);
    assert!(e.contains("line 1 column 9") && e.contains("        ^"), "{e}");
    let (c, _, e) = micro(&["call", "cli.nobody", "X.Y"]);
    assert_eq!(c, 1);
    assert!(e.contains("not found in the mdns registry") && e.contains("--registry"), "{e}");
    let (c, _, e) = micro(&["--client_request_timeout", "300ms", "call", name, "Greeter.Slow", r#"{"ms":2000}"#]);
    assert_eq!(c, 1);
    assert!(e.contains("\"code\":408") && e.contains(id) && e.contains("300ms"), "{e}");
    let (c, _, e) = micro(&["--registry", "zookeeper", "services"]);
    assert_eq!(c, 2);
    assert!(e.contains("unknown registry"), "{e}");
    let (c, _, e) = micro(&["get", "service", "cli.nobody"]);
    assert_eq!(c, 1);
    assert!(e.contains("service cli.nobody not found") && e.contains("mdns registry"), "{e}");
    assert_eq!(micro(&["frobnicate"]).0, 2);
    assert_eq!(micro(&["call", name]).0, 2);

    let (c, o, _) = micro(&["stream", name, "Greeter.Stream", r#"{"name":"a"}"#, r#"{"name":"b"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\n\t\"message\": \"Hello a\"\n}\n{\n\t\"message\": \"Hello b\"\n}\n"));
    let (c, o, _) = micro_in(&["stream", "-o", "raw", name, "Greeter.Stream"], "{\"name\":\"x\"}\n{\"name\":\"y\"}\n");
    assert_eq!((c, o.as_str()), (0, "{\"message\":\"Hello x\"}\n{\"message\":\"Hello y\"}\n"));

    let (c, o, _) = micro(&["health", name]);
    assert_eq!(c, 0);
    assert_eq!(
        o,
        format!("service  {name}\n\nversion latest\n\nnode\t\taddress:port\t\tstatus\n{id}\t\t{addr}\t\tok\n")
    );
    assert_eq!(micro(&["health", "check", name]).0, 0);
    let (c, o, _) = micro(&["--address", addr, "health", name]);
    assert_eq!((c, o.as_str()), (0, "ok\n"));

    // Debug.Stats is served by the library itself: go-micro's fields, gc 0 (no collector).
    let row = stats_row(name, id, addr);
    assert_eq!(row[4], "0s", "{row:?}");
    // Ours counts a call to an unknown endpoint too (go-micro's router refuses it before
    // any handler wrapper sees it).
    stats_count(name, ["Greeter.Hello", r#"{"name":"s"}"#], ["Greeter.NoSuchMethod", "{}"]);

    let (c, o, _) = micro(&["--version"]);
    assert_eq!((c, o.as_str()), (0, concat!("micro version ", env!("CARGO_PKG_VERSION"), "\n")));
    let (c, o, _) = micro(&["completion", "bash"]);
    assert_eq!((c, o.contains("_micro")), (0, true));
    let (c, o, _) = micro(&["call", "--help"]);
    assert_eq!((c, o.contains("--client_request_timeout")), (0, true));
}

/// The library's warnings reach stderr (here: the one about `MICRO_TLS_INSECURE`), at the
/// level of go-micro's `MICRO_LOG_LEVEL` or of `RUST_LOG`; `error` hides them.
#[test]
fn library_warnings_on_stderr_by_log_level() {
    let args = ["--registry", "memory", "--address", "127.0.0.1:1", "call", "foo", "Foo.Bar", "{}"];
    let warning = "WARN micro::transport::tls: tls: server certificates are not verified";
    let insecure = ("MICRO_TLS_INSECURE", "true");
    let (c, _, e) = micro_env(&args, &[insecure]);
    assert_eq!((c, e.contains(warning)), (1, true), "{e}");
    let (_, _, e) = micro_env(&args, &[insecure, ("MICRO_LOG_LEVEL", "warn")]);
    assert!(e.contains(warning), "{e}");
    for quiet in [("MICRO_LOG_LEVEL", "error"), ("MICRO_LOG_LEVEL", "fatal"), ("RUST_LOG", "error")] {
        let (c, _, e) = micro_env(&args, &[insecure, quiet]);
        assert_eq!((c, e.contains("WARN")), (1, false), "{quiet:?}: {e}");
        assert!(e.contains("error calling foo.Foo.Bar"), "{e}");
    }
    // MICRO_LOG_LEVEL wins over RUST_LOG; a name it does not know is said, and ignored.
    let (_, _, e) = micro_env(&args, &[insecure, ("MICRO_LOG_LEVEL", "error"), ("RUST_LOG", "debug")]);
    assert!(!e.contains("WARN"), "{e}");
    let (_, _, e) = micro_env(&args, &[insecure, ("MICRO_LOG_LEVEL", "loud")]);
    assert!(e.contains("MICRO_LOG_LEVEL=\"loud\" is not one of trace") && e.contains(warning), "{e}");
}

/// `micro stats NAME` has one row, for node `id` at `addr`, with every field of go-micro's
/// table filled in: [started, uptime, memory, threads, gc].
fn stats_row(name: &str, id: &str, addr: &str) -> Vec<String> {
    let (c, o, e) = micro(&["stats", name]);
    assert_eq!(c, 0, "{e}");
    assert!(o.contains("\nnode\t\taddress:port\t\tstarted\tuptime\tmemory\tthreads\tgc\n"), "{o}");
    let last = o.lines().last().unwrap_or_default();
    let prefix = format!("{id}\t\t{addr}\t\t");
    assert!(last.starts_with(&prefix), "{o}");
    let row: Vec<String> = last[prefix.len()..].split('\t').map(str::to_string).collect();
    assert_eq!(row.len(), 5, "{o}");
    assert!(row[0].split(' ').count() == 3 && row[0].contains(':'), "started as go-micro's clock: {o}");
    assert!(row[1].ends_with('s'), "uptime as a Go duration: {o}");
    assert!(row[2].ends_with("mb") && row[2] != "0.00mb", "memory: {o}");
    assert!(row[3].parse::<u64>().is_ok_and(|t| t > 0), "threads: {o}");
    row
}

/// (requests, errors) of the only node of `name`, from `micro -o json stats`.
fn stats_counts(name: &str) -> (u64, u64) {
    let (c, o, e) = micro(&["-o", "json", "stats", name]);
    assert_eq!(c, 0, "{e}");
    let rows: serde_json::Value = serde_json::from_str(&o).expect("stats -o json is JSON");
    let s = &rows[0]["stats"];
    (s["requests"].as_u64().expect("requests"), s["errors"].as_u64().expect("errors"))
}

/// The requests and errors of Debug.Stats grow by exactly the calls made: one good call and
/// one failing call (`[endpoint, body]` each), and the Debug.Stats call before them.
fn stats_count(name: &str, good: [&str; 2], failing: [&str; 2]) {
    let (r0, e0) = stats_counts(name);
    assert_eq!(micro(&["call", name, good[0], good[1]]).0, 0);
    assert_eq!(micro(&["call", name, failing[0], failing[1]]).0, 1);
    let (r1, e1) = stats_counts(name);
    assert_eq!((r1 - r0, e1 - e0), (3, 1), "requests {r0} -> {r1}, errors {e0} -> {e1}");
}

/// `micro stats` against go-micro v5 serving go-micro's own Debug handler (gm5 --debug, with
/// its request counter): the same table and fields as against our own services.
#[test]
fn stats_against_go_micro_v5_debug_handler() {
    if !in_netns("stats_against_go_micro_v5_debug_handler") {
        return;
    }
    let name = format!("cli.go.stats.{}", std::process::id());
    let server = Proc::spawn(&go_bin("gm5"), &["serve", "--name", &name, "--debug"]);
    let ready = server.ready();
    let (id, addr) = (ready["id"].as_str().unwrap_or_default(), ready["address"].as_str().unwrap_or_default());
    stats_row(&name, id, addr);
    stats_count(&name, ["Greeter.Hello", r#"{"name":"s"}"#], ["Greeter.Fail", r#"{"code":418,"detail":"teapot"}"#]);
    let (c, o, _) = micro(&["health", &name]);
    assert!(c == 0 && o.ends_with(&format!("{id}\t\t{addr}\t\tok\n")), "{o}");
    health_sidecar(&name, addr);
}

#[test]
fn every_command_against_go_micro() {
    if !in_netns("every_command_against_go_micro") {
        return;
    }
    for gm in ["gm5", "gm6"] {
        every_command_against(gm);
    }
}

/// Every command against one go-micro peer (`gm5`, `gm6`): list, get, call, query,
/// metadata, errors, timeouts, stream, health, stats, publish.
fn every_command_against(gm: &str) {
    let name = format!("cli.go.{gm}.{}", std::process::id());
    let go = go_bin(gm);
    let server = Proc::spawn(&go, &["serve", "--name", &name]);
    let ready = server.ready();
    let (id, addr) = (
        ready["id"].as_str().unwrap_or_default().to_string(),
        ready["address"].as_str().unwrap_or_default().to_string(),
    );

    let (c, o, _) = micro(&["list", "services"]);
    assert_eq!((c, o.lines().any(|l| l == name)), (0, true), "{o}");
    let (c, o, _) = micro(&["get", "service", &name]);
    assert_eq!(c, 0);
    assert!(
        o.contains(&format!("{id}\t{addr}\tbroker=http,protocol=mucp,registry=mdns,server=mucp,transport=http\n")),
        "{o}"
    );
    assert!(o.contains("\nEndpoint: Greeter.Fail\n\nRequest: {\n\tcode int32\n\tdetail string\n}\n"), "{o}");

    let (c, o, _) = micro(&["call", &name, "Greeter.Hello", r#"{"name": "Go"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\n\t\"message\": \"Hello Go\"\n}\n"));
    let (c, o, _) = micro(&["query", &name, "Greeter.Hello", r#"{"name":"#, r#""Q"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\n\t\"message\": \"Hello Q\"\n}\n"));
    let (c, o, _) = micro(&["--address", &addr, "-o", "raw", "call", "whatever", "Greeter.Whoami", "{}"]);
    assert_eq!((c, o), (0, format!("{{\"message\":\"{id}\"}}\n")));
    // --metadata reaches the Go handler's context (the harness echoes it for the name "md").
    let (c, o, _) = micro(&["--metadata", "X-A=1", "call", &name, "Greeter.Hello", r#"{"name":"md"}"#]);
    assert_eq!((c, o.contains("Hello md"), o.contains("\"X-A\": \"1\"")), (0, true, true), "{gm}: {o}");
    let (c, _, e) = micro(&["call", &name, "Greeter.Fail", r#"{"code":418,"detail":"teapot"}"#]);
    assert_eq!(c, 1);
    assert!(
        e.starts_with(&format!(
            "error calling {name}.Greeter.Fail: {{\"id\":\"go.greeter\",\"code\":418,\"detail\":\"teapot\""
        )),
        "{e}"
    );
    let (c, _, e) = micro(&["--client_request_timeout", "300ms", "call", &name, "Greeter.Slow", r#"{"ms":1500}"#]);
    assert_eq!(c, 1);
    assert!(e.contains("408") && e.contains(&id), "{e}");

    let (c, o, _) = micro(&["stream", "-o", "raw", &name, "Greeter.Stream", r#"{"name":"a"}"#, r#"{"name":"b"}"#]);
    assert_eq!((c, o.as_str()), (0, "{\"message\":\"Hello a\"}\n{\"message\":\"Hello b\"}\n"));

    let (c, o, _) = micro(&["health", &name]);
    assert_eq!(c, 0);
    assert!(o.ends_with(&format!("{id}\t\t{addr}\t\treachable (does not serve Debug.Health)\n")), "{o}");
    let (c, o, e) = micro(&["stats", &name]);
    assert_eq!(c, 1);
    assert!(o.ends_with(&format!("{id}\t\t{addr}\t\t\t\t\t0\t\n")), "{o}");
    assert!(e.contains("does not serve Debug.Stats") && e.contains("no node answered Debug.Stats"), "{e}");

    // publish → a go-micro broker subscriber gets the exact body and the metadata.
    let topic = format!("cli.topic.{gm}.{}", std::process::id());
    let sub = Proc::spawn(&go, &["subscribe", "--topic", &topic]);
    sub.ready();
    let (c, o, _) = micro(&["publish", "--metadata", "X-From=cli", &topic, r#"{"a": 1}"#]);
    assert_eq!((c, o.as_str()), (0, "ok\n"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let msg = loop {
        if let Some(v) = sub.next(Duration::from_millis(200)) {
            if v["event"] == "message" {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "no message reached the go-micro subscriber");
    };
    assert_eq!(msg["body"], "eyJhIjogMX0="); // base64 of {"a": 1}
    assert_eq!(msg["header"]["Content-Type"], "application/json");
    assert_eq!(msg["header"]["X-From"], "cli");
    let (c, _, e) = micro(&["publish", &topic, "{oops"]);
    assert_eq!(c, 2);
    assert!(e.contains("the message is not valid JSON"), "{e}");
    drop(sub);
    server.terminate();
}

fn service_json(name: &str) -> String {
    format!(
        r#"{{"name":"{name}","version":"1.0","nodes":[{{"id":"{name}-1","address":"127.0.0.1:9","metadata":{{"zone":"a"}}}}]}}"#
    )
}

#[test]
fn register_then_list_get_and_deregister_over_mdns() {
    if !in_netns("register_then_list_get_and_deregister_over_mdns") {
        return;
    }
    let name = format!("cli.reg.{}", std::process::id());
    let json = service_json(&name);
    let mut holder = hold_registration(&json);

    let (c, o, _) = micro(&["list", "services"]);
    assert_eq!((c, o.lines().any(|l| l == name)), (0, true), "{o}");
    let (c, o, _) = micro(&["get", "service", &name]);
    assert_eq!(c, 0);
    assert_eq!(
        o,
        format!("service  {name}\n\nversion 1.0\n\nID\tAddress\tMetadata\n{name}-1\t127.0.0.1:9\tzone=a\n\n")
    );
    // go-micro sees it too.
    for gm in ["gm5", "gm6"] {
        let got = micro_interop::run(&go_bin(gm), &["get", "--service", &name]);
        assert_eq!(got[0][0]["nodes"][0]["id"], format!("{name}-1"), "{gm}: {got:?}");
    }
    // The node does not listen: health says so, exit 1.
    let (c, o, _) = micro(&["health", &name]);
    assert_eq!(c, 1);
    assert!(o.contains("unreachable"), "{o}");

    // Deregister from another process: the goodbye ends the holder, which exits 0.
    let (c, o, _) = micro(&["deregister", "service", &json]);
    assert_eq!((c, o.as_str()), (0, "ok\n"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Ok(Some(st)) = holder.0.try_wait() {
            break st;
        }
        assert!(Instant::now() < deadline, "micro register did not end after the goodbye");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let (c, o, _) = micro(&["list", "services"]);
    assert_eq!((c, o.lines().any(|l| l == name)), (0, false), "{o}");
    let (c, _, _) = micro(&["register", "service", r#"{"name":"x"}"#]);
    assert_eq!(c, 2);
}

#[test]
fn interactive_session() {
    if !in_netns("interactive_session") {
        return;
    }
    let name = format!("cli.sh.{}", std::process::id());
    let json = service_json(&name);
    let live = format!("cli.sh.go.{}", std::process::id());
    let server = Proc::spawn(&go_bin("gm5"), &["serve", "--name", &live]);
    server.ready();
    let script = format!(
        "help\nregister service {json}\nls services\nget {name}\nderegister service {json}\nservices\ncall cli.nobody X.Y\nbogus\n\
         call {live} Greeter.Hello '{{\"name\": \"shell\"}}'\nquit\n"
    );
    let (c, o, e) = micro_in(&["cli"], &script);
    server.terminate();
    assert!(o.contains("{\n\t\"message\": \"Hello shell\"\n}\n"), "a live call from the prompt: {o}");
    assert_eq!(c, 1, "two commands failed");
    assert!(o.starts_with("Commands:\n"), "{o}");
    assert!(o.lines().any(|l| l.starts_with("\tcall") && l.contains("Call a service")), "{o}");
    let after_help = &o[o.find("\nok\n").expect("register ok")..];
    let parts: Vec<&str> = after_help.split("ok\n").collect();
    assert!(parts[1].lines().any(|l| l == name), "listed after register: {o}");
    assert!(parts[1].contains(&format!("service  {name}\n\nversion 1.0\n")), "{o}");
    assert!(!parts[2].lines().any(|l| l == name), "gone after deregister: {o}");
    assert!(e.contains("not found in the mdns registry"), "{e}");
    assert!(e.contains("unknown command \"bogus\""), "{e}");
}

/// On a terminal `micro cli` is a line editor: the up arrow recalls the last command, which
/// runs again, and the history outlives the session (`~/.micro_history`). The terminal is
/// a pseudo-terminal from util-linux's `script`; each key goes in once the prompt is shown.
/// A publish nobody subscribes to is a "not found" with a hint that fits publish (start a
/// subscriber; where we looked), never `--address`, which applies to calls only.
#[test]
fn publish_with_no_subscriber_hints_at_subscribers_not_address() {
    let (c, o, e) = micro(&["--registry", "memory", "publish", "cli.nobody", "{}"]);
    assert_eq!((c, o.as_str()), (1, ""), "{e}");
    assert!(e.contains("error publishing to cli.nobody: nobody subscribes through the http broker"), "{e}");
    assert!(e.contains("hint: start a subscriber of cli.nobody first"), "{e}");
    assert!(e.contains("in the memory registry"), "{e}");
    assert!(!e.contains("--address"), "--address does not apply to publish: {e}");
}

#[test]
// clippy cannot follow the try_wait loop below: every way out of it has waited for the child.
#[allow(clippy::zombie_processes)]
fn interactive_line_editor_recalls_history() {
    let home = std::env::temp_dir().join(format!("micro-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("home");
    let cmd = format!("{} --registry memory cli", env!("CARGO_BIN_EXE_micro"));
    let mut child = Command::new("script")
        .args(["-qfc", &cmd, "/dev/null"])
        .env("HOME", &home)
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux script runs micro cli on a pseudo-terminal");
    let mut stdin = child.stdin.take().expect("stdin");
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let out = out.clone();
        let mut stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().expect("output").push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let prompts = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.lock().expect("output").matches("micro> ").count() < n {
            assert!(Instant::now() < deadline, "prompt {n} never came: {:?}", out.lock().expect("output"));
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut key = |k: &[u8]| {
        stdin.write_all(k).expect("key");
        stdin.flush().expect("flush");
    };
    prompts(1);
    key(b"help\r");
    prompts(2);
    key(b"\x1b[A\r"); // up arrow, enter: `help` again
    prompts(3);
    // Ctrl-D leaves. A key that reaches the editor between two reads can be lost (seen once
    // on a loaded machine: the session then waited forever), so Ctrl-D is sent again each
    // second until the session ends; a second one at an empty prompt would leave as well.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = 'ended: loop {
        let _ = stdin.write_all(b"\x04").and_then(|()| stdin.flush());
        let again = Instant::now() + Duration::from_secs(1);
        while Instant::now() < again {
            if let Some(status) = child.try_wait().expect("script") {
                break 'ended status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Ctrl-D did not end the session: {:?}", out.lock().expect("output"));
        }
    };
    reader.join().expect("reader");
    let text = out.lock().expect("output").replace('\r', "");
    assert!(status.success(), "{text}");
    assert_eq!(text.matches("Commands:\n").count(), 2, "the recalled line ran: {text}");
    let history = std::fs::read_to_string(home.join(".micro_history")).expect("history file");
    assert!(history.lines().any(|l| l == "help"), "{history}");
    let _ = std::fs::remove_dir_all(&home);
}

/// `micro --broker nats publish` reaches go-micro subscribers on the same nats-server (gm5's
/// and gm6's NATS broker) with the exact body and the metadata. Needs Debian's nats-server (the suite
/// installs it); skipped without one unless `MICRO_REQUIRE_NATS=1`.
#[test]
fn publish_over_nats_reaches_go_micro() {
    if !in_netns("publish_over_nats_reaches_go_micro") {
        return;
    }
    let bin = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(bin) = bin else {
        assert!(std::env::var("MICRO_REQUIRE_NATS").as_deref() != Ok("1"), "MICRO_REQUIRE_NATS=1 but no nats-server");
        eprintln!("skipped: no nats-server");
        return;
    };
    // A port found free can be taken before nats-server binds it (the server then exits): it is
    // started again on a new port, up to three times.
    let (nats, port) = (1..=3)
        .find_map(|attempt| {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
            let mut child = Command::new(bin)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts");
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(attempt < 3, "nats-server exited ({status}) before listening on {port}, three times");
                    eprintln!("nats-server exited ({status}) before listening on {port}: starting it again");
                    return None;
                }
                assert!(Instant::now() < deadline, "nats-server did not listen on {port} within 30 s");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some((Bg(child), port))
        })
        .expect("nats-server listens");
    let url = format!("nats://127.0.0.1:{port}");
    let topic = format!("cli.nats.{}", std::process::id());
    let subs: Vec<(&str, Proc)> = ["gm5", "gm6"]
        .into_iter()
        .map(|gm| {
            let p = Proc::spawn(
                &go_bin(gm),
                &["subscribe", "--topic", &topic, "--broker", "nats", "--broker-address", &url],
            );
            p.ready();
            (gm, p)
        })
        .collect();

    let (c, o, e) = micro(&[
        "--broker",
        "nats",
        "--broker_address",
        &url,
        "publish",
        "--metadata",
        "X-Via=nats",
        &topic,
        r#"{"n": 1}"#,
    ]);
    assert_eq!((c, o.as_str()), (0, "ok\n"), "{e}");
    for (gm, sub) in &subs {
        let deadline = Instant::now() + Duration::from_secs(10);
        let msg = loop {
            if let Some(v) = sub.next(Duration::from_millis(200)) {
                if v["event"] == "message" {
                    break v;
                }
            }
            assert!(Instant::now() < deadline, "no message reached the {gm} NATS subscriber");
        };
        assert_eq!(msg["body"], "eyJuIjogMX0=", "{gm}"); // base64 of {"n": 1}
        assert_eq!(msg["header"]["Content-Type"], "application/json", "{gm}");
        assert_eq!(msg["header"]["Micro-Topic"], topic.as_str(), "{gm}");
        assert_eq!(msg["header"]["X-Via"], "nats", "{gm}");
    }
    drop(subs);
    drop(nats);
}

/// `micro health --check_service NAME --check_address ADDR` (the classic health sidecar, spec
/// P16) on a free port: `GET /health` answers `OK` while the node's Debug.Health says ok, and
/// `NOT_HEALTHY` (500) for a node that does not answer; without --check_address it refuses
/// to start, saying what is missing.
fn health_sidecar(name: &str, addr: &str) {
    let get = |url_addr: &str| -> String {
        let mut s = std::net::TcpStream::connect(url_addr).expect("connect to micro health");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("request");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut s, &mut out).expect("answer");
        out
    };
    let start = |check: &str| -> (Bg, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_micro"))
            .args(["--address", "127.0.0.1:0", "health", "--check_service", name, "--check_address", check])
            .env_remove("MICRO_REGISTRY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start micro health");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("read");
        let listen = first.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default().to_string();
        assert!(!listen.is_empty(), "no address in {first:?}");
        (Bg(child), listen)
    };
    let (_up, at) = start(addr);
    let answer = get(&at);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("OK"), "{answer}");
    let (_down, at) = start("127.0.0.1:1");
    let answer = get(&at);
    assert!(answer.starts_with("HTTP/1.1 500") && answer.contains("NOT_HEALTHY"), "{answer}");
    let (c, _, e) = micro(&["health", "--check_service", name]);
    assert_eq!(c, 2, "{e}");
    assert!(e.contains("service address not set"), "{e}");
}
