//! The C ABI of micro (`libmicro.so`, `libmicro.a`, `include/micro.h`).
//!
//! Conventions (see the README's "C" section): opaque handles with `_new`/`_free`
//! (`_free(NULL)` is a no-op); every fallible function returns a `micro_status` and takes a
//! trailing `micro_error **err` that may be NULL and is written only on failure; out-params
//! are written only on success; inputs are copied before the function returns; `micro_str`
//! and `micro_bytes` results are borrowed views that live as long as their owner. Every
//! export checks its pointers for NULL and its strings for UTF-8 and runs inside one
//! panic boundary. Callbacks run on library-owned dispatch threads.
#![warn(missing_docs)]
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod client;
mod headers;
mod pubsub;
mod runtime;
mod server;
mod server_stream;

pub use client::*;
pub use pubsub::*;
pub use runtime::*;
pub use server::*;
pub use server_stream::*;

use micro_core::Error as CoreError;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Result of every fallible call. Numbering is frozen; new codes are only appended.
pub type micro_status = i32;
/// Success.
pub const MICRO_STATUS_OK: micro_status = 0;
/// A required pointer argument was NULL.
pub const MICRO_STATUS_NULL_ARG: micro_status = 1;
/// An argument was out of range or malformed.
pub const MICRO_STATUS_INVALID_ARG: micro_status = 2;
/// A string argument was not valid UTF-8.
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

/// The ABI version of this header; bumped on every incompatible change.
pub const MICRO_ABI_VERSION: u32 = 1;

/// A borrowed UTF-8 string view: `ptr` is NUL-terminated (`len` excludes the NUL), never
/// NULL (an empty string is `""`), and valid as long as the object it came from (for a
/// callback argument: for the duration of the callback). Never free it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct micro_str {
    /// The bytes, NUL-terminated.
    pub ptr: *const c_char,
    /// Length in bytes, without the NUL.
    pub len: usize,
}

/// A byte view. As an input, `ptr` may be NULL only if `len` is 0, and the bytes are copied
/// before the call returns. As an output, it is borrowed from its owner like `micro_str`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct micro_bytes {
    /// The bytes.
    pub ptr: *const u8,
    /// How many.
    pub len: usize,
}

/// A hook that releases callback userdata; runs exactly once, after the last callback.
pub type micro_free_fn = Option<unsafe extern "C" fn(userdata: *mut std::ffi::c_void)>;

/// An error: go-micro's `{id, code, detail, status}` plus the local `micro_status`.
/// Owned by whoever received it through `micro_error **err`; release with
/// `micro_error_free`. Errors handed to callbacks are borrowed for the callback.
#[derive(Clone)]
pub struct micro_error {
    status: micro_status,
    code: i32,
    id: CString,
    detail: CString,
    status_text: CString,
}

/// An owned byte buffer made by the library; read with `micro_buf_bytes`, release with
/// `micro_buf_free`.
pub struct micro_buf {
    data: Vec<u8>,
}

static EMPTY: &[u8; 1] = b"\0";

pub(crate) fn view(s: &CStr) -> micro_str {
    micro_str { ptr: s.as_ptr(), len: s.to_bytes().len() }
}

pub(crate) fn empty_str() -> micro_str {
    micro_str { ptr: EMPTY.as_ptr().cast(), len: 0 }
}

pub(crate) fn bytes_view(b: &[u8]) -> micro_bytes {
    micro_bytes { ptr: if b.is_empty() { EMPTY.as_ptr() } else { b.as_ptr() }, len: b.len() }
}

/// A C string from Rust text, with any interior NUL replaced (header values cannot hold one).
pub(crate) fn cstring(s: impl Into<Vec<u8>>) -> CString {
    let mut v: Vec<u8> = s.into();
    v.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b'?');
    CString::new(v).unwrap_or_default()
}

impl micro_error {
    pub(crate) fn new(status: micro_status, detail: impl Into<String>) -> Self {
        micro_error {
            status,
            code: 0,
            id: cstring("micro"),
            detail: cstring(detail.into()),
            status_text: cstring(micro_status_str(status)),
        }
    }

