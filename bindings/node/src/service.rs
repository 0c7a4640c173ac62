//! `NativeService` and `NativeRequest`: the server side, as pull primitives.
//!
//! Each endpoint's (and subscription's) Rust handler puts the incoming item on a queue and
//! waits for its answer; JS pulls batches with `nextRequests()` and answers each item from
//! the event loop.
//!
//! A batch carries its unary calls as columns ([`RequestBatch`]): ids, endpoints, content
//! types, trace contexts and one buffer holding every body. JS answers a call by its id
//! (`respondCall` / `failCall`) and reads its headers only when a handler asks
//! (`callInfo`). A small call so costs the event loop no object of ours, no finalizer and
//! two crossings, where an object per call with a getter per field cost most of its time
//! (issue 18). Streams and messages, which JS holds on to, stay `NativeRequest` objects; one
//! garbage-collected without an answer drops its channel, and the caller gets a 500 instead
//! of waiting forever. A call JS never answers waits for its caller's timeout, and is
//! answered with a 500 once the service stops.

use crate::client::{NativeClient, NativeRegistry};
use crate::{block, err, millis, to_js};
use bytes::Bytes;
use micro::host::{check, AnswerSlot, Inbox, Incoming, Unanswerable};
use micro::server::{StreamReceiver, StreamSender};
use micro::{Response, Service as CoreService};
use napi::bindgen_prelude::{Buffer, BufferSlice, Float64Array, PromiseRaw, Uint32Array};
use napi::Env;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    calls: Arc<Calls>,
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
        Ok(NativeService { svc, inbox, subs: AtomicU32::new(0), calls: Arc::default() })
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
        crate::bridge::spawn(env, async move {
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
        let calls = Arc::clone(&self.calls);
        crate::bridge::spawn(env, async move {
            // Waiting handlers are still answered by JS while the server drains.
            let r = svc.stop().await;
            inbox.close();
            calls.clear(); // calls JS never answered: a 500 to whoever still waits
            r.map_err(to_js)
        })
    }

    /// Up to `max` waiting items (at least one), or an empty batch once stopped.
    ///
    /// Items already queued are taken here, on the JS thread, and the promise settles on the
    /// bridge's next settling: under load, while JS answered one batch the next one queued,
    /// and waiting for it on a runtime thread cost a task, a worker woken to run it and a
    /// ring back (issue 18). Only an empty inbox is waited on there.
    #[napi]
    pub fn next_requests<'env>(&self, env: &'env Env, max: u32) -> napi::Result<PromiseRaw<'env, RequestBatch>> {
        let max = max.clamp(1, 4096) as usize;
        let queued = self.inbox.try_pull(max);
        if !queued.is_empty() {
            TAKEN.fetch_add(1, Ordering::Relaxed);
            return crate::bridge::resolved(env, RequestBatch::new(queued, self.inbox.name(), &self.calls));
        }
        let inbox = Arc::clone(&self.inbox);
        let calls = Arc::clone(&self.calls);
        crate::bridge::spawn(env, async move {
            let items = inbox.pull(max).await;
            Ok(RequestBatch::new(items, inbox.name(), &calls))
        })
    }

    /// Answers unary call `id` of a batch with `body` (content type: the request's when
    /// unset). A 409 when it was answered already; dropped when nobody waits any more.
    #[napi]
    pub fn respond_call(&self, id: i64, body: Option<BufferSlice>, content_type: Option<String>) -> napi::Result<()> {
        let call = self.calls.take(id)?;
        let body = body.map(|b| Bytes::copy_from_slice(&b)).unwrap_or_default();
        call.answer.respond(Response { body, content_type: content_type.filter(|c| !c.is_empty()) });
        Ok(())
    }

    /// Answers many unary calls in one crossing: call `ids[i]` with the bytes of `bodies`
    /// from `ends[i - 1]` (0 for the first) to `ends[i]`, its content type
    /// `content_types[i]` (the request's when `null`, or when `content_types` is `null`).
    /// Calls answered already, or that nobody waits for, are skipped. One crossing and one
    /// lock for a batch's answers, and the bodies in one copy (issue 18).
    #[napi]
    pub fn respond_calls(
        &self,
        ids: Float64Array,
        ends: Uint32Array,
        bodies: BufferSlice,
        content_types: Option<Vec<Option<String>>>,
    ) -> napi::Result<()> {
        let ids: &[f64] = &ids;
        let ends: &[u32] = &ends;
        if ends.len() != ids.len() || content_types.as_ref().is_some_and(|c| c.len() != ids.len()) {
            return Err(err(400, "respondCalls: ids, ends and contentTypes differ in length"));
        }
        let mut start = 0u32;
        for &end in ends {
            if end < start || end as usize > bodies.len() {
                return Err(err(400, format!("respondCalls: body end {end} outside {start}..={}", bodies.len())));
            }
            start = end;
        }
        let all = Bytes::copy_from_slice(&bodies);
        let mut cts = content_types.map(Vec::into_iter);
        let mut start = 0usize;
        let responses = ends.iter().map(|&end| {
            let body = all.slice(start..end as usize);
            start = end as usize;
            let content_type = cts.as_mut().and_then(Iterator::next).flatten().filter(|c| !c.is_empty());
            Response { body, content_type }
        });
        self.answer_all(ids, responses);
        Ok(())
    }

    /// Answers many unary calls with JSON texts in one crossing: `lines` holds one text per
    /// call, each ending with `\n` (go-micro's JSON codec ends its bodies so), call `ids[i]`
    /// answered with line `i`, newline included, in the request's content type. A JSON text
    /// has no raw newline of its own (`JSON.stringify` escapes them), so the lines need no
    /// lengths, and the string becomes the bodies without a copy on the JS side (issue 18).
    /// A count of lines other than of ids answers nothing (400); calls answered already, or
    /// that nobody waits for, are skipped.
    #[napi]
    pub fn respond_lines(&self, ids: Float64Array, lines: String) -> napi::Result<()> {
        let ids: &[f64] = &ids;
        let all = Bytes::from(lines);
        let mut bodies = Vec::with_capacity(ids.len());
        let mut start = 0usize;
        for end in memchr::memchr_iter(b'\n', &all) {
            bodies.push(all.slice(start..=end));
            start = end + 1;
        }
        if start != all.len() || bodies.len() != ids.len() {
            return Err(err(
                400,
                format!("respondLines: {} ids, {} lines ending with a newline", ids.len(), bodies.len()),
            ));
        }
        self.answer_all(ids, bodies.into_iter().map(|body| Response { body, content_type: None }));
        Ok(())
    }

    /// Answers unary call `id` with a go-micro error (`errId` defaults to the service name).
    #[napi]
    pub fn fail_call(
        &self,
        id: i64,
        err_id: String,
        code: i32,
        detail: String,
        status: Option<String>,
    ) -> napi::Result<()> {
        let call = self.calls.take(id)?;
        let mut e =
            micro::Error::new(if err_id.is_empty() { self.svc.name().to_string() } else { err_id }, detail, code);
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            e.status = s;
        }
        call.answer.fail(e);
        Ok(())
    }

    /// The service a pending unary call addressed and its headers; `null` once it was
    /// answered.
    #[napi]
    pub fn call_info(&self, id: i64) -> Option<CallInfo> {
        self.calls.info(id)
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

impl NativeService {
    /// Answers call `ids[i]` with `responses[i]`: the pending calls taken under one lock, then
    /// answered outside it; calls answered already, or that nobody waits for, are skipped
    /// (`respondCalls`, `respondLines`).
    fn answer_all(&self, ids: &[f64], responses: impl Iterator<Item = Response>) {
        let mut answers = Vec::with_capacity(ids.len());
        {
            let mut pending = self.calls.lock();
            for (&id, response) in ids.iter().zip(responses) {
                if let Some(call) = pending.remove(&(id as i64)) {
                    answers.push((call, response));
                }
            }
        }
        for (call, response) in answers {
            call.answer.respond(response);
        }
    }
}

/// Batches `nextRequests` took from a queue on the JS thread ([`taken`]).
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// How many batches `nextRequests` took from a service's queue on the JS thread, no runtime
/// thread waiting for them (tests, through `hereStats`).
pub(crate) fn taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

/// What `nextRequests` resolves to: the unary calls as columns, the other items as
/// objects. Empty in both once the service stopped.
///
/// The numbers of every call are in one `Float64Array`, [`CALL_STRIDE`] to a call, and each
/// distinct endpoint and content type is one string in `names`: a batch so crosses into JS as
/// a handful of values whatever its size, where a column per field cost a JS value and an
/// element store per call and field (issue 18).
#[napi(object, object_from_js = false)]
pub struct RequestBatch {
    /// Per call, in order: its id (for `respondCall`, `failCall` and `callInfo`), where its
    /// body ends in `bodies` (it starts where the one before ends), the index in `names` of its
    /// `Handler.Method`, the index in `names` of its content type (empty when the caller
    /// sent none), and the index in `names` of the service it addressed.
    pub calls: Float64Array,
    /// The distinct endpoints, content types and services of the batch's calls.
    pub names: Vec<String>,
    /// Each call's W3C trace context (its `Traceparent` header) or `null`; absent when no
    /// call in the batch carries one.
    pub traceparents: Option<Vec<Option<String>>>,
    /// Every call's body, one after another.
    pub bodies: Buffer,
    /// Streams and subscribed messages.
    pub others: Vec<NativeRequest>,
}

/// Numbers per call in a batch's `calls` ([`RequestBatch::calls`]): id, body end, endpoint,
/// content type, service.
#[napi]
pub const CALL_STRIDE: u32 = 5;

impl RequestBatch {
    fn new(items: Vec<Incoming>, service_name: &str, calls: &Calls) -> Self {
        let size =
            items.iter().map(|i| if let Incoming::Call { request, .. } = i { request.body.len() } else { 0 }).sum();
        let mut bodies = Vec::with_capacity(size);
        let mut numbers = Vec::with_capacity(items.len() * CALL_STRIDE as usize);
        let mut names = Names::default();
        let mut traceparents: Vec<Option<String>> = Vec::new();
        let mut others = Vec::new();
        let mut pending = calls.lock();
        for item in items {
            match item {
                Incoming::Call { request, answer } => {
                    if let Some(tp) = traceparent(&request.header) {
                        // Calls before the first traced one carry none.
                        traceparents.resize(numbers.len() / CALL_STRIDE as usize, None);
                        traceparents.push(Some(tp.to_string()));
                    }
                    bodies.extend_from_slice(&request.body);
                    let endpoint = names.index(&request.endpoint);
                    let content_type = names.index(&request.content_type);
                    let service = names.index(&request.service);
                    let id = calls.next_id();
                    pending.insert(id, PendingCall { answer, service: request.service, header: request.header });
                    numbers.extend_from_slice(&[id as f64, bodies.len() as f64, endpoint, content_type, service]);
                }
                other => others.push(NativeRequest::new(other, service_name)),
            }
        }
        drop(pending);
        let traceparents = if traceparents.is_empty() {
            None
        } else {
            traceparents.resize(numbers.len() / CALL_STRIDE as usize, None);
            Some(traceparents)
        };
        RequestBatch {
            calls: Float64Array::new(numbers),
            names: names.list,
            traceparents,
            bodies: Buffer::from(bodies),
            others,
        }
    }
}

/// The distinct strings of a batch, each with its index.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    /// The index of `name` (added when new), as the JS number it travels as.
    fn index(&mut self, name: &str) -> f64 {
        if let Some(&i) = self.index.get(name) {
            return i as f64;
        }
        let i = self.list.len();
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i as f64
    }
}

