//! Wrappers from C (go-micro's `WrapHandler` and `WrapClient`): C callbacks that run around
//! a server's unary handlers (`micro_server_wrap`) and around a client's calls
//! (`micro_client_wrap`), on dispatch threads like handlers. A wrapper gets the call as a
//! handle it owns, may change it, answer it itself (a short-circuit), or run the rest of the
//! chain (`micro_request_next`, `micro_call_next`) and then answer with what came back or
//! with something else. The chain is core's (`micro::wrapper`): C wrappers and the shipped
//! ones (metrics, traces, access log) share one order, the first added outermost.

use crate::boundary::{arg, arg_bytes, arg_mut, arg_str, boundary};
use crate::callback::micro_free_fn;
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error};
use crate::handle::{export, free_handle, reclaim};
use crate::headers::{header_lookup, headers_from, set_header, Headers, Match};
use crate::message::micro_message;
use crate::request::micro_request;
use crate::runtime::Rt;
use crate::server::{micro_handler_fn, micro_server, HandlerCtx};
use crate::status::{micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_NULL_ARG};
use crate::unwind::guard;
use crate::view::{bytes_field, cstring, micro_bytes, micro_str, str_field};
use micro_core::error::{Error, Result, SERVER_ID};
use micro_core::host::HostRequest;
use micro_core::server::{BoxFuture, Request, Response};
use micro_core::wrapper::{Call, CallNext, HandlerNext};
use micro_core::Reply;
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Weak};
use tokio::sync::oneshot;

/// What every C wrapper does with one call or message: on a dispatch thread, `make` builds
/// the handle (given the runtime, for its `_next`) and the wrapper `ctx` gets it to own; then
/// the answer arrives on `answer` — sent by the handle when the wrapper answers it, or by its
/// drop. `gone` makes the error when the runtime or the answer is gone (`why` says which).
async fn hand_over<H: 'static, T>(
    rt: Weak<Rt>,
    ctx: Arc<HandlerCtx<unsafe extern "C" fn(*mut c_void, *mut H)>>,
    make: impl FnOnce(Weak<Rt>) -> H + Send + 'static,
    answer: oneshot::Receiver<Result<T>>,
    gone: impl Fn(&str) -> Error,
) -> Result<T> {
    let Some(live) = rt.upgrade() else { return Err(gone("the runtime is gone")) };
    let job = Box::new(move || {
        let handle = make(rt);
        // SAFETY: `ctx.f` is the non-NULL wrapper registered with `ud`; the handle is a fresh
        // one the wrapper now owns.
        unsafe { (ctx.f)(ctx.ud.0, export(handle)) };
    });
    // With no dispatch thread left the job is dropped, and with it the handle's sender.
    let _ = live.dispatch(job);
    drop(live);
    answer.await.unwrap_or_else(|_| Err(gone("the wrapper went away without answering")))
}

/// Wraps every unary handler of `s` (not its streams) with `wrapper`: it receives each call
/// as a `micro_request` it owns, exactly as a handler does, and answers it with
/// `micro_request_respond*` or `micro_request_fail` — after running the rest of the chain
/// with `micro_request_next`, or without (a short-circuit: the handler never runs). It may
/// change the request first (`micro_request_set_body`, `micro_request_set_header`). A
/// wrapper that releases the request unanswered (`micro_request_free`) fails that call only,
/// with a 500. Wrappers run in the order added, the first outermost, on calls that arrive
/// after this returns. `userdata_free` (may be NULL) runs once with `userdata` when the
/// server is gone; on error the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_server_wrap(
    s: *mut micro_server,
    wrapper: micro_handler_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let s = arg(s, "server")?;
        let f = wrapper.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "wrapper is NULL"))?;
        s.rt.check()?;
        let ctx = HandlerCtx::new(f, userdata, userdata_free, &s.rt);
        let rt = Arc::downgrade(&s.rt);
        s.server.wrap(Arc::new(move |req: Request, next: HandlerNext| -> BoxFuture<Result<Response>> {
            let ctx = Arc::clone(&ctx);
            let rt = rt.clone();
            let (service, endpoint) = (req.service.clone(), req.endpoint.clone());
            let (req, answer) = HostRequest::new(req);
            // With no dispatch thread left the job (and its request) is dropped: a 500.
            Box::pin(hand_over(
                rt,
                ctx,
                move |rt| micro_request::wrapped(req, next, rt),
                answer,
                move |why| Error::internal(service.clone(), format!("{endpoint}: {why}")),
            ))
        }));
        Ok(())
    })
}

