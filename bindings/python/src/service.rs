//! `Service` and `Request`: the server side, as pull primitives.
//!
//! Each endpoint's Rust handler puts the request on a queue and waits for its answer;
//! Python pulls with `next_request()` (an awaitable that resolves to `None` once the service
//! is stopped) and answers with `Request.respond` / `Request.fail` from its event loop.

use crate::bridge::{self, check_pid, conv, Conv};
use crate::client::{client_from_service, registry_from_service, Client, Registry};
use crate::{closed, err, to_py};
use micro::host::{check, AnswerSlot, Inbox, Incoming, Unanswerable};
use micro::server::{StreamReceiver, StreamSender};
use micro::{Response, Service as CoreService};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A micro service (registry + server + client); endpoints are answered from Python.
#[pyclass(module = "micro._native")]
pub struct Service {
    svc: CoreService,
    inbox: Arc<Inbox>,
    /// The plain `def` handlers' calls, pulled by Python worker threads (GIL released while
    /// they wait), so such a call never passes through the event loop.
    threaded: Arc<Inbox>,
    pid: u32,
    subs: std::sync::atomic::AtomicUsize,
}

fn secs(v: f64, what: &str) -> PyResult<Duration> {
    if !v.is_finite() || v < 0.0 {
        return Err(err(400, format!("{what} must be a non-negative number of seconds, got {v}")));
    }
    Ok(Duration::from_secs_f64(v))
}

#[pymethods]
impl Service {
    /// Builds the service (options over go-micro's environment variables); nothing listens
    /// until `start`.
    #[new]
    #[pyo3(signature = (name, *, version=None, address=None, advertise=None, id=None, metadata=None, registry=None, register_ttl=None, register_interval=None, max_message_size=None, broker=None, max_concurrency=None))]
    fn new(
        py: Python<'_>,
        name: String,
        version: Option<String>,
        address: Option<String>,
        advertise: Option<String>,
        id: Option<String>,
        metadata: Option<HashMap<String, String>>,
        registry: Option<String>,
        register_ttl: Option<f64>,
        register_interval: Option<f64>,
        max_message_size: Option<usize>,
        broker: Option<String>,
        max_concurrency: Option<usize>,
    ) -> PyResult<Self> {
        check::service(&name).map_err(to_py)?;
        let mut b = CoreService::builder(name.clone());
        if let Some(v) = version {
            b = b.version(v);
        }
        if let Some(v) = address {
            b = b.address(v);
        }
        if let Some(v) = advertise {
            b = b.advertise(v);
        }
        if let Some(v) = id {
            b = b.id(v);
        }
        for (k, v) in metadata.unwrap_or_default() {
            b = b.metadata(k, v);
        }
        if let Some(v) = registry {
            b = b.registry_url(v);
        }
        if let Some(v) = register_ttl {
            b = b.register_ttl(secs(v, "register_ttl")?);
        }
        if let Some(v) = register_interval {
            b = b.register_interval(secs(v, "register_interval")?);
        }
        if let Some(v) = max_message_size {
            b = b.max_message_size(v);
        }
        if let Some(v) = broker {
            b = b.broker_url(v);
        }
        match max_concurrency {
            Some(0) => return Err(err(400, "max_concurrency must be at least 1 (None: no limit)")),
            Some(n) => b = b.max_concurrency(n),
            None => {}
        }
        let svc = bridge::block(py, async move { b.build().await.map_err(to_py) })?;
        let threaded = Inbox::new(name.clone(), micro::host::DEFAULT_CAPACITY);
        let inbox = Inbox::new(name, micro::host::DEFAULT_CAPACITY);
        Ok(Service { svc, inbox, threaded, pid: crate::bridge::pid(), subs: std::sync::atomic::AtomicUsize::new(0) })
    }

    /// The service name.
    #[getter]
    fn name(&self) -> String {
        self.svc.name().to_string()
    }

    /// The node id (`<name>-<uuid>`).
    #[getter]
    fn id(&self) -> String {
        self.svc.server().id().to_string()
    }

    /// The registered address once started, else `None`.
    #[getter]
    fn address(&self) -> Option<String> {
        self.svc.server().advertised()
    }

    /// The bound listener address once started, else `None`.
    #[getter]
    fn bound(&self) -> Option<String> {
        self.svc.server().bound().map(|a| a.to_string())
    }

