//! The RPC client: go-micro's `client` package ("mucp").
//!
//! A call: registry cache lookup → selector picks a node → pooled connection → request with
//! go-micro's headers (`Micro-Id`, `Micro-Service`, `Micro-Endpoint`, `Micro-Method`,
//! `Content-Type`, `Accept`, `Timeout` in nanoseconds, metadata) → reply or `Micro-Error`.
//!
//! Retries fix go-micro's two known faults. A node that refuses the connection (or a pooled
//! connection that turns out dead before the request was read) is dropped from the cache
//! and the call moves to another node at once — go-micro does not retry those. A call that
//! timed out is *not* re-sent unless the caller says the endpoint is idempotent
//! ([`CallOptions::retry_timeouts`]) — go-micro re-invokes slow handlers up to five times.

mod builder;
mod options;
mod stream;
pub(crate) mod wrap;

pub use builder::ClientBuilder;
pub use options::{CallOptions, ClientOptions, Reply};
pub use stream::{ClientStream, StreamRecvHalf, StreamSendHalf};

use crate::codec::{self, envelope, Framing};
use crate::error::{Error, Result, CLIENT_ID, CODEC_ID, TRANSPORT_ID};
use crate::registry::cache::Cache;
use crate::registry::{Metadata, Node, Registry};
use crate::selector::Selector;
use crate::transport::pool::{Conn, Pool};
use crate::transport::{Header, Message, TransportError};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The RPC client; cheap to clone.
#[derive(Clone)]
pub struct Client {
    state: Arc<ClientState>,
}

/// What every clone of a [`Client`] shares: its options, the registry cache and selector
/// that pick nodes, the connection pool, the request id counter and the broker.
struct ClientState {
    opts: ClientOptions,
    cache: Option<Arc<Cache>>,
    selector: Selector,
    pool: Pool,
    seq: AtomicU64,
    broker: std::sync::RwLock<Option<Arc<dyn crate::broker::Broker>>>,
    /// Wrappers around `call`, outermost first ([`Client::wrap`]).
    wrappers: std::sync::RwLock<Arc<[wrap::CallWrapper]>>,
    /// Set once a wrapper is added: until then a call skips the lock on `wrappers` (a read
    /// lock is a write to a cache line every caller shares).
    wrapped: std::sync::atomic::AtomicBool,
    /// The tracer whose `Pub to <topic>` span wraps every publish ([`Client::trace_publishes`]).
    tracer: std::sync::RwLock<Option<crate::wrapper::trace::Tracer>>,
}

/// Options for [`Client::publish`].
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// Content type of the message (the client's, `application/json`, by default).
    pub content_type: Option<String>,
    /// Metadata sent as message headers, keys as given (go-micro context metadata).
    pub metadata: Metadata,
}

/// What went wrong in one attempt, and so whether another attempt is safe.
enum Attempt {
    /// The request never reached a handler (refused, dial failure, stale pooled connection).
    NotSent(Error),
    /// The attempt ran out of time; the handler may have run.
    TimedOut(Error),
    /// A final answer: an RPC error from the handler, or a failure after sending.
    Final(Error),
}

impl Client {
    /// A client that finds services through `registry` (wrapped in a watch-fed cache).
    pub fn new(registry: Arc<dyn Registry>, opts: ClientOptions) -> Self {
        Self::with_cache(Some(Cache::new(registry)), opts)
    }

    /// A client over an existing cache (shared with a server or a broker), or with none:
    /// then every call must name [`CallOptions::address`].
    pub fn with_cache(cache: Option<Arc<Cache>>, opts: ClientOptions) -> Self {
        let pool = Pool::new(opts.pool_size, opts.pool_ttl);
        let selector = Selector::new(opts.strategy);
        Client {
            state: Arc::new(ClientState {
                opts,
                cache,
                selector,
                pool,
                seq: AtomicU64::new(0),
                broker: std::sync::RwLock::new(None),
                wrappers: std::sync::RwLock::new(Arc::from(Vec::new())),
                wrapped: std::sync::atomic::AtomicBool::new(false),
                tracer: std::sync::RwLock::new(None),
            }),
        }
    }

    /// The client-wide options.
    pub fn options(&self) -> &ClientOptions {
        &self.state.opts
    }

