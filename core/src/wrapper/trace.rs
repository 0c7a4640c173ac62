//! OpenTelemetry tracing as go-micro v5's `wrapper/trace/opentelemetry` does it, so one trace
//! runs through Go and non-Go services alike:
//!
//! - a handled request is a server span named `<service>.<endpoint>`, a client call a client
//!   span of the same name, a publish a client span `Pub to <topic>` (go-micro's kind for it,
//!   not OpenTelemetry's PRODUCER) whose `Traceparent` goes into the message's headers, a
//!   delivered message a server span `Sub from <topic>` continuing it;
//! - the W3C trace context travels in go-micro metadata under `Traceparent` (go-micro's
//!   spelling of the W3C header); a server span continues the caller's trace, and the
//!   request its handler sees carries the server span's own `Traceparent`, so metadata passed
//!   on ([`crate::CallOptions::from_request`], a Python or Node handler's calls) continues it;
//! - in Rust, a call a handler makes from its own task continues the handler's span without
//!   passing anything ([`current`]);
//! - finished spans go out in batches over OTLP/HTTP (protobuf, `Content-Type:
//!   application/x-protobuf`) to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or to
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, every `OTEL_BSP_SCHEDULE_DELAY` ms
//!   (default 5000) and when a [`crate::Service`] stops; `OTEL_SERVICE_NAME` names the
//!   resource (default: the service's name), `OTEL_EXPORTER_OTLP_HEADERS` adds headers,
//!   `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off.
//!
//! Sampling follows the parent: a trace the caller did not sample is passed on, not
//! recorded; a trace that starts here is sampled.
//!
//! Why not the `opentelemetry` crates: their OTLP exporter brings a second HTTP stack
//! (reqwest or tonic) into every host's binary for what is one POST of one protobuf message.
//! This module writes that message with `prost` (which the gateway already uses) and sends
//! it on the library's own HTTP client ([`crate::transport::http_client`]).

use super::{call_wrapper, handler_wrapper, subscriber_wrapper, CallWrapper, HandlerWrapper, SubscriberWrapper};
use crate::error::{Error, Result};
use crate::transport::http_client::HttpClient;
use bytes::Bytes;
use prost::Message as _;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// The metadata key go-micro carries the W3C trace context under.
pub const TRACEPARENT: &str = "Traceparent";

/// Spans waiting to be sent; more are dropped (and counted) until the exporter catches up.
const QUEUE: usize = 4096;
/// Spans sent in one request at most.
const BATCH: usize = 512;

/// A W3C trace context: which trace, which span in it, and its flags (bit 0: sampled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace, 16 bytes, never all zero.
    pub trace_id: [u8; 16],
    /// The span, 8 bytes, never all zero.
    pub span_id: [u8; 8],
    /// Trace flags; `0x01` = sampled.
    pub flags: u8,
}

impl SpanContext {
    /// Reads a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`, lowercase, as W3C Trace
    /// Context defines it); `None` for anything else, including all-zero ids and version
    /// `ff`. A later version's extra fields are ignored, as the specification asks.
    pub fn parse(value: &str) -> Option<SpanContext> {
        let value = value.trim();
        let mut parts = value.split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lower_hex(version, 2)
            || version == "ff"
            || !lower_hex(trace, 32)
            || !lower_hex(span, 16)
            || !lower_hex(flags, 2)
        {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let mut ctx = SpanContext { trace_id: [0; 16], span_id: [0; 8], flags: 0 };
        hex::decode_to_slice(trace, &mut ctx.trace_id).ok()?;
        hex::decode_to_slice(span, &mut ctx.span_id).ok()?;
        let mut f = [0u8; 1];
        hex::decode_to_slice(flags, &mut f).ok()?;
        ctx.flags = f[0];
        (ctx.trace_id != [0; 16] && ctx.span_id != [0; 8]).then_some(ctx)
    }

    /// The `traceparent` value for this span (version `00`).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", hex::encode(self.trace_id), hex::encode(self.span_id), self.flags)
    }

