//! go-micro's HTTP broker (its default), on the wire as v4.11.0 and v5.30.0 speak it.
//!
//! **Subscribing registers.** Each subscription registers service `micro.http.broker`,
//! version = the queue name or `ff.http.broadcast`, one node `<topic>-<uuid>` at
//! this broker's listener with metadata `broker=http`, `secure=false`, `topic=<topic>`;
//! re-registered every 30 s (TTL 1 min), deregistered on unsubscribe.
//!
//! **Publishing posts.** `publish` wraps the message in the JSON envelope
//! `{"Header":{…},"Body":"<base64>"}` (with `Micro-Topic` forced), appends it to a
//! per-topic inbox (the newest 64 kept), and looks `micro.http.broker` up. If nobody is
//! registered at all, `publish` returns go-micro's `service not found` error and the
//! message **stays queued**: it goes out with the next publish to that topic. Otherwise a
//! task takes up to 8 queued messages and sends them one after another — go-micro sleeps
//! 100 ms between the messages of such a batch, so a backlog of 64 took it 0.8 s; here
//! they go at once — and for each message and registered version `POST`s
//! `/?id=<node id>` to every node of a broadcast version and to one random node of a
//! queue group, over kept-alive connections (the transport's shared HTTP client). Where go-micro
//! re-queues a message only when all posts failed, we also try the group's other nodes
//! before re-queueing, so one dead member does not hold a group's messages back. Status codes are not acknowledgements (go-micro answers 200
//! even when the handler failed), so a delivery that reached a subscriber is never
//! re-sent: at most once per subscriber, with no ordering guarantee between publishes.
//!
//! **Node ids.** go-micro names every subscriber node of one broker `<topic>-<broker
//! uuid>`, so a process with a broadcast and a queue subscriber on the same topic gets a
//! broadcast delivery twice (both match the id). We give each subscription its own uuid
//! (same `<topic>-<uuid>` form, so Go publishers see no difference) and deliver to exactly
//! the subscription addressed.
//!
//! **Receiving.** The transport's [`Listener`] accepts and its message reader reads each
//! request. Any path; the `id` query parameter must equal the subscriber's node id and the
//! envelope must carry `Micro-Topic`. Non-POST → 405, bad envelope → 500 with a go-micro
//! error JSON, body over the size limit → 413 naming size and limit (then the write side
//! closes and the rest of the body is read and dropped for a moment, so the poster reads
//! the answer); everything else → `200` with an empty body. Handler errors are logged, not
//! returned (go-micro does the same). The listener runs under the same [`Limits`] as the
//! RPC server's (header, idle and body timeouts, connection cap), where go-micro's runs
//! `http.Serve` with none.

use super::{
    decode_envelope, encode_envelope, too_large, Broker, Event, Handler, Message, SubscribeOptions, Subscriber,
    BROKER_ID,
};
use crate::error::{Error, Result};
use crate::registry::cache::Cache;
use crate::registry::{Metadata, Node, RegisterOptions, Registry, Service};
use crate::transport::http::MessageReader;
use crate::transport::http_client::{HttpClient, StatusCode};
use crate::transport::listener::{cannot_listen, Accepted, Listener};
use crate::transport::socket::Socket;
use crate::transport::{Limits, TransportError};
use async_trait::async_trait;
use bytes::Bytes;
use rand::seq::SliceRandom;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// go-micro's default listen address for the broker: loopback only.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:0";
/// The registry service every HTTP broker subscriber registers under.
pub const SERVICE: &str = "micro.http.broker";
/// The "version" of broadcast (non-queue) subscribers.
pub const BROADCAST: &str = "ff.http.broadcast";
/// Messages kept per topic while nobody can take them (go-micro: 64).
pub const INBOX: usize = 64;
/// Messages taken from the inbox per delivery round (go-micro: 8).
pub const BATCH: usize = 8;

const REGISTER_TTL: Duration = Duration::from_secs(60);
const REGISTER_INTERVAL: Duration = Duration::from_secs(30);
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP broker.
pub struct HttpBroker {
    state: Arc<HttpBrokerState>,
}

