//! `micro_status`: the result code every fallible export returns, its frozen numbering and
//! its names. The bottom of the crate: `error` carries a status, `boundary` returns one.

use std::ffi::{c_char, CStr};

/// Result of every fallible call. Numbering is frozen; new codes are only appended.
pub type micro_status = i32;

/// Success.
pub const MICRO_STATUS_OK: micro_status = 0;
/// A required pointer argument was NULL.
pub const MICRO_STATUS_NULL_ARG: micro_status = 1;
/// An argument was out of range or malformed.
pub const MICRO_STATUS_INVALID_ARG: micro_status = 2;
/// A string argument was not valid UTF-8 (the error detail names it); the call had no
/// other effect.
pub const MICRO_STATUS_INVALID_UTF8: micro_status = 3;
/// The service or endpoint was not found.
pub const MICRO_STATUS_NOT_FOUND: micro_status = 4;
/// The call timed out.
pub const MICRO_STATUS_TIMEOUT: micro_status = 5;
/// The call was cancelled (by a `micro_cancel` or by runtime shutdown).
pub const MICRO_STATUS_CANCELLED: micro_status = 6;
/// No node could be reached.
pub const MICRO_STATUS_UNAVAILABLE: micro_status = 7;
/// The remote side answered with a go-micro error (see `micro_error_code`).
pub const MICRO_STATUS_REMOTE: micro_status = 8;
/// A body could not be encoded or decoded.
pub const MICRO_STATUS_CODEC: micro_status = 9;
/// The object (or its runtime) is shut down or closed.
pub const MICRO_STATUS_CLOSED: micro_status = 10;
/// The call is not allowed here (e.g. shutting a runtime down from one of its threads).
pub const MICRO_STATUS_ILLEGAL_STATE: micro_status = 11;
/// The runtime was created in another process (before a `fork`).
pub const MICRO_STATUS_FORKED: micro_status = 12;
/// A message was over the size limit (go-micro code 413).
pub const MICRO_STATUS_TOO_LARGE: micro_status = 13;
/// A bug inside the library was caught at the boundary.
pub const MICRO_STATUS_PANIC: micro_status = 99;
/// Any other internal failure.
pub const MICRO_STATUS_INTERNAL: micro_status = 100;
/// The name of a status as Rust text (`"TIMEOUT"` …), the `micro_error` status text of a
/// local error.
pub(crate) fn micro_status_str(s: micro_status) -> &'static str {
    match s {
        MICRO_STATUS_OK => "OK",
        MICRO_STATUS_NULL_ARG => "NULL_ARG",
        MICRO_STATUS_INVALID_ARG => "INVALID_ARG",
        MICRO_STATUS_INVALID_UTF8 => "INVALID_UTF8",
        MICRO_STATUS_NOT_FOUND => "NOT_FOUND",
        MICRO_STATUS_TIMEOUT => "TIMEOUT",
        MICRO_STATUS_CANCELLED => "CANCELLED",
        MICRO_STATUS_UNAVAILABLE => "UNAVAILABLE",
        MICRO_STATUS_REMOTE => "REMOTE",
        MICRO_STATUS_CODEC => "CODEC",
        MICRO_STATUS_CLOSED => "CLOSED",
        MICRO_STATUS_ILLEGAL_STATE => "ILLEGAL_STATE",
        MICRO_STATUS_FORKED => "FORKED",
        MICRO_STATUS_TOO_LARGE => "TOO_LARGE",
        MICRO_STATUS_PANIC => "PANIC",
        MICRO_STATUS_INTERNAL => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// The name of a status (`"TIMEOUT"` …), a static string; `"UNKNOWN"` for other values.
#[no_mangle]
pub extern "C" fn micro_status_name(status: micro_status) -> *const c_char {
    static NAMES: &[&CStr] = &[
        c"OK",
        c"NULL_ARG",
        c"INVALID_ARG",
        c"INVALID_UTF8",
        c"NOT_FOUND",
        c"TIMEOUT",
        c"CANCELLED",
        c"UNAVAILABLE",
        c"REMOTE",
        c"CODEC",
        c"CLOSED",
        c"ILLEGAL_STATE",
        c"FORKED",
        c"TOO_LARGE",
    ];
    match status {
        0..=13 => NAMES[status as usize].as_ptr(),
        MICRO_STATUS_PANIC => c"PANIC".as_ptr(),
        MICRO_STATUS_INTERNAL => c"INTERNAL".as_ptr(),
        _ => c"UNKNOWN".as_ptr(),
    }
}
