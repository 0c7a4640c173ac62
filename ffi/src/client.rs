//! Registry, client, calls (sync, async, cancellable), messages and client streams.

use crate::headers::*;
use crate::runtime::{Rt, SendPtr};
use crate::*;
use micro_core::host::CancellationToken;
use micro_core::registry::Registry;
use micro_core::selector::Strategy;
use micro_core::{CallOptions, Client, ClientOptions, ClientStream};
use std::ffi::c_void;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A registry chosen by name or URL (`"mdns"`, `"memory"`, `"etcd"`). Thread-safe. Note that
/// each `memory` registry is its own private world: share the handle between the server and
/// the client that should see each other.
pub struct micro_registry {
    pub(crate) rt: Arc<Rt>,
    pub(crate) reg: Arc<dyn Registry>,
}

/// Opens the registry named by `url`, as go-micro's `MICRO_REGISTRY` names them:
///  - `"mdns"` (or `""`): multicast DNS on the local network, go-micro's default;
///  - `"memory"`: a private in-process registry (share the handle between the server and
///    the client that should see each other);
///  - `"etcd"` (`127.0.0.1:2379`) or `"etcd://HOST:PORT[,HOST:PORT…]"`: etcd v3 in go-micro
///    v5's key layout (`/micro/registry/…`), interoperable with go-micro's `registry/etcd`.
///
/// Any other name (e.g. `"consul"`) is `MICRO_STATUS_INVALID_ARG`, with the known names in
/// the error detail. Release with `micro_registry_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_new(
    rt: *mut micro_runtime,
    url: *const c_char,
    out: *mut *mut micro_registry,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let url = arg_str(url, "url")?;
        let out = arg_mut(out, "out")?;
        let reg = rt.block_on(micro_core::registry::from_url(&url))?.map_err(core_fail)?;
        *out = export(micro_registry { rt, reg });
        Ok(())
    })
}

/// The registry's view of service `name` as go-micro's JSON (an array of versions, each with
/// its nodes and endpoints), in a new buffer owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_get_service_json(
    reg: *mut micro_registry,
    name: *const c_char,
    out: *mut *mut micro_buf,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let reg = arg(reg, "registry")?;
        let name = arg_str(name, "name")?;
        let out = arg_mut(out, "out")?;
        let services = reg.rt.block_on(reg.reg.get_service(&name))?.map_err(core_fail)?;
        let json = serde_json_vec(&services)?;
        *out = new_buf(json);
        Ok(())
    })
}

fn serde_json_vec(v: &[micro_core::registry::Service]) -> R<Vec<u8>> {
    // The core's data model serializes exactly as go-micro's JSON.
    serde_json::to_vec(v).map_err(|e| fail(MICRO_STATUS_CODEC, e.to_string()))
}

/// Releases a registry handle; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_free(reg: *mut micro_registry) {
    free_handle(reg)
}

/// Client options; a builder owned by the caller (not thread-safe).
pub struct micro_client_options {
    inner: ClientOptions,
}

/// New client options with go-micro's defaults (JSON, 5 retries, 5 s per attempt, 30 s per call).
#[no_mangle]
pub extern "C" fn micro_client_options_new() -> *mut micro_client_options {
    new_handle(|| micro_client_options { inner: ClientOptions::default() })
}

/// Releases client options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_free(o: *mut micro_client_options) {
    free_handle(o)
}

/// Default content type of requests (e.g. `"application/json"`).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_content_type(
    o: *mut micro_client_options,
    ct: *const c_char,
) -> micro_status {
    set_str_option(o, ct, "content_type", |o, ct| o.inner.content_type = ct)
}

/// Default budget of a whole call, in milliseconds (also caps each attempt); 0 is invalid.
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_timeout_ms(o: *mut micro_client_options, ms: u32) -> micro_status {
    set_option(
        o,
        || timeout_ms(ms),
        |o, d| {
            o.inner.request_timeout = d;
            o.inner.conn_timeout = o.inner.conn_timeout.min(d);
        },
    )
}