struct Sub {
    key: u64,
    node_uuid: String,
    node_id: String,
    topic: String,
    queue: Option<String>,
    handler: Handler,
}

/// What the broker and its subscriptions share: the listener, the subscriptions it
/// delivers to, the per-topic inboxes of outgoing messages, and the client that posts them.
struct HttpBrokerState {
    listen: String,
    registry: Arc<dyn Registry>,
    cache: Arc<Cache>,
    max_message: usize,
    /// What the listener reads deliveries under (`max_body` = `max_message`).
    limits: Limits,
    subs: Mutex<Vec<Sub>>,
    next_key: Mutex<u64>,
    inbox: Mutex<HashMap<String, VecDeque<Bytes>>>,
    /// The bound address and the listener's stop signal, while connected.
    listening: Mutex<Option<(SocketAddr, watch::Sender<bool>)>>,
    posts: HttpClient,
}

impl HttpBroker {
    /// A broker that will listen on `listen` and register subscribers in `registry`.
    pub fn new(listen: &str, registry: Arc<dyn Registry>, max_message: usize) -> Self {
        Self::with_limits(listen, registry, Limits { max_body: max_message, ..Limits::default() })
    }

    /// A broker whose listener reads deliveries under `limits` (its `max_body` is the
    /// broker's message size; head size and header count are go-micro's 64 KiB and 64).
    pub fn with_limits(listen: &str, registry: Arc<dyn Registry>, limits: Limits) -> Self {
        let cache = Cache::new(Arc::clone(&registry));
        let limits = Limits { max_header_bytes: 64 * 1024, max_headers: 64, ..limits };
        HttpBroker {
            state: Arc::new(HttpBrokerState {
                listen: listen.to_string(),
                registry,
                cache,
                max_message: limits.max_body,
                limits,
                subs: Mutex::default(),
                next_key: Mutex::new(1),
                inbox: Mutex::default(),
                listening: Mutex::default(),
                posts: HttpClient::new(IDLE_PER_NODE),
            }),
        }
    }
}

impl HttpBrokerState {
    fn bound(&self) -> Option<SocketAddr> {
        self.listening.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.0)
    }

    fn service_for(&self, topic: &str, queue: Option<&str>, node_uuid: &str) -> Result<Service> {
        let bound = self.bound().ok_or_else(|| Error::internal(BROKER_ID, "http broker is not connected"))?;
        let mut metadata = Metadata::new();
        metadata.insert("broker".into(), "http".into());
        metadata.insert("secure".into(), "false".into());
        metadata.insert("topic".into(), topic.into());
        Ok(Service {
            name: SERVICE.into(),
            version: queue.unwrap_or(BROADCAST).into(),
            nodes: vec![Node {
                id: format!("{topic}-{node_uuid}"),
                address: crate::addr::format(crate::addr::advertise(bound)),
                metadata,
            }],
            ..Default::default()
        })
    }

    fn take(&self, topic: &str) -> Vec<Bytes> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = inbox.get_mut(topic) else { return vec![] };
        let n = q.len().min(BATCH);
        q.drain(..n).collect()
    }

    fn requeue(&self, topic: &str, env: Bytes) {
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let q = inbox.entry(topic.to_string()).or_default();
        q.push_back(env);
        while q.len() > INBOX {
            q.pop_front();
            tracing::warn!(topic, "http broker inbox full: oldest undelivered message dropped");
        }
    }

    async fn deliver(self: Arc<Self>, topic: String, services: Arc<Vec<Service>>) {
        for env in self.take(&topic) {
            for svc in services.iter() {
                let mut nodes: Vec<&Node> = svc
                    .nodes
                    .iter()
                    .filter(|n| n.metadata.get("broker").map(String::as_str) == Some("http"))
                    .filter(|n| n.metadata.get("topic").map(String::as_str) == Some(topic.as_str()))
                    .collect();
                if nodes.is_empty() {
                    continue;
                }
                if svc.version == BROADCAST {
                    let mut ok = 0;
                    for n in &nodes {
                        if self.post(n, &env).await.is_ok() {
                            ok += 1;
                        }
                    }
                    if ok == 0 {
                        self.requeue(&topic, env.clone());
                    }
                } else {
                    nodes.shuffle(&mut rand::rng());
                    let mut delivered = false;
                    for n in &nodes {
                        if self.post(n, &env).await.is_ok() {
                            delivered = true;
                            break;
                        }
                    }
                    if !delivered {
                        self.requeue(&topic, env.clone());
                    }
                }
            }
        }
    }

    async fn on_envelope(&self, id: &str, body: &[u8]) -> std::result::Result<(), Error> {
        let msg = decode_envelope(body).map_err(|e| Error::internal(BROKER_ID, e.detail))?;
        let topic =
            msg.get("Micro-Topic").map(str::to_string).ok_or_else(|| Error::internal(BROKER_ID, "Topic not found"))?;
        let handlers: Vec<Handler> = {
            let subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter().filter(|s| s.topic == topic && s.node_id == id).map(|s| Arc::clone(&s.handler)).collect()
        };
        let failed = |e: Error| {
            tracing::warn!(topic = %topic, error = %e, "subscriber handler failed; the message is not redelivered");
        };
        // Every handler but the last gets a copy; the last (usually the only one) the message.
        let Some((last, rest)) = handlers.split_last() else { return Ok(()) };
        for h in rest {
            h(Event { topic: topic.clone(), message: msg.clone() }).await.unwrap_or_else(failed);
        }
        last(Event { topic: topic.clone(), message: msg }).await.unwrap_or_else(failed);
        Ok(())
    }
}

