//! `micro_request`: an incoming call owned by the handler (or handler wrapper) that
//! received it, read through views and answered exactly once, from any thread
//! (`micro_request_respond*`). In a wrapper it can also be changed and passed on
//! (`micro_request_next`).

use crate::boundary::{arg, arg_bytes, arg_mut, arg_str, boundary};
use crate::error::{core_fail, fail, micro_error};
use crate::handle::{export, free_handle, reclaim};
use crate::headers::{header_lookup, headers_from, set_header, Headers, Match};
use crate::message::micro_message;
use crate::runtime::Rt;
use crate::status::{
    micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_NULL_ARG,
};
use crate::unwind::guard;
use crate::view::{bytes_field, cstring, micro_bytes, micro_str, str_field};
use micro_core::host::HostRequest;
use micro_core::wrapper::HandlerNext;
use micro_core::Response;
use std::ffi::{c_char, CString};
use std::sync::Weak;

/// An incoming call, owned by the handler that received it. Read it with the accessors
/// (views borrowed from the request) and answer exactly once with `micro_request_respond`
/// or `micro_request_respond_error` — from any thread, before or after the handler returns;
/// both consume the request. `micro_request_free` releases it unanswered (the caller gets a
/// 500).
pub struct micro_request {
    req: HostRequest,
    service: CString,
    endpoint: CString,
    content_type: CString,
    headers: Headers,
    response_content_type: Option<String>,
    /// In a handler wrapper: the rest of the chain, until `micro_request_next` runs it.
    next: Option<(HandlerNext, Weak<Rt>)>,
}

impl micro_request {
    /// The C form of an incoming call (its strings and headers copied out once).
    pub(crate) fn new(req: HostRequest) -> Self {
        let r = req.request();
        micro_request {
            service: cstring(r.service.clone()),
            endpoint: cstring(r.endpoint.clone()),
            content_type: cstring(r.content_type.clone()),
            headers: headers_from(r.header.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            response_content_type: None,
            next: None,
            req,
        }
    }

    /// The call as a handler wrapper gets it: `next` runs the rest of the chain.
    pub(crate) fn wrapped(req: HostRequest, next: HandlerNext, rt: Weak<Rt>) -> Self {
        micro_request { next: Some((next, rt)), ..Self::new(req) }
    }
}

/// The service the caller addressed, borrowed from `r`.
#[no_mangle]
pub unsafe extern "C" fn micro_request_service(r: *const micro_request) -> micro_str {
    str_field(r, |r| &r.service)
}

/// The endpoint (`"Greeter.Hello"`), borrowed from `r`.
#[no_mangle]
pub unsafe extern "C" fn micro_request_endpoint(r: *const micro_request) -> micro_str {
    str_field(r, |r| &r.endpoint)
}

/// The body's content type, borrowed from `r`.
#[no_mangle]
pub unsafe extern "C" fn micro_request_content_type(r: *const micro_request) -> micro_str {
    str_field(r, |r| &r.content_type)
}

/// The body, borrowed from `r`.
#[no_mangle]
pub unsafe extern "C" fn micro_request_body(r: *const micro_request) -> micro_bytes {
    bytes_field(r, |r| &r.req.request().body)
}

/// Looks a request header (go-micro metadata) up by name, case-insensitively; `true` and
/// `*value_out` (borrowed from `r`) when found.
#[no_mangle]
pub unsafe extern "C" fn micro_request_header(
    r: *const micro_request,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(r, |r| &r.headers, key, value_out, Match::AnyCase)
}

/// Whether the server stopped waiting for this answer (an answer would be discarded).
#[no_mangle]
pub unsafe extern "C" fn micro_request_is_cancelled(r: *const micro_request) -> bool {
    guard(true, || r.as_ref().map_or(true, |r| r.req.is_cancelled()))
}

/// Content type of the response (default: the request's).
#[no_mangle]
pub unsafe extern "C" fn micro_request_set_response_content_type(
    r: *mut micro_request,
    ct: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let ct = arg_str(ct, "content_type")?;
        arg_mut(r, "request")?.response_content_type = Some(ct);
        Ok(())
    })
}

/// Answers with `body` and releases `r` — always, even when `body` is invalid (the caller
/// then gets a 500). `MICRO_STATUS_CLOSED` if nobody waits for the answer any more.
#[no_mangle]
pub unsafe extern "C" fn micro_request_respond(r: *mut micro_request, body: micro_bytes) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = reclaim(r).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "request is NULL"))?;
        let body = arg_bytes(body, "body")?;
        let r = *r;
        if r.req.respond(Ok(Response { body, content_type: r.response_content_type })) {
            Ok(())
        } else {
            Err(fail(MICRO_STATUS_CLOSED, "the caller is gone"))
        }
    })
}

