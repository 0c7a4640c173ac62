//! `micro_server` and its options: an RPC server whose C handlers receive owned requests
//! (`request`) on dispatch threads, with subscribers on its broker. Stream endpoints are in
//! `server_stream`; the whole service in `service`.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::boundary::{set_option, set_str_option};
use crate::broker::{check_topic, micro_broker};
use crate::callback::{micro_free_fn, FreeHook, SendPtr};
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::event::micro_event_fn;
use crate::handle::{export, free_handle};
use crate::registry::micro_registry;
use crate::request::micro_request;
use crate::runtime::free_in_runtime;
use crate::runtime::{micro_runtime, Rt};
use crate::status::{micro_status, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_NULL_ARG};
use crate::subscription::{Callback, SubState};
use crate::unwind::guard;
use crate::view::{micro_buf, new_buf};
use micro_core::config::Config;
use micro_core::host::HostRequest;
use micro_core::{Server, ServerOptions};
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Server options; a builder owned by the caller (not thread-safe).
pub struct micro_server_options {
    inner: ServerOptions,
}

/// New server options for service `name` (listen `0.0.0.0:0`, version `latest`); NULL if
/// `name` is NULL or not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_new(name: *const c_char) -> *mut micro_server_options {
    guard(std::ptr::null_mut(), || match arg_str(name, "name") {
        Ok(n) if !n.is_empty() => export(micro_server_options { inner: ServerOptions::new(n) }),
        _ => std::ptr::null_mut(),
    })
}

/// Releases server options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_free(o: *mut micro_server_options) {
    free_handle(o)
}

/// Listen address, `host:port` (`"127.0.0.1:0"` for a free port on loopback).
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_set_address(
    o: *mut micro_server_options,
    address: *const c_char,
) -> micro_status {
    set_str_option(o, address, "address", |o, a| o.inner.address = a)
}

/// Version registered for the node (default `latest`).
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_set_version(
    o: *mut micro_server_options,
    version: *const c_char,
) -> micro_status {
    set_str_option(o, version, "version", |o, v| o.inner.version = v)
}

/// Adds node metadata registered with the node.
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_set_metadata(
    o: *mut micro_server_options,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    set_option(
        o,
        || Ok((arg_str(key, "key")?, arg_str(value, "value")?)),
        |o, (k, v)| {
            o.inner.metadata.insert(k, v);
        },
    )
}

/// How long `micro_server_stop` waits for calls in flight (default 10 s).
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_set_drain_timeout_ms(
    o: *mut micro_server_options,
    ms: u32,
) -> micro_status {
    set_option(o, || Ok(Duration::from_millis(u64::from(ms))), |o, d| o.inner.drain_timeout = d)
}

/// Lets at most `n` requests be handled at once; a request beyond it waits for a slot
/// within its caller's timeout (the caller gets a 408 when that passes first). A request
/// holds its slot until it is answered (`micro_request_respond*` or `micro_request_free`).
/// 0, the default, is no limit, as in go-micro. Streams are not counted.
#[no_mangle]
pub unsafe extern "C" fn micro_server_options_set_max_concurrency(
    o: *mut micro_server_options,
    n: u32,
) -> micro_status {
    set_option(o, || Ok((n > 0).then_some(n as usize)), |o, n| o.inner.max_concurrency = n)
}

/// An RPC server. Thread-safe.
pub struct micro_server {
    pub(crate) rt: Arc<Rt>,
    pub(crate) server: Server,
}

/// A server that registers in `reg` once started. Release with `micro_server_free`.
///
/// Its options come from `options`, except what a peer may hold, which has no setter: the
/// environment's `MICRO_SERVER_HEADER_TIMEOUT`, `MICRO_SERVER_IDLE_TIMEOUT`,
/// `MICRO_SERVER_BODY_TIMEOUT`, `MICRO_SERVER_BODY_MIN_RATE`, `MICRO_SERVER_MAX_CONNECTIONS`,
/// `MICRO_SERVER_MAX_STREAMS`, `MICRO_SERVER_MAX_CONN_STREAMS` and `MICRO_MAX_MESSAGE_SIZE`
/// (the library's defaults where unset; a malformed one is `MICRO_STATUS_INVALID_ARG` naming it).
#[no_mangle]
pub unsafe extern "C" fn micro_server_new(
    rt: *mut micro_runtime,
    reg: *mut micro_registry,
    options: *const micro_server_options,
    out: *mut *mut micro_server,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let reg = arg(reg, "registry")?;
        let mut opts = arg(options, "options")?.inner.clone();
        let out = arg_mut(out, "out")?;
        rt.check()?;
        // What a peer may hold has no setter here: it comes from the environment alone.
        Config::from_env().map_err(core_fail)?.apply_server_limits(&mut opts);
        let server = Server::new(opts, Arc::clone(&reg.reg));
        *out = export(micro_server { rt, server });
        Ok(())
    })
}

