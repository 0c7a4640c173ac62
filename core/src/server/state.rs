//! What every clone of a [`super::Server`] and every connection it serves share: the
//! options, the node id, the endpoint table, the subscribers, the task tracker that drains
//! on stop, and the lifecycle that `start` and `stop` move through. The connections
//! (`conn.rs`) read it; the `Server` API (`mod.rs`) writes it.

use super::options::ServerOptions;
use super::router::Router;
use crate::error::Result;
use crate::registry::{Endpoint, Registry, Service};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// One server's shared state.
pub(crate) struct ServerState {
    pub opts: ServerOptions,
    /// The node id (`<name>-<uuid>`).
    pub id: String,
    pub registry: Arc<dyn Registry>,
    pub router: Router,
    pub lifecycle: Mutex<Lifecycle>,
    /// Every connection and stream handler, so `stop` can wait for them.
    pub tracker: TaskTracker,
    pub broker: Mutex<Option<Arc<dyn crate::broker::Broker>>>,
    pub subscribers: Mutex<Vec<SubscriberEntry>>,
    /// Slots for unary handlers, when `max_concurrency` is set.
    pub slots: Option<tokio::sync::Semaphore>,
    /// Slots for open streams, across every connection (`max_streams`).
    pub stream_slots: Arc<tokio::sync::Semaphore>,
    /// Calls and errors for `Debug.Stats`.
    pub counters: super::stats::Counters,
    /// Wrappers around the unary handlers, outermost first ([`super::Server::wrap`]).
    pub wrappers: std::sync::RwLock<Arc<[super::wrap::HandlerWrapper]>>,
    /// Set once a handler wrapper is added: until then a call skips the lock on `wrappers`
    /// (a read lock is a write to a cache line every worker thread shares).
    pub wrapped: std::sync::atomic::AtomicBool,
    /// Wrappers around the subscribers, outermost first ([`super::Server::wrap_subscriber`]).
    pub subscriber_wrappers: std::sync::RwLock<Arc<[super::wrap::SubscriberWrapper]>>,
}

/// One subscriber added with [`super::Server::subscribe`].
#[derive(Clone)]
pub(crate) struct SubscriberEntry {
    pub topic: String,
    pub opts: crate::broker::SubscribeOptions,
    pub handler: crate::broker::Handler,
    pub endpoint: Endpoint,
}

/// What `start` sets up and `stop` takes down.
#[derive(Default)]
pub(crate) struct Lifecycle {
    /// The listener's address while serving.
    pub bound: Option<SocketAddr>,
    /// The registration to renew and, on stop, withdraw.
    pub registered: Option<Service>,
    /// `stop` has begun: a registration retried since start must not land any more.
    pub stopping: bool,
    /// Tells the accept loop, the connections and the re-registration loop to end.
    pub shutdown: Option<watch::Sender<bool>>,
    /// The broker subscriptions of the subscribers.
    pub subscriptions: Vec<Box<dyn crate::broker::Subscriber>>,
}

impl ServerState {
    /// The handler wrappers as they stand; `None` while no wrapper was ever added.
    pub(crate) fn handler_chain(&self) -> Option<Arc<[super::wrap::HandlerWrapper]>> {
        if !self.wrapped.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        Some(Arc::clone(&self.wrappers.read().unwrap_or_else(|p| p.into_inner())))
    }

    /// The subscriber wrappers as they stand.
    pub(crate) fn subscriber_chain(&self) -> Arc<[super::wrap::SubscriberWrapper]> {
        Arc::clone(&self.subscriber_wrappers.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs the subscribers of `topic` for a message that arrived on the RPC transport with
    /// a `Micro-Topic` header (go-micro's `HandleEvent` path); `None` when nobody subscribes.
    pub(crate) async fn dispatch_event(
        &self,
        topic: &str,
        header: crate::transport::Header,
        body: bytes::Bytes,
    ) -> Option<Result<()>> {
        let chain = self.subscriber_chain();
        let handlers: Vec<crate::broker::Handler> = {
            let subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter()
                .filter(|s| s.topic == topic)
                .map(|s| super::wrap::wrap_subscriber(Arc::clone(&chain), Arc::clone(&s.handler)))
                .collect()
        };
        if handlers.is_empty() {
            return None;
        }
        let message = crate::broker::Message { header, body };
        let mut result = Ok(());
        for h in handlers {
            if let Err(e) = h(crate::broker::Event { topic: topic.to_string(), message: message.clone() }).await {
                result = Err(e);
            }
        }
        Some(result)
    }
}