/// A client call as a client wrapper sees it (`micro_client_wrap`), owned by the wrapper
/// until answered: read it with the accessors (views borrowed from it), change it
/// (`micro_call_set_body`, `micro_call_set_header`), run the rest of the chain
/// (`micro_call_next`), and answer exactly once with `micro_call_respond`,
/// `micro_call_respond_error` or `micro_call_fail` — which release it. Released unanswered
/// (`micro_call_free`), the caller gets a 500.
pub struct micro_call {
    call: Call,
    service: CString,
    endpoint: CString,
    headers: Headers,
    /// The client's content type, for a reply the wrapper makes itself.
    default_content_type: Arc<str>,
    next: Option<(CallNext, Weak<Rt>)>,
    answer: Option<oneshot::Sender<Result<Reply>>>,
}

impl micro_call {
    fn answer(mut self: Box<Self>, outcome: Result<Reply>) -> bool {
        self.answer.take().is_some_and(|tx| tx.send(outcome).is_ok())
    }
}

impl Drop for micro_call {
    fn drop(&mut self) {
        if let Some(tx) = self.answer.take() {
            let detail = format!("{}: the client wrapper went away without answering", self.call.endpoint);
            let _ = tx.send(Err(Error::internal("go.micro.client", detail)));
        }
    }
}

/// A client wrapper: receives `call`, which it owns (see `micro_call`). Runs on a dispatch
/// thread; may block (only its dispatch thread waits) and may call into the library.
pub type micro_call_wrapper_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, call: *mut micro_call)>;

/// Wraps every call of `c` (go-micro's `client.Wrap`): `wrapper` sees the whole call,
/// retries included, as a `micro_call` it owns, on a dispatch thread — also when the call
/// was made with `micro_client_call_sync` from your thread. Wrappers run in the order added,
/// the first outermost, on calls made after this returns. `userdata_free` (may be NULL) runs
/// once with `userdata` when the client and its calls are gone; on error the hook is not
/// kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_client_wrap(
    c: *mut micro_client,
    wrapper: micro_call_wrapper_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = arg(c, "client")?;
        let f = wrapper.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "wrapper is NULL"))?;
        c.rt.check()?;
        let ctx = HandlerCtx::new(f, userdata, userdata_free, &c.rt);
        let rt = Arc::downgrade(&c.rt);
        let default_content_type: Arc<str> = c.client.options().content_type.as_str().into();
        c.client.wrap(Arc::new(move |call: Call, next: CallNext| -> BoxFuture<Result<Reply>> {
            let ctx = Arc::clone(&ctx);
            let rt = rt.clone();
            let default_content_type = Arc::clone(&default_content_type);
            let (tx, answer) = oneshot::channel();
            let make = move |rt| micro_call {
                service: cstring(call.service.clone()),
                endpoint: cstring(call.endpoint.clone()),
                headers: headers_from(call.options.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                call,
                default_content_type,
                next: Some((next, rt)),
                answer: Some(tx),
            };
            Box::pin(hand_over(rt, ctx, make, answer, |why| {
                Error::internal("go.micro.client", format!("client wrapper: {why}"))
            }))
        }));
        Ok(())
    })
}

/// The service called, borrowed from `c`.
#[no_mangle]
pub unsafe extern "C" fn micro_call_service(c: *const micro_call) -> micro_str {
    str_field(c, |c| &c.service)
}

/// The endpoint called (`"Greeter.Hello"`), borrowed from `c`.
#[no_mangle]
pub unsafe extern "C" fn micro_call_endpoint(c: *const micro_call) -> micro_str {
    str_field(c, |c| &c.endpoint)
}

/// The request body, borrowed from `c`.
#[no_mangle]
pub unsafe extern "C" fn micro_call_body(c: *const micro_call) -> micro_bytes {
    bytes_field(c, |c| &c.call.body)
}

/// Looks a metadata entry (sent as a header) up by name, case-insensitively; `true` and
/// `*value_out` (borrowed from `c`) when found.
#[no_mangle]
pub unsafe extern "C" fn micro_call_header(
    c: *const micro_call,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(c, |c| &c.headers, key, value_out, Match::AnyCase)
}

/// Replaces the body the rest of the chain sends.
#[no_mangle]
pub unsafe extern "C" fn micro_call_set_body(c: *mut micro_call, body: micro_bytes) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = arg_mut(c, "call")?;
        c.call.body = arg_bytes(body, "body")?;
        Ok(())
    })
}

/// Sets metadata `key` (a token: letters, digits, `-`, `_`) to `value` for the rest of the
/// chain, replacing an entry of the same name in any case; it is sent as a header.
#[no_mangle]
pub unsafe extern "C" fn micro_call_set_header(
    c: *mut micro_call,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = arg_mut(c, "call")?;
        set_header(&mut c.call.options.metadata, key, value)?;
        c.headers = headers_from(c.call.options.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(())
    })
}

