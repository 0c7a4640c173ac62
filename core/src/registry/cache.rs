//! A watch-fed view of another registry, so a call does not query the network.
//!
//! The first lookup of a name queries the wrapped registry (one query at a time per name,
//! however many callers wait); later lookups answer from memory. A watcher applies
//! announcements and goodbyes as they arrive, entries older than `refresh` are refreshed in
//! the background while the cached answer is served, and [`Cache::mark_failed`] drops a node
//! the client could not reach, so a killed node stops being picked at once instead of after
//! go-micro's one-minute TTL.
//!
//! A registry outage takes nothing away (stale while error, go-micro #215): when the wrapped
//! registry cannot answer, the nodes known before are served and asked for again on later
//! use. Nor does an answer of "nobody" while the watch is open and has reported none of the
//! known nodes gone: an mDNS answer lost or late on a busy network looks exactly like that,
//! and a gateway that then fell back to another name called another service. Known nodes
//! leave by the watch (a goodbye, a deregistration) or by [`Cache::mark_failed`] (a node that
//! cannot be reached), never by a query that heard nothing. A watch the registry ends (an etcd restart, a lost connection) is opened again with
//! backoff, and everything cached is refreshed, since events may have been missed meanwhile.
//!
//! A lookup made on a thread's own runtime ([`crate::transport::local`]) is answered from
//! memory there; anything that must outlive it (the query, the watch, a refresh) runs on the
//! runtime the cache was built on, so it does not stop when that thread stops calling.

use super::{Action, Event, RegisterOptions, Registry, Service, Watcher};
use crate::error::{Error, Result, CLIENT_ID};
use crate::transport::local;
use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

/// How the cache ages its entries.
#[derive(Clone, Copy, Debug)]
pub struct CacheOptions {
    /// After this long an entry is refreshed in the background on its next use.
    pub refresh: Duration,
    /// After this long an entry is not served at all without a fresh query.
    pub ttl: Duration,
    /// How long "nobody serves this" is remembered.
    pub negative_ttl: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            refresh: Duration::from_secs(10),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_millis(500),
        }
    }
}

/// A caching [`Registry`] over another one.
pub struct Cache {
    inner: Arc<dyn Registry>,
    opts: CacheOptions,
    state: Arc<Mutex<State>>,
    /// Set once the watch was opened (or its retrying task started).
    watching: tokio::sync::OnceCell<()>,
    /// The runtime the cache was built on, where work that outlives a lookup runs when the
    /// lookup is made on a thread's own runtime.
    home: Option<tokio::runtime::Handle>,
    /// Cancelled on drop: the watcher task ends with the cache, not at the next event.
    closed: CancellationToken,
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<String, CacheEntry>,
    locks: HashMap<String, Arc<AsyncMutex<()>>>,
    refreshing: HashMap<String, bool>,
    /// Watch events for names whose query is in flight: applied to its answer, so a node
    /// announced while the query was out is not lost (nor cached as "not found").
    inflight: HashMap<String, Inflight>,
    /// A watch is open and applying events: what the cache knows is current.
    watch_open: bool,
}

#[derive(Default)]
struct Inflight {
    fetches: usize,
    events: Vec<Event>,
}

struct CacheEntry {
    /// Shared with every lookup that answers from it, so a call does not copy its service's
    /// nodes and endpoints; changed copy-on-write when a watch event or failure arrives.
    services: Arc<Vec<Service>>,
    fetched: Instant,
}

impl Cache {
    /// Wraps `inner` with the default ages.
    pub fn new(inner: Arc<dyn Registry>) -> Arc<Self> {
        Self::with_options(inner, CacheOptions::default())
    }

    /// Wraps `inner` with the given ages.
    pub fn with_options(inner: Arc<dyn Registry>, opts: CacheOptions) -> Arc<Self> {
        Arc::new(Cache {
            inner,
            opts,
            state: Arc::default(),
            watching: tokio::sync::OnceCell::new(),
            home: tokio::runtime::Handle::try_current().ok(),
            closed: CancellationToken::new(),
        })
    }

    /// The registry this cache reads through.
    pub fn inner(&self) -> &Arc<dyn Registry> {
        &self.inner
    }

