//! The Rust load generator. Loopback only; every run is bounded by warm-up + duration.
//!
//! ```text
//! loadgen unary  --client micro|hyper --addr H:P [--c 64] [--d 3] [--warmup 1] [--rate R] [--size N]
//! loadgen http   --addr H:P [--path /greeter/Greeter.Hello] [--c 64] [--d 3] [--warmup 1] [--rate R]
//! loadgen stream --addr H:P [--d 3] [--warmup 1] [--window 1]
//! loadgen discover --service NAME [--timeout 10]
//! loadgen pubsub [--window 64] [--d 3] [--warmup 1] [--drain 3] [--broker nats://H:P]
//! loadgen registry [--services 200] [--nodes 3] [--lookups 100000]
//! ```
//!
//! `unary` is closed loop (`--c` calls in flight, each starting when the last ended) unless
//! `--rate` is given: then it is open loop, request k is due at start + k/rate and its
//! latency counts from that due time, so a stalled server is charged for the requests it
//! held up (no coordinated omission). `--c` connections serve the schedule. Tokio's timer
//! has 1 ms granularity (a wake-up lands up to ~2 ms late), so a request sent less than 2 ms after its due time is timed from
//! its actual send. `micro` calls go through micro's client with `CallOptions::address`
//! (no registry); `--size N` pads the name so the JSON request body is N bytes (the greeting
//! echoes it). `hyper` is a raw hyper 1 HTTP/1.1 client, one connection per worker, the
//! floor. `http` is `unary` through an HTTP gateway (`micro api`): `POST --path` with the
//! JSON body on one keep-alive hyper connection per worker, a success being a 200 whose body
//! is the greeting. `stream` ping-pongs one message at a time over one `Greeter.Stream`. `discover`
//! builds an mDNS client, prints `{"event":"ready"}`, then calls `Greeter.Hello` on NAME
//! until it succeeds and prints the Unix time of that success in ns.
//!
//! `pubsub` is one process holding a memory registry, our http broker, a subscriber
//! (`Server::subscribe_json`) and a publisher (`Client::publish_json`) on loopback: it
//! publishes whenever fewer than `--window` messages are outstanding (published − received)
//! through warm-up and the measured window, then stops and waits up to `--drain` seconds for
//! the rest. It prints delivered messages/s and publish → delivery latency over deliveries
//! in the window, and `published`, `received`, `lost` over the whole run. `--broker
//! nats://H:P` carries the messages through that NATS server instead.
//!
//! `registry` fills a memory registry with `--services` services of `--nodes` nodes each
//! (endpoints and metadata as a go-micro service registers them), then times lookups
//! through the client's registry cache: the first (a miss that reads the registry), then
//! `--lookups` cached ones spread over every service; p50/p99 are those of the cached ones.
//! `--lookup copy` (the default) times `Cache::lookup`, which answers a copy; `--lookup shared`
//! times `Cache::lookup_shared`, which shares the cached answer, as a call does.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use micro::broker::SubscribeOptions;
use micro::client::PublishOptions;
use micro::registry::cache::Cache;
use micro::Service;
use micro::{CallOptions, Client, ClientOptions};
use micro_bench::{histogram, record, Args, HelloRequest, Outcome, PubsubOutcome, Reply, Tick};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BODY: &[u8] = br#"{"name":"bench"}"#;