/// Runs the rest of the chain — the next wrapper, then the call itself — on the call as it
/// now is, and waits: `MICRO_STATUS_OK` with the reply in `*reply_out` (release with
/// `micro_message_free`), or the call's error in `*err`. Either way `c` is still the
/// wrapper's to answer. Once per call (`MICRO_STATUS_ILLEGAL_STATE` again); blocks only this
/// dispatch thread.
#[no_mangle]
pub unsafe extern "C" fn micro_call_next(
    c: *mut micro_call,
    reply_out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let c = arg_mut(c, "call")?;
        let out = arg_mut(reply_out, "reply_out")?;
        let (next, rt) =
            c.next.take().ok_or_else(|| fail(MICRO_STATUS_ILLEGAL_STATE, "micro_call_next: already called"))?;
        let rt = rt.upgrade().ok_or_else(|| fail(MICRO_STATUS_CLOSED, "the runtime is gone"))?;
        let reply = rt.block_on(next.run(c.call.clone()))?.map_err(core_fail)?;
        *out = export(micro_message::from_reply(reply));
        Ok(())
    })
}

/// Answers the call with a reply of `body` (content type: the call's) and releases `c` —
/// always, even when `body` is invalid (the caller then gets a 500). `MICRO_STATUS_CLOSED`
/// if the caller stopped waiting.
#[no_mangle]
pub unsafe extern "C" fn micro_call_respond(c: *mut micro_call, body: micro_bytes) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = reclaim(c).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "call is NULL"))?;
        let body = arg_bytes(body, "body")?;
        let reply = Reply {
            body,
            content_type: c.call.options.content_type.clone().unwrap_or_else(|| c.default_content_type.to_string()),
            header: Default::default(),
            node: String::new(),
        };
        answered(c.answer(Ok(reply)))
    })
}

/// Answers the call with a go-micro error (`code` in 100..=599, `detail` text, id
/// `go.micro.client`) and releases `c` — always (with invalid arguments the caller gets a 500).
#[no_mangle]
pub unsafe extern "C" fn micro_call_respond_error(
    c: *mut micro_call,
    code: i32,
    detail: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = reclaim(c).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "call is NULL"))?;
        let detail = arg_str(detail, "detail")?;
        if !(100..=599).contains(&code) {
            return Err(fail(crate::status::MICRO_STATUS_INVALID_ARG, format!("code {code} is not in 100..=599")));
        }
        answered(c.answer(Err(Error::new("go.micro.client", detail, code))))
    })
}

/// Answers the call with error `e` as it is (e.g. the one `micro_call_next` gave) and
/// releases `c` — always (with `e` NULL the caller gets a 500).
#[no_mangle]
pub unsafe extern "C" fn micro_call_fail(c: *mut micro_call, e: *const micro_error) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = reclaim(c).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "call is NULL"))?;
        let e = arg(e, "error")?;
        answered(c.answer(Err(e.to_core())))
    })
}

/// Releases a call without answering (the caller gets a 500); NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_call_free(c: *mut micro_call) {
    free_handle(c)
}

/// Whether the caller stopped waiting for this call's answer (an answer would be discarded).
#[no_mangle]
pub unsafe extern "C" fn micro_call_is_cancelled(c: *const micro_call) -> bool {
    guard(true, || c.as_ref().map_or(true, |c| c.answer.as_ref().map_or(true, |tx| tx.is_closed())))
}

fn answered(delivered: bool) -> crate::error::FfiResult<()> {
    if delivered {
        Ok(())
    } else {
        Err(fail(MICRO_STATUS_CLOSED, "the caller is gone"))
    }
}

/// A message as a subscriber wrapper sees it (`micro_server_wrap_subscriber`), owned by the
/// wrapper: read it through `micro_delivery_event`, change it (`micro_delivery_set_body`,
/// `micro_delivery_set_header`), pass it on with `micro_delivery_next` — or not, which drops
/// it (acknowledged, as handled) — and release it with `micro_delivery_free`, or with
/// `micro_delivery_fail` to fail the delivery.
pub struct micro_delivery {
    event: micro_core::broker::Event,
    view: crate::event::micro_event,
    next: Option<(micro_core::wrapper::SubscriberNext, Weak<Rt>)>,
    outcome: Result<()>,
    done: Option<oneshot::Sender<Result<()>>>,
}

impl micro_delivery {
    fn finish(&mut self, outcome: Result<()>) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(outcome);
        }
    }
}

impl Drop for micro_delivery {
    fn drop(&mut self) {
        let outcome = std::mem::replace(&mut self.outcome, Ok(()));
        self.finish(outcome);
    }
}

/// A subscriber wrapper: receives `delivery`, which it owns (see `micro_delivery`). Runs on a
/// dispatch thread; may block and may call into the library.
pub type micro_subscriber_wrapper_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, delivery: *mut micro_delivery)>;