    /// Forgets a node that could not be reached; the next lookups skip it until the
    /// registry announces it again.
    pub fn mark_failed(&self, service: &str, node_id: &str) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = st.entries.get_mut(service) {
            if !entry.services.iter().any(|s| s.nodes.iter().any(|n| n.id == node_id)) {
                return;
            }
            let services = Arc::make_mut(&mut entry.services);
            for svc in services.iter_mut() {
                svc.nodes.retain(|n| n.id != node_id);
            }
            services.retain(|s| !s.nodes.is_empty());
            if entry.services.is_empty() {
                // Not "nobody serves it": we only know the nodes we had failed. Ask again.
                st.entries.remove(service);
            }
        }
    }

    /// Drops everything cached for `service`.
    pub fn invalidate(&self, service: &str) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.entries.remove(service);
    }

    /// Opens the watch on first use. If the registry refuses it now, a background task keeps
    /// trying, so no lookup waits on a registry that is down.
    async fn ensure_watch(self: &Arc<Self>) {
        self.watching
            .get_or_init(|| async {
                let first = match self.inner.watch(None).await {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "registry cache: no watch yet; retrying in the background");
                        None
                    }
                };
                let state = Arc::downgrade(&self.state);
                tokio::spawn(watch_loop(state, Arc::clone(&self.inner), first, self.closed.clone(), self.opts.refresh));
            })
            .await;
    }

    async fn fetch(&self, name: &str) -> Result<Arc<Vec<Service>>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).inflight.entry(name.to_string()).or_default().fetches += 1;
        let answer = self.inner.get_service(name).await;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let during = match st.inflight.get_mut(name) {
            Some(f) if f.fetches > 1 => {
                f.fetches -= 1;
                f.events.clone()
            }
            _ => st.inflight.remove(name).map(|f| f.events).unwrap_or_default(),
        };
        let mut services = match answer {
            Ok(services) => services,
            Err(e) if e.code >= 500 || e.code == 408 => match st.entries.get_mut(name) {
                // The registry is down, not the service: serve what we knew, and ask again
                // on the next use (the age now says "refresh").
                Some(entry) if !entry.services.is_empty() => {
                    entry.fetched = Instant::now().checked_sub(self.opts.refresh).unwrap_or_else(Instant::now);
                    tracing::warn!(service = name, error = %e, "registry unreachable: serving the nodes known before");
                    return Ok(Arc::clone(&entry.services));
                }
                _ => return Err(e),
            },
            Err(e) => return Err(e),
        };
        for ev in during {
            merge(&mut services, ev);
        }
        if services.is_empty() && st.watch_open {
            if let Some(entry) = st.entries.get_mut(name).filter(|e| !e.services.is_empty()) {
                // The watch reported none of these nodes gone: the answer was lost, not the nodes.
                tracing::debug!(service = name, "registry answered nobody; keeping the nodes the watch knows");
                entry.fetched = Instant::now();
                return Ok(Arc::clone(&entry.services));
            }
        }
        let services = Arc::new(services);
        st.entries.insert(name.to_string(), CacheEntry { services: Arc::clone(&services), fetched: Instant::now() });
        Ok(services)
    }

    fn cached(&self, name: &str) -> Option<(Arc<Vec<Service>>, Duration)> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.entries.get(name).map(|e| (Arc::clone(&e.services), e.fetched.elapsed()))
    }

    fn usable(&self, services: &[Service], age: Duration) -> bool {
        if services.is_empty() {
            age < self.opts.negative_ttl
        } else {
            age < self.opts.ttl
        }
    }

    /// Whether a lookup made on a thread's own runtime ([`crate::transport::local`]) keeps
    /// to its rules: true when the cache knows a runtime of its own to run the rest on.
    pub fn serves_thread_runtimes(&self) -> bool {
        self.home.is_some()
    }

    /// Looks `name` up, from memory when possible: a copy of what [`Cache::lookup_shared`]
    /// answers.
    pub async fn lookup(self: &Arc<Self>, name: &str) -> Result<Vec<Service>> {
        self.lookup_shared(name).await.map(Arc::unwrap_or_clone)
    }

    /// Looks `name` up, from memory when possible, sharing the cached answer instead of
    /// copying it: what a call does to pick a node.
    pub async fn lookup_shared(self: &Arc<Self>, name: &str) -> Result<Arc<Vec<Service>>> {
        let Some(home) = self.home_if_on_a_thread_runtime() else {
            return self.lookup_here(name).await;
        };
        if self.watching.initialized() {
            if let Some(services) = self.from_memory(name) {
                return Ok(services);
            }
        }
        let (this, owned) = (Arc::clone(self), name.to_string());
        home.spawn(async move { this.lookup_here(&owned).await })
            .await
            .map_err(|e| Error::internal(CLIENT_ID, format!("registry lookup of {name} did not finish: {e}")))?
    }

    /// The cached answer for `name` while it may be served (refreshed in the background
    /// once old).
    fn from_memory(self: &Arc<Self>, name: &str) -> Option<Arc<Vec<Service>>> {
        let (services, age) = self.cached(name)?;
        if !self.usable(&services, age) {
            return None;
        }
        if age >= self.opts.refresh && !services.is_empty() {
            self.refresh_in_background(name);
        }
        Some(services)
    }

    /// [`Cache::lookup`] on the runtime running now.
    async fn lookup_here(self: &Arc<Self>, name: &str) -> Result<Arc<Vec<Service>>> {
        self.ensure_watch().await;
        if let Some(services) = self.from_memory(name) {
            return Ok(services);
        }
        let lock = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.locks.entry(name.to_string()).or_default().clone()
        };
        let _one_query = lock.lock().await;
        if let Some((services, age)) = self.cached(name) {
            if self.usable(&services, age) && age < self.opts.refresh {
                return Ok(services);
            }
        }
        self.fetch(name).await
    }

    /// Spawns background work on the cache's own runtime when a thread's runtime is running
    /// (it would stop with that thread's calls), else on the runtime running now.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        match self.home_if_on_a_thread_runtime() {
            Some(home) => drop(home.spawn(work)),
            None => drop(tokio::spawn(work)),
        }
    }

    /// The cache's own runtime, when the runtime running now is a thread's
    /// ([`crate::transport::local`]).
    fn home_if_on_a_thread_runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.home.as_ref().filter(|_| local::is_driving())
    }

    fn refresh_in_background(self: &Arc<Self>, name: &str) {
        {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.refreshing.insert(name.to_string(), true) == Some(true) {
                return;
            }
        }
        let this = Arc::clone(self);
        let name = name.to_string();
        self.spawn(async move {
            if let Err(e) = this.fetch(&name).await {
                tracing::debug!(service = %name, error = %e, "background registry refresh failed");
            }
            let mut st = this.state.lock().unwrap_or_else(|p| p.into_inner());
            st.refreshing.remove(&name);
        });
    }
}