/// The name the unary call sends: `bench`, padded with `x` so the JSON request body is
/// `size` bytes (`--size`; 0 or less than the plain body: just `bench`).
fn padded_name(size: usize) -> String {
    let pad = size.saturating_sub(BODY.len());
    let mut name = String::with_capacity(5 + pad);
    name.push_str("bench");
    name.extend(std::iter::repeat_n('x', pad));
    name
}
const SLOP: Duration = Duration::from_millis(2);
/// Longest wait for one `http` answer (the gateways' own call timeout is 5 s); past it the
/// call is an error and its connection is dropped.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One way of making the unary call.
enum Caller {
    Micro {
        client: Client,
        opts: CallOptions,
        /// The name sent (`bench`, padded to `--size`) and the greeting expected back.
        name: Arc<(String, String)>,
    },
    Hyper {
        sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        addr: String,
    },
    /// `Greeter.Hello` through an HTTP gateway: `POST {path}` with the JSON body, one
    /// keep-alive connection per worker (reopened after a failure).
    Http {
        sender: Option<Sender>,
        addr: String,
        path: String,
    },
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One HTTP/1.1 connection to `addr`, its driver spawned.
async fn connect(addr: &str) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Caller {
    async fn new(kind: &str, addr: &str, path: &str, conc: usize, size: usize) -> Result<Caller, String> {
        match kind {
            "micro" => {
                let opts = ClientOptions { pool_size: conc + 4, retries: 0, ..ClientOptions::default() };
                let client = Client::with_cache(None, opts);
                let call = CallOptions { address: vec![addr.to_string()], ..CallOptions::default() };
                let name = padded_name(size);
                let expected = format!("Hello {name}");
                Ok(Caller::Micro { client, opts: call, name: Arc::new((name, expected)) })
            }
            "hyper" => Ok(Caller::Hyper { sender: connect(addr).await?, addr: addr.to_string() }),
            "http" => {
                Ok(Caller::Http { sender: Some(connect(addr).await?), addr: addr.to_string(), path: path.into() })
            }
            other => Err(format!("unknown --client {other:?} (micro, hyper or http)")),
        }
    }

    /// One call; true when the reply is the expected greeting (or echo).
    async fn call(&mut self) -> bool {
        match self {
            Caller::Micro { client, opts, name } => {
                let req = HelloRequest { name: name.0.clone() };
                match client.call_json::<_, Reply>("greeter", "Greeter.Hello", &req, opts).await {
                    Ok(r) => r.message == name.1,
                    Err(_) => false,
                }
            }
            Caller::Hyper { sender, addr } => {
                let req = match hyper::Request::post(format!("http://{addr}/"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(BODY)))
                {
                    Ok(r) => r,
                    Err(_) => return false,
                };
                match sender.send_request(req).await {
                    Ok(rsp) => match rsp.into_body().collect().await {
                        Ok(b) => b.to_bytes().as_ref() == BODY,
                        Err(_) => false,
                    },
                    Err(_) => false,
                }
            }
            Caller::Http { sender, addr, path } => {
                let mut conn = match sender.take() {
                    Some(c) if !c.is_closed() => c,
                    _ => match connect(addr).await {
                        Ok(c) => c,
                        Err(_) => return false,
                    },
                };
                let req = match hyper::Request::post(format!("http://{addr}{path}"))
                    .header("host", addr.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(BODY)))
                {
                    Ok(r) => r,
                    Err(_) => return false,
                };
                // Bounded: a gateway that leaves a request unanswered costs this call, not the run.
                let ok = match tokio::time::timeout(HTTP_TIMEOUT, conn.send_request(req)).await {
                    Err(_) => return false,
                    Ok(Err(_)) => false,
                    Ok(Ok(rsp)) => {
                        let status = rsp.status();
                        match rsp.into_body().collect().await {
                            Ok(b) => {
                                status == hyper::StatusCode::OK
                                    && serde_json::from_slice::<Reply>(&b.to_bytes())
                                        .is_ok_and(|r| r.message == "Hello bench")
                            }
                            Err(_) => false,
                        }
                    }
                };
                *sender = Some(conn);
                ok
            }
        }
    }
}

