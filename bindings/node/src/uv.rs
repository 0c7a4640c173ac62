//! Node's own libuv, for the handles the addon keeps on the main JS thread's loop: the
//! sockets and tick of calls owned by that thread ([`crate::here`]) and the bell that wakes it
//! when a promise can be settled ([`crate::bridge`]).
//!
//! Its `uv_*` symbols, exported by the `node` binary (and Electron), are looked up on first
//! use ([`api`]), and the handle sizes asked of `uv_handle_size`. Written by hand because no
//! crate binds the libuv of the process that loads us. Looked up rather than linked: the
//! addon is linked to bind every symbol at load, so a runtime whose N-API comes without
//! libuv (Bun, Deno) could not load it at all; there the addon does without.

use std::alloc::{self, Layout};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// libuv's `uv_handle_type` values used here (`uv.h`, stable across libuv 1.x).
pub(crate) const UV_ASYNC: c_int = 1;
pub(crate) const UV_POLL: c_int = 8;
pub(crate) const UV_TIMER: c_int = 13;
/// `uv_poll_event`'s `UV_READABLE`.
pub(crate) const UV_READABLE: c_int = 1;

/// A libuv handle (`uv_handle_t *`), opaque here.
pub(crate) type Handle = *mut c_void;
/// A libuv loop (`uv_loop_t *`), opaque here.
pub(crate) type Loop = *mut c_void;

/// The libuv functions used here, as the process exports them (libuv 1.x signatures).
pub(crate) struct Api {
    pub(crate) default_loop: unsafe extern "C" fn() -> Loop,
    pub(crate) handle_size: unsafe extern "C" fn(c_int) -> usize,
    pub(crate) handle_set_data: unsafe extern "C" fn(Handle, *mut c_void),
    pub(crate) handle_get_data: unsafe extern "C" fn(Handle) -> *mut c_void,
    pub(crate) unref: unsafe extern "C" fn(Handle),
    pub(crate) close: unsafe extern "C" fn(Handle, Option<unsafe extern "C" fn(Handle)>),
    pub(crate) poll_init: unsafe extern "C" fn(Loop, Handle, c_int) -> c_int,
    pub(crate) poll_start: unsafe extern "C" fn(Handle, c_int, unsafe extern "C" fn(Handle, c_int, c_int)) -> c_int,
    pub(crate) poll_stop: unsafe extern "C" fn(Handle) -> c_int,
    pub(crate) timer_init: unsafe extern "C" fn(Loop, Handle) -> c_int,
    pub(crate) timer_start: unsafe extern "C" fn(Handle, unsafe extern "C" fn(Handle), u64, u64) -> c_int,
    pub(crate) ref_: unsafe extern "C" fn(Handle),
    pub(crate) async_init: unsafe extern "C" fn(Loop, Handle, unsafe extern "C" fn(Handle)) -> c_int,
    pub(crate) async_send: unsafe extern "C" fn(Handle) -> c_int,
}

/// libuv's functions, looked up once; `None` when the process does not export them all.
pub(crate) fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        /// The process's function `$name`, as the type `$ty` its libuv declares; returns
        /// `None` from the lookup when the process has none.
        macro_rules! resolve {
            ($name:literal as $ty:ty) => {{
                // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches the process's global
                // symbols.
                let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, ($name as &CStr).as_ptr() as *const c_char) };
                if f.is_null() {
                    tracing::debug!(symbol = ?$name, "no libuv in this process: calls take the shared runtime");
                    return None;
                }
                // SAFETY: the process's libuv function of that name, whose signature (libuv
                // 1.x, stable) is `$ty`.
                unsafe { std::mem::transmute::<*mut c_void, $ty>(f) }
            }};
        }
        Some(Api {
            default_loop: resolve!(c"uv_default_loop" as unsafe extern "C" fn() -> Loop),
            handle_size: resolve!(c"uv_handle_size" as unsafe extern "C" fn(c_int) -> usize),
            handle_set_data: resolve!(c"uv_handle_set_data" as unsafe extern "C" fn(Handle, *mut c_void)),
            handle_get_data: resolve!(c"uv_handle_get_data" as unsafe extern "C" fn(Handle) -> *mut c_void),
            unref: resolve!(c"uv_unref" as unsafe extern "C" fn(Handle)),
            close: resolve!(c"uv_close" as unsafe extern "C" fn(Handle, Option<unsafe extern "C" fn(Handle)>)),
            poll_init: resolve!(c"uv_poll_init" as unsafe extern "C" fn(Loop, Handle, c_int) -> c_int),
            poll_start: resolve!(
                c"uv_poll_start"
                    as unsafe extern "C" fn(Handle, c_int, unsafe extern "C" fn(Handle, c_int, c_int)) -> c_int
            ),
            poll_stop: resolve!(c"uv_poll_stop" as unsafe extern "C" fn(Handle) -> c_int),
            timer_init: resolve!(c"uv_timer_init" as unsafe extern "C" fn(Loop, Handle) -> c_int),
            timer_start: resolve!(
                c"uv_timer_start" as unsafe extern "C" fn(Handle, unsafe extern "C" fn(Handle), u64, u64) -> c_int
            ),
            ref_: resolve!(c"uv_ref" as unsafe extern "C" fn(Handle)),
            async_init: resolve!(
                c"uv_async_init" as unsafe extern "C" fn(Loop, Handle, unsafe extern "C" fn(Handle)) -> c_int
            ),
            async_send: resolve!(c"uv_async_send" as unsafe extern "C" fn(Handle) -> c_int),
        })
    })
    .as_ref()
}

impl Api {
    /// The memory of a handle of `kind`, as libuv sizes it.
    fn layout(&self, kind: c_int) -> Option<Layout> {
        // SAFETY: a pure query of libuv's type sizes.
        let size = unsafe { (self.handle_size)(kind) };
        Layout::from_size_align(size, 16).ok().filter(|l| l.size() > 0)
    }

    /// A new, uninitialised handle of `kind`, or null.
    pub(crate) fn new_handle(&self, kind: c_int) -> Handle {
        match self.layout(kind) {
            // SAFETY: a non-zero size.
            Some(l) => unsafe { alloc::alloc_zeroed(l).cast() },
            None => std::ptr::null_mut(),
        }
    }

    pub(crate) fn free_handle(&self, h: Handle, kind: c_int) {
        if let Some(l) = self.layout(kind) {
            // SAFETY: allocated by `new_handle` with the same layout; libuv is done with it.
            unsafe { alloc::dealloc(h.cast(), l) };
        }
    }
}