/// Feeds the cache from the registry's watch for as long as the cache lives. When the
/// registry ends the watch, it is opened again (backoff from 250 ms to 5 s), and every entry
/// is marked for refresh: what changed while no watch was open is asked for on next use.
async fn watch_loop(
    state: Weak<Mutex<State>>,
    inner: Arc<dyn Registry>,
    mut watcher: Option<Watcher>,
    closed: CancellationToken,
    refresh: Duration,
) {
    const FIRST_PAUSE: Duration = Duration::from_millis(250);
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(w) = watcher.as_mut() {
            let opened = Instant::now();
            set_watch_open(&state, true);
            if !apply_events(&state, w, &closed).await {
                return;
            }
            set_watch_open(&state, false);
            tracing::warn!("registry watch ended; opening it again");
            if opened.elapsed() > Duration::from_secs(1) {
                pause = FIRST_PAUSE;
            }
        }
        watcher = None;
        while watcher.is_none() {
            if closed.run_until_cancelled(tokio::time::sleep(pause)).await.is_none() {
                return;
            }
            pause = (pause * 2).min(Duration::from_secs(5));
            match closed.run_until_cancelled(inner.watch(None)).await {
                None => return,
                Some(Ok(w)) => watcher = Some(w),
                Some(Err(e)) => tracing::debug!(error = %e, "registry watch: still refused"),
            }
        }
        let Some(state) = state.upgrade() else { return };
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let stale = Instant::now().checked_sub(refresh).unwrap_or_else(Instant::now);
        for entry in st.entries.values_mut() {
            entry.fetched = entry.fetched.min(stale);
        }
    }
}

