//! Pub/sub between micro and real go-micro: over the HTTP broker (gm5 = v5.30.0 and
//! gm4 = v4.11.0, mDNS, inside `scripts/netns.sh`) and over NATS (gm5 only; gm4 has no
//! NATS broker) on Debian's `nats-server`. Go → Rust and Rust → Go, broadcast and queue
//! groups, headers and bodies byte for byte, and a NATS restart in the middle of a stream.

use base64::Engine;
use micro::broker::{self, Event, SubscribeOptions};
use micro::{PublishOptions, Service};
use micro_interop::{go_bin, in_netns, run, unique, Proc, GO_VERSIONS};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<Event>>>;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn recorder(seen: &Seen) -> broker::Handler {
    let seen = Arc::clone(seen);
    broker::handler(move |ev| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(ev);
            Ok(())
        }
    })
}

async fn settle(seen: &Seen, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    while seen.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    seen.lock().unwrap().len()
}

async fn go_run(bin: &'static str, args: Vec<String>) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&go_bin(bin), &args)
    })
    .await
    .expect("blocking task")
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Message lines a Go subscriber printed within `within`.
type GoProc = Arc<Mutex<Proc>>;

/// Starts a Go harness process and waits for its ready line.
fn go_ready(bin: &str, args: &[&str]) -> GoProc {
    let p = Proc::spawn(&go_bin(bin), args);
    p.ready();
    Arc::new(Mutex::new(p))
}

async fn go_messages(p: GoProc, n: usize, within: Duration) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let p = p.lock().unwrap();
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while Instant::now() < deadline && out.len() < n {
            if let Some(v) = p.next(Duration::from_millis(100)) {
                if v["event"] == "message" {
                    out.push(v);
                }
            }
        }
        // Anything extra (a duplicate) shows up in a short grace period.
        let grace = Instant::now() + Duration::from_millis(300);
        while Instant::now() < grace {
            if let Some(v) = p.next(Duration::from_millis(50)) {
                if v["event"] == "message" {
                    out.push(v);
                }
            }
        }
        out
    })
    .await
    .expect("blocking task")
}

async fn rust_service(name: &str, broker_url: &str) -> Service {
    Service::builder(name).address("127.0.0.1:0").broker_url(broker_url).build().await.expect("service builds")
}