/// Extra attempts after the first (go-micro: 5).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_retries(o: *mut micro_client_options, n: u32) -> micro_status {
    set_option(o, || Ok(n), |o, n| o.inner.retries = n)
}

/// `micro_client_options_set_selector`: a uniformly random node on every attempt
/// (go-micro's default).
pub const MICRO_SELECTOR_RANDOM: i32 = 0;
/// `micro_client_options_set_selector`: each node of the service in turn.
pub const MICRO_SELECTOR_ROUND_ROBIN: i32 = 1;

/// How the client picks a node among a service's nodes (go-micro's selector strategy):
/// `MICRO_SELECTOR_RANDOM` (the default) or `MICRO_SELECTOR_ROUND_ROBIN`. Any other value
/// is `MICRO_STATUS_INVALID_ARG` and leaves the options unchanged. As with the other client
/// options, `micro_client_new` does not read `MICRO_SELECTOR` (a `micro_service`'s client does).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_selector(
    o: *mut micro_client_options,
    strategy: i32,
) -> micro_status {
    let input = || {
        match strategy {
        MICRO_SELECTOR_RANDOM => Ok(Strategy::Random),
        MICRO_SELECTOR_ROUND_ROBIN => Ok(Strategy::RoundRobin),
        other => Err(fail(
            MICRO_STATUS_INVALID_ARG,
            format!("selector strategy {other} is not valid: expected MICRO_SELECTOR_RANDOM (0) or MICRO_SELECTOR_ROUND_ROBIN (1)"),
        )),
    }
    };
    set_option(o, input, |o, s| o.inner.strategy = s)
}

/// An RPC client. Thread-safe: any number of threads may call through one client.
pub struct micro_client {
    pub(crate) rt: Arc<Rt>,
    pub(crate) client: Client,
}

/// A client that finds services in `reg`. `options` may be NULL (defaults).
#[no_mangle]
pub unsafe extern "C" fn micro_client_new(
    rt: *mut micro_runtime,
    reg: *mut micro_registry,
    options: *const micro_client_options,
    out: *mut *mut micro_client,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let reg = arg(reg, "registry")?;
        let out = arg_mut(out, "out")?;
        rt.check()?;
        let opts = options.as_ref().map(|o| o.inner.clone()).unwrap_or_default();
        let client = {
            let _g = rt.handle.enter();
            Client::new(Arc::clone(&reg.reg), opts)
        };
        *out = export(micro_client { rt, client });
        Ok(())
    })
}

/// Releases a client; calls in flight still complete. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_client_free(c: *mut micro_client) {
    free_handle(c)
}

/// Per-call options; a builder owned by the caller (not thread-safe). Calls copy it, so it
/// may be freed or reused as soon as the call function returns.
pub struct micro_call_options {
    inner: CallOptions,
}

/// New, empty call options (the client's defaults apply).
#[no_mangle]
pub extern "C" fn micro_call_options_new() -> *mut micro_call_options {
    new_handle(|| micro_call_options { inner: CallOptions::default() })
}

/// Releases call options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_free(o: *mut micro_call_options) {
    free_handle(o)
}

/// The call's whole budget in milliseconds (also sent as go-micro's `Timeout` header); 0 is invalid.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_timeout_ms(o: *mut micro_call_options, ms: u32) -> micro_status {
    set_option(
        o,
        || timeout_ms(ms),
        |o, d| {
            o.inner.timeout = Some(d);
            o.inner.request_timeout = Some(d);
        },
    )
}

/// Adds a metadata header (go-micro context metadata) sent with the call.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_header(
    o: *mut micro_call_options,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    let input = || {
        let (key, value) = (arg_str(key, "key")?, arg_str(value, "value")?);
        check_header_name(&key)?;
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(fail(MICRO_STATUS_INVALID_ARG, "header value contains CR or LF"));
        }
        Ok((key, value))
    };
    set_option(o, input, |o, (k, v)| {
        o.inner.metadata.insert(k, v);
    })
}

/// Calls this `host:port` directly instead of asking the registry (may be repeated).
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_add_address(
    o: *mut micro_call_options,
    address: *const c_char,
) -> micro_status {
    set_str_option(o, address, "address", |o, a| o.inner.address.push(a))
}