    pub(crate) fn from_core(e: &CoreError) -> Self {
        let status = if e.code == 408 || e.is_timeout() {
            MICRO_STATUS_TIMEOUT
        } else if e.code == 413 && e.id.starts_with("go.micro.") {
            MICRO_STATUS_TOO_LARGE
        } else if e.id == micro_core::broker::BROKER_ID && e.detail.contains("not found") {
            MICRO_STATUS_NOT_FOUND
        } else if e.id == micro_core::error::CODEC_ID {
            MICRO_STATUS_CODEC
        } else if e.id == micro_core::error::CLIENT_ID && e.detail.contains("not found") {
            MICRO_STATUS_NOT_FOUND
        } else if e.id == micro_core::error::CLIENT_ID || e.id == micro_core::error::TRANSPORT_ID {
            MICRO_STATUS_UNAVAILABLE
        } else if e.code == 400 && e.id.starts_with("go.micro.") {
            MICRO_STATUS_INVALID_ARG
        } else {
            MICRO_STATUS_REMOTE
        };
        micro_error {
            status,
            code: e.code,
            id: cstring(e.id.clone()),
            detail: cstring(e.detail.clone()),
            status_text: cstring(e.status.clone()),
        }
    }
}

/// The failure half of every internal result.
pub(crate) type Fail = Box<micro_error>;
pub(crate) type R<T> = Result<T, Fail>;

pub(crate) fn fail(status: micro_status, detail: impl Into<String>) -> Fail {
    Box::new(micro_error::new(status, detail))
}

pub(crate) fn core_fail(e: CoreError) -> Fail {
    Box::new(micro_error::from_core(&e))
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Hands a new object to C (counted by `micro_debug_live_objects`).
pub(crate) fn export<T>(v: T) -> *mut T {
    LIVE.fetch_add(1, Ordering::Relaxed);
    Box::into_raw(Box::new(v))
}

/// Takes an object back from C; `None` for NULL.
pub(crate) unsafe fn reclaim<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        None
    } else {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        Some(Box::from_raw(p))
    }
}

/// A required pointer argument.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &str) -> R<&'a T> {
    p.as_ref().ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")))
}

/// A required mutable pointer argument.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> R<&'a mut T> {
    p.as_mut().ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")))
}

/// A required NUL-terminated UTF-8 string argument, copied.
pub(crate) unsafe fn arg_str(p: *const c_char, name: &str) -> R<String> {
    if p.is_null() {
        return Err(fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map(str::to_owned)
        .map_err(|e| fail(MICRO_STATUS_INVALID_UTF8, format!("{name} is not valid UTF-8: {e}")))
}

/// A byte-view argument, copied.
pub(crate) unsafe fn arg_bytes(b: micro_bytes, name: &str) -> R<bytes::Bytes> {
    if b.len == 0 {
        return Ok(bytes::Bytes::new());
    }
    if b.ptr.is_null() {
        return Err(fail(MICRO_STATUS_INVALID_ARG, format!("{name}.ptr is NULL but {name}.len is {}", b.len)));
    }
    Ok(bytes::Bytes::copy_from_slice(std::slice::from_raw_parts(b.ptr, b.len)))
}

/// A new object handed to C from an infallible constructor; NULL on panic.
pub(crate) fn new_handle<T>(make: impl FnOnce() -> T) -> *mut T {
    guard(std::ptr::null_mut(), || export(make()))
}

/// Releases an object handed to C; NULL is a no-op.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    guard((), || drop(reclaim(p)))
}

/// Releases an object whose parts must be dropped inside its runtime (their tasks wind
/// down there); NULL is a no-op.
pub(crate) unsafe fn free_in_runtime<T>(p: *mut T, rt: impl FnOnce(&T) -> std::sync::Arc<runtime::Rt>) {
    guard((), || {
        if let Some(b) = reclaim(p) {
            let rt = rt(&b);
            let _g = rt.handle.enter();
            drop(b);
        }
    })
}

/// A caller-owned copy of `*p` (NULL for NULL).
pub(crate) unsafe fn clone_handle<T: Clone>(p: *const T) -> *mut T {
    guard(std::ptr::null_mut(), || p.as_ref().map_or(std::ptr::null_mut(), |v| export(v.clone())))
}

/// A string field of `*p` as a borrowed view; `""` for NULL.
pub(crate) unsafe fn str_field<T>(p: *const T, field: impl FnOnce(&T) -> &CStr) -> micro_str {
    guard(empty_str(), || p.as_ref().map_or(empty_str(), |v| view(field(v))))
}

/// A byte field of `*p` as a borrowed view; empty for NULL.
pub(crate) unsafe fn bytes_field<T>(p: *const T, field: impl FnOnce(&T) -> &[u8]) -> micro_bytes {
    guard(bytes_view(&[]), || p.as_ref().map_or(bytes_view(&[]), |v| bytes_view(field(v))))
}

/// An option setter: reads and checks its input first, then applies it to the builder `o`.
pub(crate) unsafe fn set_option<T, V>(
    o: *mut T,
    input: impl FnOnce() -> R<V>,
    apply: impl FnOnce(&mut T, V),
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let v = input()?;
        apply(arg_mut(o, "options")?, v);
        Ok(())
    })
}