/// What a delivery says it comes from.
const USER_AGENT: &str = concat!("micro/", env!("CARGO_PKG_VERSION"));

/// Idle connections kept per subscriber address.
const IDLE_PER_NODE: usize = 8;

impl HttpBrokerState {
    /// POSTs one envelope to a subscriber node as go-micro does, `POST /?id=<node id>`;
    /// Ok once the node answered (any status: go-micro answers 200 even when its handler
    /// failed, so a status is not an acknowledgement).
    async fn post(&self, node: &Node, env: &Bytes) -> std::io::Result<()> {
        let path = format!("/?id={}", url_encode(&node.id));
        let headers = [("user-agent", USER_AGENT), ("content-type", "application/json")];
        let delivery = self.posts.post(&node.address, &path, &headers, env.clone());
        match tokio::time::timeout(POST_TIMEOUT, delivery).await {
            Ok(Ok((status, body))) => {
                if status != StatusCode::OK {
                    tracing::warn!(node = %node.id, %status, body = %String::from_utf8_lossy(&body), "subscriber refused a message");
                }
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(node = %node.id, address = %node.address, error = %e, "delivery failed");
                Err(e)
            }
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "delivery timed out")),
        }
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_id(target: &str) -> String {
    let Some((_, q)) = target.split_once('?') else { return String::new() };
    q.split('&').find_map(|kv| kv.strip_prefix("id=")).map(url_decode).unwrap_or_default()
}

/// The answer to a request that could not be read, before the connection closes; `None`
/// for a connection that failed or went quiet (nothing to say).
fn refusal(e: &TransportError) -> Option<(u16, &'static str, Error)> {
    Some(match e {
        TransportError::Malformed(text) => {
            (400, "Bad Request", Error::bad_request(BROKER_ID, format!("malformed request: {text}")))
        }
        TransportError::HeaderTooLarge { what: "headers", .. } => {
            (400, "Bad Request", Error::bad_request(BROKER_ID, "malformed request: too many headers"))
        }
        TransportError::HeaderTooLarge { .. } => {
            (431, "Request Header Fields Too Large", Error::too_large(BROKER_ID, "request head over 64 KiB"))
        }
        TransportError::BodyTooLarge { size, limit, at_least } => (
            413,
            "Request Entity Too Large",
            Error::too_large(BROKER_ID, crate::transport::oversize_detail("broker message", *size, *limit, *at_least)),
        ),
        _ => return None,
    })
}

/// An error status with a go-micro error JSON body.
async fn refuse(socket: &Socket, code: u16, reason: &str, err: &Error) -> std::result::Result<(), TransportError> {
    socket.send_status(code, reason, "application/json", false, err.to_json().as_bytes()).await
}

