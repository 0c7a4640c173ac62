//! `Client`, `ClientStream` and `Registry`: calls as awaitables (and blocking calls that
//! release the GIL), streams, and registry queries.

use crate::bridge::{self, check_pid, conv, Conv};
use crate::{closed, err, to_py};
use bytes::Bytes;
use micro::client::{StreamRecvHalf, StreamSendHalf};
use micro::config::Config;
use micro::registry::{self, Registry as CoreRegistry};
use micro::selector::Strategy;
use micro::{CallOptions, Client as CoreClient, Reply};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex as AsyncMutex};

/// An RPC client. After `close()` every method raises `ClosedError`; after `fork()`,
/// `ForkError` in the child.
#[pyclass(module = "micro._native")]
pub struct Client {
    client: CoreClient,
    pid: u32,
    closed: AtomicBool,
}

pub(crate) fn client_from_service(client: CoreClient, pid: u32) -> Client {
    Client { client, pid, closed: AtomicBool::new(false) }
}

impl Client {
    /// Fails when used in a forked child or after `close()`.
    fn live(&self) -> PyResult<&CoreClient> {
        check_pid(self.pid)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(closed("the client is closed"));
        }
        Ok(&self.client)
    }
}

fn dur(v: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(err(400, format!("{what} must be a positive number of seconds, got {s}"))),
    }
}

/// The selector strategy `selector=` names: `random` or `roundrobin` (as `MICRO_SELECTOR`).
fn strategy(name: &str) -> PyResult<Strategy> {
    Strategy::from_name(name)
        .ok_or_else(|| err(400, format!("selector must be \"random\" or \"roundrobin\", got {name:?}")))
}

/// `v` as a count (`retries`, `pool_size`): a 400 naming `what` when it is negative or too
/// large, where pyo3's own conversion would raise a bare `OverflowError`.
fn count<T: TryFrom<i64> + std::fmt::Display + Copy>(v: Option<i64>, what: &str, max: T) -> PyResult<Option<T>> {
    v.map(|n| {
        if n < 0 {
            return Err(err(400, format!("{what} must be a non-negative integer, got {n}")));
        }
        T::try_from(n).map_err(|_| err(400, format!("{what} must be at most {max}, got {n}")))
    })
    .transpose()
}

fn call_options(
    content_type: Option<String>,
    timeout: Option<f64>,
    request_timeout: Option<f64>,
    retries: Option<i64>,
    retry_timeouts: bool,
    metadata: Option<HashMap<String, String>>,
    address: Option<Vec<String>>,
) -> PyResult<CallOptions> {
    Ok(CallOptions {
        address: address.unwrap_or_default(),
        content_type,
        timeout: dur(timeout, "timeout")?,
        request_timeout: dur(request_timeout, "request_timeout")?,
        retries: count(retries, "retries", u32::MAX)?,
        retry_timeouts,
        metadata: metadata.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    })
}