    /// The registry cache, if any.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.state.cache.as_ref()
    }

    /// Whether a call of this client may be driven on a blocking thread's own runtime
    /// ([`crate::transport::local::block_on`]): it has no call wrappers (they may start work
    /// that would stop when that thread stops calling), and its cache, if any, runs its
    /// background work on a runtime of its own. Streams and publishes stay on the runtime
    /// that runs them either way.
    pub fn drives_on_any_thread(&self) -> bool {
        !self.state.wrapped.load(std::sync::atomic::Ordering::Acquire)
            && self.state.cache.as_ref().map_or(true, |c| c.serves_thread_runtimes())
    }

    /// Adds a wrapper around every call of this client and its clones (go-micro's
    /// `client.Wrap`): it sees the whole call, retries included; the first added runs
    /// outermost. See [`crate::wrapper`].
    pub fn wrap(&self, wrapper: wrap::CallWrapper) {
        let mut chain = self.state.wrappers.write().unwrap_or_else(|p| p.into_inner());
        *chain = chain.iter().cloned().chain(std::iter::once(wrapper)).collect();
        self.state.wrapped.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Calls `service`'s `endpoint` with a body of the given (or default) content type,
    /// through this client's wrappers.
    pub async fn call(
        &self,
        service: &str,
        endpoint: &str,
        body: impl Into<Bytes>,
        opts: &CallOptions,
    ) -> Result<Reply> {
        if !self.state.wrapped.load(std::sync::atomic::Ordering::Acquire) {
            return self.call_unwrapped(service, endpoint, body.into(), opts).await;
        }
        let chain = Arc::clone(&self.state.wrappers.read().unwrap_or_else(|p| p.into_inner()));
        if chain.is_empty() {
            return self.call_unwrapped(service, endpoint, body.into(), opts).await;
        }
        let call = wrap::Call {
            service: service.to_string(),
            endpoint: endpoint.to_string(),
            body: body.into(),
            options: opts.clone(),
        };
        let client = self.clone();
        let last: wrap::CallLast = Arc::new(move |call: wrap::Call| {
            let client = client.clone();
            Box::pin(
                async move { client.call_unwrapped(&call.service, &call.endpoint, call.body, &call.options).await },
            )
        });
        wrap::CallNext::new(chain, last).run(call).await
    }

    /// The call itself, past the wrappers: pick a node, send, retry on another node.
    pub(crate) async fn call_unwrapped(
        &self,
        service: &str,
        endpoint: &str,
        body: Bytes,
        opts: &CallOptions,
    ) -> Result<Reply> {
        crate::host::check::service(service)?;
        crate::host::check::endpoint(endpoint)?;
        let limit = self.state.opts.limits.max_body;
        if body.len() > limit {
            // Refused before a connection is taken: no byte is sent.
            let detail = crate::transport::oversize_detail("request body", body.len(), limit, false);
            return Err(Error::too_large(CLIENT_ID, detail));
        }
        let budget = opts.request_timeout.unwrap_or(self.state.opts.request_timeout);
        let deadline = Instant::now() + budget;
        let retries = opts.retries.unwrap_or(self.state.opts.retries);
        let mut tried: Vec<String> = Vec::new();
        let mut attempt = 0u32;
        loop {
            let node = self.pick(service, opts, &tried).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::timeout(
                    CLIENT_ID,
                    format!("call to {service}.{endpoint} ran out of its {budget:?} budget"),
                ));
            }
            let per_attempt = opts.timeout.unwrap_or(self.state.opts.conn_timeout).min(left);
            tracing::trace!(service, endpoint, node = %node.address, ?per_attempt, "attempt");
            let outcome = self.attempt(&node, service, endpoint, &body, opts, per_attempt).await;
            let err = match outcome {
                Ok(reply) => return Ok(reply),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::NotSent(e)) => {
                    if let Some(cache) = &self.state.cache {
                        if opts.address.is_empty() {
                            cache.mark_failed(service, &node.id);
                        }
                    }
                    self.state.pool.forget(&node.address);
                    tried.push(node.id.clone());
                    e
                }
                Err(Attempt::TimedOut(e)) => {
                    if !opts.retry_timeouts {
                        return Err(e);
                    }
                    tried.push(node.id.clone());
                    e
                }
            };
            if attempt >= retries {
                return Err(err);
            }
            attempt += 1;
            tracing::debug!(service, endpoint, attempt, error = %err, "retrying on another node");
            let pause = backoff(attempt, tried.len(), self.node_count(service, opts).await);
            if !pause.is_zero() {
                tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            }
        }
    }

    /// Records a client span `Pub to <topic>` for every publish of this client and its clones,
    /// its `Traceparent` in the message's headers, as go-micro's OpenTelemetry client wrapper
    /// does for `Publish` (publishes do not pass through [`Client::wrap`]'s call wrappers).
    pub fn trace_publishes(&self, tracer: crate::wrapper::trace::Tracer) {
        *self.state.tracer.write().unwrap_or_else(|p| p.into_inner()) = Some(tracer);
    }

    /// Sets the broker [`Client::publish`] uses (shared by every clone of this client).
    pub fn set_broker(&self, broker: Arc<dyn crate::broker::Broker>) {
        *self.state.broker.write().unwrap_or_else(|p| p.into_inner()) = Some(broker);
    }

    /// The broker [`Client::publish`] uses, if one was set.
    pub fn broker(&self) -> Option<Arc<dyn crate::broker::Broker>> {
        self.state.broker.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `body` on `topic` as go-micro's `client.Publish` does: headers are the
    /// metadata plus `Content-Type`, `Micro-Topic` and `Micro-ID` (a random UUID), keys
    /// exactly so (not canonicalised, they travel inside the broker envelope); the body is
    /// sent byte for byte. Errors: no broker set, message over the size limit (413), or
    /// whatever the broker reports (e.g. the http broker's `service not found`).
    pub async fn publish(&self, topic: &str, body: impl Into<Bytes>, opts: &PublishOptions) -> Result<()> {
        crate::host::check::topic(topic, None)?;
        let broker = self
            .broker()
            .ok_or_else(|| Error::internal(CLIENT_ID, "publish needs a broker: use Service or Client::set_broker"))?;
        let body = body.into();
        if body.len() > self.state.opts.limits.max_body {
            let limit = self.state.opts.limits.max_body;
            return Err(crate::broker::too_large(body.len(), limit, "client's message size"));
        }
        let mut header = opts.metadata.clone();
        let ct = opts.content_type.clone().unwrap_or_else(|| self.state.opts.content_type.clone());
        header.insert("Content-Type".into(), ct);
        header.insert("Micro-Topic".into(), topic.to_string());
        header.insert("Micro-ID".into(), uuid::Uuid::new_v4().to_string());
        broker.connect().await?;
        let tracer = self.state.tracer.read().unwrap_or_else(|p| p.into_inner()).clone();
        match tracer {
            None => broker.publish(topic, crate::broker::Message { header, body }).await,
            Some(t) => {
                t.publish(topic, header, |header| broker.publish(topic, crate::broker::Message { header, body })).await
            }
        }
    }

    /// Publishes `msg` as JSON (with Go's trailing newline, as go-micro's JSON codec writes).
    pub async fn publish_json<T: Serialize>(&self, topic: &str, msg: &T, opts: &PublishOptions) -> Result<()> {
        let mut body = serde_json::to_vec(msg)
            .map_err(|e| Error::bad_request(CODEC_ID, format!("message does not encode as JSON: {e}")))?;
        body.push(b'\n');
        let mut opts = opts.clone();
        opts.content_type = Some(codec::JSON.into());
        self.publish(topic, body, &opts).await
    }

    /// Calls with serde types, as JSON.
    pub async fn call_json<Req: Serialize, Rsp: DeserializeOwned>(
        &self,
        service: &str,
        endpoint: &str,
        req: &Req,
        opts: &CallOptions,
    ) -> Result<Rsp> {
        let body = serde_json::to_vec(req)
            .map_err(|e| Error::bad_request(CODEC_ID, format!("request does not encode as JSON: {e}")))?;
        let mut opts = opts.clone();
        opts.content_type = Some(codec::JSON.into());
        let reply = self.call(service, endpoint, body, &opts).await?;
        let body: &[u8] = if reply.body.is_empty() { b"null" } else { &reply.body };
        serde_json::from_slice(body).map_err(|e| {
            Error::internal(CODEC_ID, format!("reply from {service}.{endpoint} is not the expected JSON: {e}"))
        })
    }

    /// Opens a bidirectional stream to `service`'s `endpoint`.
    pub async fn stream(&self, service: &str, endpoint: &str, opts: &CallOptions) -> Result<ClientStream> {
        crate::host::check::service(service)?;
        crate::host::check::endpoint(endpoint)?;
        let retries = opts.retries.unwrap_or(self.state.opts.retries);
        let mut tried = Vec::new();
        let mut last = None;
        for _ in 0..=retries {
            let node = self.pick(service, opts, &tried).await?;
            match Conn::dial(
                &node.address,
                self.state.opts.dial_timeout,
                self.state.opts.limits,
                self.state.opts.tls.as_ref(),
            )
            .await
            {
                Ok(conn) => {
                    let id = self.state.seq.fetch_add(1, Ordering::Relaxed);
                    let header = self.headers(service, endpoint, opts, None, Some(id));
                    return ClientStream::open(conn, header, node.id.clone()).await;
                }
                Err(e) => {
                    if let (Some(cache), true) = (&self.state.cache, opts.address.is_empty()) {
                        cache.mark_failed(service, &node.id);
                    }
                    tried.push(node.id.clone());
                    last = Some(Error::internal(TRANSPORT_ID, format!("dial {} ({}): {e}", node.address, node.id)));
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::internal(TRANSPORT_ID, "no attempt made")))
    }

    async fn node_count(&self, service: &str, opts: &CallOptions) -> usize {
        if !opts.address.is_empty() {
            return opts.address.len();
        }
        match &self.state.cache {
            Some(c) => c.lookup_shared(service).await.map(|s| s.iter().map(|s| s.nodes.len()).sum()).unwrap_or(0),
            None => 0,
        }
    }

    async fn pick(&self, service: &str, opts: &CallOptions, tried: &[String]) -> Result<Picked> {
        if !opts.address.is_empty() {
            let address = self
                .state
                .selector
                .select_address(&opts.address, tried)
                .ok_or_else(|| Error::internal(CLIENT_ID, "no address given"))?;
            let mut metadata = Metadata::new();
            metadata.insert("protocol".into(), "mucp".into());
            return Ok(Picked::Given(Node { id: address.into(), address: address.into(), metadata }));
        }
        let Some(cache) = &self.state.cache else {
            return Err(Error::internal(CLIENT_ID, format!("service {service}: no registry and no address to call")));
        };
        let services = cache.lookup_shared(service).await?;
        tracing::trace!(service, n = services.len(), "looked up");
        if services.is_empty() {
            return Err(Error::not_found(
                CLIENT_ID,
                format!("service {service}: not found in the {} registry", cache.name()),
            ));
        }
        match self.state.selector.select_at(&services, &opts.filters, tried) {
            Some((service, node)) => Ok(Picked::Cached { services, service, node }),
            None if opts.filters.is_empty() => {
                Err(Error::internal(CLIENT_ID, format!("error selecting {service} node: none available")))
            }
            None => Err(Error::not_found(
                CLIENT_ID,
                format!("error selecting {service} node: none matches {:?}", opts.filters),
            )),
        }
    }

    fn headers(
        &self,
        service: &str,
        endpoint: &str,
        opts: &CallOptions,
        timeout: Option<Duration>,
        stream: Option<u64>,
    ) -> Header {
        let mut header = Header::new();
        for (k, v) in &opts.metadata {
            if k != "Micro-Topic" {
                header.insert(crate::transport::canonical_key(k), v.clone());
            }
        }
        let ct = opts.content_type.clone().unwrap_or_else(|| self.state.opts.content_type.clone());
        if let Some(t) = timeout {
            header.insert("Timeout".into(), t.as_nanos().to_string());
        }
        header.insert("Accept".into(), ct.clone());
        header.insert("Content-Type".into(), ct);
        let id = stream.unwrap_or_else(|| self.state.seq.fetch_add(1, Ordering::Relaxed));
        header.insert("Micro-Id".into(), id.to_string());
        header.insert("Micro-Service".into(), service.into());
        header.insert("Micro-Method".into(), endpoint.into());
        header.insert("Micro-Endpoint".into(), endpoint.into());
        if let Some(s) = stream {
            header.insert("Micro-Stream".into(), s.to_string());
        }
        header
    }

    async fn attempt(
        &self,
        node: &Node,
        service: &str,
        endpoint: &str,
        body: &Bytes,
        opts: &CallOptions,
        timeout: Duration,
    ) -> std::result::Result<Reply, Attempt> {
        let mut header = self.headers(service, endpoint, opts, Some(timeout), None);
        let content_type = header.get("Content-Type").cloned().unwrap_or_default();
        // Nodes without `protocol` metadata speak the legacy envelopes (spec §4.3).
        let legacy = !node.metadata.contains_key("protocol");
        let wire_body = if legacy {
            let ct = codec::legacy_content_type(&content_type).to_string();
            let framing = codec::framing(&ct).unwrap_or(Framing::Plain);
            header.insert("Content-Type".into(), ct);
            let seq = header.get("Micro-Id").map(String::as_str).unwrap_or_default();
            envelope::wrap_request(framing, endpoint, seq, body)
                .map_err(|e| Attempt::Final(Error::bad_request(CODEC_ID, e.to_string())))?
        } else {
            body.clone()
        };
        let msg = Message { header, body: wire_body };
        let exchange = self.exchange(node, &msg);
        let rsp = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Attempt::TimedOut(Error::timeout(
                    CLIENT_ID,
                    format!(
                        "{service}.{endpoint} on node {} ({}) did not answer within {timeout:?}",
                        node.id, node.address
                    ),
                )))
            }
        };
        if let Some(e) = rsp.get("Micro-Error").filter(|e| !e.is_empty()) {
            if e == "EOS" {
                return Err(Attempt::Final(Error::internal(CLIENT_ID, "EOF")));
            }
            let e = Error::from_reply(e);
            // A 408 answered by the server (its handler overran this attempt's `Timeout`)
            // is a timed-out attempt too, as go-micro's client retries it.
            return Err(if e.code == 408 { Attempt::TimedOut(e) } else { Attempt::Final(e) });
        }
        let rsp_ct = rsp.get("Content-Type").unwrap_or(&content_type).to_string();
        let body =
            if legacy { unwrap_legacy(&rsp_ct, rsp.body.clone()).map_err(Attempt::Final)? } else { rsp.body.clone() };
        if !legacy && rsp_ct == "text/plain" && rsp.body.starts_with(b"unsupported Content-Type") {
            return Err(Attempt::Final(Error::bad_request(CODEC_ID, String::from_utf8_lossy(&rsp.body).into_owned())));
        }
        Ok(Reply {
            body,
            content_type: codec::inner_content_type(&rsp_ct).to_string(),
            header: rsp.header,
            node: node.id.clone(),
        })
    }

    /// Sends `msg` and reads the reply on a pooled or fresh connection.
    async fn exchange(&self, node: &Node, msg: &Message) -> std::result::Result<Message, Attempt> {
        let pooled = self.state.pool.take(&node.address);
        tracing::trace!(node = %node.address, pooled = pooled.is_some(), "exchange");
        let mut conn = match pooled {
            Some(c) => c,
            None => self.dial(node).await?,
        };
        let r = round_trip(&mut conn, msg).await;
        tracing::trace!(node = %node.address, error = ?r.as_ref().err().map(RoundTrip::describe), "round trip done");
        match r {
            Ok(rsp) => {
                self.state.pool.put(conn);
                Ok(rsp)
            }
            // A pooled connection the server closed while idle: the request was not read.
            Err(RoundTrip::Closed) if conn.reused() => {
                let mut fresh = self.dial(node).await?;
                match round_trip(&mut fresh, msg).await {
                    Ok(rsp) => {
                        self.state.pool.put(fresh);
                        Ok(rsp)
                    }
                    Err(e) => Err(e.into_attempt(node)),
                }
            }
            Err(e) => Err(e.into_attempt(node)),
        }
    }

    async fn dial(&self, node: &Node) -> std::result::Result<Conn, Attempt> {
        Conn::dial(&node.address, self.state.opts.dial_timeout, self.state.opts.limits, self.state.opts.tls.as_ref())
            .await
            .map_err(|e| {
                Attempt::NotSent(Error::internal(
                    TRANSPORT_ID,
                    format!("dial {} (node {}): {e}", node.address, node.id),
                ))
            })
    }
}