/// A handler: receives `request`, which it owns (see `micro_request`). Runs on a dispatch
/// thread; may block (only its dispatch thread waits) and may call into the library.
pub type micro_handler_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, request: *mut micro_request)>;

/// A handler's userdata; its free hook runs exactly once, when the last reference goes —
/// after the last callback, and never on an I/O thread while a dispatch thread is available.
pub(crate) struct HandlerCtx<F> {
    pub(crate) f: F,
    pub(crate) ud: SendPtr,
    hook: Option<FreeHook>,
    rt: Weak<Rt>,
}

impl<F> HandlerCtx<F> {
    pub(crate) fn new(f: F, ud: *mut c_void, ud_free: micro_free_fn, rt: &Arc<Rt>) -> Arc<Self> {
        Arc::new(HandlerCtx { f, ud: SendPtr(ud), hook: FreeHook::new(ud_free, ud), rt: Arc::downgrade(rt) })
    }
}

impl<F> Drop for HandlerCtx<F> {
    fn drop(&mut self) {
        if let Some(hook) = self.hook.take() {
            hook.release(&self.rt);
        }
    }
}

/// Checks a handler registration's arguments: the server, an endpoint `Handler.Method`
/// and a non-NULL handler.
pub(crate) unsafe fn handler_args<'a, F>(
    s: *mut micro_server,
    endpoint: *const c_char,
    handler: Option<F>,
) -> FfiResult<(&'a micro_server, String, F)> {
    let s = arg(s, "server")?;
    let endpoint = arg_str(endpoint, "endpoint")?;
    let f = handler.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "handler is NULL"))?;
    if endpoint.split('.').count() != 2 || endpoint.split('.').any(str::is_empty) {
        return Err(fail(MICRO_STATUS_INVALID_ARG, format!("endpoint {endpoint:?} is not Handler.Method")));
    }
    s.rt.check()?;
    Ok((s, endpoint, f))
}

/// Serves `endpoint` (`"Greeter.Hello"`) with `handler`. `userdata_free` (may be NULL) runs
/// exactly once with `userdata` after the last call of the handler, when the handler is
/// replaced or the server is gone. On error the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_server_handle(
    s: *mut micro_server,
    endpoint: *const c_char,
    handler: micro_handler_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let (s, endpoint, f) = handler_args(s, endpoint, handler)?;
        let ctx = HandlerCtx::new(f, userdata, userdata_free, &s.rt);
        let rt = Arc::downgrade(&s.rt);
        let h = micro_core::host::handler(move |req: HostRequest| {
            let Some(rt) = rt.upgrade() else { return };
            let ctx = Arc::clone(&ctx);
            let job = Box::new(move || {
                let request = micro_request::new(req);
                // SAFETY: `ctx.f` is the non-NULL handler registered with `ud`; the request
                // pointer is a fresh handle the handler now owns.
                unsafe { (ctx.f)(ctx.ud.0, export(request)) };
            });
            // When no dispatch thread is left the job (and its request) is dropped, which
            // answers the caller with a 500.
            let _ = rt.dispatch(job);
        });
        let _g = s.rt.handle.enter();
        s.server.handle(&endpoint, move |req| h(req));
        Ok(())
    })
}

/// Sets the broker the server's subscribers (`micro_server_subscribe`) use; a
/// `micro_service`'s server already has its service's broker. The server keeps its own
/// reference: `b` may be freed afterwards.
#[no_mangle]
pub unsafe extern "C" fn micro_server_set_broker(s: *mut micro_server, b: *mut micro_broker) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let s = arg(s, "server")?;
        let b = arg(b, "broker")?;
        s.rt.check()?;
        s.server.set_broker(Arc::clone(&b.broker));
        Ok(())
    })
}

