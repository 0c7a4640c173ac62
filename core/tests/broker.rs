//! Pub/sub, Rust ↔ Rust: the memory broker, the HTTP broker over real sockets with the
//! memory registry, server subscribers, and the failure cases (no subscriber, a dead
//! subscriber, a queue group with dead members, a failing handler, an oversized message).
//! Counts are checked as sets of message ids (no duplicates, none lost), never as sums.

use micro::broker::{self, http::HttpBroker, memory, Broker, Event, Message, SubscribeOptions};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Node, RegisterOptions, Registry, Service as RegService};
use micro::{Error, PublishOptions, Service};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Seen = Arc<Mutex<Vec<Event>>>;

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

fn bodies(seen: &Seen) -> Vec<Vec<u8>> {
    seen.lock().unwrap().iter().map(|e| e.message.body.to_vec()).collect()
}

fn ids(seen: &[&Seen]) -> Vec<String> {
    let mut v: Vec<String> = seen
        .iter()
        .flat_map(|s| {
            s.lock()
                .unwrap()
                .iter()
                .map(|e| e.message.header.get("Micro-ID").cloned().unwrap_or_default())
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    v
}

fn want_ids(n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("id-{i}")).collect();
    v.sort();
    v
}

/// After the expected deliveries, how long we keep listening so a duplicate would show.
const GRACE: Duration = Duration::from_millis(500);

/// Publishes throwaway probes on `probe` until one reaches `seen`: then `publisher`'s
/// registry cache knows the subscriber behind `seen` and every node registered before it.
/// Probes only touch the probe topic's queue, so the messages a test counts are unaffected.
async fn until_known(publisher: &HttpBroker, probe: &str, seen: &Seen) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no probe on {probe:?} arrived in 10 s");
        let _ = publisher.publish(probe, Message::new("probe")).await;
        wait_for(seen, 1, Duration::from_millis(200)).await;
    }
}

