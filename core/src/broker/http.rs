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
//! task takes up to 8 queued messages and, for each registered version, `POST`s
//! `/?id=<node id>` to every node of a broadcast version and to one random node of a
//! queue group, over kept-alive connections (hyper's HTTP/1.1 client). Where go-micro
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
//! **Receiving.** Any path; the `id` query parameter must equal the subscriber's node id
//! and the envelope must carry `Micro-Topic`. Non-POST → 405, bad envelope → 500 with a
//! go-micro error JSON, body over the size limit → 413; everything else → `200` with an
//! empty body. Handler errors are logged, not returned (go-micro does the same).

use super::{
    decode_envelope, encode_envelope, too_large, Broker, Event, Handler, Message, SubscribeOptions, Subscriber,
    BROKER_ID,
};
use crate::error::{Error, Result};
use crate::registry::cache::Cache;
use crate::registry::{Metadata, Node, RegisterOptions, Registry, Service};
use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rand::seq::SliceRandom;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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
    inner: Arc<Inner>,
}

struct Sub {
    key: u64,
    node_uuid: String,
    node_id: String,
    topic: String,
    queue: Option<String>,
    handler: Handler,
}

struct Inner {
    listen: String,
    registry: Arc<dyn Registry>,
    cache: Arc<Cache>,
    max_message: usize,
    subs: Mutex<Vec<Sub>>,
    next_key: Mutex<u64>,
    inbox: Mutex<HashMap<String, VecDeque<Bytes>>>,
    state: Mutex<Option<(SocketAddr, watch::Sender<bool>)>>,
    posts: Posts,
}

impl HttpBroker {
    /// A broker that will listen on `listen` and register subscribers in `registry`.
    pub fn new(listen: &str, registry: Arc<dyn Registry>, max_message: usize) -> Self {
        let cache = Cache::new(Arc::clone(&registry));
        HttpBroker {
            inner: Arc::new(Inner {
                listen: listen.to_string(),
                registry,
                cache,
                max_message,
                subs: Mutex::default(),
                next_key: Mutex::new(1),
                inbox: Mutex::default(),
                state: Mutex::default(),
                posts: Posts::default(),
            }),
        }
    }
}

impl Inner {
    fn bound(&self) -> Option<SocketAddr> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.0)
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

    async fn deliver(self: Arc<Self>, topic: String, services: Vec<Service>) {
        let batch = self.take(&topic);
        let many = batch.len() > 1;
        for (i, env) in batch.into_iter().enumerate() {
            if many && i > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for svc in &services {
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
                        if self.posts.post(n, &env).await.is_ok() {
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
                        if self.posts.post(n, &env).await.is_ok() {
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
        for h in handlers {
            if let Err(e) = h(Event { topic: topic.clone(), message: msg.clone() }).await {
                tracing::warn!(topic = %topic, error = %e, "subscriber handler failed; the message is not redelivered");
            }
        }
        Ok(())
    }
}

/// Keep-alive HTTP/1.1 connections to subscriber nodes, by address (hyper's client
/// connections; go-micro's publisher reuses connections through net/http the same way).
#[derive(Default)]
struct Posts {
    idle: Mutex<HashMap<String, Vec<http1::SendRequest<Full<Bytes>>>>>,
}

/// Idle connections kept per subscriber address.
const IDLE_PER_NODE: usize = 8;

impl Posts {
    fn take(&self, address: &str) -> Option<http1::SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(address)?;
        let found = std::iter::from_fn(|| list.pop()).find(|s| !s.is_closed());
        if list.is_empty() {
            idle.remove(address);
        }
        found
    }

    fn put(&self, address: &str, send: http1::SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(address.to_string()).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < IDLE_PER_NODE {
            list.push(send);
        }
    }

    /// POSTs one envelope to a subscriber node; Ok once the node answered (any status: go-micro
    /// answers 200 even when its handler failed, so a status is not an acknowledgement).
    async fn post(&self, node: &Node, env: &Bytes) -> std::io::Result<()> {
        match tokio::time::timeout(POST_TIMEOUT, self.exchange(node, env)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(node = %node.id, address = %node.address, error = %e, "delivery failed");
                Err(e)
            }
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "delivery timed out")),
        }
    }

    async fn exchange(&self, node: &Node, env: &Bytes) -> std::io::Result<()> {
        let mut req = post_request(node, env)?;
        // A pooled connection the node closed while idle hands the request back unsent
        // (`try_send_request`), so it goes out again on the next connection: never twice.
        while let Some(mut send) = self.take(&node.address) {
            if send.ready().await.is_err() {
                continue;
            }
            match send.try_send_request(req).await {
                Ok(rsp) => return self.finish(node, send, rsp).await,
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(std::io::Error::other(e.into_error())),
                },
            }
        }
        let stream = TcpStream::connect(&node.address).await?;
        let _ = stream.set_nodelay(true);
        let (mut send, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "http broker: subscriber connection ended");
            }
        });
        let rsp = send.send_request(req).await.map_err(std::io::Error::other)?;
        self.finish(node, send, rsp).await
    }

    /// Reads the answer (so the connection can carry the next message) and pools it.
    async fn finish(
        &self,
        node: &Node,
        send: http1::SendRequest<Full<Bytes>>,
        rsp: hyper::Response<hyper::body::Incoming>,
    ) -> std::io::Result<()> {
        let status = rsp.status();
        let body = rsp.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
        if status != hyper::StatusCode::OK {
            tracing::warn!(node = %node.id, %status, body = %String::from_utf8_lossy(&body), "subscriber refused a message");
        }
        self.put(&node.address, send);
        Ok(())
    }
}