async fn serve_conn(state: Arc<HttpBrokerState>, accepted: Accepted, shutdown: watch::Receiver<bool>) {
    if let Ok(conn) = accepted.open().await {
        serve_deliveries(state, conn.reader, conn.socket, shutdown).await;
    }
}

/// Reads one connection's deliveries (`POST /?id=<node id>`) until it closes or fails.
async fn serve_deliveries<R: tokio::io::AsyncRead + Unpin>(
    state: Arc<HttpBrokerState>,
    mut reader: MessageReader<R>,
    socket: Socket,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut first = true;
    loop {
        if !first {
            reader.set_first_byte_timeout(Some(state.limits.idle_timeout));
        }
        first = false;
        let next = tokio::select! {
            r = reader.read_routed_request() => r,
            _ = shutdown.changed() => return,
        };
        let (line, msg) = match next {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                if let Some((code, reason, err)) = refusal(&e) {
                    if refuse(&socket, code, reason, &err).await.is_ok() {
                        socket.shutdown().await;
                        reader.discard(state.limits.header_timeout).await;
                    }
                } else {
                    tracing::debug!(error = %e, "http broker connection ended");
                }
                return;
            }
        };
        let close = msg.get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let sent = if line.method != "POST" {
            refuse(&socket, 405, "Method Not Allowed", &Error::bad_request(BROKER_ID, "Method not allowed")).await
        } else {
            match state.on_envelope(&query_id(&line.target), &msg.body).await {
                Ok(()) => socket.send(&crate::transport::Message::default()).await,
                Err(e) => refuse(&socket, 500, "Internal Server Error", &e).await,
            }
        };
        if sent.is_err() || close {
            return;
        }
    }
}

async fn accept_loop(state: Arc<HttpBrokerState>, listener: Listener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                tokio::spawn(serve_conn(Arc::clone(&state), accepted, shutdown.clone()));
            }
            _ = shutdown.changed() => return,
        }
    }
}

struct HttpSub {
    state: Arc<HttpBrokerState>,
    node_uuid: String,
    key: u64,
    topic: String,
    queue: Option<String>,
    stop: watch::Sender<bool>,
}

#[async_trait]
impl Subscriber for HttpSub {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    async fn unsubscribe(&self) -> Result<()> {
        let _ = self.stop.send(true);
        let removed = {
            let mut subs = self.state.subs.lock().unwrap_or_else(|p| p.into_inner());
            let before = subs.len();
            subs.retain(|s| s.key != self.key);
            before != subs.len()
        };
        if !removed {
            return Ok(());
        }
        let svc = self.state.service_for(&self.topic, self.queue.as_deref(), &self.node_uuid);
        match svc {
            Ok(svc) => self.state.registry.deregister(&svc).await,
            Err(_) => Ok(()), // not listening any more: nothing registered to withdraw
        }
    }
}