fn set_watch_open(state: &Weak<Mutex<State>>, open: bool) {
    if let Some(state) = state.upgrade() {
        state.lock().unwrap_or_else(|p| p.into_inner()).watch_open = open;
    }
}

/// Applies events until the watch ends (true) or the cache is gone (false).
async fn apply_events(state: &Weak<Mutex<State>>, watcher: &mut Watcher, closed: &CancellationToken) -> bool {
    loop {
        let ev = match closed.run_until_cancelled(watcher.next()).await {
            None => return false,
            Some(None) => return true,
            Some(Some(ev)) => ev,
        };
        let Some(state) = state.upgrade() else { return false };
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let name = ev.service.name.clone();
        if let Some(pending) = st.inflight.get_mut(&name) {
            pending.events.push(ev.clone());
        }
        let Some(entry) = st.entries.get_mut(&name) else { continue };
        merge(Arc::make_mut(&mut entry.services), ev);
        if entry.services.is_empty() {
            // The next lookup asks the registry rather than answering "not found" from
            // memory: a node that restarts is found as soon as it registers.
            st.entries.remove(&name);
        }
    }
}

/// Applies one watch event to the versions known for its service.
fn merge(services: &mut Vec<Service>, Event { action, service }: Event) {
    match action {
        Action::Create | Action::Update => match services.iter_mut().find(|s| s.version == service.version) {
            Some(existing) => {
                for node in service.nodes {
                    existing.nodes.retain(|n| n.id != node.id);
                    existing.nodes.push(node);
                }
                if !service.endpoints.is_empty() {
                    existing.endpoints = service.endpoints;
                }
            }
            None => services.push(service),
        },
        Action::Delete => {
            for svc in services.iter_mut() {
                svc.nodes.retain(|n| !service.nodes.iter().any(|gone| gone.id == n.id));
            }
            services.retain(|s| !s.nodes.is_empty());
        }
    }
}