/// The request's content type (e.g. `"application/protobuf"`).
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_content_type(
    o: *mut micro_call_options,
    ct: *const c_char,
) -> micro_status {
    set_str_option(o, ct, "content_type", |o, ct| o.inner.content_type = Some(ct))
}

/// Extra attempts after the first for this call.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_retries(o: *mut micro_call_options, n: u32) -> micro_status {
    set_option(o, || Ok(n), |o, n| o.inner.retries = Some(n))
}

/// A cancellation token; thread-safe. Triggering it cancels every call it was given to.
pub struct micro_cancel {
    token: CancellationToken,
}

/// A new, untriggered cancellation token.
#[no_mangle]
pub extern "C" fn micro_cancel_new() -> *mut micro_cancel {
    new_handle(|| micro_cancel { token: CancellationToken::new() })
}

/// Cancels the calls using this token (their callbacks fire with `MICRO_STATUS_CANCELLED`).
#[no_mangle]
pub unsafe extern "C" fn micro_cancel_trigger(c: *const micro_cancel) {
    guard((), || {
        if let Some(c) = c.as_ref() {
            c.token.cancel()
        }
    })
}

/// Releases a token (calls keep their own reference); NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_cancel_free(c: *mut micro_cancel) {
    free_handle(c)
}

/// A message: an RPC reply (or a stream message). Read with the accessors; views are
/// borrowed from the message. Owned when returned through an out-param (release with
/// `micro_message_free`), borrowed when given to a callback.
#[derive(Clone)]
pub struct micro_message {
    body: bytes::Bytes,
    content_type: CString,
    headers: Headers,
}

impl micro_message {
    pub(crate) fn from_reply(r: micro_core::Reply) -> Self {
        micro_message { body: r.body, content_type: cstring(r.content_type), headers: headers_from(r.header) }
    }
    pub(crate) fn from_body(body: bytes::Bytes) -> Self {
        micro_message { body, content_type: CString::default(), headers: Headers::new() }
    }

    /// A stream message handed to C, or NULL for the end of the stream.
    pub(crate) fn export_or_null(body: Option<bytes::Bytes>) -> *mut Self {
        body.map_or(std::ptr::null_mut(), |b| export(Self::from_body(b)))
    }
}

/// The message body, borrowed from `m`; empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_message_body(m: *const micro_message) -> micro_bytes {
    bytes_field(m, |m| &m.body)
}

/// The body's content type, borrowed from `m`; `""` for NULL or unknown.
#[no_mangle]
pub unsafe extern "C" fn micro_message_content_type(m: *const micro_message) -> micro_str {
    str_field(m, |m| &m.content_type)
}

/// Number of headers on the message (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn micro_message_header_count(m: *const micro_message) -> usize {
    header_count(m, |m| &m.headers)
}

/// Header `i` (0-based, sorted by name); views borrowed from `m`.
#[no_mangle]
pub unsafe extern "C" fn micro_message_header_at(
    m: *const micro_message,
    i: usize,
    key_out: *mut micro_str,
    value_out: *mut micro_str,
) -> micro_status {
    header_at(m, "message", |m| &m.headers, i, key_out, value_out)
}

/// Looks a header up by name (case-insensitive); `true` and `*value_out` set when found.
#[no_mangle]
pub unsafe extern "C" fn micro_message_header(
    m: *const micro_message,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(m, |m| &m.headers, key, value_out, Match::AnyCase)
}

/// A copy of `m` owned by the caller (NULL for NULL).
#[no_mangle]
pub unsafe extern "C" fn micro_message_clone(m: *const micro_message) -> *mut micro_message {
    clone_handle(m)
}

/// Releases a message; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_message_free(m: *mut micro_message) {
    free_handle(m)
}

/// Completion of an asynchronous call: `status` is `MICRO_STATUS_OK` with `response` set,
/// or an error status with `error` set. Both are borrowed for the duration of the callback
/// (`micro_message_clone`/`micro_error_clone` to keep them). Runs on a dispatch thread;
/// may call back into the library.
pub type micro_call_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        status: micro_status,
        response: *const micro_message,
        error: *const micro_error,
    ),