impl Client {
    /// The common call's client, body and options, or `None` when `body` is not one it
    /// takes: a `dict` or a `list` of plain values ([`crate::json`]) or `None` (sent as `{}`),
    /// as JSON; to `address` when given; `traceparent` as the `Traceparent` header when
    /// given. What `micro.Client.call` builds in Python with no other option given.
    fn plain_call(
        &self,
        service: &str,
        endpoint: &str,
        body: &Bound<'_, PyAny>,
        address: Option<String>,
        traceparent: Option<String>,
    ) -> PyResult<Option<(CoreClient, Bytes, CallOptions)>> {
        let client = self.live()?.clone();
        check_names(service, endpoint)?;
        let data = if body.is_none() {
            b"{}".to_vec()
        } else if body.is_exact_instance_of::<PyDict>() || body.is_exact_instance_of::<PyList>() {
            match crate::json::to_vec(body, false)? {
                Some(data) => data,
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        let opts = CallOptions {
            address: address.into_iter().collect(),
            content_type: Some(micro::codec::JSON.to_string()),
            metadata: traceparent.map(|tp| (micro::wrapper::trace::TRACEPARENT.to_string(), tp)).into_iter().collect(),
            ..Default::default()
        };
        Ok(Some((client, Bytes::from(data), opts)))
    }
}

/// How an awaitable call runs: on the thread that awaits it when the client can be driven
/// from any thread ([`CoreClient::drives_on_any_thread`]), else as a task of the runtime.
fn how(client: &CoreClient) -> bridge::Run {
    if client.drives_on_any_thread() {
        bridge::Run::Here(crate::here::OWNER)
    } else {
        bridge::Run::Started
    }
}

/// A reply as `(body, content_type, header, node)`, or only `(body, content_type)` when not
/// `whole`: then its header and node are dropped here, where the call ran (a runtime
/// thread, most often), not on the host's thread that converts the rest.
fn reply_conv(r: Reply, whole: bool) -> Conv {
    if !whole {
        let Reply { body, content_type, .. } = r;
        return Box::new(move |py: Python<'_>| body_conv(py, &body, content_type));
    }
    Box::new(move |py: Python<'_>| {
        let body = PyBytes::new(py, &r.body).into_any();
        let content_type = r.content_type.into_pyobject(py)?.into_any();
        let header = PyDict::new(py);
        for (k, v) in &r.header {
            header.set_item(k, v)?;
        }
        let t = PyTuple::new(py, [body, content_type, header.into_any(), r.node.into_pyobject(py)?.into_any()])?;
        Ok(t.into_any().unbind())
    })
}

/// A reply's body as `(value, None)` when it is plain JSON, read here ([`crate::json`]) so
/// Python has nothing left to decode; else as `(body, content_type)`.
fn body_conv(py: Python<'_>, body: &[u8], content_type: String) -> PyResult<Py<PyAny>> {
    if micro::host::body::is_json(&content_type) {
        if let Some(v) = crate::json::read(py, body)? {
            return Ok(PyTuple::new(py, [v, py.None().into_bound(py)])?.into_any().unbind());
        }
    }
    let body = PyBytes::new(py, body).into_any();
    Ok(PyTuple::new(py, [body, content_type.into_pyobject(py)?.into_any()])?.into_any().unbind())
}

fn publish_options(
    topic: &str,
    content_type: Option<String>,
    metadata: Option<HashMap<String, String>>,
) -> PyResult<micro::PublishOptions> {
    micro::host::check::topic(topic, None).map_err(to_py)?;
    if content_type.as_deref() == Some("") {
        return Err(err(400, "content_type must not be empty"));
    }
    Ok(micro::PublishOptions { content_type, metadata: metadata.unwrap_or_default().into_iter().collect() })
}

fn check_names(service: &str, endpoint: &str) -> PyResult<()> {
    micro::host::check::service(service).map_err(to_py)?;
    micro::host::check::endpoint(endpoint).map_err(to_py)
}

#[pymethods]
impl Client {
    /// A client with its own registry (URL, else `MICRO_REGISTRY`, else mDNS) and options
    /// over go-micro's environment variables.
    #[new]
    /// Publishing goes through the broker `broker` names (`http`, `nats://host:4222`,
    /// `memory`; else `MICRO_BROKER`/`MICRO_BROKER_ADDRESS`, else go-micro's http broker).
    /// Nodes are picked by `selector` (`random`, `roundrobin`; else `MICRO_SELECTOR`, else
    /// random as go-micro does).
    #[pyo3(signature = (*, registry=None, content_type=None, request_timeout=None, retries=None, pool_size=None, selector=None, broker=None))]
    fn new(
        py: Python<'_>,
        registry: Option<String>,
        content_type: Option<String>,
        request_timeout: Option<f64>,
        retries: Option<i64>,
        pool_size: Option<i64>,
        selector: Option<String>,
        broker: Option<String>,
    ) -> PyResult<Self> {
        let mut b = CoreClient::builder();
        if let Some(ct) = content_type {
            b = b.content_type(ct);
        }
        if let Some(t) = dur(request_timeout, "request_timeout")? {
            b = b.request_timeout(t);
        }
        if let Some(r) = count(retries, "retries", u32::MAX)? {
            b = b.retries(r);
        }
        if let Some(p) = count(pool_size, "pool_size", usize::MAX)? {
            b = b.pool_size(p);
        }
        if let Some(s) = selector {
            b = b.strategy(strategy(&s)?);
        }
        if let Some(url) = registry {
            b = b.registry_url(url);
        }
        if let Some(url) = broker {
            b = b.broker_url(url);
        }
        let client = bridge::block(py, async move { b.build().await.map_err(to_py) })?;
        Ok(Client { client, pid: crate::bridge::pid(), closed: AtomicBool::new(false) })
    }

    /// Closes the client: later calls, streams and publishes raise `ClosedError` (calls
    /// already in flight finish; streams already open stay open). Idempotent.
    fn close(&self) -> PyResult<()> {
        check_pid(self.pid)?;
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Publishes `body` on `topic` (go-micro's `client.Publish`); resolves once the broker
    /// took the message.
    #[pyo3(signature = (topic, body, *, content_type=None, metadata=None))]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        topic: String,
        body: Vec<u8>,
        content_type: Option<String>,
        metadata: Option<HashMap<String, String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.live()?.clone();
        let opts = publish_options(&topic, content_type, metadata)?;
        bridge::spawn(py, async move {
            client.publish(&topic, Bytes::from(body), &opts).await.map_err(to_py)?;
            Ok(conv(()))
        })
    }

    /// `publish`, blocking the calling thread with the GIL released.
    #[pyo3(signature = (topic, body, *, content_type=None, metadata=None))]
    fn publish_blocking(
        &self,
        py: Python<'_>,
        topic: String,
        body: Vec<u8>,
        content_type: Option<String>,
        metadata: Option<HashMap<String, String>>,
    ) -> PyResult<()> {
        let client = self.live()?.clone();
        let opts = publish_options(&topic, content_type, metadata)?;
        bridge::block(py, async move { client.publish(&topic, Bytes::from(body), &opts).await.map_err(to_py) })
    }

    /// Calls `service`'s `endpoint`; resolves to `(body, content_type, header, node)`, or with
    /// `whole=False` to `(body, content_type)`: no header dict nor node is built for a caller
    /// that reads neither, and a plain JSON reply comes read, as `(value, None)`.
    #[pyo3(signature = (service, endpoint, body, *, content_type=None, timeout=None, request_timeout=None, retries=None, retry_timeouts=false, metadata=None, address=None, whole=true))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        service: String,
        endpoint: String,
        body: Vec<u8>,
        content_type: Option<String>,
        timeout: Option<f64>,
        request_timeout: Option<f64>,
        retries: Option<i64>,
        retry_timeouts: bool,
        metadata: Option<HashMap<String, String>>,
        address: Option<Vec<String>>,
        whole: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.live()?.clone();
        check_names(&service, &endpoint)?;
        let opts = call_options(content_type, timeout, request_timeout, retries, retry_timeouts, metadata, address)?;
        let how = how(&client);
        let call = async move {
            // Boxed: the call's state (3.4 KB) is then written once, not copied with every
            // move of the future on its way into a task.
            let r = Box::pin(client.call(&service, &endpoint, Bytes::from(body), &opts)).await.map_err(to_py)?;
            Ok(reply_conv(r, whole))
        };
        bridge::spawn_with(py, call, how)
    }

    /// `call`, blocking the calling thread with the GIL released (Ctrl-C interrupts it).
    #[pyo3(signature = (service, endpoint, body, *, content_type=None, timeout=None, request_timeout=None, retries=None, retry_timeouts=false, metadata=None, address=None, whole=true))]
    fn call_blocking(
        &self,
        py: Python<'_>,
        service: String,
        endpoint: String,
        body: Vec<u8>,
        content_type: Option<String>,
        timeout: Option<f64>,
        request_timeout: Option<f64>,
        retries: Option<i64>,
        retry_timeouts: bool,
        metadata: Option<HashMap<String, String>>,
        address: Option<Vec<String>>,
        whole: bool,
    ) -> PyResult<Py<PyAny>> {
        let client = self.live()?.clone();
        check_names(&service, &endpoint)?;
        let opts = call_options(content_type, timeout, request_timeout, retries, retry_timeouts, metadata, address)?;
        let here = client.drives_on_any_thread();
        let call =
            async move { Box::pin(client.call(&service, &endpoint, Bytes::from(body), &opts)).await.map_err(to_py) };
        let r = bridge::block_with(py, call, here)?;
        reply_conv(r, whole)(py)
    }

    /// The common call in one crossing, its arguments positional: `body` a `dict`, a `list`
    /// or `None`, written as JSON here; `address` one address or `None`; `traceparent` sent
    /// as the `Traceparent` header when not `None`. Gives `(future, canceller)`: the future
    /// resolves as `call(..., whole=False)`; the caller calls `canceller.abort()` when its
    /// await of it ends with an exception (a cancellation). `None`, calling nothing, when
    /// `body` is anything else: Python then takes `call`.
    #[pyo3(signature = (service, endpoint, body, address, traceparent, /))]
    fn call_value<'py>(
        &self,
        py: Python<'py>,
        service: String,
        endpoint: String,
        body: &Bound<'py, PyAny>,
        address: Option<String>,
        traceparent: Option<String>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some((client, body, opts)) = self.plain_call(&service, &endpoint, body, address, traceparent)? else {
            return Ok(None);
        };
        let how = how(&client);
        let call = async move {
            let r = Box::pin(client.call(&service, &endpoint, body, &opts)).await.map_err(to_py)?;
            Ok(reply_conv(r, false))
        };
        bridge::spawn_abortable(py, call, how).map(|t| Some(t.into_any()))
    }

    /// `call_value`, blocking the calling thread with the GIL released (Ctrl-C interrupts
    /// it): `(value, None)` or `(body, content_type)`, or `None` as `call_value`.
    #[pyo3(signature = (service, endpoint, body, address, traceparent, /))]
    fn call_value_blocking(
        &self,
        py: Python<'_>,
        service: String,
        endpoint: String,
        body: &Bound<'_, PyAny>,
        address: Option<String>,
        traceparent: Option<String>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let Some((client, body, opts)) = self.plain_call(&service, &endpoint, body, address, traceparent)? else {
            return Ok(None);
        };
        let here = client.drives_on_any_thread();
        let call = async move { Box::pin(client.call(&service, &endpoint, body, &opts)).await.map_err(to_py) };
        let r = bridge::block_with(py, call, here)?;
        reply_conv(r, false)(py).map(Some)
    }

    /// Opens a bidirectional stream (awaitable resolving to a `ClientStream`).
    #[pyo3(signature = (service, endpoint, *, content_type=None, metadata=None, address=None))]
    fn stream<'py>(
        &self,
        py: Python<'py>,
        service: String,
        endpoint: String,
        content_type: Option<String>,
        metadata: Option<HashMap<String, String>>,
        address: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.live()?.clone();
        check_names(&service, &endpoint)?;
        let opts = call_options(content_type, None, None, None, false, metadata, address)?;
        let pid = self.pid;
        bridge::spawn(py, async move {
            let s = client.stream(&service, &endpoint, &opts).await.map_err(to_py)?;
            let cs = ClientStream::new(s, pid);
            Ok(Box::new(move |py: Python<'_>| Ok(Py::new(py, cs)?.into_any())) as Conv)
        })
    }
}

/// An open bidirectional stream.
///
/// Finished states raise `ClosedError`: `send` after `close_send`, after the server ended
/// the stream or after `close`; `recv`/`close_send` after `close` (a `recv` pending when
/// `close` is called too). `recv` after the server's end keeps returning `None`.
#[pyclass(module = "micro._native")]
pub struct ClientStream {
    tx: Arc<AsyncMutex<Option<StreamSendHalf>>>,
    rx: Arc<AsyncMutex<Option<StreamRecvHalf>>>,
    state: Arc<StreamState>,
    node: String,
    pid: u32,
}

/// What a stream has been through, shared with its tasks.
struct StreamState {
    /// `close_send` was called.
    send_closed: AtomicBool,
    /// The server ended the stream (EOS, an error, a lost connection).
    ended: AtomicBool,
    /// `close` was called: wakes a pending `recv`.
    closed: watch::Sender<bool>,
}

impl ClientStream {
    fn new(s: micro::client::ClientStream, pid: u32) -> Self {
        let node = s.node().to_string();
        let (tx, rx) = s.split();
        ClientStream {
            tx: Arc::new(AsyncMutex::new(Some(tx))),
            rx: Arc::new(AsyncMutex::new(Some(rx))),
            state: Arc::new(StreamState {
                send_closed: AtomicBool::new(false),
                ended: AtomicBool::new(false),
                closed: watch::Sender::new(false),
            }),
            node,
            pid,
        }
    }

    fn is_closed(&self) -> bool {
        *self.state.closed.borrow()
    }
}

/// The `ClosedError` of a closed stream to `node` (also raised from the stream's tasks).
fn stream_closed(node: &str) -> PyErr {
    closed(format!("the stream to {node} is closed"))
}

#[pymethods]
impl ClientStream {
    /// The id of the node serving the stream.
    #[getter]
    fn node(&self) -> &str {
        &self.node
    }

    /// Sends one message (awaitable).
    fn send<'py>(&self, py: Python<'py>, body: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        if self.is_closed() {
            return Err(stream_closed(&self.node));
        }
        if self.state.send_closed.load(Ordering::Acquire) {
            return Err(closed(format!("send after close_send on the stream to {}", self.node)));
        }
        if self.state.ended.load(Ordering::Acquire) {
            return Err(closed(format!("the server ended the stream to {}", self.node)));
        }
        let tx = Arc::clone(&self.tx);
        let node = self.node.clone();
        bridge::spawn(py, async move {
            match tx.lock().await.as_mut() {
                Some(t) => t.send(body).await.map_err(to_py)?,
                None => return Err(stream_closed(&node)),
            }
            Ok(conv(()))
        })
    }

    /// The next message, or `None` once the server ended the stream (awaitable).
    fn recv<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        if self.is_closed() {
            return Err(stream_closed(&self.node));
        }
        let rx = Arc::clone(&self.rx);
        let state = Arc::clone(&self.state);
        let node = self.node.clone();
        bridge::spawn(py, async move {
            let gone = || stream_closed(&node);
            let mut closing = state.closed.subscribe();
            let mut guard = tokio::select! {
                g = rx.lock() => g,
                _ = closing.wait_for(|c| *c) => return Err(gone()),
            };
            let Some(r) = guard.as_mut() else { return Err(gone()) };
            let got = tokio::select! {
                got = r.recv() => got,
                _ = closing.wait_for(|c| *c) => return Err(gone()),
            };
            match got {
                Ok(Some(b)) => Ok(Box::new(move |py: Python<'_>| Ok(PyBytes::new(py, &b).into_any().unbind())) as Conv),
                Ok(None) => {
                    state.ended.store(true, Ordering::Release);
                    Ok(conv(None::<Vec<u8>>))
                }
                Err(e) => {
                    state.ended.store(true, Ordering::Release);
                    Err(to_py(e))
                }
            }
        })
    }

    /// Sends the client's EOS; receiving continues (awaitable). Idempotent.
    fn close_send<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        if self.is_closed() {
            return Err(stream_closed(&self.node));
        }
        self.state.send_closed.store(true, Ordering::Release);
        let tx = Arc::clone(&self.tx);
        bridge::spawn(py, async move {
            if let Some(t) = tx.lock().await.as_mut() {
                t.close_send().await.map_err(to_py)?;
            }
            Ok(conv(()))
        })
    }

    /// Closes the stream (awaitable): sends the client's EOS if the stream is still open,
    /// then drops the connection, as go-micro's `Close` does. Idempotent.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let first = !self.state.closed.send_replace(true);
        let tx = Arc::clone(&self.tx);
        let rx = Arc::clone(&self.rx);
        let state = Arc::clone(&self.state);
        bridge::spawn(py, async move {
            if first {
                if let Some(mut t) = tx.lock().await.take() {
                    if !state.ended.load(Ordering::Acquire) {
                        let _ = t.close_send().await;
                    }
                    drop(t);
                }
                rx.lock().await.take();
            }
            Ok(conv(()))
        })
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.is_closed()
    }
}

