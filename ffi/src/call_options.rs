//! `micro_call_options`: what one call may change of its client's defaults (timeout,
//! metadata headers, addresses, content type, retries, retrying timeouts). `call` and
//! `stream` copy it.

use crate::boundary::{arg_str, timeout_ms};
use crate::boundary::{set_option, set_str_option};
use crate::error::fail;
use crate::handle::{free_handle, new_handle};
use crate::headers::check_header_name;
use crate::status::{micro_status, MICRO_STATUS_INVALID_ARG};
use micro_core::CallOptions;
use std::ffi::c_char;

/// Per-call options; a builder owned by the caller (not thread-safe). Calls copy it, so it
/// may be freed or reused as soon as the call function returns.
pub struct micro_call_options {
    pub(crate) inner: CallOptions,
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

/// The call's whole budget in milliseconds (also sent as go-micro's `Timeout` header, unless
/// `micro_call_options_set_retry_timeouts` gave each attempt its own); 0 is invalid.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_timeout_ms(o: *mut micro_call_options, ms: u32) -> micro_status {
    set_option(
        o,
        || timeout_ms(ms),
        |o, d| {
            if !o.inner.retry_timeouts {
                o.inner.timeout = Some(d);
            }
            o.inner.request_timeout = Some(d);
        },
    )
}

/// Marks the call safe to repeat: an attempt with no answer within `attempt_timeout_ms` (sent
/// as its `Timeout` header) is re-sent, up to the retries and within the call's budget,
/// instead of failing the call with a 408. Only for endpoints safe to run twice; go-micro's
/// servers now and then read a request and never answer it. 0 is invalid.
#[no_mangle]
pub unsafe extern "C" fn micro_call_options_set_retry_timeouts(
    o: *mut micro_call_options,
    attempt_timeout_ms: u32,
) -> micro_status {
    set_option(
        o,
        || timeout_ms(attempt_timeout_ms),
        |o, d| {
            o.inner.timeout = Some(d);
            o.inner.retry_timeouts = true;
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