    /// Adds an endpoint answered from Python (`stream=True` for a bidirectional stream;
    /// `threaded=True` for a plain function's, pulled with `next_threaded_requests`).
    #[pyo3(signature = (endpoint, stream=false, metadata=None, threaded=false))]
    fn handle(
        &self,
        endpoint: String,
        stream: bool,
        metadata: Option<HashMap<String, String>>,
        threaded: bool,
    ) -> PyResult<()> {
        check_pid(self.pid)?;
        let server = self.svc.server();
        let inbox = if threaded && !stream { &self.threaded } else { &self.inbox };
        inbox.serve(server, &endpoint, stream).map_err(to_py)?;
        for (k, v) in metadata.unwrap_or_default() {
            server.describe(&endpoint, &k, &v);
        }
        Ok(())
    }

    /// Subscribes to `topic` (a queue group with `queue`); must precede `start`. Messages
    /// come out of `next_request` as `Message`s, each answered with `ack` or `fail`.
    /// Returns the subscription's index (`Message.subscriber` of its messages).
    #[pyo3(signature = (topic, queue=None))]
    fn subscribe(&self, topic: String, queue: Option<String>) -> PyResult<usize> {
        check_pid(self.pid)?;
        let index = self.subs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let opts = micro::broker::SubscribeOptions { queue };
        self.inbox.subscribe(self.svc.server(), &topic, opts, index).map_err(to_py)?;
        Ok(index)
    }

    /// The endpoints as registered, as JSON.
    fn endpoints_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.svc.server().endpoints()).map_err(|e| err(500, e.to_string()))
    }

    /// Listens and registers (awaitable).
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let svc = self.svc.clone();
        let inbox = Arc::clone(&self.inbox);
        let threaded = Arc::clone(&self.threaded);
        bridge::spawn(py, async move {
            inbox.open();
            threaded.open();
            svc.start().await.map_err(to_py)?;
            Ok(conv(()))
        })
    }

    /// Deregisters, stops accepting, drains calls in flight (awaitable); then
    /// `next_request` resolves to `None`.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let svc = self.svc.clone();
        let inbox = Arc::clone(&self.inbox);
        let threaded = Arc::clone(&self.threaded);
        bridge::spawn(py, async move {
            let r = svc.stop().await;
            inbox.close();
            threaded.close();
            r.map_err(to_py)?;
            Ok(conv(()))
        })
    }

    /// Gives up on requests nobody will answer (the event loop is gone): they fail with
    /// 503 at once. Safe to call more than once.
    fn abandon(&self) {
        if check_pid(self.pid).is_err() {
            return; // the parent's requests are the parent's to give up
        }
        self.inbox.abandon();
        self.threaded.abandon();
    }

    /// Abandons waiting requests, deregisters and stops, blocking (GIL released) for at
    /// most `timeout` seconds. For interpreter exit and signal paths.
    #[pyo3(signature = (timeout=5.0))]
    fn stop_blocking(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        if check_pid(self.pid).is_err() {
            return Ok(()); // a forked child does not own the parent's registration
        }
        self.inbox.abandon();
        self.threaded.abandon();
        let svc = self.svc.clone();
        let limit = secs(timeout, "timeout")?;
        let rt = bridge::runtime()?;
        py.detach(|| {
            rt.block_on(async move {
                let r = tokio::time::timeout(limit, svc.stop()).await;
                match r {
                    Ok(r) => r.map_err(to_py),
                    Err(_) => Err(err(408, "stop did not finish in time")),
                }
            })
        })
    }

    /// The next request (or subscribed `Message`) for Python to answer, or `None` once
    /// stopped (awaitable).
    fn next_request<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let inbox = Arc::clone(&self.inbox);
        bridge::spawn(py, async move {
            let mut batch = pull(&inbox, 1).await;
            Ok(match batch.pop() {
                None => conv(None::<Request>),
                Some(item) => Box::new(move |py: Python<'_>| item.into_py(py)) as Conv,
            })
        })
    }

    /// Up to `max` queued requests (or `Message`s) at once: waits for the first, then takes
    /// what else is already queued, so a busy service pays one thread hop per batch rather
    /// than per request. Resolves to an empty list once stopped (awaitable).
    #[pyo3(signature = (max=64))]
    fn next_requests<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        check_max(max)?;
        let inbox = Arc::clone(&self.inbox);
        bridge::spawn(py, async move {
            let batch = pull(&inbox, max).await;
            Ok(Box::new(move |py: Python<'_>| Ok(py_list(py, batch)?.into_any().unbind())) as Conv)
        })
    }

    /// Up to `max` requests (or `Message`s) already queued, without waiting: an empty list
    /// when none is (or once stopped). A busy dispatcher takes its next batch with it,
    /// without the runtime thread, the wake-up of the loop and the future of
    /// `next_requests`.
    #[pyo3(signature = (max=64))]
    fn try_next_requests<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        check_pid(self.pid)?;
        check_max(max)?;
        let (name, pid) = (self.inbox.name(), crate::bridge::pid());
        py_list(py, self.inbox.try_pull(max).into_iter().map(|item| pulled(item, name, pid)))
    }

    /// Blocking, GIL released: up to `max` queued calls of plain `def` handlers (waits for
    /// the first), for a worker thread to answer; an empty list once stopped.
    #[pyo3(signature = (max=1))]
    fn next_threaded_requests<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        check_pid(self.pid)?;
        check_max(max)?;
        let inbox = Arc::clone(&self.threaded);
        let batch = bridge::block(py, async move { Ok(pull(&inbox, max).await) })?;
        py_list(py, batch)
    }

    /// A client that shares this service's registry cache.
    fn client(&self) -> PyResult<Client> {
        check_pid(self.pid)?;
        Ok(client_from_service(self.svc.client().clone(), self.pid))
    }

    /// The service's own registry (the one it registers with), for `get_service` and
    /// `list_services`.
    fn registry(&self) -> PyResult<Registry> {
        check_pid(self.pid)?;
        Ok(registry_from_service(Arc::clone(self.svc.registry()), self.pid))
    }

    fn __repr__(&self) -> String {
        format!("<micro._native.Service {} id={}>", self.svc.name(), self.svc.server().id())
    }
}