/// A registry opened by URL (`mdns`, `memory`).
#[pyclass(module = "micro._native")]
pub struct Registry {
    reg: Arc<dyn CoreRegistry>,
    pid: u32,
}

/// A registry object over the service's own registry (and its cache of remote nodes).
pub(crate) fn registry_from_service(reg: Arc<dyn CoreRegistry>, pid: u32) -> Registry {
    Registry { reg, pid }
}

#[pymethods]
impl Registry {
    /// Opens the registry `url` (default: `MICRO_REGISTRY`, else mDNS).
    #[new]
    #[pyo3(signature = (url=None))]
    fn new(py: Python<'_>, url: Option<String>) -> PyResult<Self> {
        let url = match url {
            Some(u) => u,
            None => Config::from_env().map_err(to_py)?.registry_url(),
        };
        let reg = bridge::block(py, async move { registry::from_url(&url).await.map_err(to_py) })?;
        Ok(Registry { reg, pid: crate::bridge::pid() })
    }

    /// Every instance of `name`, as go-micro's registry JSON (awaitable).
    fn get_service<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let reg = Arc::clone(&self.reg);
        bridge::spawn(py, async move {
            let s = reg.get_service(&name).await.map_err(to_py)?;
            Ok(conv(serde_json::to_string(&s).map_err(|e| err(500, e.to_string()))?))
        })
    }

    /// Every service known, as go-micro's registry JSON (awaitable).
    fn list_services<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        check_pid(self.pid)?;
        let reg = Arc::clone(&self.reg);
        bridge::spawn(py, async move {
            let s = reg.list_services().await.map_err(to_py)?;
            Ok(conv(serde_json::to_string(&s).map_err(|e| err(500, e.to_string()))?))
        })
    }
}