enum RoundTrip {
    /// The connection closed before any reply byte: the server did not take the request.
    Closed,
    /// Anything else.
    Failed(TransportError),
}

impl RoundTrip {
    /// What went wrong, for a log line.
    fn describe(&self) -> String {
        match self {
            RoundTrip::Closed => "closed before any reply byte".to_string(),
            RoundTrip::Failed(e) => e.to_string(),
        }
    }

    fn into_attempt(self, node: &Node) -> Attempt {
        match self {
            RoundTrip::Closed => Attempt::Final(Error::internal(
                TRANSPORT_ID,
                format!("node {} ({}) closed the connection: unexpected EOF", node.id, node.address),
            )),
            RoundTrip::Failed(e @ TransportError::InvalidHeader(_)) => Attempt::Final(e.into()),
            RoundTrip::Failed(e) => {
                Attempt::Final(Error::internal(TRANSPORT_ID, format!("node {} ({}): {e}", node.id, node.address)))
            }
        }
    }
}

async fn round_trip(conn: &mut Conn, msg: &Message) -> std::result::Result<Message, RoundTrip> {
    if let Err(e) = conn.send(msg).await {
        return Err(match e {
            TransportError::Io(ref io) if is_reset(io) => RoundTrip::Closed,
            other => RoundTrip::Failed(other),
        });
    }
    match conn.recv().await {
        Ok(m) => Ok(m),
        Err(TransportError::UnexpectedEof) => Err(RoundTrip::Closed),
        Err(TransportError::Io(ref io)) if is_reset(io) => Err(RoundTrip::Closed),
        Err(e) => Err(RoundTrip::Failed(e)),
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionAborted
    )
}

