//! `NativeService` and `NativeRequest`: the server side, as pull primitives.
//!
//! Each endpoint's (and subscription's) Rust handler puts the incoming item on a queue and
//! waits for its answer; JS pulls batches with `nextRequests()` and answers each item with
//! `respond` / `fail` from the event loop. A `NativeRequest` garbage-collected without an
//! answer drops its channel, and the caller gets a 500 instead of waiting forever.

use crate::client::{NativeClient, NativeRegistry};
use crate::{block, err, millis, to_js};
use bytes::Bytes;
use micro::host::{check, AnswerSlot, Inbox, Incoming, Unanswerable};
use micro::server::{StreamReceiver, StreamSender};
use micro::{Response, Service as CoreService};
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi::Env;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Service options; each unset one falls back to go-micro's environment variable
/// (`MICRO_SERVER_ADDRESS`, `MICRO_REGISTRY`, `MICRO_REGISTER_TTL` …). Durations in ms.
#[napi(object)]
pub struct ServiceOptions {
    /// The service name (`MICRO_SERVER_NAME` when empty).
    pub name: Option<String>,
    /// The version registered.
    pub version: Option<String>,
    /// Listen address, `host:port` (`:0` picks a port).
    pub address: Option<String>,
    /// Address registered instead of the bound one.
    pub advertise: Option<String>,
    /// Node id (default `<name>-<uuid>`).
    pub id: Option<String>,
    /// Node metadata.
    pub metadata: Option<HashMap<String, String>>,
    /// Registry URL: `mdns`, `memory`.
    pub registry: Option<String>,
    /// Registration TTL in milliseconds.
    pub register_ttl: Option<f64>,
    /// Re-registration interval in milliseconds.
    pub register_interval: Option<f64>,
    /// Largest message accepted, in bytes.
    pub max_message_size: Option<u32>,
    /// Broker URL: `http`, `memory`, `nats://host:4222`.
    pub broker: Option<String>,
    /// At most this many calls in handlers at once; more wait within their timeout.
    pub max_concurrency: Option<u32>,
}

/// A micro service (registry + server + client); endpoints are answered from JS.
#[napi]
pub struct NativeService {
    svc: CoreService,
    inbox: Arc<Inbox>,
    subs: AtomicU32,
}

#[napi]
impl NativeService {
    /// Builds the service; nothing listens until `start`.
    #[napi(constructor)]
    pub fn new(opts: ServiceOptions) -> napi::Result<Self> {
        let env_name = std::env::var("MICRO_SERVER_NAME").ok().filter(|n| !n.is_empty());
        let name = opts.name.filter(|n| !n.is_empty()).or(env_name).unwrap_or_default();
        check::service(&name).map_err(to_js)?;
        let mut b = CoreService::builder(name.clone());
        if let Some(v) = opts.version {
            b = b.version(v);
        }
        if let Some(v) = opts.address {
            b = b.address(v);
        }
        if let Some(v) = opts.advertise {
            b = b.advertise(v);
        }
        if let Some(v) = opts.id {
            b = b.id(v);
        }
        for (k, v) in opts.metadata.unwrap_or_default() {
            b = b.metadata(k, v);
        }
        if let Some(v) = opts.registry {
            b = b.registry_url(v);
        }
        if let Some(v) = millis(opts.register_ttl, "registerTtl")? {
            b = b.register_ttl(v);
        }
        if let Some(v) = millis(opts.register_interval, "registerInterval")? {
            b = b.register_interval(v);
        }
        if let Some(v) = opts.max_message_size {
            b = b.max_message_size(v as usize);
        }
        if let Some(v) = opts.broker {
            b = b.broker_url(v);
        }
        match opts.max_concurrency {
            Some(0) => return Err(err(400, "maxConcurrency must be at least 1 (omit it for no limit)")),
            Some(n) => b = b.max_concurrency(n as usize),
            None => {}
        }
        let svc = block(async move { b.build().await.map_err(to_js) })?;
        let inbox = Inbox::new(name, micro::host::DEFAULT_CAPACITY);
        Ok(NativeService { svc, inbox, subs: AtomicU32::new(0) })
    }

