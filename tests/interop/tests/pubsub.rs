//! Pub/sub between micro and real go-micro: over the HTTP broker (gm5 = v5.30.0,
//! gm4 = v4.11.0 and gm6 = v6.10.0, mDNS, inside `scripts/netns.sh`) and over NATS (gm5 and
//! gm6; gm4 has no NATS broker) on Debian's `nats-server`. Go → Rust and Rust → Go, broadcast and queue
//! groups (each message exactly once per group: the sets of message ids are compared, not
//! counts), a queue group with a killed member, whole header maps and bodies byte for
//! byte, and a NATS restart in the middle of a stream.
//!
//! Readiness is polled, never slept for: an HTTP broker subscriber is ready once the
//! registry lists its `micro.http.broker` node with the topic (then we publish **once** —
//! a publish answered `not found` stays queued in the broker, as in go-micro, so retrying
//! it would deliver it twice); a NATS subscriber is ready once the server's monitoring
//! endpoint (`/subsz`) lists its subscription.

use base64::Engine;
use micro::broker::{self, http::BROADCAST, Broker, Event, Handler, Header, Message, SubscribeOptions, Subscriber};
use micro::registry::Registry;
use micro::{PublishOptions, Service};
use micro_interop::{go_bin, in_netns, run, unique, Proc, GO_VERSIONS};
// The core tests' shared helpers, for their nats-server harness.
#[path = "../../../core/tests/common/mod.rs"]
mod common;
use common::nats::{nats_bin, NatsServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<Event>>>;

/// How long after the expected number of messages arrived we keep listening, so that a
/// duplicate (or a message that should not have come) is seen.
const GRACE: Duration = Duration::from_millis(700);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().expect("body is a string")).expect("body is base64")
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn recorder(seen: &Seen) -> Handler {
    let seen = Arc::clone(seen);
    broker::handler(move |ev| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(ev);
            Ok(())
        }
    })
}

/// Waits until the recorders together hold `n` events (or `within` passed), then for
/// [`GRACE`] more; returns the total.
async fn settle(seen: &[&Seen], n: usize, within: Duration) -> usize {
    let total = || seen.iter().map(|s| s.lock().unwrap().len()).sum::<usize>();
    let deadline = Instant::now() + within;
    while total() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(GRACE).await;
    total()
}

fn micro_ids(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().iter().map(|e| e.message.header.get("Micro-ID").cloned().unwrap_or_default()).collect()
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

/// A Go harness process shared with blocking readers.
type GoProc = Arc<Mutex<Proc>>;

/// Starts a Go harness process and waits for its ready line.
fn go_ready(bin: &str, args: &[&str]) -> GoProc {
    let p = Proc::spawn(&go_bin(bin), args);
    p.ready();
    Arc::new(Mutex::new(p))
}

/// Message lines of several Go subscribers: read until `n` arrived in all of them plus the
/// Rust recorders `rust` (or `within` passed), then for [`GRACE`] more, so a duplicate
/// shows up. One list per process.
async fn go_collect(procs: Vec<GoProc>, rust: Vec<Seen>, n: usize, within: Duration) -> Vec<Vec<Value>> {
    tokio::task::spawn_blocking(move || {
        let guards: Vec<_> = procs.iter().map(|p| p.lock().unwrap()).collect();
        let mut out = vec![Vec::new(); guards.len()];
        let deadline = Instant::now() + within;
        let mut stop_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let total =
                out.iter().map(Vec::len).sum::<usize>() + rust.iter().map(|s| s.lock().unwrap().len()).sum::<usize>();
            if stop_at.is_none() && (total >= n || now >= deadline) {
                stop_at = Some(now + GRACE);
            }
            if stop_at.is_some_and(|s| now >= s) {
                return out;
            }
            let mut idle = true;
            for (i, p) in guards.iter().enumerate() {
                while let Some(v) = p.next(Duration::ZERO) {
                    idle = false;
                    if v["event"] == "message" {
                        out[i].push(v);
                    }
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    })
    .await
    .expect("blocking task")
}

async fn go_messages(p: GoProc, n: usize, within: Duration) -> Vec<Value> {
    go_collect(vec![p], vec![], n, within).await.remove(0)
}

/// The header map of a Go message line, as the Go subscriber received it.
fn go_header(line: &Value) -> Header {
    let obj = line["header"].as_object().unwrap_or_else(|| panic!("no header object in {line}"));
    obj.iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("header {k} not a string")).to_string()))
        .collect()
}