    /// Whether the trace is sampled (recorded and exported).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// A new span: in `parent`'s trace with its flags, or the first of a new, sampled trace.
    pub fn child_of(parent: Option<&SpanContext>) -> SpanContext {
        let span_id = nonzero(rand::random::<u64>()).to_be_bytes();
        match parent {
            Some(p) => SpanContext { trace_id: p.trace_id, span_id, flags: p.flags },
            None => {
                let trace = (u128::from(nonzero(rand::random::<u64>())) << 64) | u128::from(rand::random::<u64>());
                SpanContext { trace_id: trace.to_be_bytes(), span_id, flags: 1 }
            }
        }
    }
}

fn nonzero(n: u64) -> u64 {
    n.max(1)
}

/// The trace context in go-micro metadata or headers (`Traceparent`, any case).
pub fn find(header: &BTreeMap<String, String>) -> Option<SpanContext> {
    header.iter().find(|(k, _)| k.eq_ignore_ascii_case(TRACEPARENT)).and_then(|(_, v)| SpanContext::parse(v))
}

/// Puts `ctx` into metadata as `Traceparent`, replacing any other spelling of the key.
pub fn inject(header: &mut BTreeMap<String, String>, ctx: &SpanContext) {
    header.retain(|k, _| !k.eq_ignore_ascii_case(TRACEPARENT));
    header.insert(TRACEPARENT.to_string(), ctx.traceparent());
}

tokio::task_local! {
    static CURRENT: SpanContext;
}

/// The span of the request or message this task is handling, when tracing is on: a client
/// call made from the task continues it.
pub fn current() -> Option<SpanContext> {
    CURRENT.try_with(|c| *c).ok()
}

/// Where and how spans are exported; read from the OpenTelemetry variables by
/// [`TraceConfig::from_env`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// The OTLP/HTTP traces URL (`http://host:port/v1/traces`).
    pub endpoint: String,
    /// `service.name` of the spans' resource; `None`: the service's name.
    pub service_name: Option<String>,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`: `k=v,k=v`).
    pub headers: Vec<(String, String)>,
    /// How long finished spans wait before they are sent (`OTEL_BSP_SCHEDULE_DELAY`, ms).
    pub delay: Duration,
}

impl TraceConfig {
    /// A configuration sending to the OTLP/HTTP traces URL `endpoint`, every 5 s.
    pub fn new(endpoint: impl Into<String>) -> Self {
        TraceConfig {
            endpoint: endpoint.into(),
            service_name: None,
            headers: Vec::new(),
            delay: Duration::from_secs(5),
        }
    }

    /// Reads the OpenTelemetry variables: `None` when no OTLP endpoint is set or tracing is
    /// turned off; an error naming the variable when one cannot be used (a protocol other
    /// than `http/protobuf`, an exporter other than `otlp`, a URL that is not `http://`).
    pub fn from_env() -> Result<Option<TraceConfig>> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`TraceConfig::from_env`] over any source of variables.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Option<TraceConfig>> {
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        if let Some(exporter) = var("OTEL_TRACES_EXPORTER") {
            match exporter.trim() {
                "none" => return Ok(None),
                "otlp" => {}
                other => return Err(bad("OTEL_TRACES_EXPORTER", other, "otlp or none")),
            }
        }
        let endpoint = match (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(url), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url.trim().to_string()),
            (None, Some(base)) => {
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{}/v1/traces", base.trim().trim_end_matches('/')))
            }
            (None, None) => return Ok(None),
        };
        target(&endpoint.1).map_err(|why| bad(endpoint.0, &endpoint.1, why))?;
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(p) = var(name) {
                if p.trim() != "http/protobuf" {
                    return Err(bad(name, &p, "http/protobuf (grpc and http/json are not supported)"));
                }
                break;
            }
        }
        let mut headers = Vec::new();
        let header_var = ["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"]
            .into_iter()
            .find_map(|name| var(name).map(|v| (name, v)));
        if let Some((name, text)) = header_var {
            for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| bad(name, &text, "key=value,key=value"))?;
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let delay = match var("OTEL_BSP_SCHEDULE_DELAY") {
            Some(ms) => Duration::from_millis(
                ms.trim().parse::<u64>().map_err(|_| bad("OTEL_BSP_SCHEDULE_DELAY", &ms, "milliseconds"))?,
            ),
            None => Duration::from_secs(5),
        };
        Ok(Some(TraceConfig {
            endpoint: endpoint.1,
            service_name: var("OTEL_SERVICE_NAME").map(|s| s.trim().to_string()),
            headers,
            delay,
        }))
    }
}