>;

/// Delivers an async call's outcome exactly once: by `finish`, or — if the call's future is
/// dropped (runtime shutdown) — as CANCELLED when dropped.
struct Completion {
    rt: Arc<Rt>,
    cb: Option<(unsafe extern "C" fn(*mut c_void, micro_status, *const micro_message, *const micro_error), SendPtr)>,
}

impl Completion {
    fn finish(mut self, outcome: R<micro_message>) {
        if let Some(cb) = self.cb.take() {
            deliver(&self.rt, cb, outcome);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(cb) = self.cb.take() {
            deliver(&self.rt, cb, Err(fail(MICRO_STATUS_CANCELLED, "the runtime shut down before the call completed")));
        }
    }
}

type CallCb = (unsafe extern "C" fn(*mut c_void, micro_status, *const micro_message, *const micro_error), SendPtr);

fn deliver(rt: &Rt, (f, ud): CallCb, outcome: R<micro_message>) {
    let job = Box::new(move || {
        let ud = ud;
        match outcome {
            // SAFETY: `f` is the non-NULL completion callback given with `ud`; the message
            // (or error) outlives the call, which borrows it.
            Ok(m) => unsafe { f(ud.0, MICRO_STATUS_OK, &m, std::ptr::null()) },
            // SAFETY: as above, with the error borrowed instead.
            Err(e) => unsafe { f(ud.0, e.status, std::ptr::null(), &*e) },
        }
    });
    // With no dispatch thread left the callback runs here: it still fires exactly once.
    rt.dispatch_or_run(job);
}

struct CallArgs {
    service: String,
    endpoint: String,
    body: bytes::Bytes,
    opts: CallOptions,
}

unsafe fn call_args(
    service: *const c_char,
    endpoint: *const c_char,
    body: micro_bytes,
    options: *const micro_call_options,
) -> R<CallArgs> {
    Ok(CallArgs {
        service: arg_str(service, "service")?,
        endpoint: arg_str(endpoint, "endpoint")?,
        body: arg_bytes(body, "body")?,
        opts: options.as_ref().map(|o| o.inner.clone()).unwrap_or_default(),
    })
}

/// Calls `service`'s `endpoint` with `body` and returns at once; `callback` fires exactly
/// once on a dispatch thread with the outcome — unless this function returns an error, in
/// which case it never fires. `options` and `cancel` may be NULL; both are copied/referenced
/// internally, so they may be freed as soon as this returns. `userdata` must stay valid
/// until the callback has run.
#[no_mangle]
pub unsafe extern "C" fn micro_client_call(
    c: *mut micro_client,
    service: *const c_char,
    endpoint: *const c_char,
    body: micro_bytes,
    options: *const micro_call_options,
    cancel: *const micro_cancel,
    callback: micro_call_fn,
    userdata: *mut c_void,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = arg(c, "client")?;
        let args = call_args(service, endpoint, body, options)?;
        let f = callback.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "callback is NULL"))?;
        c.rt.check()?;
        let token = cancel.as_ref().map(|c| c.token.clone());
        let done = Completion { rt: Arc::clone(&c.rt), cb: Some((f, SendPtr(userdata))) };
        let client = c.client.clone();
        c.rt.handle.spawn(async move {
            let call = client.call(&args.service, &args.endpoint, args.body, &args.opts);
            let outcome = match token {
                Some(t) => micro_core::host::cancellable(&t, call).await,
                None => Some(call.await),
            };
            done.finish(match outcome {
                None => Err(fail(MICRO_STATUS_CANCELLED, "the call was cancelled")),
                Some(Ok(reply)) => Ok(micro_message::from_reply(reply)),
                Some(Err(e)) => Err(core_fail(e)),
            });
        });
        Ok(())
    })
}