/// The `Micro-ID` of a Go message line (a gm4 RPC subscriber prints it as `Micro-Id`).
fn go_micro_id(line: &Value) -> String {
    go_header(line).into_iter().find(|(k, _)| k.eq_ignore_ascii_case("Micro-ID")).map(|(_, v)| v).unwrap_or_default()
}

/// What go-micro's `client.Publish` puts on a message, with the `Micro-ID` it chose
/// (checked to be a UUID): the whole map we expect a Rust subscriber to receive.
fn expected_from_go(received: &Header, topic: &str, content_type: &str, metadata: &[(&str, &str)]) -> Header {
    let id = received.get("Micro-ID").cloned().unwrap_or_default();
    assert!(is_uuid(&id), "Micro-ID (exact spelling) is a UUID: {received:?}");
    let mut h = Header::new();
    h.insert("Content-Type".into(), content_type.into());
    h.insert("Micro-ID".into(), id);
    h.insert("Micro-Topic".into(), topic.into());
    for (k, v) in metadata {
        h.insert(k.to_string(), v.to_string());
    }
    h
}

/// Go's `strings.Title` on a key: each letter that starts a word is upper-cased, the rest
/// kept (`lower-key` → `Lower-Key`, `Micro-ID` stays `Micro-ID`).
fn title(k: &str) -> String {
    let mut start = true;
    k.chars()
        .map(|c| {
            let out = if start { c.to_uppercase().next().unwrap_or(c) } else { c };
            start = !(c.is_alphanumeric() || c == '_');
            out
        })
        .collect()
}

/// go-micro v4's `metadata.FromContext` passes every key through `strings.Title`; v5's
/// keeps them as given. So a gm4 publisher sends its metadata keys title-cased, and a gm4
/// RPC subscriber (which reads the message headers back from its context) sees every key
/// title-cased.
fn as_go_metadata(gm: &str, h: &Header) -> Header {
    if gm == "gm4" {
        h.iter().map(|(k, v)| (title(k), v.clone())).collect()
    } else {
        h.clone()
    }
}

/// A broker that forwards everything to a real one and records each message it was asked
/// to publish, exactly as `Client::publish` built it — so a test compares what a Go
/// subscriber received with what was sent, key for key (`Micro-ID` included).
struct Tee {
    inner: Arc<dyn Broker>,
    sent: Mutex<Vec<(String, Message)>>,
}

impl Tee {
    /// The messages published on `topic`, in order.
    fn sent(&self, topic: &str) -> Vec<Message> {
        self.sent.lock().unwrap().iter().filter(|(t, _)| t == topic).map(|(_, m)| m.clone()).collect()
    }
}

type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// `Broker` is an `async_trait`; this is its expansion by hand (the interop crate does not
// depend on `async-trait`).
impl Broker for Tee {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn address(&self) -> String {
        self.inner.address()
    }
    fn connect<'a, 'async_trait>(&'a self) -> Fut<'async_trait, micro::Result<()>>
    where
        'a: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.connect()
    }
    fn disconnect<'a, 'async_trait>(&'a self) -> Fut<'async_trait, micro::Result<()>>
    where
        'a: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.disconnect()
    }
    fn publish<'a, 'b, 'async_trait>(&'a self, topic: &'b str, msg: Message) -> Fut<'async_trait, micro::Result<()>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        self.sent.lock().unwrap().push((topic.to_string(), msg.clone()));
        self.inner.publish(topic, msg)
    }
    fn subscribe<'a, 'b, 'async_trait>(
        &'a self,
        topic: &'b str,
        opts: SubscribeOptions,
        handler: Handler,
    ) -> Fut<'async_trait, micro::Result<Box<dyn Subscriber>>>
    where
        'a: 'async_trait,
        'b: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.subscribe(topic, opts, handler)
    }
}

