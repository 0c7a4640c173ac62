//! The RPC server: go-micro's `server` package ("mucp").
//!
//! A [`Server`] routes `Service.Method` endpoints to handlers: raw ([`Server::handle`],
//! bytes in and out with the content type and metadata), typed ([`Server::handle_json`],
//! serde types), and streams ([`Server::handle_stream`]). On [`Server::start`] it listens,
//! registers its node with go-micro's metadata (`protocol=mucp` …) and endpoint
//! descriptions, and re-registers every interval; [`Server::stop`] deregisters first, then
//! stops accepting, then drains the calls in flight.

mod conn;
mod options;
mod router;
mod state;
mod stats;
mod stream;
pub(crate) mod wrap;

pub use options::ServerOptions;
pub use router::{BoxFuture, Request, Response, StreamHandler, UnaryHandler};
pub use stats::Stats;
pub use stream::{ServerStream, StreamReceiver, StreamSender};

use crate::error::{Error, Result, SERVER_ID};
use crate::registry::{Endpoint, Metadata, Node, RegisterOptions, Registry, Service, Value};
use crate::transport::listener::{cannot_listen, Listener};
use router::Router;
use serde::{de::DeserializeOwned, Serialize};
use state::{Lifecycle, ServerState, SubscriberEntry};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// An RPC server; cheap to clone (all clones are the same server).
#[derive(Clone)]
pub struct Server {
    state: Arc<ServerState>,
}

impl Server {
    /// A server that registers with `registry`.
    pub fn new(opts: ServerOptions, registry: Arc<dyn Registry>) -> Self {
        let id = opts.id.clone().unwrap_or_else(|| format!("{}-{}", opts.name, uuid::Uuid::new_v4()));
        let router = Router::new(opts.name.clone());
        let slots = opts.max_concurrency.map(|n| tokio::sync::Semaphore::new(n.max(1)));
        let stream_slots = Arc::new(tokio::sync::Semaphore::new(opts.max_streams.max(1)));
        Server {
            state: Arc::new(ServerState {
                slots,
                stream_slots,
                opts,
                id,
                registry,
                router,
                lifecycle: Mutex::default(),
                tracker: TaskTracker::new(),
                broker: Mutex::default(),
                subscribers: Mutex::default(),
                counters: Default::default(),
                wrappers: std::sync::RwLock::new(Arc::from(Vec::new())),
                wrapped: std::sync::atomic::AtomicBool::new(false),
                subscriber_wrappers: std::sync::RwLock::new(Arc::from(Vec::new())),
            }),
        }
    }

    /// The node id (`<name>-<uuid>`).
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// The options the server was built with.
    pub fn options(&self) -> &ServerOptions {
        &self.state.opts
    }

    /// What `Debug.Stats` answers now: start time, uptime, the process's memory and threads,
    /// and the unary calls this server answered and failed.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Adds a raw endpoint: bytes in, bytes out, with content type and metadata.
    pub fn handle<F, Fut>(&self, endpoint: &str, handler: F)
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response>> + Send + 'static,
    {
        let h: UnaryHandler = Arc::new(move |req| Box::pin(handler(req)));
        self.state.router.add_unary(endpoint, h, None, None);
    }

    /// Serves every unary call whose endpoint no handler names (go-micro's proxy: a server
    /// that forwards whatever it is asked). The catch-all is not listed among the endpoints
    /// registered; a named handler still wins, and `Debug.Health` and `Debug.Stats` keep the server's
    /// own answers.
    pub fn handle_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response>> + Send + 'static,
    {
        let h: UnaryHandler = Arc::new(move |req| Box::pin(handler(req)));
        self.state.router.set_fallback(h);
    }

    /// Serves every stream whose endpoint no handler names, as [`Server::handle_any`] serves
    /// unary calls (go-micro's proxy forwards streams too). Not listed among the endpoints.
    pub fn handle_any_stream<F, Fut>(&self, handler: F)
    where
        F: Fn(Request, ServerStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let h: StreamHandler = Arc::new(move |req, stream| Box::pin(handler(req, stream)));
        self.state.router.set_stream_fallback(h);
    }

