//! Opaque handles: how an object crosses to C (`export`) and comes back (`reclaim`), counted
//! for `micro_debug_live_objects`; and the constructors, destructors, copies and option
//! setters every type family builds its `_new`/`_free`/`_clone`/`_set_*` from.

use crate::boundary::{arg_mut, arg_str, boundary, guard};
use crate::error::FfiResult;
use crate::runtime::Rt;
use crate::status::micro_status;
use std::ffi::c_char;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Hands a new object to C (counted by `micro_debug_live_objects`).
pub(crate) fn export<T>(v: T) -> *mut T {
    LIVE.fetch_add(1, Ordering::Relaxed);
    Box::into_raw(Box::new(v))
}

/// Hands an object already boxed to C (counted as `export`).
pub(crate) fn export_box<T>(b: Box<T>) -> *mut T {
    LIVE.fetch_add(1, Ordering::Relaxed);
    Box::into_raw(b)
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
pub(crate) unsafe fn free_in_runtime<T>(p: *mut T, rt: impl FnOnce(&T) -> Arc<Rt>) {
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

/// How many library objects handed to C are still alive (test support: 0 once everything
/// was freed).
#[no_mangle]
pub extern "C" fn micro_debug_live_objects() -> usize {
    LIVE.load(Ordering::Relaxed)
}