async fn wait_for(seen: &Seen, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = seen.lock().unwrap().len();
        if got >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn memory_broadcast_and_queue_groups() {
    let b = memory::Memory::new(1024);
    let (a, c, q1, q2): (Seen, Seen, Seen, Seen) = Default::default();
    b.subscribe("t", SubscribeOptions::default(), recorder(&a)).await.unwrap();
    b.subscribe("t", SubscribeOptions::default(), recorder(&c)).await.unwrap();
    b.subscribe("t", SubscribeOptions::queue("g"), recorder(&q1)).await.unwrap();
    let s2 = b.subscribe("t", SubscribeOptions::queue("g"), recorder(&q2)).await.unwrap();
    for i in 0..20 {
        b.publish("t", Message::new(format!("{i}"))).await.unwrap();
    }
    assert_eq!(a.lock().unwrap().len(), 20);
    assert_eq!(c.lock().unwrap().len(), 20);
    assert_eq!(q1.lock().unwrap().len() + q2.lock().unwrap().len(), 20, "a queue group gets one copy");
    s2.unsubscribe().await.unwrap();
    b.publish("t", Message::new("x")).await.unwrap();
    assert_eq!(q1.lock().unwrap().len() + q2.lock().unwrap().len(), 21);
    let e = b.publish("t", Message::new(vec![0u8; 2048])).await.unwrap_err();
    assert_eq!(e.code, 413, "{e:?}");
}

#[tokio::test]
async fn http_broker_broadcast_queue_and_exact_bytes() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    let sub_side2 = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    let pub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    for b in [&sub_side, &sub_side2, &pub_side] {
        b.connect().await.unwrap();
    }
    let (bc1, bc2, g1, g2): (Seen, Seen, Seen, Seen) = Default::default();
    sub_side.subscribe("events", SubscribeOptions::default(), recorder(&bc1)).await.unwrap();
    sub_side2.subscribe("events", SubscribeOptions::default(), recorder(&bc2)).await.unwrap();
    sub_side.subscribe("events", SubscribeOptions::queue("workers"), recorder(&g1)).await.unwrap();
    sub_side2.subscribe("events", SubscribeOptions::queue("workers"), recorder(&g2)).await.unwrap();

    // What go-micro registers for broker subscribers.
    let svcs = reg.get_service("micro.http.broker").await.unwrap();
    let mut versions: Vec<&str> = svcs.iter().map(|s| s.version.as_str()).collect();
    versions.sort();
    assert_eq!(versions, ["ff.http.broadcast", "workers"]);
    let node = &svcs[0].nodes[0];
    assert!(node.id.starts_with("events-"), "{node:?}");
    assert_eq!(node.metadata.get("broker").map(String::as_str), Some("http"));
    assert_eq!(node.metadata.get("topic").map(String::as_str), Some("events"));

    let body: Vec<u8> = (0u8..=255).collect();
    let n = 20;
    for i in 0..n {
        let mut m = Message::new(body.clone());
        m.header.insert("Micro-ID".into(), format!("id-{i}"));
        m.header.insert("x-lower".into(), "kept as is".into());
        pub_side.publish("events", m).await.unwrap();
    }
    assert_eq!(wait_for(&bc1, n, Duration::from_secs(10)).await, n);
    assert_eq!(wait_for(&bc2, n, Duration::from_secs(10)).await, n);
    let deadline = Instant::now() + Duration::from_secs(10);
    while g1.lock().unwrap().len() + g2.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(GRACE).await;
    assert_eq!(ids(&[&bc1]), want_ids(n), "broadcast: every message once");
    assert_eq!(ids(&[&bc2]), want_ids(n), "broadcast: every message once");
    assert_eq!(ids(&[&g1, &g2]), want_ids(n), "one copy per queue group: each message once across its members");
    let (c1, c2) = (g1.lock().unwrap().len(), g2.lock().unwrap().len());
    // A random member per message: an empty member has odds 2^-19.
    assert!(c1 > 0 && c2 > 0, "both queue members took messages ({c1}+{c2})");
    for ev in bc1.lock().unwrap().iter().chain(g2.lock().unwrap().iter()) {
        assert_eq!(ev.topic, "events");
        assert_eq!(&ev.message.body[..], &body[..], "body byte for byte");
        let id = ev.message.header["Micro-ID"].clone();
        let want: BTreeMap<String, String> =
            [("Micro-ID", id.as_str()), ("Micro-Topic", "events"), ("x-lower", "kept as is")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
        assert_eq!(ev.message.header, want, "the whole header map; keys not canonicalised");
    }

    // Unsubscribing deregisters; disconnect withdraws the rest.
    sub_side.disconnect().await.unwrap();
    sub_side2.disconnect().await.unwrap();
    assert!(reg.get_service("micro.http.broker").await.unwrap().iter().all(|s| s.nodes.is_empty()));
}

#[tokio::test]
async fn http_broker_without_subscriber_keeps_the_message_and_refuses_oversize() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let pub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 4096);
    pub_side.connect().await.unwrap();
    let e = pub_side.publish("late", Message::new("first")).await.unwrap_err();
    assert!(e.detail.contains("not found"), "{e:?}");
    assert_eq!((e.code, e.status.as_str()), (404, "Not Found"), "no subscriber is a NotFound in every host: {e:?}");

    let e = pub_side.publish("late", Message::new(vec![b'x'; 5000])).await.unwrap_err();
    assert_eq!(e.code, 413);
    assert!(e.detail.contains("4096"), "names the limit: {e:?}");

    // A subscriber arrives; the next publish carries the queued one along.
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 4096);
    sub_side.connect().await.unwrap();
    let (seen, probes): (Seen, Seen) = Default::default();
    sub_side.subscribe("late", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    sub_side.subscribe("late-probe", SubscribeOptions::default(), recorder(&probes)).await.unwrap();
    // Past the publisher cache's memory of "nobody" (its negative TTL): a probe got through.
    until_known(&pub_side, "late-probe", &probes).await;
    assert!(seen.lock().unwrap().is_empty(), "probes do not carry the other topic's queue along");
    pub_side.publish("late", Message::new("second")).await.unwrap();
    assert_eq!(wait_for(&seen, 2, Duration::from_secs(5)).await, 2);
    tokio::time::sleep(GRACE).await;
    assert_eq!(bodies(&seen), [b"first".to_vec(), b"second".to_vec()], "the kept message once, then the new one");

    // The receiving side refuses what is over its limit with a go-micro error.
    let addr = sub_side.address();
    let raw = "POST /?id=x HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n".to_string();
    let reply = raw_http(&addr, raw.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    let reply = raw_http(&addr, b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 405") && reply.contains("Method not allowed"), "{reply}");
    let reply = raw_http(&addr, b"POST /?id=x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}").await;
    assert!(reply.starts_with("HTTP/1.1 500") && reply.contains("Topic not found"), "{reply}");
}

async fn raw_http(addr: &str, req: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn broker_node(id: &str, address: String, topic: &str) -> Node {
    let mut md = BTreeMap::new();
    md.insert("broker".to_string(), "http".to_string());
    md.insert("topic".to_string(), topic.to_string());
    Node { id: id.into(), address, metadata: md }
}

/// A port nothing listens on any more: a subscriber process that was killed.
fn refused_address() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A subscriber that accepts and then drops the connection without answering (crashed
/// mid-request); counts the attempts made on it.
async fn dropping_subscriber() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = Arc::clone(&attempts);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, attempts)
}

#[tokio::test]
async fn http_broker_dead_subscriber_requeues_until_a_live_one_takes_it() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    // Two subscriber nodes whose processes are gone (killed without deregistering).
    let (drop_addr, attempts) = dropping_subscriber().await;
    let dead = RegService {
        name: "micro.http.broker".into(),
        version: "ff.http.broadcast".into(),
        nodes: vec![
            broker_node("jobs-dead", refused_address(), "jobs"),
            broker_node("jobs-dropping", drop_addr, "jobs"),
        ],
        ..Default::default()
    };
    reg.register(&dead, RegisterOptions::default()).await.unwrap();
    let pub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    pub_side.connect().await.unwrap();
    // go-micro semantics: Publish has returned before delivery; every post fails, so the
    // message is re-queued for the next publish.
    pub_side.publish("jobs", Message::new("while down")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while attempts.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the broker never tried the registered subscriber");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reg.deregister(&dead).await.unwrap();
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    sub_side.connect().await.unwrap();
    let (seen, probes): (Seen, Seen) = Default::default();
    sub_side.subscribe("jobs", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    sub_side.subscribe("jobs-probe", SubscribeOptions::default(), recorder(&probes)).await.unwrap();
    until_known(&pub_side, "jobs-probe", &probes).await;
    pub_side.publish("jobs", Message::new("after")).await.unwrap();
    assert_eq!(
        wait_for(&seen, 2, Duration::from_secs(5)).await,
        2,
        "the message queued while the subscriber was down arrives"
    );
    tokio::time::sleep(GRACE).await;
    let mut got = bodies(&seen);
    got.sort();
    assert_eq!(got, [b"after".to_vec(), b"while down".to_vec()], "each once");
}

/// A queue group whose other members are dead (one refuses connections, one drops them
/// unanswered): each message goes to the live member, exactly once, and nothing is
/// re-queued behind it (a later publish carries no duplicate along).
#[tokio::test]
async fn http_broker_queue_group_with_dead_members_delivers_each_message_to_the_live_one() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let (drop_addr, attempts) = dropping_subscriber().await;
    let dead = RegService {
        name: "micro.http.broker".into(),
        version: "workers".into(),
        nodes: vec![broker_node("jobs-killed", refused_address(), "jobs"), broker_node("jobs-hung", drop_addr, "jobs")],
        ..Default::default()
    };
    reg.register(&dead, RegisterOptions::default()).await.unwrap();
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    sub_side.connect().await.unwrap();
    let live: Seen = Default::default();
    sub_side.subscribe("jobs", SubscribeOptions::queue("workers"), recorder(&live)).await.unwrap();
    assert_eq!(reg.get_service("micro.http.broker").await.unwrap()[0].nodes.len(), 3, "three members, two dead");

    let pub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    pub_side.connect().await.unwrap();
    let n = 30;
    for i in 0..n {
        let mut m = Message::new(format!("m{i}"));
        m.header.insert("Micro-ID".into(), format!("id-{i}"));
        pub_side.publish("jobs", m).await.unwrap();
    }
    assert_eq!(wait_for(&live, n, Duration::from_secs(10)).await, n);
    tokio::time::sleep(GRACE).await;
    assert_eq!(ids(&[&live]), want_ids(n), "each message once at the live member, none lost");
    // Members are tried in a random order: the hung one comes before the live one for a
    // message with odds 1/2, so never in 30 messages has odds 2^-30.
    let tried = attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(tried > 0, "the dead members were in the group and tried");
    let mut m = Message::new("last");
    m.header.insert("Micro-ID".into(), format!("id-{n}"));
    pub_side.publish("jobs", m).await.unwrap();
    assert_eq!(wait_for(&live, n + 1, Duration::from_secs(5)).await, n + 1);
    tokio::time::sleep(GRACE).await;
    assert_eq!(ids(&[&live]), want_ids(n + 1), "nothing was re-queued behind a delivered message");
    println!(
        "queue group with two dead members: {n} delivered to the live one, the hung member was tried {tried} times"
    );
}

#[tokio::test]
async fn service_subscriber_publish_registry_and_rpc_path() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    let svc = Service::builder("subs")
        .registry(Arc::clone(&reg))
        .address("127.0.0.1:0")
        .broker_url("http://127.0.0.1:0")
        .build()
        .await
        .unwrap();
    let seen: Seen = Default::default();
    let s2 = Arc::clone(&seen);
    svc.server().subscribe("greetings", SubscribeOptions::default(), move |ev| {
        let s2 = Arc::clone(&s2);
        async move {
            s2.lock().unwrap().push(ev);
            Ok(())
        }
    });
    let failed: Seen = Default::default();
    let f2 = Arc::clone(&failed);
    svc.server().subscribe("fails", SubscribeOptions::queue("q"), move |ev| {
        let f2 = Arc::clone(&f2);
        async move {
            f2.lock().unwrap().push(ev);
            Err(Error::internal("subs", "handler says no"))
        }
    });
    svc.start().await.unwrap();

    let me = reg.get_service("subs").await.unwrap();
    let eps = &me[0].endpoints;
    let sub_eps: Vec<_> =
        eps.iter().filter(|e| e.metadata.get("subscriber").map(String::as_str) == Some("true")).collect();
    assert_eq!(sub_eps.len(), 2);
    assert_eq!(sub_eps[0].name, "Func");
    assert_eq!(sub_eps[0].metadata.get("topic").map(String::as_str), Some("greetings"));
    assert!(sub_eps[0].response.is_none());
    assert_eq!(me[0].nodes[0].metadata.get("broker").map(String::as_str), Some("http"));

    let mut opts = PublishOptions::default();
    opts.metadata.insert("Trace".into(), "abc".into());
    svc.client().publish_json("greetings", &serde_json::json!({"say": "hi"}), &opts).await.unwrap();
    assert_eq!(wait_for(&seen, 1, Duration::from_secs(5)).await, 1);
    let ev = seen.lock().unwrap()[0].clone();
    assert_eq!(&ev.message.body[..], b"{\"say\":\"hi\"}\n");
    let h = &ev.message.header;
    assert_eq!(h.get("Content-Type").map(String::as_str), Some("application/json"));
    assert_eq!(h.get("Micro-Topic").map(String::as_str), Some("greetings"));
    assert_eq!(h.get("Trace").map(String::as_str), Some("abc"));
    assert_eq!(h.get("Micro-ID").map(|v| v.len()), Some(36), "Micro-ID is a UUID, spelt as go-micro: {h:?}");

    // A failing handler over the broker: the publisher is not told (go-micro's subscriber
    // answers 200 whatever the handler returned), the handler ran once, and the message is
    // not redelivered — neither by itself nor along with the next publish to the topic.
    svc.client().publish("fails", "x1", &PublishOptions::default()).await.unwrap();
    assert_eq!(wait_for(&failed, 1, Duration::from_secs(5)).await, 1, "the failing handler ran");
    svc.client().publish("fails", "x2", &PublishOptions::default()).await.unwrap();
    assert_eq!(wait_for(&failed, 2, Duration::from_secs(5)).await, 2);
    tokio::time::sleep(GRACE).await;
    assert_eq!(
        bodies(&failed),
        [b"x1".to_vec(), b"x2".to_vec()],
        "each message handled once: no redelivery after the error"
    );

    // The RPC transport path (go-micro's HandleEvent): a transport message with Micro-Topic.
    let addr = svc.server().advertised().unwrap();
    let rpc_event = |topic: &str| {
        let mut header = micro::transport::Header::new();
        header.insert("Micro-Topic".into(), topic.to_string());
        header.insert("Content-Type".into(), "application/json".into());
        micro::transport::Message { header, body: "{}".into() }
    };
    let mut conn =
        micro::transport::pool::Conn::dial(&addr, Duration::from_secs(2), Default::default(), None).await.unwrap();
    conn.send(&rpc_event("greetings")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert!(reply.get("Micro-Error").is_none(), "{reply:?}");
    assert_eq!(wait_for(&seen, 2, Duration::from_secs(2)).await, 2);
    conn.send(&rpc_event("fails")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert!(reply.get("Micro-Error").unwrap_or("").contains("handler says no"), "{reply:?}");
    assert_eq!(
        bodies(&failed),
        [b"x1".to_vec(), b"x2".to_vec(), b"{}".to_vec()],
        "the RPC path ran the handler once more"
    );
    conn.send(&rpc_event("nobody")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert_eq!(Error::parse(reply.get("Micro-Error").unwrap_or("")).code, 404, "{reply:?}");

    // Over the size limit: a clear error to the publisher.
    let e =
        svc.client().publish("greetings", vec![0u8; 5 * 1024 * 1024], &PublishOptions::default()).await.unwrap_err();
    assert_eq!(e.code, 413, "{e:?}");

    svc.stop().await.unwrap();
    assert!(
        reg.get_service("micro.http.broker").await.unwrap().iter().all(|s| s.nodes.is_empty()),
        "unsubscribed on stop"
    );
}