fn bad(var: &str, value: &str, want: &str) -> Error {
    Error::bad_request("go.micro.config", format!("{var}={value:?} is not valid: expected {want}"))
}

/// `http://host:port/path` as the address to connect to and the path to POST.
fn target(url: &str) -> std::result::Result<(String, String), &'static str> {
    let uri: hyper::Uri = url.parse().map_err(|_| "an http:// URL")?;
    if uri.scheme_str() != Some("http") {
        return Err("an http:// URL (https OTLP endpoints are not supported yet)");
    }
    let authority = uri.authority().ok_or("an http:// URL with a host")?;
    let address = match authority.port_u16() {
        Some(_) => authority.as_str().to_string(),
        None => format!("{}:80", authority.host()),
    };
    let path = uri.path_and_query().map(|p| p.as_str()).filter(|p| !p.is_empty()).unwrap_or("/").to_string();
    Ok((address, path))
}

/// OTLP's span kinds (the values of `opentelemetry.proto.trace.v1.Span.SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum SpanKind {
    /// A request handled or a message delivered.
    Server = 2,
    /// A call made.
    Client = 3,
}

/// One finished span.
#[derive(Clone, Debug)]
struct Finished {
    ctx: SpanContext,
    parent: Option<[u8; 8]>,
    name: String,
    kind: SpanKind,
    start: u64,
    end: u64,
    error: Option<String>,
}

enum Command {
    Span(Box<Finished>),
    Flush(oneshot::Sender<()>),
}

/// Records spans and sends them to an OTLP/HTTP endpoint; makes the wrappers. Cheap to
/// clone; the exporter runs until the last clone is dropped (sending what it holds).
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    dropped: AtomicU64,
}

impl Tracer {
    /// A tracer exporting as `cfg` says, its resource named `cfg.service_name` or
    /// `service`; spawns the exporter on the current Tokio runtime.
    pub fn start(cfg: &TraceConfig, service: &str) -> Result<Tracer> {
        let (address, path) = target(&cfg.endpoint).map_err(|why| bad("OTLP endpoint", &cfg.endpoint, why))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let exporter = Exporter {
            http: HttpClient::new(1),
            address,
            path,
            headers: cfg.headers.clone(),
            resource: resource(cfg.service_name.as_deref().unwrap_or(service)),
        };
        tokio::spawn(exporter.run(rx, cfg.delay));
        Ok(Tracer { inner: Arc::new(Inner { tx, dropped: AtomicU64::new(0) }) })
    }

    /// Sends every span finished so far; returns when the endpoint answered (or failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.tx.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Runs `work` as span `ctx` (a child of `parent`), recording the span when it ends.
    async fn record<T>(
        &self,
        parent: Option<SpanContext>,
        ctx: SpanContext,
        name: String,
        kind: SpanKind,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = now();
        let out = work.await;
        let error = out.as_ref().err().map(ToString::to_string);
        self.finish(Finished { ctx, parent: parent.map(|p| p.span_id), name, kind, start, end: now(), error });
        out
    }