/// Calls `service`'s `endpoint` with `body` and waits for the reply, which `*response_out`
/// then owns (release with `micro_message_free`). `options` may be NULL. May be called from
/// any thread, including from a callback.
#[no_mangle]
pub unsafe extern "C" fn micro_client_call_sync(
    c: *mut micro_client,
    service: *const c_char,
    endpoint: *const c_char,
    body: micro_bytes,
    options: *const micro_call_options,
    response_out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let c = arg(c, "client")?;
        let args = call_args(service, endpoint, body, options)?;
        let out = arg_mut(response_out, "response_out")?;
        let reply =
            c.rt.block_on(c.client.call(&args.service, &args.endpoint, args.body, &args.opts))?.map_err(core_fail)?;
        *out = export(micro_message::from_reply(reply));
        Ok(())
    })
}

/// A bidirectional client stream (go-micro `client.Stream`). Its functions block; use one
/// thread for sending and one for receiving, or one thread for both.
pub struct micro_stream {
    rt: Arc<Rt>,
    send: tokio::sync::Mutex<Option<micro_core::client::StreamSendHalf>>,
    recv: tokio::sync::Mutex<Option<micro_core::client::StreamRecvHalf>>,
    _pin: Mutex<()>,
}

/// Opens a stream to `service`'s `endpoint`. `options` may be NULL. Release with
/// `micro_stream_free` (which closes it).
#[no_mangle]
pub unsafe extern "C" fn micro_client_stream(
    c: *mut micro_client,
    service: *const c_char,
    endpoint: *const c_char,
    options: *const micro_call_options,
    out: *mut *mut micro_stream,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let c = arg(c, "client")?;
        let service = arg_str(service, "service")?;
        let endpoint = arg_str(endpoint, "endpoint")?;
        let out = arg_mut(out, "out")?;
        let opts = options.as_ref().map(|o| o.inner.clone()).unwrap_or_default();
        let s: ClientStream = c.rt.block_on(c.client.stream(&service, &endpoint, &opts))?.map_err(core_fail)?;
        let (tx, rx) = s.split();
        *out = export(micro_stream {
            rt: Arc::clone(&c.rt),
            send: tokio::sync::Mutex::new(Some(tx)),
            recv: tokio::sync::Mutex::new(Some(rx)),
            _pin: Mutex::new(()),
        });
        Ok(())
    })
}

/// Sends one message on the stream.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_send(
    s: *mut micro_stream,
    body: micro_bytes,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let body = arg_bytes(body, "body")?;
        s.rt.block_on(async {
            match s.send.lock().await.as_mut() {
                Some(tx) => tx.send(body).await.map_err(core_fail),
                None => Err(fail(MICRO_STATUS_CLOSED, "the sending side is closed")),
            }
        })?
    })
}

/// Tells the server nothing more will be sent (go-micro's end of stream).
#[no_mangle]
pub unsafe extern "C" fn micro_stream_close_send(s: *mut micro_stream, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        s.rt.block_on(async {
            match s.send.lock().await.take() {
                Some(mut tx) => tx.close_send().await.map_err(core_fail),
                None => Ok(()),
            }
        })?
    })
}

/// Receives the next message, waiting at most `timeout_ms` (0 = no limit). On success
/// `*out` owns the message, or is NULL when the server ended the stream.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_recv(
    s: *mut micro_stream,
    timeout_ms: u32,
    out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let out = arg_mut(out, "out")?;
        let got = s.rt.block_on(async {
            let mut guard = s.recv.lock().await;
            let Some(rx) = guard.as_mut() else { return Ok(None) };
            within(timeout_ms, rx.recv()).await?.map_err(core_fail)
        })??;
        *out = micro_message::export_or_null(got);
        Ok(())
    })
}

/// Waits for a stream message at most `timeout_ms` (0 = no limit).
pub(crate) async fn within<T>(timeout_ms: u32, fut: impl std::future::Future<Output = T>) -> R<T> {
    if timeout_ms == 0 {
        return Ok(fut.await);
    }
    tokio::time::timeout(Duration::from_millis(u64::from(timeout_ms)), fut)
        .await
        .map_err(|_| fail(MICRO_STATUS_TIMEOUT, "no stream message within the timeout"))
}

/// Closes and releases a stream; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_free(s: *mut micro_stream) {
    free_in_runtime(s, |s| Arc::clone(&s.rt))
}
