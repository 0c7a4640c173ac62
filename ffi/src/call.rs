//! Unary calls through a `micro_client`: `micro_client_call` (its completion callback fires
//! exactly once, on a dispatch thread) and `micro_client_call_sync`. They take
//! `call_options` and a `cancel` token; replies are `message`s.

use crate::boundary::{arg, arg_bytes, arg_mut, arg_str, boundary};
use crate::call_options::micro_call_options;
use crate::callback::SendPtr;
use crate::cancel::micro_cancel;
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::export;
use crate::message::micro_message;
use crate::runtime::Rt;
use crate::status::{micro_status, MICRO_STATUS_CANCELLED, MICRO_STATUS_NULL_ARG, MICRO_STATUS_OK};
use crate::view::micro_bytes;
use micro_core::CallOptions;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

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
    fn finish(mut self, outcome: FfiResult<micro_message>) {
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

fn deliver(rt: &Rt, (f, ud): CallCb, outcome: FfiResult<micro_message>) {
    let job = Box::new(move || {
        let ud = ud;
        match outcome {
            // SAFETY: `f` is the non-NULL completion callback given with `ud`; the message
            // (or error) outlives the call, which borrows it.
            Ok(m) => unsafe { f(ud.0, MICRO_STATUS_OK, &m, std::ptr::null()) },
            // SAFETY: as above, with the error borrowed instead.
            Err(e) => unsafe { f(ud.0, e.status(), std::ptr::null(), &*e) },
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
) -> FfiResult<CallArgs> {
    Ok(CallArgs {
        service: arg_str(service, "service")?,
        endpoint: arg_str(endpoint, "endpoint")?,
        body: arg_bytes(body, "body")?,
        opts: options.as_ref().map(|o| o.inner.clone()).unwrap_or_default(),
    })
}

/// Calls `service`'s `endpoint` with `body` and returns once the request is under way
/// (written, when a pooled connection is at hand); `callback` fires exactly once on a
/// dispatch thread with the outcome — unless this function returns an error, in which case
/// it never fires. `options` and `cancel` may be NULL; both are copied/referenced
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
        let call = async move {
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
        };
        // Its first poll here, on the calling thread (yours, or a dispatch thread in a
        // callback): the request is written before this returns, where a spawned task woke an
        // I/O thread to write it; the call goes on as a task from its first wake-up
        // (`micro_core::host::start`). The callback still runs on a dispatch thread.
        micro_core::host::start::start(&c.rt.handle, call);
        Ok(())
    })
}

/// Calls `service`'s `endpoint` with `body` and waits for the reply, which `*response_out`
/// then owns (release with `micro_message_free`). `options` may be NULL. May be called from
/// any thread, including from a callback. Without client wrappers the call is driven on the
/// calling thread itself (a small runtime of that thread's own: two file descriptors and its
/// own pooled connections, released after the thread exits), so no library thread is woken
/// to hand the reply over.
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
        let call = c.client.call(&args.service, &args.endpoint, args.body, &args.opts);
        let reply = c.rt.block_here_if(c.client.drives_on_any_thread(), call)?.map_err(core_fail)?;
        *out = export(micro_message::from_reply(reply));
        Ok(())
    })
}
