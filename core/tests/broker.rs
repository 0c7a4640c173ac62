//! Pub/sub, Rust ↔ Rust: the memory broker, the HTTP broker over real sockets with the
//! memory registry, server subscribers, and the failure cases (no subscriber, a dead
//! subscriber, a failing handler, an oversized message).

use micro::broker::{self, http::HttpBroker, memory, Broker, Event, Message, SubscribeOptions};
use micro::registry::memory::Memory as MemRegistry;
use micro::registry::{Node, RegisterOptions, Registry, Service as RegService};
use micro::{CallOptions, Error, PublishOptions, Service};
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
    let n = 10;
    for i in 0..n {
        let mut m = Message::new(body.clone());
        m.header.insert("Micro-ID".into(), format!("id-{i}"));
        m.header.insert("x-lower".into(), "kept as is".into());
        pub_side.publish("events", m).await.unwrap();
    }
    assert_eq!(wait_for(&bc1, n, Duration::from_secs(10)).await, n);
    assert_eq!(wait_for(&bc2, n, Duration::from_secs(10)).await, n);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(g1.lock().unwrap().len() + g2.lock().unwrap().len(), n, "one copy per queue group");
    let ev = bc1.lock().unwrap()[0].clone();
    assert_eq!(ev.topic, "events");
    assert_eq!(&ev.message.body[..], &body[..], "body byte for byte");
    assert_eq!(ev.message.header.get("x-lower").map(String::as_str), Some("kept as is"), "keys not canonicalised");
    assert_eq!(ev.message.header.get("Micro-Topic").map(String::as_str), Some("events"));

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

    let e = pub_side.publish("late", Message::new(vec![b'x'; 5000])).await.unwrap_err();
    assert_eq!(e.code, 413);
    assert!(e.detail.contains("4096"), "names the limit: {e:?}");

    // A subscriber arrives; the next publish carries the queued one along.
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 4096);
    sub_side.connect().await.unwrap();
    let seen: Seen = Default::default();
    sub_side.subscribe("late", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // past the cache's negative TTL
    pub_side.publish("late", Message::new("second")).await.unwrap();
    assert_eq!(wait_for(&seen, 2, Duration::from_secs(5)).await, 2);
    let bodies: Vec<Vec<u8>> = seen.lock().unwrap().iter().map(|e| e.message.body.to_vec()).collect();
    assert_eq!(bodies, [b"first".to_vec(), b"second".to_vec()]);

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

#[tokio::test]
async fn http_broker_dead_subscriber_requeues_until_a_live_one_takes_it() {
    let reg: Arc<dyn Registry> = Arc::new(MemRegistry::new());
    // A subscriber node whose process is gone (killed without deregistering).
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut md = BTreeMap::new();
    md.insert("broker".to_string(), "http".to_string());
    md.insert("topic".to_string(), "jobs".to_string());
    let dead = RegService {
        name: "micro.http.broker".into(),
        version: "ff.http.broadcast".into(),
        nodes: vec![Node { id: "jobs-dead".into(), address: format!("127.0.0.1:{dead_port}"), metadata: md }],
        ..Default::default()
    };
    reg.register(&dead, RegisterOptions::default()).await.unwrap();
    let pub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    pub_side.connect().await.unwrap();
    // go-micro semantics: Publish has returned before delivery; the failed post re-queues.
    pub_side.publish("jobs", Message::new("while down")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    reg.deregister(&dead).await.unwrap();
    let sub_side = HttpBroker::new("127.0.0.1:0", Arc::clone(&reg), 1 << 20);
    sub_side.connect().await.unwrap();
    let seen: Seen = Default::default();
    sub_side.subscribe("jobs", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    pub_side.publish("jobs", Message::new("after")).await.unwrap();
    assert_eq!(wait_for(&seen, 2, Duration::from_secs(5)).await, 2, "the message queued while the subscriber was down arrives");
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
    svc.server().subscribe("fails", SubscribeOptions::queue("q"), |_ev| async move {
        Err(Error::internal("subs", "handler says no"))
    });
    svc.start().await.unwrap();

    let me = reg.get_service("subs").await.unwrap();
    let eps = &me[0].endpoints;
    let sub_eps: Vec<_> = eps.iter().filter(|e| e.metadata.get("subscriber").map(String::as_str) == Some("true")).collect();
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

    // A failing handler: the publisher's call already returned; nothing is redelivered.
    svc.client().publish("fails", "x", &PublishOptions::default()).await.unwrap();

    // The RPC transport path (go-micro's HandleEvent): a transport message with Micro-Topic.
    let addr = svc.server().advertised().unwrap();
    let rpc_event = |topic: &str| {
        let mut header = micro::transport::Header::new();
        header.insert("Micro-Topic".into(), topic.to_string());
        header.insert("Content-Type".into(), "application/json".into());
        micro::transport::Message { header, body: "{}".into() }
    };
    let mut conn = micro::transport::pool::Conn::dial(&addr, Duration::from_secs(2), Default::default(), None).await.unwrap();
    conn.send(&rpc_event("greetings")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert!(reply.get("Micro-Error").is_none(), "{reply:?}");
    assert_eq!(wait_for(&seen, 2, Duration::from_secs(2)).await, 2);
    conn.send(&rpc_event("fails")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert!(reply.get("Micro-Error").unwrap_or("").contains("handler says no"), "{reply:?}");
    conn.send(&rpc_event("nobody")).await.unwrap();
    let reply = conn.recv().await.unwrap();
    assert_eq!(Error::parse(reply.get("Micro-Error").unwrap_or("")).code, 404, "{reply:?}");
    let _ = CallOptions::default();

    // Over the size limit: a clear error to the publisher.
    let e = svc.client().publish("greetings", vec![0u8; 5 * 1024 * 1024], &PublishOptions::default()).await.unwrap_err();
    assert_eq!(e.code, 413, "{e:?}");

    svc.stop().await.unwrap();
    assert!(reg.get_service("micro.http.broker").await.unwrap().iter().all(|s| s.nodes.is_empty()), "unsubscribed on stop");
}
