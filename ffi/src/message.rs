//! `micro_message`: an RPC reply or a stream message — body, content type and headers, read
//! through views borrowed from it.

use crate::handle::{clone_handle, export, free_handle};
use crate::headers::{header_at, header_count, header_lookup, headers_from, Headers, Match};
use crate::status::micro_status;
use crate::view::{bytes_field, cstring, micro_bytes, micro_str, str_field};
use std::ffi::{c_char, CString};

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
    /// A handler's answer as a wrapper sees it (no headers: a handler answers with a body).
    pub(crate) fn from_response(body: bytes::Bytes, content_type: String) -> Self {
        micro_message { body, content_type: cstring(content_type), headers: Headers::new() }
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