/// Answers with a go-micro error (`code` such as 400, 404, 500; `detail` text; the id is
/// the service name) and releases `r` — always, even when `code` or `detail` is invalid
/// (NULL, not UTF-8: the caller then gets a 500).
#[no_mangle]
pub unsafe extern "C" fn micro_request_respond_error(
    r: *mut micro_request,
    code: i32,
    detail: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = reclaim(r).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "request is NULL"))?;
        let detail = arg_str(detail, "detail")?;
        if !(100..=599).contains(&code) {
            return Err(fail(MICRO_STATUS_INVALID_ARG, format!("code {code} is not in 100..=599")));
        }
        let id = r.req.request().service.clone();
        if r.req.respond(Err(micro_core::Error::new(id, detail, code))) {
            Ok(())
        } else {
            Err(fail(MICRO_STATUS_CLOSED, "the caller is gone"))
        }
    })
}

/// Answers with go-micro error `code` (e.g. 502 or 503) for a failed downstream call, its
/// detail keeping `cause` as go-micro's JSON — `downstream call failed: {"id":…,"code":404,…}`
/// — so the caller can tell it from this service's own 404; the id is the service name.
/// Releases `r` — always (with `cause` NULL the caller gets a 500). Passing `cause`'s own code
/// on instead (`micro_request_respond_error(r, micro_error_code(e), …)`) is go-micro's default.
#[no_mangle]
pub unsafe extern "C" fn micro_request_respond_wrapped(
    r: *mut micro_request,
    code: i32,
    cause: *const micro_error,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = reclaim(r).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "request is NULL"))?;
        let cause = arg(cause, "cause")?;
        if !(100..=599).contains(&code) {
            return Err(fail(MICRO_STATUS_INVALID_ARG, format!("code {code} is not in 100..=599")));
        }
        let id = r.req.request().service.clone();
        let detail = format!("downstream call failed: {}", cause.to_core().to_json());
        if r.req.respond(Err(micro_core::Error::new(id, detail, code))) {
            Ok(())
        } else {
            Err(fail(MICRO_STATUS_CLOSED, "the caller is gone"))
        }
    })
}

/// In a handler wrapper (`micro_server_wrap`): replaces the body the rest of the chain gets.
#[no_mangle]
pub unsafe extern "C" fn micro_request_set_body(r: *mut micro_request, body: micro_bytes) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = arg_mut(r, "request")?;
        r.req.request_mut().body = arg_bytes(body, "body")?;
        Ok(())
    })
}

/// In a handler wrapper (`micro_server_wrap`): sets header `key` (a token: letters, digits,
/// `-`, `_`) to `value` for the rest of the chain, replacing one of the same name in any case.
#[no_mangle]
pub unsafe extern "C" fn micro_request_set_header(
    r: *mut micro_request,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = arg_mut(r, "request")?;
        set_header(&mut r.req.request_mut().header, key, value)?;
        r.headers = headers_from(r.req.request().header.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(())
    })
}

/// In a handler wrapper (`micro_server_wrap`): runs the rest of the chain — the next
/// wrapper, then the handler — on the request as it now is (see `micro_request_set_body`,
/// `micro_request_set_header`) and waits for its answer: `MICRO_STATUS_OK` with the reply in
/// `*reply_out` (release with `micro_message_free`; its content type becomes this request's
/// response content type unless one was set), or the handler's error in `*err` (status
/// `MICRO_STATUS_REMOTE`; pass it on with `micro_request_fail`). Either way `r` is still the
/// wrapper's to answer — with the reply's body, a changed one, or an error. Runs once per
/// request (`MICRO_STATUS_ILLEGAL_STATE` again, and in a plain handler); blocks only this
/// dispatch thread.
#[no_mangle]
pub unsafe extern "C" fn micro_request_next(
    r: *mut micro_request,
    reply_out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let r = arg_mut(r, "request")?;
        let out = arg_mut(reply_out, "reply_out")?;
        let (next, rt) = r.next.take().ok_or_else(|| {
            fail(MICRO_STATUS_ILLEGAL_STATE, "micro_request_next: not in a handler wrapper, or already called")
        })?;
        let rt = rt.upgrade().ok_or_else(|| fail(MICRO_STATUS_CLOSED, "the runtime is gone"))?;
        let request = r.req.request().clone();
        let content_type = request.content_type.clone();
        let resp = rt.block_on(next.run(request))?.map_err(core_fail)?;
        let ct = resp.content_type.unwrap_or(content_type);
        r.response_content_type.get_or_insert_with(|| ct.clone());
        *out = export(micro_message::from_response(resp.body, ct));
        Ok(())
    })
}

/// Answers with error `e` as it is (id, code, detail: e.g. the error `micro_request_next`
/// gave a wrapper) and releases `r` — always (with `e` NULL the caller gets a 500).
#[no_mangle]
pub unsafe extern "C" fn micro_request_fail(r: *mut micro_request, e: *const micro_error) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let r = reclaim(r).ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "request is NULL"))?;
        let e = arg(e, "error")?;
        if r.req.respond(Err(e.to_core())) {
            Ok(())
        } else {
            Err(fail(MICRO_STATUS_CLOSED, "the caller is gone"))
        }
    })
}

/// Releases a request without answering (the caller gets a 500); NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_request_free(r: *mut micro_request) {
    free_handle(r)
}