/// Ends a server subscriber's deliveries when the server lets go of its handler (the
/// server is gone): the free hook then runs once, after the last callback.
struct SubscriberGuard(Arc<SubState>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Adds a subscriber to the server (go-micro's `RegisterSubscriber`): `callback` receives
/// every message published on `topic` (`queue` NULL), or — with a queue name — its group's
/// share (one member of the group gets each message). Add subscribers before
/// `micro_server_start` (`MICRO_STATUS_ILLEGAL_STATE` afterwards): the start subscribes them
/// on the server's broker (see `micro_server_set_broker`; `MICRO_STATUS_ILLEGAL_STATE`
/// without one) and registers each as a go-micro subscriber endpoint (`Func`, metadata
/// `subscriber=true`, `topic=<topic>`); `micro_server_stop` unsubscribes them. Messages sent
/// to the node's RPC transport with a `Micro-Topic` header arrive here too.
///
/// As with `micro_broker_subscribe`: messages (borrowed for the call) arrive on dispatch
/// threads, one at a time and in the order the broker delivered them; the callback may call
/// into the library. Delivery is asynchronous: the broker is told "delivered" once the
/// message is queued (up to 1024 wait, the library's inbox; beyond that the broker's next
/// delivery waits for room). `userdata_free` (may be NULL) runs exactly once with `userdata`, after the last
/// callback, when the server is gone (`micro_server_free` / `micro_service_free` of a stopped
/// server, or the runtime's shutdown); called from your thread, those wait for a callback in
/// progress to return. On error the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_server_subscribe(
    s: *mut micro_server,
    topic: *const c_char,
    queue: *const c_char,
    callback: micro_event_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "server")?;
        let topic = arg_str(topic, "topic")?;
        let queue = if queue.is_null() { None } else { Some(arg_str(queue, "queue")?) };
        let f = callback.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "callback is NULL"))?;
        check_topic(&topic, queue.as_deref())?;
        s.rt.check()?;
        if s.server.broker().is_none() {
            return Err(fail(
                MICRO_STATUS_ILLEGAL_STATE,
                "the server has no broker: use micro_server_set_broker, or a micro_service",
            ));
        }
        if s.server.bound().is_some() {
            return Err(fail(
                MICRO_STATUS_ILLEGAL_STATE,
                "the server is started: add subscribers before micro_server_start",
            ));
        }
        let hook = FreeHook::new(userdata_free, userdata);
        let guard = SubscriberGuard(SubState::new(Some(Callback { f, ud: SendPtr(userdata) }), hook, &s.rt));
        let opts = micro_core::broker::SubscribeOptions { queue };
        let _g = s.rt.handle.enter();
        s.server.subscribe(&topic, opts, move |ev| {
            let state = Arc::clone(&guard.0);
            state.deliver(ev)
        });
        Ok(())
    })
}

/// Starts listening and registers the node.
#[no_mangle]
pub unsafe extern "C" fn micro_server_start(s: *mut micro_server, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "server")?;
        s.rt.block_on(s.server.start())?.map_err(core_fail)
    })
}

/// Deregisters, unsubscribes its subscribers, stops accepting and drains calls in flight (up
/// to the drain timeout). Safe from inside a callback: the stop then runs in the background
/// (and this returns `MICRO_STATUS_OK` at once).
#[no_mangle]
pub unsafe extern "C" fn micro_server_stop(s: *mut micro_server, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "server")?;
        let server = s.server.clone();
        s.rt.stop("server", async move { server.stop().await })
    })
}

/// The address the server is registered with (`host:port`), in a new buffer the caller
/// owns; `MICRO_STATUS_ILLEGAL_STATE` before `micro_server_start`.
#[no_mangle]
pub unsafe extern "C" fn micro_server_address(
    s: *mut micro_server,
    out: *mut *mut micro_buf,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "server")?;
        let out = arg_mut(out, "out")?;
        let a = s.server.advertised().ok_or_else(|| fail(MICRO_STATUS_ILLEGAL_STATE, "the server is not started"))?;
        *out = new_buf(a.into_bytes());
        Ok(())
    })
}

/// Releases a server handle (stop it first to deregister cleanly). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_server_free(s: *mut micro_server) {
    free_in_runtime(s, |s| Arc::clone(&s.rt))
}