async fn unary(args: &Args, http: bool) -> Result<(), String> {
    let kind = if http { "http".to_string() } else { args.str("client", "micro") };
    let path = args.str("path", "/greeter/Greeter.Hello");
    let addr = args.str("addr", "");
    if addr.is_empty() {
        return Err("--addr is required".into());
    }
    let conc = args.num("c", 64.0)?.max(1.0) as usize;
    let dur = Duration::from_secs_f64(args.num("d", 3.0)?);
    let warm = Duration::from_secs_f64(args.num("warmup", 1.0)?);
    let rate = args.num("rate", 0.0)?;
    let size = args.num("size", 0.0)?.max(0.0) as usize;
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let slot = Arc::new(AtomicU64::new(0));
    let shared_micro = if kind == "micro" { Some(Caller::new("micro", &addr, &path, conc, size).await?) } else { None };
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let mut caller = match &shared_micro {
            Some(Caller::Micro { client, opts, name }) => {
                Caller::Micro { client: client.clone(), opts: opts.clone(), name: Arc::clone(name) }
            }
            _ => Caller::new(&kind, &addr, &path, conc, size).await?,
        };
        let (recording, stop, errors, slot) = (recording.clone(), stop.clone(), errors.clone(), slot.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            tokio::time::sleep_until(start.into()).await;
            while !stop.load(Ordering::Relaxed) {
                let t0 = if rate > 0.0 {
                    let k = slot.fetch_add(1, Ordering::Relaxed);
                    let due = start + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let now = Instant::now();
                    if now.saturating_duration_since(due) > SLOP {
                        due
                    } else {
                        now
                    }
                } else {
                    Instant::now()
                };
                let rec = recording.load(Ordering::Relaxed);
                let ok = caller.call().await;
                if rec {
                    record(&mut h, t0.elapsed());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            h
        }));
    }
    tokio::time::sleep_until((start + warm).into()).await;
    recording.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(dur).await;
    recording.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut all: Histogram<u64> = histogram();
    for t in tasks {
        let h = t.await.map_err(|e| e.to_string())?;
        all.add(&h).map_err(|e| e.to_string())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Outcome::from_histogram(&all, errors.load(Ordering::Relaxed), secs).print();
    Ok(())
}

async fn stream(args: &Args) -> Result<(), String> {
    let addr = args.str("addr", "");
    if addr.is_empty() {
        return Err("--addr is required".into());
    }
    let dur = Duration::from_secs_f64(args.num("d", 3.0)?);
    let warm = Duration::from_secs_f64(args.num("warmup", 1.0)?);
    let client = Client::with_cache(None, ClientOptions { retries: 0, ..ClientOptions::default() });
    let opts = CallOptions { address: vec![addr.clone()], ..CallOptions::default() };
    let mut st = client.stream("greeter", "Greeter.Stream", &opts).await.map_err(|e| e.to_string())?;
    let window_size = args.num("window", 1.0)?.max(1.0) as usize;
    if window_size > 1 {
        return stream_window(st, window_size, warm, dur).await;
    }
    let mut h = histogram();
    let mut errors = 0;
    let start = Instant::now();
    let mut window: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if window.is_none() && now - start >= warm {
            window = Some(now);
        }
        if let Some(w) = window {
            if now - w >= dur {
                break;
            }
        }
        st.send(Bytes::from_static(BODY)).await.map_err(|e| format!("stream send: {e}"))?;
        let reply = st.recv().await.map_err(|e| format!("stream recv: {e}"))?;
        if window.is_some() {
            record(&mut h, now.elapsed());
            let ok = reply
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Reply>(b).ok())
                .is_some_and(|r| r.message == "Hello bench");
            if !ok {
                errors += 1;
            }
        }
    }
    let secs = window.map(|w| w.elapsed().as_secs_f64()).unwrap_or(0.0);
    let _ = st.close().await;
    Outcome::from_histogram(&h, errors, secs).print();
    Ok(())
}