    /// Adds a raw endpoint with descriptions of its request and response for the registry.
    pub fn handle_described<F, Fut>(&self, endpoint: &str, request: Option<Value>, response: Option<Value>, handler: F)
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response>> + Send + 'static,
    {
        let h: UnaryHandler = Arc::new(move |req| Box::pin(handler(req)));
        self.state.router.add_unary(endpoint, h, request, response);
    }

    /// Adds a typed endpoint: the JSON body is decoded into `Req` (an empty body decodes as
    /// `{}`), the handler's `Rsp` is encoded as JSON with Go's trailing newline. A body that
    /// does not decode is a 400 naming the endpoint and the serde error.
    pub fn handle_json<Req, Rsp, F, Fut>(&self, endpoint: &str, handler: F)
    where
        Req: DeserializeOwned + Send + 'static,
        Rsp: Serialize + Send + 'static,
        F: Fn(Req, Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let name = self.state.opts.name.clone();
        let ep = endpoint.to_string();
        let h: UnaryHandler = Arc::new(move |req: Request| {
            let handler = Arc::clone(&handler);
            let (name, ep) = (name.clone(), ep.clone());
            Box::pin(async move {
                if req.content_type != crate::codec::JSON {
                    return Err(Error::bad_request(
                        name,
                        format!("{ep} takes application/json, got {:?}", req.content_type),
                    ));
                }
                let body: &[u8] = if req.body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &req.body };
                let typed: Req = serde_json::from_slice(body)
                    .map_err(|e| Error::bad_request(name.clone(), format!("{ep}: request body is not valid: {e}")))?;
                let rsp = handler(typed, req).await?;
                let mut out = serde_json::to_vec(&rsp)
                    .map_err(|e| Error::internal(name, format!("Unable to encode body: {e}")))?;
                out.push(b'\n');
                Ok(Response::from(out))
            })
        });
        let short = |t: &str| t.rsplit("::").next().unwrap_or(t).to_string();
        let req_name = short(std::any::type_name::<Req>());
        let rsp_name = short(std::any::type_name::<Rsp>());
        self.state.router.add_unary(
            endpoint,
            h,
            Some(Value { name: req_name.clone(), kind: req_name, values: vec![] }),
            Some(Value { name: rsp_name.clone(), kind: rsp_name, values: vec![] }),
        );
    }

    /// Adds a bidirectional stream endpoint. The handler receives the opening request's
    /// metadata and a [`ServerStream`]; returning `Ok` ends the stream with go-micro's `EOS`.
    pub fn handle_stream<F, Fut>(&self, endpoint: &str, handler: F)
    where
        F: Fn(Request, ServerStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let h: StreamHandler = Arc::new(move |req, stream| Box::pin(handler(req, stream)));
        self.state.router.add_stream(endpoint, h);
    }

    /// Adds a wrapper around every unary handler (go-micro's `WrapHandler`); the first
    /// added runs outermost. Applies to calls that arrive after it is added; streams are
    /// not wrapped. See [`crate::wrapper`].
    pub fn wrap(&self, wrapper: wrap::HandlerWrapper) {
        let mut chain = self.state.wrappers.write().unwrap_or_else(|p| p.into_inner());
        *chain = chain.iter().cloned().chain(std::iter::once(wrapper)).collect();
        self.state.wrapped.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Adds a wrapper around every subscriber (go-micro's `WrapSubscriber`); the first
    /// added runs outermost. Add it before [`Server::start`]: subscriptions take the chain
    /// as it stands when they are made.
    pub fn wrap_subscriber(&self, wrapper: wrap::SubscriberWrapper) {
        let mut chain = self.state.subscriber_wrappers.write().unwrap_or_else(|p| p.into_inner());
        *chain = chain.iter().cloned().chain(std::iter::once(wrapper)).collect();
    }

    /// Adds endpoint metadata (e.g. `description`) shown in the registry.
    pub fn describe(&self, endpoint: &str, key: &str, value: &str) {
        self.state.router.set_metadata(endpoint, key, value);
    }

    /// Removes an endpoint.
    pub fn remove(&self, endpoint: &str) {
        self.state.router.remove(endpoint);
    }

    /// The endpoints as registered: handlers sorted by name (as go-micro sorts them), then
    /// one `Func` endpoint per subscriber with metadata `subscriber=true`, `topic=<topic>`.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut eps = self.state.router.endpoints();
        let subs = self.state.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        eps.extend(subs.iter().map(|s| s.endpoint.clone()));
        eps
    }

    /// Sets the broker subscribers are subscribed through ([`crate::Service`] does this).
    pub fn set_broker(&self, broker: Arc<dyn crate::broker::Broker>) {
        *self.state.broker.lock().unwrap_or_else(|p| p.into_inner()) = Some(broker);
    }

    /// The broker, if one was set.
    pub fn broker(&self) -> Option<Arc<dyn crate::broker::Broker>> {
        self.state.broker.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Subscribes `handler` to `topic` (go-micro's `RegisterSubscriber`): broadcast, or one
    /// copy per queue group with [`crate::broker::SubscribeOptions::queue`]. Add subscribers
    /// before [`Server::start`]: they are subscribed on the broker when the server starts
    /// (after its node is registered) and unsubscribed when it stops, and they appear in the
    /// registry as `Func` endpoints with `subscriber`/`topic` metadata. The handler also
    /// receives messages sent to this node's RPC transport with a `Micro-Topic` header.
    /// A handler error is logged by the broker (no redelivery, as in go-micro) and returned
    /// to a sender on the RPC transport path.
    pub fn subscribe<F, Fut>(&self, topic: &str, opts: crate::broker::SubscribeOptions, handler: F)
    where
        F: Fn(crate::broker::Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let mut metadata = Metadata::new();
        metadata.insert("subscriber".into(), "true".into());
        metadata.insert("topic".into(), topic.to_string());
        let endpoint = Endpoint {
            name: "Func".into(),
            request: Some(Value { name: "Message".into(), kind: "Message".into(), values: vec![] }),
            response: None,
            metadata,
        };
        let entry =
            SubscriberEntry { topic: topic.to_string(), opts, handler: crate::broker::handler(handler), endpoint };
        self.state.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
    }

    /// Like [`Server::subscribe`], decoding a JSON body into `T` first; a message that is
    /// not JSON of that shape is a 400 (logged; returned on the RPC transport path).
    pub fn subscribe_json<T, F, Fut>(&self, topic: &str, opts: crate::broker::SubscribeOptions, handler: F)
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(T, crate::broker::Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let name = self.state.opts.name.clone();
        self.subscribe(topic, opts, move |ev: crate::broker::Event| {
            let handler = Arc::clone(&handler);
            let name = name.clone();
            async move {
                let typed: T = serde_json::from_slice(&ev.message.body).map_err(|e| {
                    Error::bad_request(name, format!("message on {:?} is not the expected JSON: {e}", ev.topic))
                })?;
                handler(typed, ev).await
            }
        });
    }

    /// The bound listener address, once started.
    pub fn bound(&self) -> Option<SocketAddr> {
        self.lock().bound
    }

    /// The address registered for this node (advertise, else the listener's, with an
    /// unspecified host replaced as go-micro does), once started.
    pub fn advertised(&self) -> Option<String> {
        let bound = self.bound()?;
        Some(match &self.state.opts.advertise {
            Some(a) => a.clone(),
            None => crate::addr::format(crate::addr::advertise(bound)),
        })
    }

    /// The registry entry for this node: name, version, node with metadata, endpoints.
    pub fn service(&self) -> Option<Service> {
        let address = self.advertised()?;
        let mut metadata = self.state.opts.metadata.clone();
        for (k, v) in [
            ("transport", "http"),
            ("broker", self.state.opts.broker_name.as_str()),
            ("server", "mucp"),
            ("registry", self.state.registry.name()),
            ("protocol", "mucp"),
        ] {
            metadata.insert(k.to_string(), v.to_string());
        }
        if self.state.opts.tls.is_some() {
            // Not a go-micro key (its nodes do not say); tells people and tools to use TLS.
            metadata.insert("secure".into(), "true".into());
        }
        Some(Service {
            name: self.state.opts.name.clone(),
            version: self.state.opts.version.clone(),
            metadata: Metadata::new(),
            endpoints: self.endpoints(),
            nodes: vec![Node { metadata, id: self.state.id.clone(), address }],
        })
    }

    /// Fuzzing: serves `bytes` as one connection's input (its answers are dropped), then
    /// waits for every handler it started; afterwards every stream slot must be free.
    #[cfg(feature = "fuzzing")]
    pub(crate) async fn fuzz_connection(&self, bytes: Vec<u8>) {
        use crate::transport::{http::MessageReader, listener::Connection, socket::Socket};
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        let conn = Connection {
            reader: MessageReader::new(Box::new(std::io::Cursor::new(bytes)), self.state.opts.limits),
            socket: Socket::new(Box::new(tokio::io::sink())),
            local: peer,
            remote: peer,
        };
        let (_running, shutdown) = watch::channel(false);
        conn::serve_connection(Arc::clone(&self.state), conn, shutdown).await;
        self.state.tracker.close();
        self.state.tracker.wait().await;
        self.state.tracker.reopen();
        let free = self.state.stream_slots.available_permits();
        assert_eq!(free, self.state.opts.max_streams.max(1), "a stream slot outlived its connection");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.state.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens, registers and starts serving. Registration is tried three times (as go-micro
    /// does) before the error is returned; the listener is closed again on failure.
    ///
    /// A registry that cannot be reached at start (not up yet, a network outage:
    /// [`Registry::is_unreachable`]) is not a failure: the error is logged, the server serves
    /// callers that know its address, and registration is retried with backoff (1 s,
    /// doubling to 10 s) until it succeeds or the server stops. A registry that refuses
    /// (credentials, certificate, a rejected service) fails the start with its error.
    ///
    /// [`Registry::is_unreachable`]: crate::registry::Registry::is_unreachable
    pub async fn start(&self) -> Result<()> {
        if self.lock().shutdown.is_some() {
            return Err(Error::conflict(SERVER_ID, format!("server {} is already started", self.state.opts.name)));
        }
        let opts = &self.state.opts;
        let listener = Listener::bind(&opts.address, opts.tls.clone(), opts.limits)
            .await
            .map_err(|e| cannot_listen(SERVER_ID, &format!("cannot listen on {}", opts.address), &e))?;
        let bound = listener.local_addr();
        let (tx, rx) = watch::channel(false);
        {
            let mut st = self.lock();
            st.bound = Some(bound);
            st.shutdown = Some(tx);
            st.stopping = false;
        }
        let service = self.service().ok_or_else(|| Error::internal(SERVER_ID, "no address"))?;
        // Serve before registering, so a peer that discovers us can call at once.
        self.state.tracker.spawn(conn::accept_loop(Arc::clone(&self.state), listener, rx.clone()));
        let pending = match self.register(&service).await {
            Ok(()) => {
                self.lock().registered = Some(service);
                None
            }
            Err(e) if self.state.registry.is_unreachable(&e) => {
                tracing::error!(
                    service = %self.state.opts.name, registry = self.state.registry.name(), error = %e,
                    "the registry cannot be reached: serving at {bound} unregistered, registration retried with backoff"
                );
                Some(service)
            }
            Err(e) => {
                self.shutdown_listener();
                return Err(e);
            }
        };
        if let Err(e) = self.subscribe_all().await {
            let _ = self.stop().await;
            return Err(e);
        }
        tokio::spawn(registration_loop(self.clone(), pending, rx));
        tracing::info!(service = %self.state.opts.name, id = %self.state.id, address = %bound, "server started");
        Ok(())
    }

    /// Whether the server's node is in the registry now: `false` before start, while a
    /// registry unreachable at start is retried, and after stop.
    pub fn is_registered(&self) -> bool {
        self.lock().registered.is_some()
    }

    async fn register(&self, service: &Service) -> Result<()> {
        let opts = RegisterOptions { ttl: self.state.opts.register_ttl };
        let mut last = None;
        for (attempt, pause) in [100u64, 600, 1900].into_iter().enumerate() {
            match self.state.registry.register(service, opts).await {
                Ok(()) => return Ok(()),
                // A refused registration (bad name or address) or a registry that cannot
                // work on this host (mDNS without a multicast route) will not heal in 2 s.
                Err(e) if (400..500).contains(&e.code) || e.code == 503 => return Err(e),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "registration failed");
                    last = Some(e);
                    if attempt < 2 {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::internal(SERVER_ID, "registration failed")))
    }

    fn shutdown_listener(&self) {
        if let Some(tx) = self.lock().shutdown.take() {
            let _ = tx.send(true);
        }
    }

    async fn subscribe_all(&self) -> Result<()> {
        let subs = self.state.subscribers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if subs.is_empty() {
            return Ok(());
        }
        let broker = self.broker().ok_or_else(|| {
            Error::internal(SERVER_ID, "the server has subscribers but no broker: use Service or Server::set_broker")
        })?;
        broker.connect().await?;
        for s in subs {
            let handler = wrap::wrap_subscriber(self.state.subscriber_chain(), Arc::clone(&s.handler));
            let sub = broker.subscribe(&s.topic, s.opts.clone(), handler).await?;
            self.lock().subscriptions.push(sub);
        }
        Ok(())
    }

    /// Deregisters and unsubscribes, stops accepting, then waits up to the drain timeout
    /// for calls in flight.
    pub async fn stop(&self) -> Result<()> {
        let registered = {
            let mut st = self.lock();
            st.stopping = true;
            st.registered.take()
        };
        let mut result = Ok(());
        if let Some(svc) = registered {
            let node = Service { nodes: svc.nodes.clone(), endpoints: vec![], ..svc.clone() };
            if let Err(e) = self.state.registry.deregister(&node).await {
                tracing::warn!(error = %e, "deregistration failed");
                result = Err(e);
            }
        }
        let subscriptions = std::mem::take(&mut self.lock().subscriptions);
        for sub in subscriptions {
            if let Err(e) = sub.unsubscribe().await {
                tracing::warn!(topic = sub.topic(), error = %e, "unsubscribe failed");
            }
        }
        self.shutdown_listener();
        self.state.tracker.close();
        if tokio::time::timeout(self.state.opts.drain_timeout, self.state.tracker.wait()).await.is_err() {
            tracing::warn!(pending = self.state.tracker.len(), "drain timeout: calls still in flight");
        }
        self.state.tracker.reopen();
        self.lock().bound = None;
        result
    }
}

/// Registers a node that could not be registered at start (`pending`), with backoff, then
/// re-registers every interval until shutdown.
async fn registration_loop(server: Server, pending: Option<Service>, mut shutdown: watch::Receiver<bool>) {
    if let Some(svc) = pending {
        let mut pause = Duration::from_secs(1);
        let mut tries = 1u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
            tries += 1;
            match server.register(&svc).await {
                Ok(()) => break,
                Err(e) => {
                    pause = (pause * 2).min(Duration::from_secs(10));
                    tracing::warn!(tries, error = %e, "registration failed again; next try in {pause:?}");
                }
            }
        }
        let landed = {
            let mut st = server.lock();
            if !st.stopping {
                st.registered = Some(svc.clone());
            }
            !st.stopping
        };
        if !landed {
            // Stopped while the last try was in flight: take the node out again.
            let _ = server.state.registry.deregister(&svc).await;
            return;
        }
        tracing::info!(service = %svc.name, tries, "registered");
    }
    if !server.state.opts.register_interval.is_zero() {
        reregister_loop(server, shutdown).await;
    }
}

async fn reregister_loop(server: Server, mut shutdown: watch::Receiver<bool>) {
    let every = server.state.opts.register_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let svc = server.lock().registered.clone();
        let Some(svc) = svc else { return };
        if let Err(e) = server.register(&svc).await {
            tracing::warn!(error = %e, "re-registration failed");
        }
    }
}
