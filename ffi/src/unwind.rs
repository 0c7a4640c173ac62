//! Catching a panic before it crosses to C: [`guard`] runs an infallible export and answers
//! its default instead of unwinding. The fallible exports' boundary, which also reports the
//! panic as an error, is `crate::boundary::boundary`.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// The text of a caught panic's payload.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
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