/// go-micro's delivery request: `POST /?id=<node id>` with the JSON envelope.
fn post_request(node: &Node, env: &Bytes) -> std::io::Result<hyper::Request<Full<Bytes>>> {
    hyper::Request::post(format!("/?id={}", url_encode(&node.id)))
        .header(hyper::header::HOST, node.address.as_str())
        .header(hyper::header::USER_AGENT, format!("micro/{}", crate::VERSION))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(env.clone()))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
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

fn respond(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve_conn(inner: Arc<Inner>, mut stream: TcpStream, mut shutdown: watch::Receiver<bool>) {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let max_head = 64 * 1024;
    loop {
        // Parse a head once there is one.
        let parsed = {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let method = req.method.unwrap_or("").to_string();
                    let target = req.path.unwrap_or("/").to_string();
                    let mut length: Option<usize> = None;
                    let mut chunked = false;
                    let mut close = false;
                    for h in req.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok());
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = true;
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            close = h.value.eq_ignore_ascii_case(b"close");
                        }
                    }
                    Some(Ok((len, method, target, length, chunked, close)))
                }
                Ok(httparse::Status::Partial) => None,
                Err(e) => Some(Err(e.to_string())),
            }
        };
        let (head_len, method, target, length, chunked, close) = match parsed {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                let body = Error::bad_request(BROKER_ID, format!("malformed request: {e}")).to_json();
                let _ = stream.write_all(&respond(400, "Bad Request", &body)).await;
                return;
            }
            None => {
                if buf.len() > max_head {
                    let body = Error::too_large(BROKER_ID, "request head over 64 KiB").to_json();
                    let _ = stream.write_all(&respond(431, "Request Header Fields Too Large", &body)).await;
                    return;
                }
                let n = tokio::select! {
                    r = stream.read_buf(&mut buf) => r.unwrap_or(0),
                    _ = shutdown.changed() => 0,
                };
                if n == 0 {
                    return;
                }
                continue;
            }
        };
        if chunked {
            let body = Error::new(BROKER_ID, "chunked bodies are not accepted: send Content-Length", 411).to_json();
            let _ = stream.write_all(&respond(411, "Length Required", &body)).await;
            return;
        }
        let length = length.unwrap_or(0);
        if length > inner.max_message {
            let body = too_large(length, inner.max_message, "broker's message size").to_json();
            let _ = stream.write_all(&respond(413, "Request Entity Too Large", &body)).await;
            return;
        }
        while buf.len() < head_len + length {
            let n = stream.read_buf(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
        }
        buf.advance(head_len);
        let body = buf.split_to(length);
        let reply = if method != "POST" {
            respond(405, "Method Not Allowed", &Error::bad_request(BROKER_ID, "Method not allowed").to_json())
        } else {
            match inner.on_envelope(&query_id(&target), &body).await {
                Ok(()) => b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
                Err(e) => respond(500, "Internal Server Error", &e.to_json()),
            }
        };
        if stream.write_all(&reply).await.is_err() || close {
            return;
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => { tokio::spawn(serve_conn(Arc::clone(&inner), s, shutdown.clone())); }
                Err(e) => {
                    tracing::warn!(error = %e, "broker accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

struct HttpSub {
    inner: Arc<Inner>,
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
            let mut subs = self.inner.subs.lock().unwrap_or_else(|p| p.into_inner());
            let before = subs.len();
            subs.retain(|s| s.key != self.key);
            before != subs.len()
        };
        if !removed {
            return Ok(());
        }
        let svc = self.inner.service_for(&self.topic, self.queue.as_deref(), &self.node_uuid);
        match svc {
            Ok(svc) => self.inner.registry.deregister(&svc).await,
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
        match self.inner.bound() {
            Some(a) => crate::addr::format(crate::addr::advertise(a)),
            None => self.inner.listen.clone(),
        }
    }

    async fn connect(&self) -> Result<()> {
        if self.inner.bound().is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(&self.inner.listen).await.map_err(|e| {
            Error::internal(BROKER_ID, format!("http broker cannot listen on {}: {e}", self.inner.listen))
        })?;
        let bound = listener.local_addr().map_err(|e| Error::internal(BROKER_ID, e.to_string()))?;
        let (tx, rx) = watch::channel(false);
        *self.inner.state.lock().unwrap_or_else(|p| p.into_inner()) = Some((bound, tx));
        tokio::spawn(accept_loop(Arc::clone(&self.inner), listener, rx));
        tracing::debug!(address = %bound, "http broker listening");
        Ok(())
    }

    async fn disconnect(&self) -> Result<()> {
        let subs: Vec<(String, String, Option<String>)> = {
            let subs = self.inner.subs.lock().unwrap_or_else(|p| p.into_inner());
            subs.iter().map(|s| (s.node_uuid.clone(), s.topic.clone(), s.queue.clone())).collect()
        };
        for (node_uuid, topic, queue) in &subs {
            if let Ok(svc) = self.inner.service_for(topic, queue.as_deref(), node_uuid) {
                let _ = self.inner.registry.deregister(&svc).await;
            }
        }
        self.inner.subs.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some((_, tx)) = self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(true);
        }
        Ok(())
    }

    async fn publish(&self, topic: &str, mut msg: Message) -> Result<()> {
        msg.header.insert("Micro-Topic".into(), topic.to_string());
        let env = encode_envelope(&msg);
        if env.len() > self.inner.max_message {
            return Err(too_large(env.len(), self.inner.max_message, "broker's message size (encoded envelope)"));
        }
        self.inner.requeue(topic, Bytes::from(env));
        let services = self.inner.cache.lookup(SERVICE).await?;
        if services.is_empty() {
            return Err(Error::internal(
                BROKER_ID,
                format!("service {SERVICE}: not found (no subscriber for {topic:?}; the message stays queued for the next publish)"),
            ));
        }
        tokio::spawn(Arc::clone(&self.inner).deliver(topic.to_string(), services));
        Ok(())
    }

    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>> {
        if topic.is_empty() {
            return Err(Error::bad_request(BROKER_ID, "empty topic"));
        }
        let node_uuid = uuid::Uuid::new_v4().to_string();
        let svc = self.inner.service_for(topic, opts.queue.as_deref(), &node_uuid)?;
        let key = {
            let mut k = self.inner.next_key.lock().unwrap_or_else(|p| p.into_inner());
            *k += 1;
            *k
        };
        let node_id = svc.nodes[0].id.clone();
        self.inner.subs.lock().unwrap_or_else(|p| p.into_inner()).push(Sub {
            key,
            node_uuid: node_uuid.clone(),
            node_id,
            topic: topic.to_string(),
            queue: opts.queue.clone(),
            handler,
        });
        let ropts = RegisterOptions { ttl: REGISTER_TTL };
        if let Err(e) = self.inner.registry.register(&svc, ropts).await {
            self.inner.subs.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| s.key != key);
            return Err(e);
        }
        let (stop, mut stopped) = watch::channel(false);
        let registry = Arc::clone(&self.inner.registry);
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
            inner: Arc::clone(&self.inner),
            node_uuid,
            key,
            topic: topic.to_string(),
            queue: opts.queue,
            stop,
        }))
    }
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
