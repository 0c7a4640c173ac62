//! The NATS broker against a real `nats-server` (Debian's package; `scripts/test.d/20-pubsub.sh`
//! installs it). Without one on PATH (or `NATS_SERVER`) the tests say so and pass, unless
//! `MICRO_REQUIRE_NATS=1`, which the pub/sub suite sets.

mod common;

use common::nats::{nats_bin, NatsServer};
use micro::broker::nats::Nats;
use micro::broker::{self, Broker, Event, Header, Message, SubscribeOptions};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Waits until the recorders together hold `n` events (5 s at most), then 300 ms more so a
/// duplicate would show; returns the total.
async fn settle_all(seen: &[&Seen], n: usize) -> usize {
    let total = || seen.iter().map(|s| s.lock().unwrap().len()).sum::<usize>();
    let deadline = Instant::now() + Duration::from_secs(5);
    while total() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    total()
}

async fn settle(seen: &Seen, n: usize) -> usize {
    settle_all(&[seen], n).await
}

/// The `Micro-ID`s the recorders got, sorted.
fn ids(seen: &[&Seen]) -> Vec<String> {
    let mut v: Vec<String> = seen
        .iter()
        .flat_map(|s| s.lock().unwrap().iter().map(|e| e.message.header["Micro-ID"].clone()).collect::<Vec<_>>())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn nats_broadcast_queue_bytes_and_size_limit() {
    let Some(bin) = nats_bin("nats_broadcast_queue_bytes_and_size_limit") else { return };
    let dir = std::env::temp_dir().join(format!("micro-nats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("small.conf");
    std::fs::write(&conf, "max_payload: 4096\n").unwrap();
    let server = NatsServer::start(&bin, &["-c", conf.to_str().unwrap()]);

    let a = Nats::new(&server.url(), 1 << 20).unwrap();
    let b = Nats::new(&server.url(), 1 << 20).unwrap();
    let p = Nats::new(&server.url(), 1 << 20).unwrap();
    for x in [&a, &b, &p] {
        x.connect().await.unwrap();
    }
    let (ba, bb, qa, qb): (Seen, Seen, Seen, Seen) = Default::default();
    a.subscribe("orders.new", SubscribeOptions::default(), recorder(&ba)).await.unwrap();
    b.subscribe("orders.new", SubscribeOptions::default(), recorder(&bb)).await.unwrap();
    a.subscribe("orders.new", SubscribeOptions::queue("billing"), recorder(&qa)).await.unwrap();
    b.subscribe("orders.new", SubscribeOptions::queue("billing"), recorder(&qb)).await.unwrap();
    server.wait_subscriptions("orders.new", None, 2).await;
    server.wait_subscriptions("orders.new", Some("billing"), 2).await;
    let body: Vec<u8> = (0u8..=255).collect();
    let n = 20;
    let mut sent = Vec::new();
    for i in 0..n {
        let mut m = Message::new(body.clone());
        m.header.insert("Micro-ID".into(), format!("{i:02}"));
        m.header.insert("x-lower".into(), "kept as is".into());
        m.header.insert("Content-Type".into(), "application/octet-stream".into());
        sent.push(m.clone());
        p.publish("orders.new", m).await.unwrap();
    }
    let want: Vec<String> = (0..n).map(|i| format!("{i:02}")).collect();
    assert_eq!(settle(&ba, n).await, n);
    assert_eq!(settle(&bb, n).await, n);
    assert_eq!(settle_all(&[&qa, &qb], n).await, n);
    assert_eq!(ids(&[&ba]), want, "broadcast: every message once");
    assert_eq!(ids(&[&bb]), want, "broadcast: every message once");
    assert_eq!(ids(&[&qa, &qb]), want, "one copy per queue group: each message once across its members");
    let (ca, cb) = (qa.lock().unwrap().len(), qb.lock().unwrap().len());
    // nats-server picks a random member per message: an empty member has odds 2^-19.
    assert!(ca > 0 && cb > 0, "both queue members took messages ({ca}+{cb})");
    for ev in ba.lock().unwrap().iter() {
        let m = sent.iter().find(|m| m.header["Micro-ID"] == ev.message.header["Micro-ID"]).unwrap();
        let want: &Header = &m.header;
        assert_eq!(
            &ev.message.header, want,
            "the whole header map, exactly as sent (go-micro's NATS broker adds nothing)"
        );
        assert_eq!(&ev.message.body[..], &body[..], "body byte for byte");
    }

    let e = p.publish("orders.new", Message::new(vec![1u8; 5000])).await.unwrap_err();
    assert_eq!(e.code, 413, "{e:?}");
    assert!(e.detail.contains("max_payload") && e.detail.contains("4096"), "{e:?}");
    let e = p.publish("bad subject", Message::new("x")).await.unwrap_err();
    assert_eq!(e.code, 400);
}

/// A stream of messages while the server restarts: the subscriber resumes by itself, and
/// the test reports how many were lost (NATS core delivers at most once).
#[tokio::test]
async fn nats_restart_mid_stream_resubscribes() {
    let Some(bin) = nats_bin("nats_restart_mid_stream_resubscribes") else { return };
    let mut server = NatsServer::start(&bin, &[]);
    let sub = Nats::new(&server.url(), 1 << 20).unwrap();
    let publ = Nats::new(&server.url(), 1 << 20).unwrap();
    sub.connect().await.unwrap();
    publ.connect().await.unwrap();
    let seen: Seen = Default::default();
    sub.subscribe("ticks", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    server.wait_subscriptions("ticks", None, 1).await;

    let total = 300;
    let (mut ok, mut refused) = (0, 0);
    for i in 0..total {
        if i == 100 {
            server.restart();
        }
        match publ.publish("ticks", Message::new(format!("{i}"))).await {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = settle(&seen, ok).await;
    let nums: Vec<usize> =
        seen.lock().unwrap().iter().filter_map(|e| std::str::from_utf8(&e.message.body).ok()?.parse().ok()).collect();
    let after = nums.iter().filter(|n| **n >= 150).count();
    println!(
        "NATS restart mid-stream: published {total}, accepted {ok}, refused with an error {refused}, received {got}, lost {} (at most once); reconnects: sub {} pub {}",
        ok - got.min(ok),
        sub.reconnects(),
        publ.reconnects()
    );
    assert!(sub.reconnects() >= 1, "the subscriber reconnected");
    assert!(after >= 140, "the subscriber resumed after the restart: {after} of the last 150 arrived");
}

/// A server that stops answering without closing the connection (SIGSTOP: a hung process,
/// or a network path that drops packets): the client's PINGs go unanswered, it drops the
/// connection, `publish` fails instead of writing into a dead socket, and once the server
/// answers again the client reconnects and resubscribes by itself.
#[tokio::test]
async fn a_server_that_stops_answering_is_noticed_by_pings() {
    let Some(bin) = nats_bin("a_server_that_stops_answering_is_noticed_by_pings") else { return };
    let server = NatsServer::start(&bin, &[]);
    let nats = Nats::new(&server.url(), 1 << 20).unwrap();
    nats.set_ping_interval(Duration::from_millis(200));
    nats.connect().await.unwrap();
    let seen: Seen = Default::default();
    nats.subscribe("beat", SubscribeOptions::default(), recorder(&seen)).await.unwrap();
    nats.publish("beat", Message::new("before")).await.unwrap();
    assert_eq!(settle(&seen, 1).await, 1);

    let pid = server.pid().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    // Three unanswered PING intervals (600 ms) later the connection is given up.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    let r = nats.publish("beat", Message::new("while hung")).await;
    assert!(r.is_err(), "publish to a hung server reported success");
    assert!(started.elapsed() < Duration::from_secs(4), "publish took {:?} to fail", started.elapsed());

    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while nats.reconnects() == 0 {
        assert!(Instant::now() < deadline, "no reconnection after the server came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nats.publish("beat", Message::new("after")).await.unwrap();
    assert_eq!(settle(&seen, 2).await, 2, "the subscription was not restored");
    let last = seen.lock().unwrap().last().map(|e| e.message.body.clone()).unwrap();
    assert_eq!(&last[..], b"after");
}

/// A subscriber whose handler waits until released, counting what it got, and a publisher,
/// on one nats-server.
struct Held {
    server: NatsServer,
    sub: Nats,
    publ: Nats,
    gate: Arc<tokio::sync::Semaphore>,
    got: Arc<AtomicU64>,
}

impl Held {
    /// Subscribed to `topic` and seen by the server; `None` without a nats-server.
    async fn start(test: &str, topic: &str) -> Option<Held> {
        let server = NatsServer::start(&nats_bin(test)?, &[]);
        let sub = Nats::new(&server.url(), 1 << 20).unwrap();
        let publ = Nats::new(&server.url(), 1 << 20).unwrap();
        sub.connect().await.unwrap();
        publ.connect().await.unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let got: Arc<AtomicU64> = Default::default();
        let (g, n) = (Arc::clone(&gate), Arc::clone(&got));
        let handler = broker::handler(move |_| {
            let (g, n) = (Arc::clone(&g), Arc::clone(&n));
            async move {
                drop(g.acquire().await);
                n.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        });
        sub.subscribe(topic, SubscribeOptions::default(), handler).await.unwrap();
        server.wait_subscriptions(topic, None, 1).await;
        Some(Held { server, sub, publ, gate, got })
    }

    /// Once the server has handed `n` messages on `topic` to the subscriber's connection, a
    /// round trip on it means its reader has taken each: queued for the handler, or dropped.
    async fn taken(&self, topic: &str, n: u64) {
        wait_until("nats-server delivered every message", || self.server.delivered(topic) >= n).await;
        self.sub.flush().await.unwrap();
    }

    /// Lets the handler go, and waits until it got all of `n` that were not dropped.
    async fn release(&self, n: u64) -> u64 {
        self.gate.add_permits(usize::MAX >> 4);
        wait_until("the handler got what waited", || self.got() + self.sub.dropped() >= n).await;
        self.got()
    }

    fn got(&self) -> u64 {
        self.got.load(Ordering::Relaxed)
    }
}

/// Waits (10 s at most) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A burst larger than the old bound of 4096 waiting messages, while the handler is held:
/// every message waits for it, as nats.go (go-micro's NATS broker) lets 512 Ki wait.
#[tokio::test]
async fn a_held_handler_gets_a_burst_of_twenty_thousand_whole() {
    let Some(h) = Held::start("a_held_handler_gets_a_burst_of_twenty_thousand_whole", "burst").await else {
        return;
    };
    let n = 20_000u64;
    for i in 0..n {
        h.publ.publish("burst", Message::new(format!("{i}"))).await.unwrap();
    }
    h.taken("burst", n).await;
    assert_eq!(h.sub.dropped(), 0, "nothing dropped while the handler was held");
    assert_eq!(h.release(n).await, n, "every message of the burst reached the handler");
    assert_eq!(h.sub.dropped(), 0, "nothing dropped");
}

/// Past the bound of waiting payload bytes (64 MiB, nats.go's), newer messages are dropped
/// and counted, none silently: what the handler gets plus what was dropped is what was
/// published, and what waited stayed within the bound.
#[tokio::test]
async fn a_held_handler_keeps_at_most_64_mib_waiting_and_counts_the_rest() {
    let test = "a_held_handler_keeps_at_most_64_mib_waiting_and_counts_the_rest";
    let Some(h) = Held::start(test, "big").await else { return };
    // 700 KB bodies: under nats-server's 1 MiB max_payload once base64'd into go-micro's
    // envelope (~934 KB each), so 100 of them are ~89 MiB.
    let body = vec![7u8; 700_000];
    let n = 100u64;
    for _ in 0..n {
        h.publ.publish("big", Message::new(body.clone())).await.unwrap();
    }
    h.taken("big", n).await;
    assert!(h.sub.dropped() > 0, "past 64 MiB waiting, messages are dropped");
    let received = h.release(n).await;
    let dropped = h.sub.dropped();
    println!("64 MiB bound: published {n} of ~934 KB, handled {received}, dropped {dropped}");
    assert_eq!(received + dropped, n, "every message handled or counted as dropped");
    // One message may be in the handler (taken off the queue) beyond what the bound lets wait.
    let payload = 934_000u64;
    assert!(received * payload <= (64 << 20) + payload, "{received} messages of ~{payload} bytes waited");
    assert!(received >= 60, "the bound let ~71 messages wait, not {received}");
    // After the drops, the subscription goes on: a new message arrives.
    h.publ.publish("big", Message::new("after")).await.unwrap();
    wait_until("a message after the drops arrives", || h.got() > received).await;
}