/// Publishes until the broker finds a subscriber (an mDNS lookup can race the Go side's
/// first announcement; go-micro's own publisher answers `service not found` then too).
async fn publish_when_found(svc: &Service, topic: &str, body: &[u8], opts: &PublishOptions) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match svc.client().publish(topic, body.to_vec(), opts).await {
            Ok(()) => return,
            Err(e) if e.detail.contains("not found") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("publish to {topic}: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_go_to_rust_and_rust_to_go() {
    if !in_netns("http_broker_go_to_rust_and_rust_to_go") {
        return;
    }
    for gm in GO_VERSIONS {
        let topic = unique("ev", gm).replace('.', "-");
        // Go publisher → Rust subscribers: one broadcast, a queue group of two.
        let svc = rust_service(&unique("rsub", gm), "http").await;
        let (all, q1, q2): (Seen, Seen, Seen) = Default::default();
        let a2 = Arc::clone(&all);
        svc.server().subscribe(&topic, SubscribeOptions::default(), move |ev| {
            let a2 = Arc::clone(&a2);
            async move {
                a2.lock().unwrap().push(ev);
                Ok(())
            }
        });
        svc.start().await.unwrap();
        let other = rust_service(&unique("rq", gm), "http").await;
        other.start().await.unwrap();
        svc.broker().subscribe(&topic, SubscribeOptions::queue("workers"), recorder(&q1)).await.unwrap();
        other.broker().subscribe(&topic, SubscribeOptions::queue("workers"), recorder(&q2)).await.unwrap();

        let body = "{\"n\":1,\"s\":\"<&>\"}";
        let lines = go_run(
            gm,
            strs(&["publish", "--topic", &topic, "--body", body, "--count", "6", "--interval-ms", "150", "--metadata", "X-Trace=go", "--linger-ms", "1500"]),
        )
        .await;
        assert!(lines.iter().all(|l| l["ok"] == true), "{gm} publish: {lines:?}");
        assert_eq!(settle(&all, 6, Duration::from_secs(10)).await, 6, "{gm} → Rust broadcast");
        let groups = q1.lock().unwrap().len() + q2.lock().unwrap().len();
        assert_eq!(groups, 6, "{gm} → Rust queue group: one copy each");
        let ev = all.lock().unwrap()[0].clone();
        assert_eq!(ev.message.body, body.as_bytes(), "{gm}: body byte for byte");
        let h = &ev.message.header;
        assert_eq!(h.get("Micro-Topic").map(String::as_str), Some(topic.as_str()), "{gm}: {h:?}");
        assert_eq!(h.get("Content-Type").map(String::as_str), Some("application/json"));
        assert_eq!(h.get("Micro-ID").map(String::len), Some(36), "{gm}: Micro-ID spelt as go-micro: {h:?}");
        assert_eq!(h.get("X-Trace").map(String::as_str), Some("go"));

        // Rust publisher → Go subscribers: broker-level (exact bytes) and an RPC subscriber.
        let rtopic = format!("{topic}-r");
        let bsub = go_ready(gm, &["subscribe", "--topic", &rtopic]);
        let gsrv = go_ready(gm, &["serve", "--name", &unique("gsub", gm), "--subscribe", &rtopic]);
        let payload: Vec<u8> = vec![0, 1, 2, 0xff, b'\n', b'"'];
        let mut opts = PublishOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
        opts.metadata.insert("X-Trace".into(), "rust".into());
        publish_when_found(&svc, &rtopic, &payload, &opts).await;
        let got = go_messages(Arc::clone(&bsub), 1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1, "{gm} broker subscriber: {got:?}");
        assert_eq!(got[0]["body"], b64(&payload), "{gm}: bytes intact");
        assert_eq!(got[0]["topic"], rtopic);
        let gh = &got[0]["header"];
        assert_eq!(gh["Content-Type"], "application/octet-stream");
        assert_eq!(gh["Micro-Topic"], rtopic);
        assert_eq!(gh["X-Trace"], "rust");
        assert_eq!(gh["Micro-ID"].as_str().map(str::len), Some(36), "{gm}: {gh}");

        // A JSON message reaches go-micro's RPC subscriber (which decodes it first).
        let json = serde_json::json!({"hello": "go"});
        svc.client().publish_json(&rtopic, &json, &PublishOptions::default()).await.unwrap();
        let got = go_messages(Arc::clone(&gsrv), 1, Duration::from_secs(10)).await;
        assert!(!got.is_empty(), "{gm} RPC subscriber got nothing");
        assert_eq!(got[0]["body"], b64(b"{\"hello\":\"go\"}\n"), "{gm}: {got:?}");

        drop(bsub);
        drop(gsrv);
        svc.stop().await.unwrap();
        other.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_queue_group_shared_with_go() {
    if !in_netns("http_broker_queue_group_shared_with_go") {
        return;
    }
    // One queue group with a gm5, a gm4 and a Rust member: each message taken once.
    let topic = unique("work", "mixed").replace('.', "-");
    let g5 = go_ready("gm5", &["subscribe", "--topic", &topic, "--queue", "mixed"]);
    let g4 = go_ready("gm4", &["subscribe", "--topic", &topic, "--queue", "mixed"]);
    let svc = rust_service(&unique("rmix", "q"), "http").await;
    svc.start().await.unwrap();
    let mine: Seen = Default::default();
    svc.broker().subscribe(&topic, SubscribeOptions::queue("mixed"), recorder(&mine)).await.unwrap();
    let n = 12;
    let lines = go_run(
        "gm5",
        strs(&["publish", "--topic", &topic, "--body", "{}", "--count", &n.to_string(), "--interval-ms", "120", "--linger-ms", "1500"]),
    )
    .await;
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    let a = go_messages(Arc::clone(&g5), n, Duration::from_secs(3)).await.len();
    let b = go_messages(Arc::clone(&g4), n, Duration::from_millis(500)).await.len();
    let c = settle(&mine, 0, Duration::from_millis(100)).await;
    println!("queue group of gm5+gm4+Rust over the http broker: {a}+{b}+{c} of {n}");
    assert_eq!(a + b + c, n, "each message once across the group");
    svc.stop().await.unwrap();
}

fn nats_bin() -> Option<PathBuf> {
    let c = [std::env::var("NATS_SERVER").ok(), Some("/usr/sbin/nats-server".into()), Some("/usr/bin/nats-server".into())];
    let found = c.into_iter().flatten().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var("MICRO_REQUIRE_NATS").as_deref() != Ok("1"), "nats-server not found");
        eprintln!("skipping NATS interop: no nats-server (apt-get install nats-server)");
    }
    found
}

struct NatsServer(Child, u16);

impl NatsServer {
    fn start(bin: &PathBuf, port: u16) -> NatsServer {
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer(child, port)
    }
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.1)
    }
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_gm5_both_ways_queue_groups_and_restart() {
    if !in_netns("nats_gm5_both_ways_queue_groups_and_restart") {
        return;
    }
    let Some(bin) = nats_bin() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = NatsServer::start(&bin, port);
    let url = server.url();

    // Rust side: a Service on the NATS broker (as MICRO_BROKER=nats would choose).
    let svc = rust_service("rnats", &url).await;
    let (all, q): (Seen, Seen) = Default::default();
    let a2 = Arc::clone(&all);
    svc.server().subscribe("nats-ev", SubscribeOptions::default(), move |ev| {
        let a2 = Arc::clone(&a2);
        async move {
            a2.lock().unwrap().push(ev);
            Ok(())
        }
    });
    svc.start().await.unwrap();
    let me = svc.server().service().unwrap();
    assert_eq!(me.nodes[0].metadata.get("broker").map(String::as_str), Some("nats"));
    svc.broker().subscribe("nats-q", SubscribeOptions::queue("grp"), recorder(&q)).await.unwrap();

    // Go → Rust
    let body = "{\"from\":\"go\"}";
    let lines = go_run(
        "gm5",
        strs(&["publish", "--broker", "nats", "--broker-address", &url, "--topic", "nats-ev", "--body", body, "--metadata", "X-Trace=gonats", "--linger-ms", "200"]),
    )
    .await;
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    assert_eq!(settle(&all, 1, Duration::from_secs(5)).await, 1);
    let ev = all.lock().unwrap()[0].clone();
    assert_eq!(ev.message.body, body.as_bytes());
    assert_eq!(ev.message.header.get("X-Trace").map(String::as_str), Some("gonats"));
    assert_eq!(ev.message.header.get("Micro-Topic").map(String::as_str), Some("nats-ev"));
    assert_eq!(ev.message.header.get("Micro-ID").map(String::len), Some(36));

    // Rust → Go, bytes intact
    let gsub = go_ready("gm5", &["subscribe", "--broker", "nats", "--broker-address", &url, "--topic", "nats-r"]);
    let payload = vec![0u8, 0xfe, b'{', b'\n'];
    let mut opts = PublishOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
    opts.metadata.insert("X-Trace".into(), "rustnats".into());
    tokio::time::sleep(Duration::from_millis(200)).await;
    svc.client().publish("nats-r", payload.clone(), &opts).await.unwrap();
    let got = go_messages(Arc::clone(&gsub), 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["body"], b64(&payload));
    assert_eq!(got[0]["header"]["X-Trace"], "rustnats");
    assert_eq!(got[0]["header"]["Micro-Topic"], "nats-r");

    // A queue group shared by gm5 and Rust: each message once.
    let gq = go_ready("gm5", &["subscribe", "--broker", "nats", "--broker-address", &url, "--topic", "nats-q", "--queue", "grp"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = 40;
    for i in 0..n {
        svc.client().publish("nats-q", format!("{i}"), &PublishOptions::default()).await.unwrap();
    }
    let go_got = go_messages(Arc::clone(&gq), n, Duration::from_secs(2)).await.len();
    let rust_got = settle(&q, 0, Duration::from_millis(100)).await;
    println!("NATS queue group gm5+Rust: {go_got}+{rust_got} of {n}");
    assert_eq!(go_got + rust_got, n);

    // Restart mid-stream: gm5 publishes 200 messages 20 ms apart; the server is killed
    // after ~1 s and restarted 0.5 s later. The Rust subscriber must resume.
    all.lock().unwrap().clear();
    let args = strs(&[
        "publish", "--broker", "nats", "--broker-address", &url, "--topic", "nats-ev", "--body", "{}", "--count", "200",
        "--interval-ms", "20", "--linger-ms", "500",
    ]);
    let publisher = tokio::spawn(go_run("gm5", args));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server = NatsServer::start(&bin, port);
    let lines = publisher.await.unwrap();
    let ok = lines.iter().filter(|l| l["ok"] == true).count();
    let before_restart_ok = ok;
    let received = settle(&all, ok, Duration::from_secs(5)).await;
    println!(
        "NATS restart mid-stream (gm5 publisher → Rust subscriber): published 200, Go reported ok {before_restart_ok}, Rust received {received}, lost {} — NATS core is at-most-once",
        ok.saturating_sub(received)
    );
    assert!(received >= 100, "the Rust subscriber resumed after the restart: {received} received");
    drop(server);
    svc.stop().await.unwrap();
}
