//! Views and buffers: the borrowed `micro_str` and `micro_bytes` every accessor returns, the
//! owned `micro_buf`, and the conversions from Rust text and bytes to them.

use crate::handle::{export, free_handle};
use crate::unwind::guard;
use std::ffi::{c_char, CStr, CString};

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

/// An owned byte buffer made by the library; read with `micro_buf_bytes`, release with
/// `micro_buf_free`.
pub struct micro_buf {
    data: Vec<u8>,
}

static EMPTY: &[u8; 1] = b"\0";

/// A view of a C string owned by someone else (it must outlive the view).
pub(crate) fn view(s: &CStr) -> micro_str {
    micro_str { ptr: s.as_ptr(), len: s.to_bytes().len() }
}

/// The empty string view (`""`, never NULL).
pub(crate) fn empty_str() -> micro_str {
    micro_str { ptr: EMPTY.as_ptr().cast(), len: 0 }
}

/// A view of bytes owned by someone else; never a NULL pointer, even when empty.
pub(crate) fn bytes_view(b: &[u8]) -> micro_bytes {
    micro_bytes { ptr: if b.is_empty() { EMPTY.as_ptr() } else { b.as_ptr() }, len: b.len() }
}

/// A C string from Rust text, with any interior NUL replaced (header values cannot hold one).
pub(crate) fn cstring(s: impl Into<Vec<u8>>) -> CString {
    let mut v: Vec<u8> = s.into();
    v.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b'?');
    CString::new(v).unwrap_or_default()
}

/// A string field of `*p` as a borrowed view; `""` for NULL.
pub(crate) unsafe fn str_field<T>(p: *const T, field: impl FnOnce(&T) -> &CStr) -> micro_str {
    guard(empty_str(), || p.as_ref().map_or(empty_str(), |v| view(field(v))))
}

/// A byte field of `*p` as a borrowed view; empty for NULL.
pub(crate) unsafe fn bytes_field<T>(p: *const T, field: impl FnOnce(&T) -> &[u8]) -> micro_bytes {
    guard(bytes_view(&[]), || p.as_ref().map_or(bytes_view(&[]), |v| bytes_view(field(v))))
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

/// A new buffer handed to C.
pub(crate) fn new_buf(data: Vec<u8>) -> *mut micro_buf {
    export(micro_buf { data })
}