    fn finish(&self, span: Finished) {
        if !span.ctx.sampled() {
            return;
        }
        if self.inner.tx.try_send(Command::Span(Box::new(span))).is_err() {
            let n = self.inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "trace exporter is behind: spans dropped");
            }
        }
    }

    /// A server span around every request handled: `<service>.<endpoint>`, continuing the
    /// caller's `Traceparent`; the handler sees its own span's `Traceparent`.
    pub fn handler(&self) -> HandlerWrapper {
        let t = self.clone();
        handler_wrapper(move |mut req: crate::server::Request, next| {
            let t = t.clone();
            async move {
                let parent = find(&req.header);
                let ctx = SpanContext::child_of(parent.as_ref());
                inject(&mut req.header, &ctx);
                let name = format!("{}.{}", req.service, req.endpoint);
                t.record(parent, ctx, name, SpanKind::Server, CURRENT.scope(ctx, next.run(req))).await
            }
        })
    }

    /// A client span around every call: `<service>.<endpoint>`, continuing the
    /// `Traceparent` in the call's metadata or else the task's [`current`] span; the call
    /// carries the client span's `Traceparent`.
    pub fn call(&self) -> CallWrapper {
        let t = self.clone();
        call_wrapper(move |mut call: super::Call, next| {
            let t = t.clone();
            async move {
                let parent = find(&call.options.metadata).or_else(current);
                let ctx = SpanContext::child_of(parent.as_ref());
                inject(&mut call.options.metadata, &ctx);
                let name = format!("{}.{}", call.service, call.endpoint);
                t.record(parent, ctx, name, SpanKind::Client, next.run(call)).await
            }
        })
    }

    /// A client span `Pub to <topic>` around one publish (go-micro's client wrapper's
    /// `Publish`), continuing the `Traceparent` in `header` or else the task's [`current`]
    /// span; `send` gets the headers carrying the publish span's `Traceparent`.
    pub(crate) async fn publish<F, Fut>(&self, topic: &str, mut header: BTreeMap<String, String>, send: F) -> Result<()>
    where
        F: FnOnce(BTreeMap<String, String>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let parent = find(&header).or_else(current);
        let ctx = SpanContext::child_of(parent.as_ref());
        inject(&mut header, &ctx);
        self.record(parent, ctx, format!("Pub to {topic}"), SpanKind::Client, send(header)).await
    }

    /// A server span around every message delivered: `Sub from <topic>`, continuing the
    /// publisher's `Traceparent`.
    pub fn subscriber(&self) -> SubscriberWrapper {
        let t = self.clone();
        subscriber_wrapper(move |mut event: crate::broker::Event, next| {
            let t = t.clone();
            async move {
                let parent = find(&event.message.header);
                let ctx = SpanContext::child_of(parent.as_ref());
                inject(&mut event.message.header, &ctx);
                let name = format!("Sub from {}", event.topic);
                t.record(parent, ctx, name, SpanKind::Server, CURRENT.scope(ctx, next.run(event))).await
            }
        })
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn resource(service: &str) -> otlp::Resource {
    otlp::Resource {
        attributes: vec![
            otlp::KeyValue::text("service.name", service),
            otlp::KeyValue::text("telemetry.sdk.name", "micro"),
            otlp::KeyValue::text("telemetry.sdk.language", "rust"),
            otlp::KeyValue::text("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ],
    }
}

/// Batches finished spans and POSTs them.
struct Exporter {
    http: HttpClient,
    address: String,
    path: String,
    headers: Vec<(String, String)>,
    resource: otlp::Resource,
}

impl Exporter {
    async fn run(self, mut rx: mpsc::Receiver<Command>, delay: Duration) {
        let mut batch: Vec<Finished> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let wait = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Span(span)) => {
                        batch.push(*span);
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + delay);
                        if batch.len() >= BATCH {
                            self.send(std::mem::take(&mut batch)).await;
                            deadline = None;
                        }
                    }
                    Some(Command::Flush(done)) => {
                        self.send(std::mem::take(&mut batch)).await;
                        deadline = None;
                        let _ = done.send(());
                    }
                    None => {
                        self.send(batch).await;
                        return;
                    }
                },
                _ = wait => {
                    self.send(std::mem::take(&mut batch)).await;
                    deadline = None;
                }
            }
        }
    }

    async fn send(&self, spans: Vec<Finished>) {
        if spans.is_empty() {
            return;
        }
        let n = spans.len();
        let body = Bytes::from(encode(&self.resource, spans));
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/x-protobuf")];
        headers.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match self.http.post(&self.address, &self.path, &headers, body).await {
            Ok((status, _)) if status.is_success() => tracing::debug!(spans = n, "spans exported"),
            Ok((status, answer)) => tracing::warn!(
                spans = n, %status, answer = %String::from_utf8_lossy(&answer[..answer.len().min(200)]),
                "trace exporter: OTLP endpoint refused the spans"
            ),
            Err(e) => {
                tracing::warn!(spans = n, address = %self.address, error = %e, "trace exporter: OTLP endpoint unreachable; spans lost")
            }
        }
    }
}

