//! `micro_cancel`: a cancellation token one or more asynchronous calls (`call`) watch.

use crate::handle::{free_handle, new_handle};
use crate::unwind::guard;
use micro_core::host::CancellationToken;

/// A cancellation token; thread-safe. Triggering it cancels every call it was given to.
pub struct micro_cancel {
    pub(crate) token: CancellationToken,
}

/// A new, untriggered cancellation token.
#[no_mangle]
pub extern "C" fn micro_cancel_new() -> *mut micro_cancel {
    new_handle(|| micro_cancel { token: CancellationToken::new() })
}

/// Cancels the calls using this token (their callbacks fire with `MICRO_STATUS_CANCELLED`).
#[no_mangle]
pub unsafe extern "C" fn micro_cancel_trigger(c: *const micro_cancel) {
    guard((), || {
        if let Some(c) = c.as_ref() {
            c.token.cancel()
        }
    })
}

/// Releases a token (calls keep their own reference); NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_cancel_free(c: *mut micro_cancel) {
    free_handle(c)
}