async fn discover(args: &Args) -> Result<(), String> {
    let service = args.str("service", "greeter");
    let deadline = Instant::now() + Duration::from_secs_f64(args.num("timeout", 10.0)?);
    let registry = micro::registry::from_url("mdns").await.map_err(|e| e.to_string())?;
    let client =
        Client::with_cache(Some(Cache::new(registry)), ClientOptions { retries: 0, ..ClientOptions::default() });
    println!("{}", serde_json::json!({"event": "ready"}));
    let req = HelloRequest { name: "bench".into() };
    let opts = CallOptions { timeout: Some(Duration::from_millis(500)), ..CallOptions::default() };
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        if let Ok(r) = client.call_json::<_, Reply>(&service, "Greeter.Hello", &req, &opts).await {
            if r.message == "Hello bench" {
                let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
                println!("{}", serde_json::json!({"event": "called", "unix_ns": ns.to_string(), "attempts": attempts}));
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{service} not callable within the timeout ({attempts} attempts)"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const TOPIC: &str = "bench.ticks";

/// Counters the subscriber and the publisher share.
/// `stream --window N`: a sender keeps N messages in flight on the one stream (each reply
/// frees a slot), the receiver times each reply from its message's send (the stream keeps
/// order); messages/s and latency over the replies received in the window.
async fn stream_window(st: micro::client::ClientStream, n: usize, warm: Duration, dur: Duration) -> Result<(), String> {
    use std::collections::VecDeque;
    let (mut tx, mut rx) = st.split();
    let slots = Arc::new(tokio::sync::Semaphore::new(n));
    let sent: Arc<std::sync::Mutex<VecDeque<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (slots, sent, stop) = (slots.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(permit) = slots.acquire().await else { break };
                permit.forget(); // given back by the receiver, one per reply
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                sent.lock().unwrap_or_else(|p| p.into_inner()).push_back(Instant::now());
                if tx.send(Bytes::from_static(BODY)).await.is_err() {
                    break;
                }
            }
            tx
        })
    };
    let mut h = histogram();
    let (mut errors, mut got) = (0u64, 0u64);
    let start = Instant::now();
    let mut window: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if window.is_none() && now - start >= warm {
            window = Some(now);
        }
        if window.is_some_and(|w| now - w >= dur) {
            break;
        }
        let reply = rx.recv().await.map_err(|e| format!("stream recv: {e}"))?;
        let t = sent.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        slots.add_permits(1);
        if let (Some(_), Some(t)) = (window, t) {
            got += 1;
            record(&mut h, t.elapsed());
            let ok = reply
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Reply>(b).ok())
                .is_some_and(|r| r.message == "Hello bench");
            if !ok {
                errors += 1;
            }
        }
    }
    let secs = window.map(|w| w.elapsed().as_secs_f64()).unwrap_or(0.0);
    stop.store(true, Ordering::Relaxed);
    slots.add_permits(n); // wakes the sender to see the stop
                          // The replies still in flight, then the stream's end.
    while !sent.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Ok(Some(_))) => {
                sent.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
            }
            _ => break,
        }
    }
    if let Ok(mut tx) = sender.await {
        let _ = tx.close_send().await;
    }
    let mut out = Outcome::from_histogram(&h, errors, secs);
    out.requests = got;
    out.rate = if secs > 0.0 { got as f64 / secs } else { 0.0 };
    out.print();
    Ok(())
}

struct Flow {
    origin: Instant,
    received: AtomicU64,
    recording: AtomicBool,
    hist: std::sync::Mutex<Histogram<u64>>,
    freed: tokio::sync::Notify,
}