    /// The service name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.svc.name().to_string()
    }

    /// The node id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.svc.server().id().to_string()
    }

    /// The registered address once started.
    #[napi(getter)]
    pub fn address(&self) -> Option<String> {
        self.svc.server().advertised()
    }

    /// The bound listener address once started.
    #[napi(getter)]
    pub fn bound(&self) -> Option<String> {
        self.svc.server().bound().map(|a| a.to_string())
    }

    /// Adds an endpoint answered from JS (`stream` for a bidirectional stream).
    #[napi]
    pub fn handle(
        &self,
        endpoint: String,
        stream: bool,
        metadata: Option<HashMap<String, String>>,
    ) -> napi::Result<()> {
        let server = self.svc.server();
        self.inbox.serve(server, &endpoint, stream).map_err(to_js)?;
        for (k, v) in metadata.unwrap_or_default() {
            server.describe(&endpoint, &k, &v);
        }
        Ok(())
    }

    /// Subscribes to `topic` (a queue group with `queue`); must precede `start`. Returns
    /// the subscription's index (`NativeRequest.subscriber` of its messages).
    #[napi]
    pub fn subscribe(&self, topic: String, queue: Option<String>) -> napi::Result<u32> {
        let index = self.subs.fetch_add(1, Ordering::Relaxed);
        let opts = micro::broker::SubscribeOptions { queue };
        self.inbox.subscribe(self.svc.server(), &topic, opts, index as usize).map_err(to_js)?;
        Ok(index)
    }

    /// The endpoints as registered, as JSON.
    #[napi]
    pub fn endpoints_json(&self) -> napi::Result<String> {
        serde_json::to_string(&self.svc.server().endpoints()).map_err(|e| err(500, e.to_string()))
    }

    /// Listens and registers.
    #[napi]
    pub fn start<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let svc = self.svc.clone();
        let inbox = Arc::clone(&self.inbox);
        env.spawn_future(async move {
            inbox.open();
            svc.start().await.map_err(to_js)
        })
    }

    /// Deregisters, stops accepting, drains calls in flight; then `nextRequests` resolves
    /// empty.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let svc = self.svc.clone();
        let inbox = Arc::clone(&self.inbox);
        env.spawn_future(async move {
            // Waiting handlers are still answered by JS while the server drains.
            let r = svc.stop().await;
            inbox.close();
            r.map_err(to_js)
        })
    }

    /// Up to `max` waiting items (at least one), or an empty array once stopped.
    #[napi]
    pub fn next_requests<'env>(&self, env: &'env Env, max: u32) -> napi::Result<PromiseRaw<'env, Vec<NativeRequest>>> {
        let inbox = Arc::clone(&self.inbox);
        let max = max.clamp(1, 4096) as usize;
        env.spawn_future(async move {
            let name = inbox.name();
            Ok(inbox.pull(max).await.into_iter().map(|item| NativeRequest::new(item, name)).collect())
        })
    }

    /// A client sharing this service's registry cache and broker.
    #[napi]
    pub fn client(&self) -> NativeClient {
        NativeClient::from_core(self.svc.client().clone())
    }

    /// The registry this service registers with (memory, mDNS, etcd), for `getService` and
    /// `listServices`.
    #[napi]
    pub fn registry(&self) -> NativeRegistry {
        NativeRegistry::from_core(Arc::clone(self.svc.registry()))
    }
}

/// One call, stream or subscribed message for JS, answered once with `respond` or `fail`.
#[napi]
pub struct NativeRequest {
    kind: &'static str,
    service: String,
    endpoint: String,
    topic: String,
    content_type: String,
    header: HashMap<String, String>,
    body: Bytes,
    subscriber: u32,
    answer: AnswerSlot,
    sender: Option<StreamSender>,
    receiver: Option<Arc<tokio::sync::Mutex<StreamReceiver>>>,
    service_name: String,
}

impl NativeRequest {
    fn new(item: Incoming, service_name: &str) -> Self {
        let base = |kind, answer| NativeRequest {
            kind,
            service: String::new(),
            endpoint: String::new(),
            topic: String::new(),
            content_type: String::new(),
            header: HashMap::new(),
            body: Bytes::new(),
            subscriber: 0,
            answer: AnswerSlot::new(answer),
            sender: None,
            receiver: None,
            service_name: service_name.to_string(),
        };
        match item {
            Incoming::Call { request, answer } => {
                let mut r = base("call", answer);
                r.fill(request);
                r
            }
            Incoming::Stream { request, stream, answer } => {
                let mut r = base("stream", answer);
                r.fill(request);
                let (s, rx) = stream.split();
                r.sender = Some(s);
                r.receiver = Some(Arc::new(tokio::sync::Mutex::new(rx)));
                r
            }
            Incoming::Event { event, subscriber, answer } => {
                let mut r = base("message", answer);
                r.topic = event.topic;
                r.content_type = event.message.header.get("Content-Type").cloned().unwrap_or_default();
                r.header = event.message.header.into_iter().collect();
                r.body = event.message.body;
                r.subscriber = subscriber as u32;
                r
            }
        }
    }