/// An `ExportTraceServiceRequest` holding `spans`, as protobuf bytes.
fn encode(resource: &otlp::Resource, spans: Vec<Finished>) -> Vec<u8> {
    let spans = spans
        .into_iter()
        .map(|s| otlp::Span {
            trace_id: s.ctx.trace_id.to_vec(),
            span_id: s.ctx.span_id.to_vec(),
            parent_span_id: s.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: s.name,
            kind: s.kind as i32,
            start_time_unix_nano: s.start,
            end_time_unix_nano: s.end.max(s.start),
            flags: u32::from(s.ctx.flags),
            status: s.error.map(|message| otlp::Status { message, code: otlp::STATUS_ERROR }),
        })
        .collect();
    otlp::ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![otlp::ScopeSpans {
                scope: Some(otlp::InstrumentationScope {
                    name: "micro".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                }),
                spans,
            }],
        }],
    }
    .encode_to_vec()
}

/// The parts of OpenTelemetry's OTLP protobuf messages (`opentelemetry/proto/collector/
/// trace/v1`, `trace/v1`, `resource/v1`, `common/v1`) an exporter writes, with their field
/// numbers; public for tests that read what was sent.
pub mod otlp {
    /// `ExportTraceServiceRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportTraceServiceRequest {
        /// Spans by resource.
        #[prost(message, repeated, tag = "1")]
        pub resource_spans: Vec<ResourceSpans>,
    }

    /// `ResourceSpans`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceSpans {
        /// The process the spans come from.
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        /// Spans by instrumentation scope.
        #[prost(message, repeated, tag = "2")]
        pub scope_spans: Vec<ScopeSpans>,
    }

    /// `Resource`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        /// `service.name` and the SDK's attributes.
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    /// `ScopeSpans`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeSpans {
        /// What recorded the spans.
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        /// The spans.
        #[prost(message, repeated, tag = "2")]
        pub spans: Vec<Span>,
    }

    /// `InstrumentationScope`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        /// Its name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Its version.
        #[prost(string, tag = "2")]
        pub version: String,
    }

    /// `Span` (the fields written here).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        /// 16 bytes.
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        /// 8 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        /// 8 bytes, or empty for a root span.
        #[prost(bytes = "vec", tag = "4")]
        pub parent_span_id: Vec<u8>,
        /// `<service>.<endpoint>` or `Sub from <topic>`.
        #[prost(string, tag = "5")]
        pub name: String,
        /// 2 = server, 3 = client.
        #[prost(int32, tag = "6")]
        pub kind: i32,
        /// Start, ns since the Unix epoch.
        #[prost(fixed64, tag = "7")]
        pub start_time_unix_nano: u64,
        /// End, ns since the Unix epoch.
        #[prost(fixed64, tag = "8")]
        pub end_time_unix_nano: u64,
        /// An error, when the call failed.
        #[prost(message, optional, tag = "15")]
        pub status: Option<Status>,
        /// The W3C trace flags.
        #[prost(fixed32, tag = "16")]
        pub flags: u32,
    }

    /// `Status.code` for an error.
    pub const STATUS_ERROR: i32 = 2;

    /// `Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Status {
        /// The error.
        #[prost(string, tag = "2")]
        pub message: String,
        /// 2 = error.
        #[prost(int32, tag = "3")]
        pub code: i32,
    }

    /// `KeyValue` (string values only).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        /// The attribute's name.
        #[prost(string, tag = "1")]
        pub key: String,
        /// Its value.
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    impl KeyValue {
        /// A string attribute.
        pub fn text(key: &str, value: &str) -> Self {
            KeyValue { key: key.into(), value: Some(AnyValue { string_value: value.into() }) }
        }
    }

    /// `AnyValue` holding a string (field 1 of its `oneof`).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        /// The string.
        #[prost(string, tag = "1")]
        pub string_value: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = SpanContext::parse(v).expect("valid");
        assert_eq!(ctx.traceparent(), v);
        assert!(ctx.sampled());
        assert_eq!(ctx.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    }

    #[test]
    fn bad_traceparents_are_ignored() {
        for v in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanContext::parse(v), None, "{v:?}");
        }
        // A later version may add fields.
        assert!(SpanContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
    }

    #[test]
    fn a_child_keeps_the_trace_and_flags() {
        let parent = SpanContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
        let child = SpanContext::child_of(Some(&parent));
        assert_eq!((child.trace_id, child.flags), (parent.trace_id, 0));
        assert_ne!(child.span_id, parent.span_id);
        let root = SpanContext::child_of(None);
        assert!(root.sampled() && root.trace_id != [0; 16] && root.span_id != [0; 8]);
    }

    #[test]
    fn metadata_carries_it_under_gomicros_key() {
        let mut md = BTreeMap::from([("traceparent".to_string(), "junk".to_string())]);
        assert_eq!(find(&md), None);
        let ctx = SpanContext::child_of(None);
        inject(&mut md, &ctx);
        assert_eq!(md.len(), 1);
        assert_eq!(md.get(TRACEPARENT), Some(&ctx.traceparent()));
        assert_eq!(find(&md), Some(ctx));
    }

    #[test]
    fn config_from_the_opentelemetry_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(TraceConfig::from_lookup(env(&[])).ok(), Some(None));
        let cfg = TraceConfig::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b=2"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ]))
        .expect("valid")
        .expect("on");
        assert_eq!(cfg.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert_eq!(cfg.service_name.as_deref(), Some("svc"));
        assert_eq!(cfg.headers, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(cfg.delay, Duration::from_millis(200));
        let cfg = TraceConfig::from_lookup(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector/x/traces"),
        ]))
        .expect("valid")
        .expect("on");
        assert_eq!(target(&cfg.endpoint), Ok(("collector:80".into(), "/x/traces".into())));
        for (vars, named) in [
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")][..], "OTEL_EXPORTER_OTLP_ENDPOINT"),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")][..],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (&[("OTEL_TRACES_EXPORTER", "jaeger")][..], "OTEL_TRACES_EXPORTER"),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_BSP_SCHEDULE_DELAY", "soon")][..],
                "OTEL_BSP_SCHEDULE_DELAY",
            ),
        ] {
            let leaked: &'static [(&'static str, &'static str)] = Box::leak(vars.to_vec().into_boxed_slice());
            let e = TraceConfig::from_lookup(env(leaked)).expect_err("refused");
            assert!(e.detail.contains(named), "{e}");
        }
        for off in [("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "none")] {
            let leaked: &'static [(&'static str, &'static str)] =
                Box::leak(vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), off].into_boxed_slice());
            assert_eq!(TraceConfig::from_lookup(env(leaked)).ok(), Some(None));
        }
    }

    #[test]
    fn spans_encode_as_otlp() {
        let ctx = SpanContext::child_of(None);
        let span = Finished {
            ctx,
            parent: Some([7; 8]),
            name: "greeter.Greeter.Hello".into(),
            kind: SpanKind::Server,
            start: 10,
            end: 20,
            error: Some("boom".into()),
        };
        let bytes = encode(&resource("greeter"), vec![span]);
        let req = otlp::ExportTraceServiceRequest::decode(bytes.as_slice()).expect("decodes");
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!((s.trace_id.as_slice(), s.parent_span_id.as_slice(), s.kind), (&ctx.trace_id[..], &[7u8; 8][..], 2));
        assert_eq!(s.status.as_ref().map(|st| st.code), Some(otlp::STATUS_ERROR));
        let attrs = &req.resource_spans[0].resource.as_ref().expect("resource").attributes;
        assert!(attrs.iter().any(
            |kv| kv.key == "service.name" && kv.value.as_ref().map(|v| v.string_value.as_str()) == Some("greeter")
        ));
    }
}