/// A string option setter (`name` names the argument in errors).
pub(crate) unsafe fn set_str_option<T>(
    o: *mut T,
    s: *const c_char,
    name: &str,
    apply: impl FnOnce(&mut T, String),
) -> micro_status {
    set_option(o, || arg_str(s, name), apply)
}

/// A timeout in milliseconds as a `Duration`; 0 is invalid.
pub(crate) fn timeout_ms(ms: u32) -> R<std::time::Duration> {
    if ms == 0 {
        return Err(fail(MICRO_STATUS_INVALID_ARG, "timeout must be > 0"));
    }
    Ok(std::time::Duration::from_millis(u64::from(ms)))
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// The panic boundary for fallible exports: runs `f`, writes `*err` on failure.
pub(crate) unsafe fn boundary(err: *mut *mut micro_error, f: impl FnOnce() -> R<()>) -> micro_status {
    let failure = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return MICRO_STATUS_OK,
        Ok(Err(fl)) => fl,
        Err(p) => {
            let text = catch_unwind(AssertUnwindSafe(|| panic_text(&*p))).unwrap_or_default();
            std::mem::forget(p);
            fail(MICRO_STATUS_PANIC, format!("panic inside micro: {text}"))
        }
    };
    let status = failure.status;
    if !err.is_null() {
        LIVE.fetch_add(1, Ordering::Relaxed);
        *err = Box::into_raw(failure);
    }
    status
}

/// The panic boundary for infallible exports: `default` on panic.
pub(crate) fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            std::mem::forget(p);
            default
        }
    }
}

fn micro_status_str(s: micro_status) -> &'static str {
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

/// The library version, a static string naming the C layer and the core
/// (`"micro-ffi/0.1.0 micro/0.1.0"`).
#[no_mangle]
pub extern "C" fn micro_version() -> *const c_char {
    static V: &str = concat!("micro-ffi/", env!("CARGO_PKG_VERSION"), " micro/", env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

/// The library's ABI version (compare with `MICRO_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn micro_abi_version() -> u32 {
    MICRO_ABI_VERSION
}

/// `MICRO_STATUS_OK` if a program compiled against a header with ABI `header_abi` may use
/// this library, `MICRO_STATUS_INVALID_ARG` otherwise. Use `MICRO_CHECK_ABI()`.
#[no_mangle]
pub extern "C" fn micro_abi_check(header_abi: u32) -> micro_status {
    if header_abi == MICRO_ABI_VERSION {
        MICRO_STATUS_OK
    } else {
        MICRO_STATUS_INVALID_ARG
    }
}

/// How many library objects handed to C are still alive (test support: 0 once everything
/// was freed).
#[no_mangle]
pub extern "C" fn micro_debug_live_objects() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The local status of an error (`MICRO_STATUS_REMOTE` for go-micro errors); NULL gives
/// `MICRO_STATUS_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn micro_error_status(e: *const micro_error) -> micro_status {
    guard(MICRO_STATUS_PANIC, || e.as_ref().map_or(MICRO_STATUS_NULL_ARG, |e| e.status))
}

/// go-micro's HTTP-like code (`408`, `500` …); 0 for local errors or NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_code(e: *const micro_error) -> i32 {
    guard(0, || e.as_ref().map_or(0, |e| e.code))
}

/// go-micro's error id (e.g. `"go.micro.client"`), borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_id(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.id)
}

/// The human-readable detail, borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_detail(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.detail)
}

/// go-micro's status text (`"Request Timeout"` …), borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_status_text(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.status_text)
}

/// A copy of `e` owned by the caller (NULL for NULL); release with `micro_error_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_error_clone(e: *const micro_error) -> *mut micro_error {
    clone_handle(e)
}

/// Releases an error; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_error_free(e: *mut micro_error) {
    free_handle(e)
}

/// The bytes of a buffer, borrowed from it; empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_buf_bytes(b: *const micro_buf) -> micro_bytes {
    bytes_field(b, |b| &b.data)
}

/// Releases a buffer; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_buf_free(b: *mut micro_buf) {
    free_handle(b)
}

pub(crate) fn new_buf(data: Vec<u8>) -> *mut micro_buf {
    export(micro_buf { data })
}