#[async_trait]
impl Broker for HttpBroker {
    fn name(&self) -> &'static str {
        "http"
    }

    fn address(&self) -> String {
        match self.state.bound() {
            Some(a) => crate::addr::format(crate::addr::advertise(a)),
            None => self.state.listen.clone(),
        }
    }

    async fn connect(&self) -> Result<()> {
        if self.state.bound().is_some() {
            return Ok(());
        }
        let listener = Listener::bind(&self.state.listen, None, self.state.limits).await.map_err(|e| {
            cannot_listen(BROKER_ID, &format!("http broker cannot listen on {}", self.state.listen), &e)
        })?;
        let bound = listener.local_addr();
        let (tx, rx) = watch::channel(false);
        *self.state.listening.lock().unwrap_or_else(|p| p.into_inner()) = Some((bound, tx));
        tokio::spawn(accept_loop(Arc::clone(&self.state), listener, rx));
        tracing::debug!(address = %bound, "http broker listening");
        Ok(())
    }

    async fn disconnect(&self) -> Result<()> {
        let subs: Vec<(String, String, Option<String>)> = {
            let subs = self.state.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter().map(|s| (s.node_uuid.clone(), s.topic.clone(), s.queue.clone())).collect()
        };
        for (node_uuid, topic, queue) in &subs {
            if let Ok(svc) = self.state.service_for(topic, queue.as_deref(), node_uuid) {
                let _ = self.state.registry.deregister(&svc).await;
            }
        }
        self.state.subs.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some((_, tx)) = self.state.listening.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(true);
        }
        Ok(())
    }

    async fn publish(&self, topic: &str, mut msg: Message) -> Result<()> {
        msg.header.insert("Micro-Topic".into(), topic.to_string());
        let env = encode_envelope(&msg);
        if env.len() > self.state.max_message {
            return Err(too_large(env.len(), self.state.max_message, "broker's message size (encoded envelope)"));
        }
        self.state.requeue(topic, Bytes::from(env));
        let services = self.state.cache.lookup_shared(SERVICE).await?;
        if services.is_empty() {
            return Err(Error::not_found(
                BROKER_ID,
                format!("service {SERVICE}: not found (no subscriber for {topic:?}; the message stays queued for the next publish)"),
            ));
        }
        tokio::spawn(Arc::clone(&self.state).deliver(topic.to_string(), services));
        Ok(())
    }

    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>> {
        if topic.is_empty() {
            return Err(Error::bad_request(BROKER_ID, "empty topic"));
        }
        let node_uuid = uuid::Uuid::new_v4().to_string();
        let svc = self.state.service_for(topic, opts.queue.as_deref(), &node_uuid)?;
        let key = {
            let mut k = self.state.next_key.lock().unwrap_or_else(|p| p.into_inner());
            *k += 1;
            *k
        };
        let node_id = svc.nodes[0].id.clone();
        self.state.subs.lock().unwrap_or_else(|p| p.into_inner()).push(Sub {
            key,
            node_uuid: node_uuid.clone(),
            node_id,
            topic: topic.to_string(),
            queue: opts.queue.clone(),
            handler,
        });
        let ropts = RegisterOptions { ttl: REGISTER_TTL };
        if let Err(e) = self.state.registry.register(&svc, ropts).await {
            self.state.subs.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.key != key);
            return Err(e);
        }
        let (stop, mut stopped) = watch::channel(false);
        let registry = Arc::clone(&self.state.registry);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(REGISTER_INTERVAL) => {}
                    _ = stopped.changed() => return,
                }
                if let Err(e) = registry.register(&svc, ropts).await {
                    tracing::warn!(error = %e, "broker subscriber re-registration failed");
                }
            }
        });
        Ok(Box::new(HttpSub {
            state: Arc::clone(&self.state),
            node_uuid,
            key,
            topic: topic.to_string(),
            queue: opts.queue,
            stop,
        }))
    }
}

/// Fuzzing: `bytes` as one connection to the listener of a broker with one subscriber
/// (topic `fuzz`, node id `fuzz-1`); answers are dropped. Returns the messages delivered.
#[cfg(feature = "fuzzing")]
pub(crate) async fn fuzz_deliveries(bytes: Vec<u8>) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let delivered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&delivered);
    let handler: Handler = Arc::new(move |ev: Event| {
        assert_eq!(ev.topic, "fuzz", "a message for another topic reached this subscriber");
        count.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    });
    let registry: Arc<dyn Registry> = Arc::new(crate::registry::memory::Memory::new());
    let limits = Limits { max_body: 64 * 1024, ..Limits::default() };
    let broker = HttpBroker::with_limits(DEFAULT_ADDRESS, registry, limits);
    broker.state.subs.lock().unwrap_or_else(|p| p.into_inner()).push(Sub {
        key: 1,
        node_uuid: "1".into(),
        node_id: "fuzz-1".into(),
        topic: "fuzz".into(),
        queue: None,
        handler,
    });
    let reader = MessageReader::new(std::io::Cursor::new(bytes), broker.state.limits);
    let (_running, shutdown) = watch::channel(false);
    serve_deliveries(Arc::clone(&broker.state), reader, Socket::new(Box::new(tokio::io::sink())), shutdown).await;
    delivered.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_query() {
        assert_eq!(query_id("/?id=events-0c8f%2Fx"), "events-0c8f/x");
        assert_eq!(query_id("/"), "");
        assert_eq!(url_encode("a b/c"), "a%20b%2Fc");
        assert_eq!(url_decode("%4"), "%4");
    }
}
