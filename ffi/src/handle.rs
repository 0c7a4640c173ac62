//! Opaque handles: how an object crosses to C (`export`) and comes back (`reclaim`), counted
//! for `micro_debug_live_objects`; and the constructors, destructors and copies every type
//! family builds its `_new`/`_free`/`_clone` from (its `_set_*` option setters are
//! `crate::boundary::set_option`'s).

use crate::unwind::guard;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A caller-owned copy of `*p` (NULL for NULL).
pub(crate) unsafe fn clone_handle<T: Clone>(p: *const T) -> *mut T {
    guard(std::ptr::null_mut(), || p.as_ref().map_or(std::ptr::null_mut(), |v| export(v.clone())))
}

/// How many library objects handed to C are still alive (test support: 0 once everything
/// was freed).
#[no_mangle]
pub extern "C" fn micro_debug_live_objects() -> usize {
    LIVE.load(Ordering::Relaxed)
}
