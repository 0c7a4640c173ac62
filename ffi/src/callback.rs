//! What every C callback carries: its `userdata` (`SendPtr`, handed back untouched) and the
//! `micro_free_fn` hook that releases it once (`FreeHook`), never on an I/O thread.

use crate::dispatch::{on_runtime_thread, Job};
use crate::runtime::Rt;
use std::ffi::c_void;
use std::sync::Weak;

/// A hook that releases callback userdata; runs exactly once, after the last callback.
pub type micro_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A pointer the C side promises may be used from any thread (userdata).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut c_void);
// SAFETY: the library never dereferences it; it only hands it back to the C callbacks,
// and the header documents that callbacks run on library threads.
unsafe impl Send for SendPtr {}
// SAFETY: as for Send: shared references only copy the pointer value.
unsafe impl Sync for SendPtr {}

/// A userdata free hook (`micro_free_fn` with its userdata); consumed by running it, so it
/// runs at most once.
pub(crate) struct FreeHook {
    free: unsafe extern "C" fn(*mut c_void),
    ud: SendPtr,
}

impl FreeHook {
    /// The hook for `ud`, or `None` when `free` is NULL.
    pub(crate) fn new(free: micro_free_fn, ud: *mut c_void) -> Option<Self> {
        free.map(|free| FreeHook { free, ud: SendPtr(ud) })
    }

    /// Runs the hook on this thread.
    pub(crate) fn run(self) {
        // SAFETY: `free` is the non-NULL hook the C side registered with `ud`, which it
        // promised may be used from any thread; consuming `self` runs it at most once.
        unsafe { (self.free)(self.ud.0) }
    }

    /// Runs the hook here, or on a dispatch thread of `rt` when called on an async runtime
    /// thread (no C code runs there) — here again only if no dispatch thread is left.
    pub(crate) fn release(self, rt: &Weak<Rt>) {
        let job: Job = Box::new(move || self.run());
        match (on_runtime_thread(), rt.upgrade()) {
            (true, Some(rt)) => rt.dispatch_or_run(job),
            _ => job(),
        }
    }
}