    fn fill(&mut self, req: micro::Request) {
        self.service = req.service;
        self.endpoint = req.endpoint;
        self.content_type = req.content_type;
        self.header = req.header.into_iter().collect();
        self.body = req.body;
    }

    /// Takes the answer: `None` when nobody waits for it any more (the answer is then
    /// discarded, as a late answer to a caller that gave up is no error of the handler's);
    /// a 409 when answered already.
    fn take(&self) -> napi::Result<Option<micro::host::Answer>> {
        match self.answer.take() {
            Ok(a) => Ok(Some(a)),
            Err(Unanswerable::NobodyWaits) => Ok(None),
            Err(Unanswerable::Answered) => {
                let what = if self.kind == "message" { &self.topic } else { &self.endpoint };
                Err(err(409, format!("{} on {what} was already answered", self.kind)))
            }
        }
    }

    fn not_stream(&self) -> napi::Error {
        err(400, format!("{} is not a stream", self.endpoint))
    }

    /// For stream I/O: the stream is still open (not answered, and someone waits) — a
    /// finished stream must not write frames after its end.
    fn check_open(&self) -> napi::Result<()> {
        self.answer.check_open().map_err(|why| match why {
            Unanswerable::Answered => {
                err(499, format!("the stream {} has finished (its handler returned)", self.endpoint))
            }
            Unanswerable::NobodyWaits => err(
                499,
                format!("stream {}: nobody is waiting any more (service {} stopped)", self.endpoint, self.service_name),
            ),
        })
    }
}

#[napi]
impl NativeRequest {
    /// `call`, `stream` or `message`.
    #[napi(getter)]
    pub fn kind(&self) -> &'static str {
        self.kind
    }
    /// The service the caller addressed.
    #[napi(getter)]
    pub fn service(&self) -> String {
        self.service.clone()
    }
    /// `Handler.Method`.
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
    /// A message's topic.
    #[napi(getter)]
    pub fn topic(&self) -> String {
        self.topic.clone()
    }
    /// The body's content type.
    #[napi(getter)]
    pub fn content_type(&self) -> String {
        self.content_type.clone()
    }
    /// The headers (go-micro context metadata).
    #[napi(getter)]
    pub fn header(&self) -> HashMap<String, String> {
        self.header.clone()
    }
    /// The raw body.
    #[napi(getter)]
    pub fn body(&self) -> Buffer {
        Buffer::from(self.body.to_vec())
    }
    /// For a message: the index `subscribe` returned.
    #[napi(getter)]
    pub fn subscriber(&self) -> u32 {
        self.subscriber
    }

    /// Answers with `body` (content type: the request's when unset); ends a stream; acks
    /// a message.
    #[napi]
    pub fn respond(&self, body: Option<Buffer>, content_type: Option<String>) -> napi::Result<()> {
        if let Some(answer) = self.take()? {
            let body = body.map(|b| Bytes::copy_from_slice(&b)).unwrap_or_default();
            answer.respond(Response { body, content_type: content_type.filter(|c| !c.is_empty()) });
        }
        Ok(())
    }

    /// Answers with a go-micro error (`id` defaults to the service name).
    #[napi]
    pub fn fail(&self, id: String, code: i32, detail: String, status: Option<String>) -> napi::Result<()> {
        let mut e = micro::Error::new(if id.is_empty() { self.service_name.clone() } else { id }, detail, code);
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            e.status = s;
        }
        if let Some(answer) = self.take()? {
            answer.fail(e);
        }
        Ok(())
    }

    /// Stream only: the next message from the client, or `null` after its end; a 499 once
    /// the stream finished.
    #[napi]
    pub fn recv<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<Buffer>>> {
        let rx = self.receiver.clone().ok_or_else(|| self.not_stream())?;
        self.check_open()?;
        env.spawn_future(async move {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                None => Ok(None),
                Some(Ok(b)) => Ok(Some(Buffer::from(b.to_vec()))),
                Some(Err(e)) => Err(to_js(e)),
            }
        })
    }

    /// Stream only: sends one message to the client; a 499 once the stream finished.
    #[napi]
    pub fn send<'env>(&self, env: &'env Env, body: Buffer) -> napi::Result<PromiseRaw<'env, ()>> {
        let tx = self.sender.clone().ok_or_else(|| self.not_stream())?;
        self.check_open()?;
        let body = Bytes::copy_from_slice(&body);
        env.spawn_future(async move { tx.send(body).await.map_err(to_js) })
    }
}