async fn pubsub(args: &Args) -> Result<(), String> {
    let window = args.num("window", 64.0)?.max(1.0) as u64;
    let dur = Duration::from_secs_f64(args.num("d", 3.0)?);
    let warm = Duration::from_secs_f64(args.num("warmup", 1.0)?);
    let drain = Duration::from_secs_f64(args.num("drain", 3.0)?);
    // `--broker nats://HOST:PORT`: through a NATS server instead of our http broker.
    let broker = args.str("broker", "http://127.0.0.1:0");
    let svc = Service::builder("bench.pubsub")
        .address("127.0.0.1:0")
        .registry_url("memory")
        .broker_url(broker)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let flow = Arc::new(Flow {
        origin: Instant::now(),
        received: AtomicU64::new(0),
        recording: AtomicBool::new(false),
        hist: std::sync::Mutex::new(histogram()),
        freed: tokio::sync::Notify::new(),
    });
    let f = flow.clone();
    svc.server().subscribe_json(TOPIC, SubscribeOptions::default(), move |tick: Tick, _| {
        let f = f.clone();
        async move {
            if f.recording.load(Ordering::Relaxed) {
                let lat = f.origin.elapsed().saturating_sub(Duration::from_nanos(tick.t));
                record(&mut f.hist.lock().unwrap_or_else(|p| p.into_inner()), lat);
            }
            f.received.fetch_add(1, Ordering::Relaxed);
            f.freed.notify_one();
            Ok(())
        }
    });
    svc.start().await.map_err(|e| e.to_string())?;
    let client = svc.client().clone();
    let opts = PublishOptions::default();
    let (mut published, mut publish_errors) = (0u64, 0u64);
    let start = Instant::now();
    let mut t0: Option<(Instant, u64)> = None;
    let end = loop {
        let now = Instant::now();
        if t0.is_none() && now - start >= warm {
            t0 = Some((now, flow.received.load(Ordering::Relaxed)));
            flow.recording.store(true, Ordering::Relaxed);
        }
        if let Some((w, _)) = t0 {
            if now - w >= dur {
                flow.recording.store(false, Ordering::Relaxed);
                break (now, flow.received.load(Ordering::Relaxed));
            }
        }
        if published - flow.received.load(Ordering::Relaxed).min(published) >= window {
            // Bounded wait: a lost message must not stall the loop past the window's end.
            let _ = tokio::time::timeout(Duration::from_millis(10), flow.freed.notified()).await;
            continue;
        }
        let tick = Tick { seq: published, t: flow.origin.elapsed().as_nanos() as u64 };
        published += 1;
        if client.publish_json(TOPIC, &tick, &opts).await.is_err() {
            publish_errors += 1;
        }
    };
    let deadline = Instant::now() + drain;
    while flow.received.load(Ordering::Relaxed) < published && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(10), flow.freed.notified()).await;
    }
    let received = flow.received.load(Ordering::Relaxed);
    let (w, before) = t0.unwrap_or((end.0, end.1));
    let secs = (end.0 - w).as_secs_f64();
    let mut out = {
        let h = flow.hist.lock().unwrap_or_else(|p| p.into_inner());
        Outcome::from_histogram(&h, 0, secs)
    };
    // Deliveries counted at the window's edges, not the histogram's length (a handler that
    // read `recording` just before it flipped is still inside the window).
    out.requests = end.1 - before;
    out.rate = if secs > 0.0 { out.requests as f64 / secs } else { 0.0 };
    let lost = published as i64 - received as i64;
    out.errors = lost.max(0) as u64;
    let _ = tokio::time::timeout(Duration::from_secs(2), svc.stop()).await;
    PubsubOutcome { outcome: out, published, received, lost, publish_errors, window }.print();
    Ok(())
}