#[async_trait]
impl Registry for Cache {
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
        self.inner.register(service, opts).await
    }
    async fn deregister(&self, service: &Service) -> Result<()> {
        self.inner.deregister(service).await
    }
    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        // Trait objects cannot reach `lookup` (it needs the Arc); answer from memory when
        // fresh, else ask the wrapped registry.
        if let Some((services, age)) = self.cached(name) {
            if self.usable(&services, age) {
                return Ok(Arc::unwrap_or_clone(services));
            }
        }
        self.fetch(name).await.map(Arc::unwrap_or_clone)
    }
    async fn list_services(&self) -> Result<Vec<Service>> {
        self.inner.list_services().await
    }
    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        self.inner.watch(service).await
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn is_unreachable(&self, e: &Error) -> bool {
        self.inner.is_unreachable(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{memory::Memory, Node};

    fn svc(id: &str) -> Service {
        Service {
            name: "greeter".into(),
            version: "latest".into(),
            nodes: vec![Node { id: id.into(), address: "127.0.0.1:1".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn watch_feeds_and_mark_failed_drops() {
        let mem: Arc<dyn Registry> = Arc::new(Memory::new());
        mem.register(&svc("a"), RegisterOptions::default()).await.unwrap();
        let cache = Cache::new(mem.clone());
        assert_eq!(cache.lookup("greeter").await.unwrap()[0].nodes.len(), 1);
        mem.register(&svc("b"), RegisterOptions::default()).await.unwrap();
        // The watcher applies the new node without a query.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let n = cache.cached("greeter").map(|(s, _)| s[0].nodes.len()).unwrap_or(0);
            if n == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "watch event never reached the cache");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cache.mark_failed("greeter", "a");
        let nodes = &cache.lookup("greeter").await.unwrap()[0].nodes;
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].id, "b");
        // Dropping the last known node makes the next lookup ask the registry again
        // instead of answering "not found" from memory.
        cache.mark_failed("greeter", "b");
        let nodes: Vec<String> = cache.lookup("greeter").await.unwrap()[0].nodes.iter().map(|n| n.id.clone()).collect();
        assert_eq!(nodes, ["a", "b"]);
    }

    /// A registry whose lookups answer "nobody" once released, like an mDNS query whose
    /// window closed just before a node announced itself; watches are the memory registry's.
    struct Missed {
        mem: Arc<dyn Registry>,
        release: tokio::sync::Notify,
    }

    #[async_trait]
    impl Registry for Missed {
        async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
            self.mem.register(service, opts).await
        }
        async fn deregister(&self, service: &Service) -> Result<()> {
            self.mem.deregister(service).await
        }
        async fn get_service(&self, _: &str) -> Result<Vec<Service>> {
            self.release.notified().await;
            Ok(vec![])
        }
        async fn list_services(&self) -> Result<Vec<Service>> {
            self.mem.list_services().await
        }
        async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
            self.mem.watch(service).await
        }
        fn name(&self) -> &'static str {
            "missed"
        }
    }

    #[tokio::test]
    async fn a_node_announced_during_a_lookup_is_not_cached_as_missing() {
        let mem: Arc<dyn Registry> = Arc::new(Memory::new());
        let reg = Arc::new(Missed { mem: mem.clone(), release: tokio::sync::Notify::new() });
        let cache = Cache::new(reg.clone());
        let lookup = tokio::spawn({
            let cache = cache.clone();
            async move { cache.lookup("greeter").await }
        });
        // The query is out; the node announces itself; then the query comes back empty.
        let deadline = Instant::now() + Duration::from_secs(2);
        while cache.state.lock().unwrap().inflight.is_empty() {
            assert!(Instant::now() < deadline, "the lookup never started");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        mem.register(&svc("late"), RegisterOptions::default()).await.unwrap();
        while cache.state.lock().unwrap().inflight.get("greeter").map_or(0, |f| f.events.len()) == 0 {
            assert!(Instant::now() < deadline, "the watch event never arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reg.release.notify_one();
        let got = lookup.await.unwrap().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].nodes[0].id, "late");
        // And the cached answer holds it too.
        assert_eq!(cache.lookup("greeter").await.unwrap()[0].nodes[0].id, "late");
        assert!(cache.state.lock().unwrap().inflight.is_empty());
    }

    /// A registry whose lookups may hear nobody (`deaf`), like an mDNS query whose answers
    /// were lost on a busy network; its watch is the memory registry's.
    struct Deaf {
        mem: Arc<dyn Registry>,
        deaf: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Registry for Deaf {
        async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
            self.mem.register(service, opts).await
        }
        async fn deregister(&self, service: &Service) -> Result<()> {
            self.mem.deregister(service).await
        }
        async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
            if self.deaf.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(vec![]);
            }
            self.mem.get_service(name).await
        }
        async fn list_services(&self) -> Result<Vec<Service>> {
            self.mem.list_services().await
        }
        async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
            self.mem.watch(service).await
        }
        fn name(&self) -> &'static str {
            "deaf"
        }
    }

    #[tokio::test]
    async fn an_answer_of_nobody_does_not_drop_nodes_the_watch_still_has() {
        let mem: Arc<dyn Registry> = Arc::new(Memory::new());
        let reg = Arc::new(Deaf { mem: mem.clone(), deaf: false.into() });
        // Every lookup asks the registry (nothing is fresh enough to be served from memory).
        let opts =
            CacheOptions { refresh: Duration::ZERO, ttl: Duration::ZERO, negative_ttl: Duration::from_millis(500) };
        let cache = Cache::with_options(reg.clone(), opts);
        mem.register(&svc("a"), RegisterOptions::default()).await.unwrap();
        assert_eq!(cache.lookup("greeter").await.unwrap()[0].nodes[0].id, "a");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cache.state.lock().unwrap().watch_open {
            assert!(Instant::now() < deadline, "the watch never opened");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reg.deaf.store(true, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..3 {
            let got = cache.lookup("greeter").await.unwrap();
            assert_eq!(got.first().map(|s| s.nodes.len()), Some(1), "a lost answer dropped the node: {got:?}");
        }
        // A goodbye the watch reports does take the node away.
        mem.deregister(&svc("a")).await.unwrap();
        loop {
            if cache.lookup("greeter").await.unwrap().is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "the deregistration never reached the cache");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