/// Wraps every subscriber of `s` (go-micro's `WrapSubscriber`), on either path a message
/// arrives by (its broker, or the RPC transport with a `Micro-Topic` header): `wrapper` gets
/// each message as a `micro_delivery` it owns, on a dispatch thread. Add wrappers before
/// `micro_server_start` (`MICRO_STATUS_ILLEGAL_STATE` afterwards); the first added is the
/// outermost. For C subscribers `micro_delivery_next` returns once the message is queued for
/// the subscriber callback (their delivery is asynchronous, see `micro_server_subscribe`).
/// `userdata_free` (may be NULL) runs once with `userdata` when the server is gone; on error
/// the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_server_wrap_subscriber(
    s: *mut micro_server,
    wrapper: micro_subscriber_wrapper_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    use micro_core::broker::Event;
    use micro_core::wrapper::SubscriberNext;
    boundary(std::ptr::null_mut(), || {
        let s = arg(s, "server")?;
        let f = wrapper.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "wrapper is NULL"))?;
        s.rt.check()?;
        if s.server.bound().is_some() {
            return Err(fail(
                MICRO_STATUS_ILLEGAL_STATE,
                "the server is started: add subscriber wrappers before micro_server_start",
            ));
        }
        let ctx = HandlerCtx::new(f, userdata, userdata_free, &s.rt);
        let rt = Arc::downgrade(&s.rt);
        s.server.wrap_subscriber(Arc::new(move |event: Event, next: SubscriberNext| -> BoxFuture<Result<()>> {
            let ctx = Arc::clone(&ctx);
            let rt = rt.clone();
            let (tx, answer) = oneshot::channel();
            let make = move |rt| micro_delivery {
                view: crate::event::micro_event::from_core(event.clone()),
                event,
                next: Some((next, rt)),
                outcome: Ok(()),
                done: Some(tx),
            };
            Box::pin(hand_over(rt, ctx, make, answer, |why| {
                Error::internal(SERVER_ID, format!("subscriber wrapper: {why}"))
            }))
        }));
        Ok(())
    })
}

/// The message as it now is (topic, headers, body: read it with the `micro_event_*`
/// accessors), borrowed from `d` until it is changed or released; NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_event(d: *const micro_delivery) -> *const crate::event::micro_event {
    guard(std::ptr::null(), || d.as_ref().map_or(std::ptr::null(), |d| &d.view as *const _))
}

/// Replaces the body the rest of the chain gets (views from `micro_delivery_event` end).
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_set_body(d: *mut micro_delivery, body: micro_bytes) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let d = arg_mut(d, "delivery")?;
        d.event.message.body = arg_bytes(body, "body")?;
        d.view = crate::event::micro_event::from_core(d.event.clone());
        Ok(())
    })
}

/// Sets header `key` (a token) to `value` for the rest of the chain, replacing one of the
/// same name in any case (views from `micro_delivery_event` end).
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_set_header(
    d: *mut micro_delivery,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let d = arg_mut(d, "delivery")?;
        set_header(&mut d.event.message.header, key, value)?;
        d.view = crate::event::micro_event::from_core(d.event.clone());
        Ok(())
    })
}

/// Passes the message on to the rest of the chain — the next wrapper, then the subscriber —
/// and waits for it: `MICRO_STATUS_OK`, or the subscriber's failure in `*err` (which the
/// delivery's outcome then is, unless the wrapper fails it otherwise). Once per message
/// (`MICRO_STATUS_ILLEGAL_STATE` again); blocks only this dispatch thread.
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_next(d: *mut micro_delivery, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let d = arg_mut(d, "delivery")?;
        let (next, rt) =
            d.next.take().ok_or_else(|| fail(MICRO_STATUS_ILLEGAL_STATE, "micro_delivery_next: already called"))?;
        let rt = rt.upgrade().ok_or_else(|| fail(MICRO_STATUS_CLOSED, "the runtime is gone"))?;
        let outcome = rt.block_on(next.run(d.event.clone()))?;
        d.outcome = outcome.clone();
        outcome.map_err(core_fail)
    })
}

/// Fails the delivery with `detail` (a 500 from the server's id, logged as a subscriber's
/// failure; returned to the sender on the RPC transport path) and releases `d` — always
/// (with `detail` NULL or not UTF-8 the failure says so instead).
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_fail(d: *mut micro_delivery, detail: *const c_char) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let mut d = reclaim(d).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "delivery is NULL"))?;
        match arg_str(detail, "detail") {
            Ok(detail) => {
                d.outcome = Err(Error::internal(SERVER_ID, detail));
                Ok(())
            }
            Err(e) => {
                d.outcome = Err(Error::internal(SERVER_ID, "the subscriber wrapper failed the delivery"));
                Err(e)
            }
        }
    })
}

/// Releases a delivery: its outcome is `micro_delivery_next`'s, or — when the message was not
/// passed on — handled (dropped). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_delivery_free(d: *mut micro_delivery) {
    free_handle(d)
}