/// A pulled item, ready to become its Python object.
enum Pulled {
    Request(Request),
    Message(Message),
}

impl Pulled {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Pulled::Request(r) => Ok(Py::new(py, r)?.into_any()),
            Pulled::Message(m) => Ok(Py::new(py, m)?.into_any()),
        }
    }
}

/// Up to `max` items from the inbox as Python objects to be; none once stopped.
async fn pull(inbox: &Inbox, max: usize) -> Vec<Pulled> {
    let name = inbox.name();
    let pid = crate::bridge::pid();
    inbox.pull(max).await.into_iter().map(|item| pulled(item, name, pid)).collect()
}

/// Refuses a batch of none (400), the same way for every way of pulling a batch.
fn check_max(max: usize) -> PyResult<()> {
    if max == 0 {
        return Err(err(400, "max must be at least 1"));
    }
    Ok(())
}

/// Pulled requests and messages as a Python list, in their order.
fn py_list<'py>(py: Python<'py>, items: impl IntoIterator<Item = Pulled>) -> PyResult<Bound<'py, pyo3::types::PyList>> {
    let list = pyo3::types::PyList::empty(py);
    for item in items {
        list.append(item.into_py(py)?)?;
    }
    Ok(list)
}

fn pulled(item: Incoming, name: &str, pid: u32) -> Pulled {
    let service_name = name.to_string();
    match item {
        Incoming::Call { request, answer } => {
            Pulled::Request(Request::new(request, AnswerSlot::new(answer), None, service_name, pid))
        }
        Incoming::Stream { request, stream, answer } => {
            Pulled::Request(Request::new(request, AnswerSlot::new(answer), Some(stream.split()), service_name, pid))
        }
        Incoming::Event { event, subscriber, answer } => Pulled::Message(Message {
            ev: event,
            index: subscriber,
            answer: AnswerSlot::new(answer),
            service_name,
            pid,
        }),
    }
}

/// The detail of the `ClosedError` for answering a request nobody waits for.
fn nobody_waits(what: &str, service: &str) -> PyErr {
    closed(format!(
        "{what}: nobody is waiting for the answer any more (service {service} stopped, or the caller gave up)"
    ))
}

/// One request for Python: its data, and `respond`/`fail` to answer it (once).
///
/// Answering twice is a `Conflict` (409); answering a request nobody waits for any more, or
/// using a stream after it was answered (it has finished) or abandoned, is a `ClosedError`;
/// in a forked child every method raises `ForkError`.
#[pyclass(module = "micro._native")]
pub struct Request {
    req: micro::Request,
    answer: AnswerSlot,
    sender: Option<StreamSender>,
    receiver: Option<Arc<tokio::sync::Mutex<StreamReceiver>>>,
    service_name: String,
    pid: u32,
}