async fn rust_service(name: &str, broker_url: &str) -> Service {
    Service::builder(name).address("127.0.0.1:0").broker_url(broker_url).build().await.expect("service builds")
}

/// A service (mDNS registry) whose broker (`broker_url`) is wrapped in a [`Tee`].
async fn rust_service_tee(name: &str, broker_url: &str) -> (Service, Arc<Tee>) {
    let reg = micro::registry::from_url("mdns").await.expect("mdns registry");
    let inner = broker::from_url(broker_url, Arc::clone(&reg), broker::DEFAULT_MAX_MESSAGE).expect("broker");
    let tee = Arc::new(Tee { inner, sent: Mutex::default() });
    let svc = Service::builder(name)
        .address("127.0.0.1:0")
        .registry(reg)
        .broker(Arc::clone(&tee) as Arc<dyn Broker>)
        .build()
        .await
        .expect("service builds");
    (svc, tee)
}

/// Waits until `reg` lists at least `n` `micro.http.broker` nodes of `version` (a queue
/// name or [`BROADCAST`]) subscribed to `topic`; returns their ids.
async fn wait_http_subscribers(reg: &Arc<dyn Registry>, topic: &str, version: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ids: Vec<String> = reg
            .get_service(broker::http::SERVICE)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.version == version)
            .flat_map(|s| s.nodes)
            .filter(|node| node.metadata.get("topic").map(String::as_str) == Some(topic))
            .map(|node| node.id)
            .collect();
        if ids.len() >= n {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "{n} subscriber(s) of {topic:?} ({version}) not discoverable in 15 s: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
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
        let (svc, tee) = rust_service_tee(&unique("rsub", gm), "http").await;
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
        wait_http_subscribers(svc.registry(), &topic, "workers", 2).await;
        wait_http_subscribers(svc.registry(), &topic, BROADCAST, 1).await;

        let body = "{\"n\":1,\"s\":\"<&>\"}";
        let n = 20;
        let lines = go_run(
            gm,
            strs(&[
                "publish",
                "--topic",
                &topic,
                "--body",
                body,
                "--count",
                &n.to_string(),
                "--interval-ms",
                "50",
                "--metadata",
                "X-Trace=go",
                "--metadata",
                "lower-key=Mixed Case value",
                "--linger-ms",
                "1500",
            ]),
        )
        .await;
        assert_eq!(lines.len(), n, "{gm} publish: {lines:?}");
        assert!(lines.iter().all(|l| l["ok"] == true), "{gm} publish: {lines:?}");
        assert_eq!(settle(&[&all], n, Duration::from_secs(10)).await, n, "{gm} → Rust broadcast: each message once");
        assert_eq!(settle(&[&q1, &q2], n, Duration::from_secs(5)).await, n, "{gm} → Rust queue group: one copy each");
        for ev in all.lock().unwrap().iter() {
            assert_eq!(ev.topic, topic);
            assert_eq!(ev.message.body, body.as_bytes(), "{gm}: body byte for byte");
            let lower_key = if gm == "gm4" { "Lower-Key" } else { "lower-key" };
            let want = expected_from_go(
                &ev.message.header,
                &topic,
                "application/json",
                &[("X-Trace", "go"), (lower_key, "Mixed Case value")],
            );
            assert_eq!(ev.message.header, want, "{gm}: the whole header map, keys as go-micro spells them");
        }
        let published: BTreeSet<String> = micro_ids(&all).into_iter().collect();
        assert_eq!(published.len(), n, "{gm}: {n} distinct messages");
        let mut group = micro_ids(&q1);
        group.extend(micro_ids(&q2));
        group.sort();
        assert_eq!(
            group,
            published.iter().cloned().collect::<Vec<_>>(),
            "{gm}: the queue group took every message exactly once"
        );
        // Each message picks a random member: with 20 messages an empty member has odds 2^-19.
        let (c1, c2) = (q1.lock().unwrap().len(), q2.lock().unwrap().len());
        println!("{gm} publisher → Rust queue group of two over the http broker: {c1}+{c2} of {n}");
        assert!(c1 > 0 && c2 > 0, "{gm}: both members took messages ({c1}+{c2})");

        // Rust publisher → Go subscribers: broker-level (exact bytes) and an RPC subscriber.
        let rtopic = format!("{topic}-r");
        let bsub = go_ready(gm, &["subscribe", "--topic", &rtopic]);
        let gsrv = go_ready(gm, &["serve", "--name", &unique("gsub", gm), "--subscribe", &rtopic]);
        wait_http_subscribers(svc.registry(), &rtopic, BROADCAST, 2).await;
        let payload: Vec<u8> = vec![0, 1, 2, 0xff, b'\n', b'"'];
        let mut opts = PublishOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
        opts.metadata.insert("X-Trace".into(), "rust".into());
        opts.metadata.insert("lower-key".into(), "ünï {\"x\"}".into());
        svc.client().publish(&rtopic, payload.clone(), &opts).await.expect("subscribers are discoverable: one publish");
        let got = go_messages(Arc::clone(&bsub), 1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1, "{gm} broker subscriber: exactly one delivery: {got:?}");
        let sent = tee.sent(&rtopic);
        assert_eq!(sent.len(), 1);
        assert_eq!(got[0]["topic"], rtopic);
        assert_eq!(got[0]["body"], b64(&payload), "{gm}: bytes intact");
        assert_eq!(go_header(&got[0]), sent[0].header, "{gm}: the Go side got exactly the header map we sent");
        assert_eq!(
            sent[0].header.len(),
            5,
            "Content-Type, Micro-ID, Micro-Topic and two metadata keys: {:?}",
            sent[0].header
        );

        // A JSON message reaches go-micro's RPC subscriber (which decodes it first; the
        // octet-stream one above does not decode as its JSON argument, so it printed nothing).
        let json = serde_json::json!({"hello": "go"});
        svc.client().publish_json(&rtopic, &json, &opts).await.unwrap();
        let sent = tee.sent(&rtopic);
        let got = go_collect(vec![Arc::clone(&bsub), Arc::clone(&gsrv)], vec![], 2, Duration::from_secs(10)).await;
        assert_eq!(got[0].len(), 1, "{gm} broker subscriber: {:?}", got[0]);
        assert_eq!(got[1].len(), 1, "{gm} RPC subscriber: exactly one delivery: {:?}", got[1]);
        assert_eq!(go_header(&got[0][0]), sent[1].header, "{gm} broker subscriber: the whole header map as sent");
        let rpc_view = as_go_metadata(gm, &sent[1].header);
        assert_eq!(go_header(&got[1][0]), rpc_view, "{gm} RPC subscriber: the whole header map (its context metadata)");
        for line in got.iter().flatten() {
            assert_eq!(line["body"], b64(b"{\"hello\":\"go\"}\n"), "{gm}: {line}");
        }
        assert_eq!(sent[1].header.get("Content-Type").map(String::as_str), Some("application/json"));

        drop(bsub);
        drop(gsrv);
        svc.stop().await.unwrap();
        other.stop().await.unwrap();
    }
}

