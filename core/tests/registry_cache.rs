//! The client's registry cache and the server's re-registration, on the memory registry:
//! calls are answered from a watch-fed cache (one registry query for many calls, a new node
//! found through the watch), and a node outlives its TTL only while its server re-registers.
//! A registry outage: the cache serves the nodes it knew, and a watch the registry ended is
//! opened again.

use async_trait::async_trait;
use micro::registry::cache::{Cache, CacheOptions};
use micro::registry::memory::Memory;
use micro::registry::{RegisterOptions, Registry, Service as Registered, Watcher};
use micro::{CallOptions, Client, Service};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn whoami(name: &str, registry: Arc<dyn Registry>) -> Service {
    let svc = Service::builder(name).address("127.0.0.1:0").registry(registry).build().await.expect("service");
    let id = svc.server().id().to_string();
    svc.server().handle_json("Greeter.Whoami", move |_: serde_json::Value, _| {
        let id = id.clone();
        async move { Ok(serde_json::json!({ "id": id })) }
    });
    svc.start().await.expect("start");
    svc
}

async fn who(client: &Client, name: &str) -> String {
    let v: serde_json::Value =
        client.call_json(name, "Greeter.Whoami", &serde_json::json!({}), &CallOptions::default()).await.expect("call");
    v["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn calls_are_answered_from_the_watch_fed_cache() {
    let counting = Outage::new(); // never down here: it counts the lookups that reach it
    let registry: Arc<dyn Registry> = counting.clone();
    let first = whoami("cached", registry.clone()).await;
    let client = Client::new(registry.clone(), Default::default());

    let calls: Vec<_> = (0..200).map(|_| who(&client, "cached")).collect();
    let answered = futures::future::join_all(calls).await;
    assert!(answered.iter().all(|id| id == first.server().id()), "{answered:?}");
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1, "200 calls, one registry query");

    // A node that starts later is found through the watch, without another query.
    let second = whoami("cached", registry.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while who(&client, "cached").await != second.server().id() {
        assert!(Instant::now() < deadline, "the new node never reached the client's cache");
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1, "the new node came through the watch");

    // A node that stops (deregisters) leaves the cache the same way: every call to the survivor.
    first.stop().await.expect("stop");
    for _ in 0..50 {
        assert_eq!(who(&client, "cached").await, second.server().id());
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1);
    second.stop().await.expect("stop");
}

async fn with_ttl(name: &str, registry: Arc<dyn Registry>, interval: Duration) -> Service {
    let svc = Service::builder(name)
        .address("127.0.0.1:0")
        .registry(registry)
        .register_ttl(Duration::from_millis(600))
        .register_interval(interval)
        .build()
        .await
        .expect("service");
    svc.start().await.expect("start");
    svc
}

#[tokio::test]
async fn reregistration_keeps_a_node_past_its_ttl() {
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let kept = with_ttl("kept", registry.clone(), Duration::from_millis(150)).await;
    let lapsed = with_ttl("lapsed", registry.clone(), Duration::ZERO).await;
    assert_eq!(registry.get_service("lapsed").await.expect("lookup").len(), 1, "registered at start");

    // Four TTLs pass: only the server that re-registers is still there.
    tokio::time::sleep(Duration::from_millis(2400)).await;
    let nodes = |s: Vec<Registered>| s.iter().map(|s| s.nodes.len()).sum::<usize>();
    assert_eq!(nodes(registry.get_service("kept").await.expect("lookup")), 1, "re-registered every 150 ms");
    assert_eq!(nodes(registry.get_service("lapsed").await.unwrap_or_default()), 0, "no re-registration: expired");

    kept.stop().await.expect("stop");
    assert_eq!(nodes(registry.get_service("kept").await.unwrap_or_default()), 0, "deregistered on stop");
    lapsed.stop().await.expect("stop");
}

/// A registry over [`Memory`] that counts the lookups and watches that reach it, and can go
/// down for its readers, as an etcd cluster does: while down, lookups and new watches fail
/// with 503 and open watches end. Registrations pass through.
struct Outage {
    inner: Memory,
    down: AtomicBool,
    lookups: AtomicUsize,
    watches: AtomicUsize,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Outage {
    fn new() -> Arc<Outage> {
        let (cut, _) = tokio::sync::watch::channel(0);
        Arc::new(Outage {
            inner: Memory::new(),
            down: AtomicBool::new(false),
            lookups: AtomicUsize::new(0),
            watches: AtomicUsize::new(0),
            cut,
        })
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut.send_modify(|g| *g += 1);
        }
    }

    fn refuse(&self) -> micro::error::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(micro::Error::new("outage", "registry down", 503));
        }
        Ok(())
    }
}