impl Request {
    fn new(
        req: micro::Request,
        answer: AnswerSlot,
        stream: Option<(StreamSender, StreamReceiver)>,
        service_name: String,
        pid: u32,
    ) -> Self {
        let (sender, receiver) = match stream {
            Some((s, r)) => (Some(s), Some(Arc::new(tokio::sync::Mutex::new(r)))),
            None => (None, None),
        };
        Request { req, answer, sender, receiver, service_name, pid }
    }

    /// Takes the answer: `Conflict` if answered, `ClosedError` if nobody waits.
    fn take(&self) -> PyResult<micro::host::Answer> {
        check_pid(self.pid)?;
        self.answer.take().map_err(|why| match why {
            Unanswerable::Answered => err(409, format!("request to {} was already answered", self.req.endpoint)),
            Unanswerable::NobodyWaits => nobody_waits(&format!("request to {}", self.req.endpoint), &self.service_name),
        })
    }

    /// For stream I/O (after the caller's `check_pid`): the stream is still open (not
    /// answered, someone waits).
    fn check_open(&self) -> PyResult<()> {
        self.answer.check_open().map_err(|why| match why {
            Unanswerable::Answered => {
                closed(format!("the stream {} has finished (its handler returned)", self.req.endpoint))
            }
            Unanswerable::NobodyWaits => nobody_waits(&format!("stream {}", self.req.endpoint), &self.service_name),
        })
    }
}

impl Request {
    /// The body as a handler receives it when that is read here (see `payload`): `None`
    /// when Python decodes it.
    pub(crate) fn plain_payload<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !micro::host::body::is_json(&self.req.content_type) {
            return Ok(None);
        }
        // `bytes.isspace()`: ASCII whitespace, vertical tab and form feed included.
        if self.req.body.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) {
            return Ok(Some(PyDict::new(py).into_any()));
        }
        crate::json::read(py, &self.req.body)
    }

    /// Answers with `value` as JSON, as `respond_json`.
    pub(crate) fn respond_value(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        if value.is_none() {
            return Ok(false);
        }
        let Some(body) = crate::json::to_vec(value, true)? else { return Ok(false) };
        let content_type =
            (!micro::host::body::is_json(&self.req.content_type)).then(|| micro::codec::JSON.to_string());
        self.take()?.respond(Response { body: body.into(), content_type });
        Ok(true)
    }

    /// `Handler.Method`.
    pub(crate) fn endpoint_str(&self) -> &str {
        &self.req.endpoint
    }

    /// Whether this is a bidirectional stream.
    pub(crate) fn streams(&self) -> bool {
        self.sender.is_some()
    }

    /// The request's traceparent, owned.
    pub(crate) fn traceparent_owned(&self) -> Option<String> {
        traceparent(&self.req.header).map(str::to_string)
    }
}

