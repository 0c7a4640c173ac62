//! The panic boundary every export runs in (`boundary` for fallible calls, `guard` for the
//! others), and the conversion of its arguments: pointers checked for NULL, strings for
//! UTF-8, byte views copied.

use crate::error::{fail, micro_error, FfiResult};
use crate::handle::export_box;
use crate::status::{
    micro_status, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_INVALID_UTF8, MICRO_STATUS_NULL_ARG, MICRO_STATUS_OK,
    MICRO_STATUS_PANIC,
};
use crate::view::micro_bytes;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::unwind::panic_text;

/// A required pointer argument.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    p.as_ref().ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")))
}

/// A required mutable pointer argument.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    p.as_mut().ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")))
}

/// A required NUL-terminated UTF-8 string argument, copied.
pub(crate) unsafe fn arg_str(p: *const c_char, name: &str) -> FfiResult<String> {
    if p.is_null() {
        return Err(fail(MICRO_STATUS_NULL_ARG, format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map(str::to_owned)
        .map_err(|e| fail(MICRO_STATUS_INVALID_UTF8, format!("{name} is not valid UTF-8: {e}")))
}

/// A byte-view argument, copied.
pub(crate) unsafe fn arg_bytes(b: micro_bytes, name: &str) -> FfiResult<bytes::Bytes> {
    if b.len == 0 {
        return Ok(bytes::Bytes::new());
    }
    if b.ptr.is_null() {
        return Err(fail(MICRO_STATUS_INVALID_ARG, format!("{name}.ptr is NULL but {name}.len is {}", b.len)));
    }
    Ok(bytes::Bytes::copy_from_slice(std::slice::from_raw_parts(b.ptr, b.len)))
}

/// A timeout in milliseconds as a `Duration`; 0 is invalid.
pub(crate) fn timeout_ms(ms: u32) -> FfiResult<std::time::Duration> {
    if ms == 0 {
        return Err(fail(MICRO_STATUS_INVALID_ARG, "timeout must be > 0"));
    }
    Ok(std::time::Duration::from_millis(u64::from(ms)))
}

/// The panic boundary for fallible exports: runs `f`, writes `*err` on failure.
pub(crate) unsafe fn boundary(err: *mut *mut micro_error, f: impl FnOnce() -> FfiResult<()>) -> micro_status {
    let failure = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return MICRO_STATUS_OK,
        Ok(Err(fl)) => fl,
        Err(p) => {
            let text = catch_unwind(AssertUnwindSafe(|| panic_text(&*p))).unwrap_or_default();
            std::mem::forget(p);
            fail(MICRO_STATUS_PANIC, format!("panic inside micro: {text}"))
        }
    };
    let status = failure.status();
    if !err.is_null() {
        *err = export_box(failure);
    }
    status
}

/// An option setter: reads and checks its input first, then applies it to the builder `o`.
pub(crate) unsafe fn set_option<T, V>(
    o: *mut T,
    input: impl FnOnce() -> FfiResult<V>,
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