/// Rust publisher → a Go queue group of two (an RPC subscriber `serve --subscribe T --queue Q`
/// and a broker subscriber `subscribe --queue Q`): every message delivered exactly once across
/// the group, headers and body as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_rust_publisher_to_go_queue_group_each_once() {
    if !in_netns("http_broker_rust_publisher_to_go_queue_group_each_once") {
        return;
    }
    for gm in GO_VERSIONS {
        let topic = unique("jobs", gm).replace('.', "-");
        let srv = go_ready(gm, &["serve", "--name", &unique("gq", gm), "--subscribe", &topic, "--queue", "crew"]);
        let sub = go_ready(gm, &["subscribe", "--topic", &topic, "--queue", "crew"]);
        let (svc, tee) = rust_service_tee(&unique("rpubq", gm), "http").await;
        svc.start().await.unwrap();
        wait_http_subscribers(svc.registry(), &topic, "crew", 2).await;

        let n = 20;
        for i in 0..n {
            let mut opts = PublishOptions::default();
            opts.metadata.insert("X-Seq".into(), i.to_string());
            svc.client()
                .publish_json(&topic, &serde_json::json!({ "i": i }), &opts)
                .await
                .expect("one publish per message");
        }
        let got = go_collect(vec![Arc::clone(&srv), Arc::clone(&sub)], vec![], n, Duration::from_secs(15)).await;
        let sent = tee.sent(&topic);
        assert_eq!(sent.len(), n);
        let mut sent_ids: Vec<&str> = sent.iter().map(|m| m.header["Micro-ID"].as_str()).collect();
        sent_ids.sort();
        let mut got_ids: Vec<String> = got.iter().flatten().map(go_micro_id).collect();
        got_ids.sort();
        assert_eq!(got_ids, sent_ids, "{gm}: each message exactly once across the group, none lost: {got:?}");
        for (member, line) in got.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |x| (i, x))) {
            let h = go_header(line);
            let m = sent.iter().find(|m| m.header["Micro-ID"] == go_micro_id(line)).unwrap();
            // Member 0 is the RPC subscriber (context metadata), 1 the broker subscriber.
            let want = if member == 0 { as_go_metadata(gm, &m.header) } else { m.header.clone() };
            assert_eq!(h, want, "{gm}: whole header map as sent");
            assert_eq!(unb64(&line["body"]), m.body.to_vec(), "{gm}: body byte for byte");
        }
        let seqs = |l: &Vec<Value>| {
            l.iter().map(|x| go_header(x).get("X-Seq").cloned().unwrap_or_default()).collect::<Vec<_>>().join(",")
        };
        println!(
            "Rust publisher → {gm} queue group (RPC + broker subscriber): {}+{} of {n} [{}] [{}]",
            got[0].len(),
            got[1].len(),
            seqs(&got[0]),
            seqs(&got[1])
        );
        // A random member per message: an empty member has odds 2^-19.
        assert!(!got[0].is_empty() && !got[1].is_empty(), "{gm}: both members took messages");
        svc.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_queue_group_with_a_killed_go_member_delivers_to_the_live_one() {
    if in_netns("http_broker_queue_group_with_a_killed_go_member_delivers_to_the_live_one") {
        killed_go_member_case("gm5", "gm4").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_queue_group_with_a_killed_gm6_member_delivers_to_the_live_gm5() {
    if in_netns("http_broker_queue_group_with_a_killed_gm6_member_delivers_to_the_live_gm5") {
        killed_go_member_case("gm6", "gm5").await;
    }
}

/// A queue group whose `doomed` Go member was SIGKILLed (no deregistration, no mDNS goodbye,
/// so the publisher still lists it): every message reaches the `live` Go member, exactly once.
async fn killed_go_member_case(doomed_gm: &str, live_gm: &str) {
    let topic = unique("half", doomed_gm).replace('.', "-");
    let doomed = go_ready(doomed_gm, &["subscribe", "--topic", &topic, "--queue", "pair"]);
    let live = go_ready(live_gm, &["subscribe", "--topic", &topic, "--queue", "pair"]);
    let (svc, tee) = rust_service_tee(&unique("rpubdead", doomed_gm), "http").await;
    svc.start().await.unwrap();
    wait_http_subscribers(svc.registry(), &topic, "pair", 2).await;
    // The first publish makes the publisher's broker look the group up (both members).
    svc.client().publish(&topic, "warm-up", &PublishOptions::default()).await.unwrap();
    let warm = go_collect(vec![Arc::clone(&doomed), Arc::clone(&live)], vec![], 1, Duration::from_secs(10)).await;
    assert_eq!(warm[0].len() + warm[1].len(), 1, "the warm-up message reached one member: {warm:?}");
    let Ok(doomed) = Arc::try_unwrap(doomed) else { panic!("{doomed_gm} member still shared") };
    doomed.into_inner().unwrap().kill();

    let n = 20;
    for i in 0..n {
        svc.client().publish(&topic, format!("m{i}"), &PublishOptions::default()).await.unwrap();
    }
    let got = go_messages(Arc::clone(&live), n, Duration::from_secs(15)).await;
    let mut bodies: Vec<String> = got.iter().map(|l| String::from_utf8(unb64(&l["body"])).unwrap()).collect();
    bodies.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(bodies, want, "every message once at the live member");
    let sent = tee.sent(&topic);
    for line in &got {
        let h = go_header(line);
        assert!(sent.iter().any(|m| m.header == h), "header map as sent: {h:?}");
    }
    svc.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_broker_queue_group_shared_with_go() {
    if !in_netns("http_broker_queue_group_shared_with_go") {
        return;
    }
    // One queue group with a gm5, a gm4, a gm6 and a Rust member: each message taken once.
    let topic = unique("work", "mixed").replace('.', "-");
    let g5 = go_ready("gm5", &["subscribe", "--topic", &topic, "--queue", "mixed"]);
    let g4 = go_ready("gm4", &["subscribe", "--topic", &topic, "--queue", "mixed"]);
    let g6 = go_ready("gm6", &["subscribe", "--topic", &topic, "--queue", "mixed"]);
    let svc = rust_service(&unique("rmix", "q"), "http").await;
    svc.start().await.unwrap();
    let mine: Seen = Default::default();
    svc.broker().subscribe(&topic, SubscribeOptions::queue("mixed"), recorder(&mine)).await.unwrap();
    wait_http_subscribers(svc.registry(), &topic, "mixed", 4).await;
    let n = 40;
    let lines = go_run(
        "gm5",
        strs(&[
            "publish",
            "--topic",
            &topic,
            "--body",
            "{}",
            "--count",
            &n.to_string(),
            "--interval-ms",
            "50",
            "--linger-ms",
            "1500",
        ]),
    )
    .await;
    assert_eq!(lines.len(), n);
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    let go = go_collect(vec![g5, g4, g6], vec![Arc::clone(&mine)], n, Duration::from_secs(10)).await;
    let mut ids: Vec<String> = go.iter().flatten().map(go_micro_id).collect();
    ids.extend(micro_ids(&mine));
    let distinct: BTreeSet<&String> = ids.iter().collect();
    let (a, b, d, c) = (go[0].len(), go[1].len(), go[2].len(), mine.lock().unwrap().len());
    println!("queue group of gm5+gm4+gm6+Rust over the http broker: {a}+{b}+{d}+{c} of {n}");
    assert_eq!((ids.len(), distinct.len()), (n, n), "{n} distinct messages, each taken once across the group");
    // A random member per message: one member left empty has odds about 4·(3/4)^40 ≈ 4e-5.
    assert!(a > 0 && b > 0 && c > 0 && d > 0, "every member took messages: {a}+{b}+{d}+{c}");
    svc.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_gm5_both_ways_queue_groups_and_restart() {
    if in_netns("nats_gm5_both_ways_queue_groups_and_restart") {
        nats_go_both_ways_queue_groups_and_restart("gm5").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_gm6_both_ways_queue_groups_and_restart() {
    if in_netns("nats_gm6_both_ways_queue_groups_and_restart") {
        nats_go_both_ways_queue_groups_and_restart("gm6").await;
    }
}

/// NATS with one Go peer (`gm5`, `gm6`: the versions with an in-tree NATS broker): Go → Rust
/// and Rust → Go with whole header maps, a shared queue group, a server restart mid-stream.
async fn nats_go_both_ways_queue_groups_and_restart(gm: &'static str) {
    let Some(bin) = nats_bin("nats interop") else { return };
    let mut server = NatsServer::start(&bin, &[]);
    let url = server.url();

    // Rust side: a Service on the NATS broker (as MICRO_BROKER=nats would choose).
    let (svc, tee) = rust_service_tee("rnats", &url).await;
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
    server.wait_subscriptions("nats-ev", None, 1).await;

    // Go → Rust: the whole header map.
    let body = "{\"from\":\"go\"}";
    let lines = go_run(
        gm,
        strs(&[
            "publish",
            "--broker",
            "nats",
            "--broker-address",
            &url,
            "--topic",
            "nats-ev",
            "--body",
            body,
            "--metadata",
            "X-Trace=gonats",
            "--metadata",
            "lower-key=v w",
            "--linger-ms",
            "200",
        ]),
    )
    .await;
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    assert_eq!(settle(&[&all], 1, Duration::from_secs(5)).await, 1, "exactly one delivery");
    let ev = all.lock().unwrap()[0].clone();
    assert_eq!(ev.message.body, body.as_bytes());
    let want = expected_from_go(
        &ev.message.header,
        "nats-ev",
        "application/json",
        &[("X-Trace", "gonats"), ("lower-key", "v w")],
    );
    assert_eq!(ev.message.header, want, "whole header map over NATS");

    // Rust → Go: bytes intact, the whole header map as sent.
    let gsub = go_ready(gm, &["subscribe", "--broker", "nats", "--broker-address", &url, "--topic", "nats-r"]);
    server.wait_subscriptions("nats-r", None, 1).await;
    let payload = vec![0u8, 0xfe, b'{', b'\n'];
    let mut opts = PublishOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
    opts.metadata.insert("X-Trace".into(), "rustnats".into());
    opts.metadata.insert("lower-key".into(), "ünï".into());
    svc.client().publish("nats-r", payload.clone(), &opts).await.unwrap();
    let got = go_messages(Arc::clone(&gsub), 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["body"], b64(&payload));
    let sent = tee.sent("nats-r");
    assert_eq!(go_header(&got[0]), sent[0].header, "the Go side got exactly the header map we sent");

    // A queue group shared by the Go peer and Rust: each message once.
    let gq = go_ready(
        gm,
        &["subscribe", "--broker", "nats", "--broker-address", &url, "--topic", "nats-q", "--queue", "grp"],
    );
    server.wait_subscriptions("nats-q", Some("grp"), 2).await;
    let n = 40;
    for i in 0..n {
        svc.client().publish("nats-q", format!("{i}"), &PublishOptions::default()).await.unwrap();
    }
    let go_got = go_collect(vec![Arc::clone(&gq)], vec![Arc::clone(&q)], n, Duration::from_secs(10)).await.remove(0);
    let mut bodies: Vec<u32> =
        go_got.iter().map(|l| String::from_utf8(unb64(&l["body"])).unwrap().parse().unwrap()).collect();
    bodies.extend(
        q.lock().unwrap().iter().map(|e| std::str::from_utf8(&e.message.body).unwrap().parse::<u32>().unwrap()),
    );
    bodies.sort();
    let (gn, rn) = (go_got.len(), q.lock().unwrap().len());
    println!("NATS queue group {gm}+Rust: {gn}+{rn} of {n}");
    assert_eq!(bodies, (0..n as u32).collect::<Vec<_>>(), "each message exactly once across the group");
    assert!(gn > 0 && rn > 0, "nats-server spreads a queue group: both members took messages ({gn}+{rn})");

    // Restart mid-stream: the Go peer publishes 200 messages 20 ms apart; the server is killed
    // after ~1 s and restarted 0.5 s later. The Rust subscriber must resume.
    all.lock().unwrap().clear();
    let args = strs(&[
        "publish",
        "--broker",
        "nats",
        "--broker-address",
        &url,
        "--topic",
        "nats-ev",
        "--body",
        "{}",
        "--count",
        "200",
        "--interval-ms",
        "20",
        "--linger-ms",
        "500",
    ]);
    let publisher = tokio::spawn(go_run(gm, args));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart(); // the same ports: the clients dial the address they had
    let lines = publisher.await.unwrap();
    let ok = lines.iter().filter(|l| l["ok"] == true).count();
    let received = settle(&[&all], ok, Duration::from_secs(5)).await;
    let distinct: BTreeSet<String> = micro_ids(&all).into_iter().collect();
    println!(
        "NATS restart mid-stream ({gm} publisher → Rust subscriber): published 200, Go reported ok {ok}, Rust received {received}, lost {} — NATS core is at-most-once",
        ok.saturating_sub(received)
    );
    assert_eq!(distinct.len(), received, "no message delivered twice across the restart");
    assert!(received >= 100, "the Rust subscriber resumed after the restart: {received} received");
    drop(server);
    svc.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_gm5_publisher_to_rust_queue_group_each_once() {
    if in_netns("nats_gm5_publisher_to_rust_queue_group_each_once") {
        nats_go_publisher_to_rust_queue_group_each_once("gm5").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_gm6_publisher_to_rust_queue_group_each_once() {
    if in_netns("nats_gm6_publisher_to_rust_queue_group_each_once") {
        nats_go_publisher_to_rust_queue_group_each_once("gm6").await;
    }
}

/// A Go publisher (`gm5`, `gm6`) → a queue group of two Rust members (two services, two NATS
/// connections) plus one Rust broadcast subscriber: the group takes every message the
/// broadcast saw, each exactly once.
async fn nats_go_publisher_to_rust_queue_group_each_once(gm: &'static str) {
    let Some(bin) = nats_bin("nats interop") else { return };
    let server = NatsServer::start(&bin, &[]);
    let url = server.url();
    let (all, q1, q2): (Seen, Seen, Seen) = Default::default();
    let a = rust_service("rnq.a", &url).await;
    let r1 = Arc::clone(&q1);
    a.server().subscribe("nats-work", SubscribeOptions::queue("team"), move |ev| {
        let r1 = Arc::clone(&r1);
        async move {
            r1.lock().unwrap().push(ev);
            Ok(())
        }
    });
    a.start().await.unwrap();
    let b = rust_service("rnq.b", &url).await;
    b.start().await.unwrap();
    b.broker().subscribe("nats-work", SubscribeOptions::queue("team"), recorder(&q2)).await.unwrap();
    b.broker().subscribe("nats-work", SubscribeOptions::default(), recorder(&all)).await.unwrap();
    server.wait_subscriptions("nats-work", Some("team"), 2).await;
    server.wait_subscriptions("nats-work", None, 1).await;

    let n = 30;
    let body = "{\"job\":true}";
    let lines = go_run(
        gm,
        strs(&[
            "publish",
            "--broker",
            "nats",
            "--broker-address",
            &url,
            "--topic",
            "nats-work",
            "--body",
            body,
            "--count",
            &n.to_string(),
            "--metadata",
            "X-Trace=team",
            "--linger-ms",
            "200",
        ]),
    )
    .await;
    assert_eq!(lines.len(), n);
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    assert_eq!(settle(&[&all], n, Duration::from_secs(10)).await, n, "the broadcast subscriber got every message once");
    assert_eq!(settle(&[&q1, &q2], n, Duration::from_secs(5)).await, n, "the queue group got n messages");
    let published: BTreeSet<String> = micro_ids(&all).into_iter().collect();
    assert_eq!(published.len(), n, "n distinct messages");
    let mut group = micro_ids(&q1);
    group.extend(micro_ids(&q2));
    group.sort();
    assert_eq!(group, published.into_iter().collect::<Vec<_>>(), "each message exactly once across the group");
    for ev in q1.lock().unwrap().iter().chain(q2.lock().unwrap().iter()) {
        assert_eq!(ev.message.body, body.as_bytes());
        let want = expected_from_go(&ev.message.header, "nats-work", "application/json", &[("X-Trace", "team")]);
        assert_eq!(ev.message.header, want);
    }
    let (c1, c2) = (q1.lock().unwrap().len(), q2.lock().unwrap().len());
    println!("NATS {gm} publisher → Rust queue group of two: {c1}+{c2} of {n}");
    // nats-server picks a random member per message: an empty member has odds 2^-29.
    assert!(c1 > 0 && c2 > 0, "both members took messages ({c1}+{c2})");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