#[pymethods]
impl Request {
    /// The service the caller addressed.
    #[getter]
    fn service(&self) -> &str {
        &self.req.service
    }
    /// `Handler.Method`.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.req.endpoint
    }
    /// The body's content type.
    #[getter]
    fn content_type(&self) -> &str {
        &self.req.content_type
    }
    /// The request headers (go-micro context metadata).
    #[getter]
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.req.header {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
    /// The request's W3C trace context (go-micro's `Traceparent` header, any case), without
    /// building the header dict.
    #[getter]
    fn traceparent(&self) -> Option<&str> {
        traceparent(&self.req.header)
    }
    /// The raw body (for a stream: the opening message, which go-micro discards).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.req.body)
    }
    /// Whether this is a bidirectional stream.
    #[getter]
    fn is_stream(&self) -> bool {
        self.sender.is_some()
    }

    /// The body as a handler receives it, when its content type is JSON and the body a plain
    /// value read here ([`crate::json`]); a new `{}` for an empty (or all-whitespace) JSON
    /// body, as `micro._body.decode` gives; `miss` for anything else, which Python decodes.
    /// One call where Python made the body's bytes and then decoded them in three frames.
    fn payload<'py>(&self, py: Python<'py>, miss: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.plain_payload(py)?.unwrap_or(miss))
    }

    /// Answers with `value` as JSON, as go-micro's JSON codec writes a reply (a newline after
    /// it), in the request's content type when that is JSON and `application/json` otherwise,
    /// as `micro.service` answers a handler's reply; false, answering nothing, when `value` is
    /// `None` or not a plain value ([`crate::json`]), which Python then answers.
    fn respond_json(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.respond_value(value)
    }

    /// Answers with `body` (content type: the request's when `None`). For a stream: ends it.
    #[pyo3(signature = (body, content_type=None))]
    fn respond(&self, body: Vec<u8>, content_type: Option<String>) -> PyResult<()> {
        self.take()?.respond(Response { body: body.into(), content_type });
        Ok(())
    }

    /// Answers with a go-micro error.
    #[pyo3(signature = (id, code, detail, status=None))]
    fn fail(&self, id: String, code: i32, detail: String, status: Option<String>) -> PyResult<()> {
        let mut e = micro::Error::new(if id.is_empty() { self.service_name.clone() } else { id }, detail, code);
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            e.status = s;
        }
        self.take()?.fail(e);
        Ok(())
    }

    /// Stream only: the next message from the client, or `None` after its EOS (awaitable);
    /// `ClosedError` once the stream finished or its service gave up on it.
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let rx = self.receiver.clone().ok_or_else(|| err(400, format!("{} is not a stream", self.req.endpoint)))?;
        self.check_open()?;
        bridge::spawn(py, async move {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                None => Ok(conv(None::<Vec<u8>>)),
                Some(Ok(b)) => Ok(Box::new(move |py: Python<'_>| Ok(PyBytes::new(py, &b).into_any().unbind())) as Conv),
                Some(Err(e)) => Err(to_py(e)),
            }
        })
    }

    /// Stream only: sends one message to the client (awaitable); `ClosedError` once the
    /// stream finished or its service gave up on it.
    fn send<'py>(&self, py: Python<'py>, body: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let tx = self.sender.clone().ok_or_else(|| err(400, format!("{} is not a stream", self.req.endpoint)))?;
        self.check_open()?;
        bridge::spawn(py, async move {
            tx.send(body).await.map_err(to_py)?;
            Ok(conv(()))
        })
    }

    fn __repr__(&self) -> String {
        format!("<micro._native.Request {} {}>", self.req.endpoint, self.req.content_type)
    }
}

/// A message delivered to a subscriber: topic, headers, body; answered once with `ack`
/// or `fail` (the broker logs a failure; nothing is redelivered, as in go-micro). Errors
/// as for `Request`: `Conflict` twice, `ClosedError` when nobody waits, `ForkError`.
#[pyclass(module = "micro._native")]
pub struct Message {
    ev: micro::broker::Event,
    index: usize,
    answer: AnswerSlot,
    service_name: String,
    pid: u32,
}

impl Message {
    fn take(&self) -> PyResult<micro::host::Answer> {
        check_pid(self.pid)?;
        self.answer.take().map_err(|why| match why {
            Unanswerable::Answered => err(409, format!("message on {} was already answered", self.ev.topic)),
            Unanswerable::NobodyWaits => nobody_waits(&format!("message on {}", self.ev.topic), &self.service_name),
        })
    }
}

#[pymethods]
impl Message {
    /// The topic.
    #[getter]
    fn topic(&self) -> &str {
        &self.ev.topic
    }
    /// The headers, keys exactly as the publisher wrote them.
    #[getter]
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.ev.message.header {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
    /// The publisher's W3C trace context (a `Traceparent` header, any case).
    #[getter]
    fn traceparent(&self) -> Option<&str> {
        traceparent(&self.ev.message.header)
    }
    /// The raw body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ev.message.body)
    }
    /// The index `Service.subscribe` returned for the subscription that got the message.
    #[getter]
    fn subscriber(&self) -> usize {
        self.index
    }
    /// Marks the message handled.
    fn ack(&self) -> PyResult<()> {
        self.take()?.respond(Response::default());
        Ok(())
    }
    /// Reports a handler failure (a go-micro error) to the broker.
    #[pyo3(signature = (id, code, detail))]
    fn fail(&self, id: String, code: i32, detail: String) -> PyResult<()> {
        let id = if id.is_empty() { self.service_name.clone() } else { id };
        self.take()?.fail(micro::Error::new(id, detail, code));
        Ok(())
    }
    fn __repr__(&self) -> String {
        format!("<micro._native.Message {} {} bytes>", self.ev.topic, self.ev.message.body.len())
    }
}

/// The `Traceparent` header's value, its name in any case (requests' and messages' headers
/// are the same map type).
fn traceparent(header: &micro::transport::Header) -> Option<&str> {
    let name = micro::wrapper::trace::TRACEPARENT;
    header.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}