/// The service and headers of a pending unary call (`callInfo`).
#[napi(object, object_from_js = false)]
pub struct CallInfo {
    /// The service the caller addressed.
    pub service: String,
    /// The request headers (go-micro context metadata).
    pub header: micro::transport::Header,
}

/// A unary call handed to JS, waiting for its answer.
struct PendingCall {
    answer: micro::host::Answer,
    service: String,
    header: micro::transport::Header,
}

/// The unary calls handed to JS and not answered yet, by id. Ids count up from 1 and are
/// never reused, so a late or repeated answer can never reach another call.
#[derive(Default)]
struct Calls {
    next: AtomicU64,
    pending: Mutex<HashMap<i64, PendingCall>>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, PendingCall>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new call id. 2^53 ids (JS's exact integers) would take centuries at a million
    /// calls a second.
    fn next_id(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed) as i64 + 1
    }

    /// Call `id`, to answer it: a 409 when it was answered already (or never handed out).
    fn take(&self, id: i64) -> napi::Result<PendingCall> {
        self.lock().remove(&id).ok_or_else(|| err(409, format!("call {id} was already answered")))
    }

    fn info(&self, id: i64) -> Option<CallInfo> {
        self.lock().get(&id).map(|c| CallInfo { service: c.service.clone(), header: c.header.clone() })
    }

    /// Drops every pending call: each answers its caller with a 500.
    fn clear(&self) {
        let calls = std::mem::take(&mut *self.lock());
        drop(calls); // outside the lock: dropping an answer sends it
    }
}

/// The `Traceparent` header's value, its name in any case.
fn traceparent(header: &micro::transport::Header) -> Option<&str> {
    let name = micro::wrapper::trace::TRACEPARENT;
    header.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// One call, stream or subscribed message for JS, answered once with `respond` or `fail`.
#[napi]
pub struct NativeRequest {
    kind: &'static str,
    service: String,
    endpoint: String,
    topic: String,
    content_type: String,
    header: micro::transport::Header,
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
            header: Default::default(),
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
                r.header = event.message.header;
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
        self.header = req.header;
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
    pub fn header(&self) -> micro::transport::Header {
        self.header.clone()
    }
    /// The W3C trace context (a `Traceparent` header, its name in any case), without
    /// building the header object.
    #[napi(getter)]
    pub fn traceparent(&self) -> Option<String> {
        traceparent(&self.header).map(str::to_string)
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
        crate::bridge::spawn(env, async move {
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
        crate::bridge::spawn(env, async move { tx.send(body).await.map_err(to_js) })
    }
}