#[async_trait]
impl Registry for Outage {
    async fn register(&self, service: &Registered, opts: RegisterOptions) -> micro::error::Result<()> {
        self.inner.register(service, opts).await
    }
    async fn deregister(&self, service: &Registered) -> micro::error::Result<()> {
        self.inner.deregister(service).await
    }
    async fn get_service(&self, name: &str) -> micro::error::Result<Vec<Registered>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.refuse()?;
        self.inner.get_service(name).await
    }
    async fn list_services(&self) -> micro::error::Result<Vec<Registered>> {
        self.refuse()?;
        self.inner.list_services().await
    }
    async fn watch(&self, service: Option<&str>) -> micro::error::Result<Watcher> {
        self.refuse()?;
        self.watches.fetch_add(1, Ordering::SeqCst);
        let mut from = self.inner.watch(service).await?;
        let mut cut = self.cut.subscribe();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    ev = from.next() => {
                        let Some(ev) = ev else { return };
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                    _ = cut.changed() => return,
                }
            }
        });
        Ok(Watcher::new(rx))
    }
    fn name(&self) -> &'static str {
        "outage"
    }
}

#[tokio::test]
async fn an_outage_is_served_from_the_cache_past_its_ttl() {
    let outage = Outage::new();
    let registry: Arc<dyn Registry> = outage.clone();
    let a = whoami("outage-a", registry.clone()).await;
    let ages = CacheOptions {
        refresh: Duration::from_millis(100),
        ttl: Duration::from_millis(300),
        negative_ttl: Duration::from_millis(100),
    };
    let client = Client::with_cache(Some(Cache::with_options(registry.clone(), ages)), Default::default());
    assert_eq!(who(&client, "outage-a").await, a.server().id());

    // Down for five TTLs: every call is still answered, by the node known before.
    outage.set_down(true);
    let before = outage.lookups.load(Ordering::SeqCst);
    let until = Instant::now() + Duration::from_millis(1500);
    let mut calls = 0;
    while Instant::now() < until {
        assert_eq!(who(&client, "outage-a").await, a.server().id());
        calls += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(calls > 20, "{calls} calls");
    assert!(outage.lookups.load(Ordering::SeqCst) > before + 1, "the cache kept asking the registry");
    // A service nobody had looked up is a clear error, not a hang.
    let e = client.call("nobody-knew", "X.Y", "{}", &CallOptions::default()).await.unwrap_err();
    assert_eq!(e.code, 503, "{e}");

    // Back up: a node that starts now is found, without a restart.
    outage.set_down(false);
    let b = whoami("outage-a", registry.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while who(&client, "outage-a").await != b.server().id() {
        assert!(Instant::now() < deadline, "the node started after the outage was never found");
    }
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}

#[tokio::test]
async fn a_watch_the_registry_ended_is_opened_again() {
    let outage = Outage::new();
    let registry: Arc<dyn Registry> = outage.clone();
    let a = whoami("rewatch", registry.clone()).await;
    // Default ages (refresh 10 s): within this test only the watch brings news.
    let client = Client::new(registry.clone(), Default::default());
    assert_eq!(who(&client, "rewatch").await, a.server().id());
    assert_eq!(outage.watches.load(Ordering::SeqCst), 1);

    // A short outage ends the watch; once the registry is back the cache opens it again.
    outage.set_down(true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    outage.set_down(false);
    let deadline = Instant::now() + Duration::from_secs(6);
    while outage.watches.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the watch was not opened again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything cached is refreshed once (events may have been missed), then the watch alone
    // brings a new node: no further lookup.
    assert_eq!(who(&client, "rewatch").await, a.server().id());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lookups = outage.lookups.load(Ordering::SeqCst);
    let b = whoami("rewatch", registry.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while who(&client, "rewatch").await != b.server().id() {
        assert!(Instant::now() < deadline, "the reopened watch did not bring the new node");
    }
    assert_eq!(outage.lookups.load(Ordering::SeqCst), lookups, "the new node came through the watch");
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}

/// The peer address the server saw (its `Remote` header): which connection carried a call.
async fn connection(client: &Client, name: &str) -> (String, String) {
    let v: serde_json::Value =
        client.call_json(name, "Greeter.Remote", &serde_json::json!({}), &CallOptions::default()).await.expect("call");
    (v["id"].as_str().unwrap_or_default().to_string(), v["remote"].as_str().unwrap_or_default().to_string())
}

async fn remote_teller(name: &str, registry: Arc<dyn Registry>) -> Service {
    let svc = Service::builder(name).address("127.0.0.1:0").registry(registry).build().await.expect("service");
    let id = svc.server().id().to_string();
    svc.server().handle("Greeter.Remote", move |req| {
        let body = serde_json::json!({ "id": id, "remote": req.header.get("Remote").cloned().unwrap_or_default() });
        async move { Ok(micro::Response::from(body.to_string().into_bytes())) }
    });
    svc.start().await.expect("start");
    svc
}

/// Calls from a plain thread, each driven on that thread's own runtime
/// (`transport::local::block_on`, what the sync Python client and C's `micro_client_call_sync`
/// use).
fn from_a_thread(client: &Client, name: &'static str, calls: usize) -> Vec<(String, String)> {
    let client = client.clone();
    std::thread::spawn(move || {
        (0..calls)
            .map(|_| match micro::transport::local::block_on(connection(&client, name)) {
                Ok(seen) => seen,
                Err(refused) => panic!("a plain thread was refused a runtime: {}", refused.why),
            })
            .collect()
    })
    .join()
    .expect("the calling thread")
}

/// A thread that drives its own calls keeps its connections to itself (one connection for
/// its calls, never one of the shared runtime's, never given to the shared runtime or to
/// another thread), while the lookup and the watch it started run on the client's runtime:
/// they outlive the thread, so a node that starts after it exited is still found through
/// the watch, without another registry query.
#[test]
fn a_thread_driving_its_own_calls_keeps_its_connections_and_not_the_watch() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let counting = Outage::new();
    let registry: Arc<dyn Registry> = counting.clone();
    let first = rt.block_on(remote_teller("local", registry.clone()));
    let client = rt.block_on(async { Client::new(registry.clone(), Default::default()) });
    assert!(client.drives_on_any_thread());

    let one = from_a_thread(&client, "local", 50);
    assert!(one.iter().all(|(id, _)| id == first.server().id()), "{one:?}");
    assert!(one.iter().all(|(_, remote)| *remote == one[0].1), "one connection for a thread's calls: {one:?}");
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1, "50 calls, one registry query");

    // The shared runtime dials its own connection: the thread's (whose runtime is gone with
    // it) is not handed over; and a second thread does not get the first one's either.
    let shared: Vec<_> = (0..5).map(|_| rt.block_on(connection(&client, "local"))).collect();
    assert!(shared.iter().all(|(_, remote)| *remote == shared[0].1 && *remote != one[0].1), "{shared:?} vs {one:?}");
    let two = from_a_thread(&client, "local", 5);
    assert!(two.iter().all(|(_, remote)| *remote == two[0].1 && *remote != one[0].1 && *remote != shared[0].1));

    // Both threads have exited (and the second dropped the first one's runtime): the watch
    // still runs. A node started now is found from a new thread with no new query.
    let second = rt.block_on(remote_teller("local", registry.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !from_a_thread(&client, "local", 4).iter().any(|(id, _)| id == second.server().id()) {
        assert!(Instant::now() < deadline, "the new node never reached the cache: the watch stopped with a thread");
    }
    assert_eq!(counting.lookups.load(Ordering::SeqCst), 1, "the new node came through the watch");
    rt.block_on(async {
        first.stop().await.expect("stop");
        second.stop().await.expect("stop");
    });
}

/// A client with call wrappers is not driven on a thread's runtime (a wrapper may start work
/// that would stop with that thread's calls).
#[test]
fn a_wrapped_client_is_not_driven_on_a_threads_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let client = rt.block_on(async { Client::new(Arc::new(Memory::new()), Default::default()) });
    assert!(client.drives_on_any_thread());
    client.wrap(Arc::new(|call, next| Box::pin(async move { next.run(call).await })));
    assert!(!client.drives_on_any_thread());
}