/// The body inside a legacy reply, or the error its envelope carries.
fn unwrap_legacy(content_type: &str, body: Bytes) -> Result<Bytes> {
    let framing = codec::framing(content_type).unwrap_or(Framing::Plain);
    match envelope::unwrap_response(framing, body) {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(text)) => Err(Error::from_reply(&text)),
        Err(e) => Err(Error::internal(CODEC_ID, e.to_string())),
    }
}

/// No pause while untried nodes remain; after that go-micro's curve, `i^e × 100 ms`
/// (0, 100 ms, 600 ms, 1.9 s …), capped at 2 minutes.
fn backoff(attempt: u32, tried: usize, nodes: usize) -> Duration {
    if tried < nodes {
        return Duration::ZERO;
    }
    let i = f64::from(attempt.saturating_sub(1));
    let ms = (i.powf(std::f64::consts::E).trunc() * 100.0).min(120_000.0);
    Duration::from_millis(ms as u64)
}

/// The node an attempt goes to: one of the registry cache's answer, shared with the cache
/// rather than copied (a go-micro node carries its metadata, a service its endpoints), or
/// one made from an address the caller gave.
enum Picked {
    /// `services[service].nodes[node]`.
    Cached { services: Arc<Vec<crate::registry::Service>>, service: usize, node: usize },
    /// From [`CallOptions::address`].
    Given(Node),
}

impl std::ops::Deref for Picked {
    type Target = Node;

    fn deref(&self) -> &Node {
        match self {
            Picked::Cached { services, service, node } => &services[*service].nodes[*node],
            Picked::Given(node) => node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_go_micro_once_nodes_are_exhausted() {
        assert_eq!(backoff(1, 1, 3), Duration::ZERO);
        assert_eq!(backoff(1, 3, 3), Duration::ZERO);
        assert_eq!(backoff(2, 3, 3), Duration::from_millis(100));
        assert_eq!(backoff(3, 3, 3), Duration::from_millis(600));
        assert_eq!(backoff(4, 3, 3), Duration::from_millis(1900));
        assert_eq!(backoff(40, 3, 3), Duration::from_secs(120));
    }
}
