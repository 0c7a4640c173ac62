//! `micro_event`: a delivered pub/sub message (topic, headers, body), and `micro_event_fn`,
//! the callback broker subscriptions and server subscribers deliver it to.

use crate::handle::{clone_handle, free_handle};
use crate::headers::{header_at, header_count, header_lookup, headers_from, Headers, Match};
use crate::status::micro_status;
use crate::view::{bytes_field, cstring, micro_bytes, micro_str, str_field};
use micro_core::broker::Event;
use std::ffi::{c_char, c_void, CString};

/// A delivered message: its topic, headers and body. Owned when returned by
/// `micro_subscription_next` (release with `micro_event_free`), borrowed when given to a
/// callback (for the duration of the callback).
#[derive(Clone)]
pub struct micro_event {
    topic: CString,
    body: bytes::Bytes,
    headers: Headers,
}

impl micro_event {
    /// The C form of a core broker event.
    pub(crate) fn from_core(e: Event) -> Self {
        micro_event { topic: cstring(e.topic), body: e.message.body, headers: headers_from(e.message.header) }
    }
}

/// The topic the message came on, borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_event_topic(e: *const micro_event) -> micro_str {
    str_field(e, |e| &e.topic)
}

/// The body, byte for byte, borrowed from `e`; empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_event_body(e: *const micro_event) -> micro_bytes {
    bytes_field(e, |e| &e.body)
}

/// Number of headers (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn micro_event_header_count(e: *const micro_event) -> usize {
    header_count(e, |e| &e.headers)
}

/// Header `i` (0-based, sorted by name, keys exactly as the publisher wrote them); views
/// borrowed from `e`.
#[no_mangle]
pub unsafe extern "C" fn micro_event_header_at(
    e: *const micro_event,
    i: usize,
    key_out: *mut micro_str,
    value_out: *mut micro_str,
) -> micro_status {
    header_at(e, "event", |e| &e.headers, i, key_out, value_out)
}

/// Looks a header up by name (exact match first, then case-insensitive); `true` and
/// `*value_out` (borrowed from `e`) when found.
#[no_mangle]
pub unsafe extern "C" fn micro_event_header(
    e: *const micro_event,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(e, |e| &e.headers, key, value_out, Match::ExactFirst)
}

/// A copy of `e` owned by the caller (NULL for NULL); release with `micro_event_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_event_clone(e: *const micro_event) -> *mut micro_event {
    clone_handle(e)
}

/// Releases an event; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_event_free(e: *mut micro_event) {
    free_handle(e)
}

/// A subscription callback: receives each message, borrowed for the call. Runs on a dispatch
/// thread; the messages of one subscription arrive one at a time, in the order the broker
/// delivered them. May call into the library, including unsubscribing its own subscription.
pub type micro_event_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const micro_event)>;