async fn registry_lookups(args: &Args) -> Result<(), String> {
    use micro::registry::{RegisterOptions, Registry};
    let services = args.num("services", 200.0)?.max(1.0) as usize;
    let nodes = args.num("nodes", 3.0)?.max(1.0) as usize;
    let lookups = args.num("lookups", 100_000.0)?.max(1.0) as u64;
    let kind = args.str("lookup", "copy");
    let shared = match kind.as_str() {
        "copy" => false,
        "shared" => true,
        other => return Err(format!("--lookup: {other:?} is neither copy nor shared")),
    };
    let reg: Arc<dyn Registry> = Arc::new(micro::registry::memory::Memory::new());
    for s in 0..services {
        for n in 0..nodes {
            reg.register(&bench_service(s, n, nodes), RegisterOptions::default()).await.map_err(|e| e.to_string())?;
        }
    }
    let cache = Cache::new(Arc::clone(&reg));
    let t = Instant::now();
    let first = cache.lookup("bench.svc0").await.map_err(|e| e.to_string())?;
    let miss_us = t.elapsed().as_secs_f64() * 1e6;
    if first.iter().map(|s| s.nodes.len()).sum::<usize>() != nodes {
        return Err(format!("bench.svc0: {} nodes, {nodes} registered", first.len()));
    }
    for s in 0..services {
        cache.lookup(&format!("bench.svc{s}")).await.map_err(|e| e.to_string())?;
    }
    let names: Vec<String> = (0..services).map(|s| format!("bench.svc{s}")).collect();
    let mut h = histogram();
    let mut errors = 0;
    let t0 = Instant::now();
    for i in 0..lookups {
        let t = Instant::now();
        let name = &names[i as usize % services];
        let found = if shared {
            cache.lookup_shared(name).await.map(|v| v.iter().map(|s| s.nodes.len()).sum::<usize>())
        } else {
            cache.lookup(name).await.map(|v| v.iter().map(|s| s.nodes.len()).sum::<usize>())
        };
        record(&mut h, t.elapsed());
        if found.ok() != Some(nodes) {
            errors += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let out = Outcome::from_histogram(&h, errors, secs);
    println!(
        "{{\"requests\":{},\"errors\":{},\"seconds\":{secs},\"rate\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"miss_us\":{miss_us:.1},\"services\":{services},\"nodes\":{nodes},\"lookup\":\"{kind}\"}}",
        out.requests, out.errors, out.rate, out.p50_us, out.p99_us, out.p999_us
    );
    Ok(())
}

/// Node `n` of service `s` as `registry` and `mdns-serve` register it (and `mdns-ask` asks
/// for it): service `bench.svc<s>`, node `bench.svc<s>-<n>` on 127.0.0.1, 4 endpoints.
fn bench_service(s: usize, n: usize, nodes: usize) -> micro::registry::Service {
    use micro::registry::{Endpoint, Node, Service as Svc};
    Svc {
        name: format!("bench.svc{s}"),
        version: "latest".into(),
        endpoints: (0..4).map(|e| Endpoint { name: format!("Handler.Method{e}"), ..Default::default() }).collect(),
        nodes: vec![Node {
            id: format!("bench.svc{s}-{n}"),
            address: format!("127.0.0.1:{}", 20000 + s * nodes + n),
            metadata: [("protocol", "mucp"), ("transport", "http"), ("broker", "http"), ("server", "mucp")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }],
        ..Default::default()
    }
}

/// `mdns-serve`: registers `--services` × `--nodes` in our mDNS registry (one responder for
/// them all; announcements off, so the load is the questions alone), prints ready, and
/// answers until killed. Run inside scripts/netns.sh.
async fn mdns_serve(args: &Args) -> Result<(), String> {
    use micro::registry::{mdns, RegisterOptions, Registry};
    let services = args.num("services", 200.0)?.max(1.0) as usize;
    let nodes = args.num("nodes", 3.0)?.max(1.0) as usize;
    let reg =
        mdns::Mdns::new(mdns::Options { announce: false, ..Default::default() }).await.map_err(|e| e.to_string())?;
    for s in 0..services {
        for n in 0..nodes {
            reg.register(&bench_service(s, n, nodes), RegisterOptions::default()).await.map_err(|e| e.to_string())?;
        }
    }
    println!("{}", serde_json::json!({"event": "ready", "nodes": services * nodes}));
    std::future::pending::<()>().await;
    Ok(())
}

/// `mdns-ask`: the time an mDNS responder takes to answer, with `--services` × `--nodes`
/// registered (by `loadgen mdns-serve` or `gobench mdns-serve`). `--queries` PTR questions
/// for `bench.svc<k>.micro.`, k cycling through the services, one at a time from an
/// ephemeral socket (responders answer it by unicast, as go-micro's querier asks). The
/// sockets are bound to 127.0.0.2 … 127.0.0.201 in turn, so our responder's per-source limit
/// (32 questions a second after a burst of 64) is not what is timed. Each question is
/// timed from its send until answers naming all `--nodes` instances of that service arrived
/// (`--wait-ms`, default 1000, then it counts as an error). Prints loadgen's JSON line plus
/// `first_p50_us`, the median time to the first answer packet.
async fn mdns_ask(args: &Args) -> Result<(), String> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    use std::collections::HashSet;
    let services = args.num("services", 200.0)?.max(1.0) as usize;
    let nodes = args.num("nodes", 3.0)?.max(1.0) as usize;
    let queries = args.num("queries", 600.0)?.max(1.0) as u64;
    let wait = Duration::from_secs_f64(args.num("wait-ms", 1000.0)?.max(1.0) / 1000.0);
    let mut socks = Vec::new();
    for i in 0..200u8 {
        let s = tokio::net::UdpSocket::bind((std::net::Ipv4Addr::new(127, 0, 0, 2 + i), 0))
            .await
            .map_err(|e| format!("bind 127.0.0.{}: {e}", 2 + i))?;
        s.set_multicast_loop_v4(true).map_err(|e| e.to_string())?;
        socks.push(s);
    }
    let group: std::net::SocketAddr = "224.0.0.251:5353".parse().map_err(|e| format!("{e}"))?;
    let (mut all, mut first) = (histogram(), histogram());
    let mut errors = 0u64;
    let mut buf = vec![0u8; 65_536];
    let t0 = Instant::now();
    for q in 0..queries {
        let service = format!("bench.svc{}.micro.", q as usize % services);
        let mut m = Message::new();
        m.set_id((q % 65_536) as u16).set_message_type(MessageType::Query).set_op_code(OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(&service).map_err(|e| e.to_string())?, RecordType::PTR));
        let packet = m.to_vec().map_err(|e| e.to_string())?;
        let sock = &socks[q as usize % socks.len()];
        let sent = Instant::now();
        sock.send_to(&packet, group).await.map_err(|e| format!("send to {group}: {e}"))?;
        let deadline = sent + wait;
        let mut seen: HashSet<String> = HashSet::new();
        let mut first_at = None;
        while seen.len() < nodes {
            let n = match tokio::time::timeout_at(deadline.into(), sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => n,
                Ok(Err(e)) => return Err(format!("receive: {e}")),
                Err(_) => break,
            };
            let Ok(reply) = Message::from_vec(&buf[..n]) else { continue };
            let mut named = false;
            for r in reply.answers().iter().chain(reply.additionals()) {
                if let RData::PTR(ptr) = r.data() {
                    if r.name().to_ascii().eq_ignore_ascii_case(&service) {
                        seen.insert(ptr.0.to_ascii().to_ascii_lowercase());
                        named = true;
                    }
                }
            }
            if named && first_at.is_none() {
                first_at = Some(sent.elapsed());
            }
        }
        match first_at {
            Some(f) if seen.len() >= nodes => {
                record(&mut first, f);
                record(&mut all, sent.elapsed());
            }
            _ => errors += 1,
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let out = Outcome::from_histogram(&all, errors, secs);
    println!(
        "{{\"requests\":{},\"errors\":{},\"seconds\":{secs},\"rate\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"first_p50_us\":{:.1},\"services\":{services},\"nodes\":{nodes}}}",
        out.requests,
        out.errors,
        out.rate,
        out.p50_us,
        out.p99_us,
        out.p999_us,
        first.value_at_quantile(0.5) as f64 / 1000.0
    );
    Ok(())
}

fn main() {
    // The runtime's threads are named `loadgen`, so a profile of the whole machine
    // (`bench/wakeups.sh`) tells them from a server's `tokio-rt-worker`s.
    let rt = match tokio::runtime::Builder::new_multi_thread().thread_name("loadgen").enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(run());
}

async fn run() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    let res = match Args::parse(argv) {
        Err(e) => Err(e),
        Ok(args) => match cmd.as_str() {
            "unary" => unary(&args, false).await,
            "http" => unary(&args, true).await,
            "stream" => stream(&args).await,
            "discover" => discover(&args).await,
            "pubsub" => pubsub(&args).await,
            "registry" => registry_lookups(&args).await,
            "mdns-serve" => mdns_serve(&args).await,
            "mdns-ask" => mdns_ask(&args).await,
            _ => Err("usage: loadgen unary|http|stream|discover|pubsub|registry|mdns-serve|mdns-ask [--flag value]..."
                .into()),
        },
    };
    if let Err(e) = res {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
