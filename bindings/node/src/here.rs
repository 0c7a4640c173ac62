//! Calls owned by the JS thread (issue 18), as Python's asyncio client has them.
//!
//! A call started on the main JS thread with nothing else of that thread pending runs on the
//! thread's own runtime ([`micro::transport::local`]) instead of the shared one: the request
//! is written before `call` returns, and libuv watches that runtime's sockets (a `uv_poll_t`
//! each), so the reply wakes the JS thread, which reads it there. Through the shared runtime
//! the reply woke a runtime worker, which then woke the JS thread.
//!
//! The outcome is settled as every other: queued on the thread's bridge, whose thread-safe
//! function rings the loop ([`crate::bridge`]); rung from the JS thread itself that is a
//! write to an eventfd the same loop iteration reads, no thread in between. So a promise is
//! never settled inside `call`, and the JS of a `then` runs in napi's callback scope, with
//! its microtasks.
//!
//! What a socket cannot signal (a connect completing, a timeout, a wake-up from another
//! thread such as a registry lookup done on the shared runtime) is picked up by a tick: a
//! one-shot `uv_timer_t` of [`TICK_MS`] re-armed while calls are in flight there. So a
//! timeout fires up to a tick late, and a call that dials a new connection waits up to a
//! tick for it.
//!
//! libuv is Node's own (its `uv_*` symbols, exported by the `node` binary, resolved when the
//! addon loads; the handle sizes asked of `uv_handle_size`), written by hand because no
//! crate binds the libuv of the process that loads us. Only the main thread's loop is used
//! (`uv_default_loop`): a worker thread's loop is closed with its thread, and its calls take
//! the shared runtime as before. Every handle is unreferenced: what keeps Node alive while a
//! call waits is the bridge's pending promise, as for any call.
//!
//! Each watch polls a duplicate of the socket's descriptor, closed only with the watch. The
//! runtime's socket can be closed by another thread (a pool dropping a failed address's
//! connections); its number could then be given to a socket of Node's before the watch
//! learns of it, and a libuv watch of a reused number would take that socket's events (and
//! drop its registration when closed). A duplicate's number is ours until we close it.

use micro::transport::local;
use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::future::Future;
use std::pin::Pin;

/// How often the runtime is turned while calls are in flight there, in milliseconds.
const TICK_MS: u64 = 1;

/// libuv's `uv_handle_type` values used here (`uv.h`, stable across libuv 1.x).
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
/// `uv_poll_event`'s `UV_READABLE`.
const UV_READABLE: c_int = 1;

/// A libuv handle (`uv_handle_t *`), opaque here.
type Handle = *mut c_void;
/// A libuv loop (`uv_loop_t *`), opaque here.
type Loop = *mut c_void;

extern "C" {
    fn uv_default_loop() -> Loop;
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_set_data(h: Handle, data: *mut c_void);
    fn uv_handle_get_data(h: Handle) -> *mut c_void;
    fn uv_unref(h: Handle);
    fn uv_close(h: Handle, cb: Option<unsafe extern "C" fn(Handle)>);
    fn uv_poll_init(lp: Loop, h: Handle, fd: c_int) -> c_int;
    fn uv_poll_start(h: Handle, events: c_int, cb: unsafe extern "C" fn(Handle, c_int, c_int)) -> c_int;
    fn uv_poll_stop(h: Handle) -> c_int;
    fn uv_timer_init(lp: Loop, h: Handle) -> c_int;
    fn uv_timer_start(h: Handle, cb: unsafe extern "C" fn(Handle), timeout: u64, repeat: u64) -> c_int;
}

/// The memory of a handle of `kind`, as libuv sizes it.
fn layout(kind: c_int) -> Option<Layout> {
    // SAFETY: a pure query of libuv's type sizes.
    let size = unsafe { uv_handle_size(kind) };
    Layout::from_size_align(size, 16).ok().filter(|l| l.size() > 0)
}

/// A new, uninitialised handle of `kind`, or null.
fn new_handle(kind: c_int) -> Handle {
    match layout(kind) {
        // SAFETY: a non-zero size.
        Some(l) => unsafe { alloc::alloc_zeroed(l).cast() },
        None => std::ptr::null_mut(),
    }
}

/// One watched socket of the runtime.
struct Watch {
    /// The socket's id ([`local::sockets`]): never reused.
    id: u64,
    /// The `uv_poll_t`; its data is a boxed [`PollData`].
    poll: Handle,
    /// Stopped for now: readable while idle in a pool ([`local::pooled`]).
    muted: bool,
}

/// What a poll handle carries: the socket it watches and the duplicate it polls.
struct PollData {
    id: u64,
    fd: c_int,
}

/// The main JS thread's watch over its runtime.
struct Here {
    lp: Loop,
    /// The one-shot tick (`uv_timer_t`).
    timer: Handle,
    /// The tick is armed.
    ticking: bool,
    /// A call was started since the last tick.
    started: bool,
    watched: Vec<Watch>,
    /// The generation of [`local::sockets`] last seen.
    seen: u64,
}

thread_local! {
    /// `None` until the first call here; stays `None` off the main thread.
    static HERE: RefCell<Option<Here>> = const { RefCell::new(None) };
}

impl Here {
    /// The watch for the loop `lp`, when it is the main thread's.
    fn new(lp: Loop) -> Option<Here> {
        // SAFETY: returns the process's default loop, made on first use (Node's main loop).
        if lp.is_null() || lp != unsafe { uv_default_loop() } {
            return None;
        }
        let timer = new_handle(UV_TIMER);
        if timer.is_null() {
            return None;
        }
        // SAFETY: a zeroed handle of libuv's timer size, initialised on the loop's thread.
        if unsafe { uv_timer_init(lp, timer) } != 0 {
            free_handle(timer, UV_TIMER);
            return None;
        }
        // SAFETY: an initialised handle; unreferenced, it never keeps Node alive.
        unsafe { uv_unref(timer) };
        Some(Here { lp, timer, ticking: false, started: false, watched: Vec::new(), seen: u64::MAX })
    }
}

/// Starts `task` (a call, settling through the bridge) on this thread's own runtime, watched
/// by the thread's libuv loop `lp`; gives it back when it cannot run here (not the main
/// thread, inside a runtime, no runtime could be built).
pub(crate) fn start(lp: Loop, task: local::Task) -> Result<(), local::Task> {
    let ready = HERE.with_borrow_mut(|here| {
        if here.is_none() {
            *here = Here::new(lp);
        }
        here.is_some()
    });
    if !ready {
        return Err(task);
    }
    local::spawn_here(task).map_err(|refused| refused.fut)?;
    watch(true);
    Ok(())
}

/// A call of the bridge's, boxed as [`local::Task`].
pub(crate) fn task<F: Future<Output = ()> + Send + 'static>(fut: F) -> local::Task {
    Box::pin(fut) as Pin<Box<dyn Future<Output = ()> + Send>>
}

/// Watches the runtime's sockets as they are now and keeps the tick going while calls are in
/// flight. `started`: a call was just started.
fn watch(started: bool) {
    HERE.with_borrow_mut(|here| {
        let Some(h) = here.as_mut() else { return };
        h.started |= started;
        if !h.ticking && (h.started || local::tasks() > 0) {
            // SAFETY: the thread's initialised timer, on its loop's thread.
            if unsafe { uv_timer_start(h.timer, on_tick, TICK_MS, 0) } == 0 {
                h.ticking = true;
                h.started = false;
            }
        }
        if let Some(now) = local::sockets(&mut h.seen) {
            // Gone first, by id: the runtime's descriptor may already be another socket's.
            let mut kept = Vec::with_capacity(now.len());
            for w in h.watched.drain(..) {
                if now.iter().any(|(id, _)| *id == w.id) {
                    kept.push(w);
                } else {
                    close_poll(w.poll);
                }
            }
            for (id, fd) in now {
                if !kept.iter().any(|w| w.id == id) {
                    if let Some(w) = open_poll(h.lp, id, fd) {
                        kept.push(w);
                    }
                }
            }
            h.watched = kept;
        }
        if started {
            // A socket muted while idle may carry this call now.
            for w in h.watched.iter_mut().filter(|w| w.muted && !local::pooled(w.id)) {
                // SAFETY: an initialised, stopped poll handle of this loop.
                w.muted = unsafe { uv_poll_start(w.poll, UV_READABLE, on_readable) } != 0;
            }
        }
    });
}

/// A started, unreferenced watch of socket `id` through a duplicate of `fd`; `None` when
/// libuv refuses it (the tick turns the runtime for that socket meanwhile).
fn open_poll(lp: Loop, id: u64, fd: c_int) -> Option<Watch> {
    // SAFETY: duplicating a descriptor the runtime holds open (we are on its thread, and
    // the socket is listed); the duplicate is ours.
    let dup = unsafe { libc::dup(fd) };
    if dup < 0 {
        return None;
    }
    let poll = new_handle(UV_POLL);
    if poll.is_null() {
        // SAFETY: our own duplicate.
        unsafe { libc::close(dup) };
        return None;
    }
    // SAFETY: a zeroed handle of libuv's poll size, initialised on the loop's thread with a
    // descriptor we own.
    if unsafe { uv_poll_init(lp, poll, dup) } != 0 {
        free_handle(poll, UV_POLL);
        // SAFETY: our own duplicate, never handed to libuv.
        unsafe { libc::close(dup) };
        return None;
    }
    let data = Box::into_raw(Box::new(PollData { id, fd: dup }));
    // SAFETY: the handle is initialised; `data` lives until `on_poll_closed`.
    unsafe {
        uv_handle_set_data(poll, data.cast());
        uv_unref(poll);
    }
    // SAFETY: as above.
    let muted = unsafe { uv_poll_start(poll, UV_READABLE, on_readable) } != 0;
    Some(Watch { id, poll, muted })
}

/// Stops and closes a watch; its memory and duplicate go in [`on_poll_closed`].
fn close_poll(poll: Handle) {
    // SAFETY: an initialised poll handle of this thread's loop, closed once.
    unsafe {
        uv_poll_stop(poll);
        uv_close(poll, Some(on_poll_closed));
    }
}

unsafe extern "C" fn on_poll_closed(poll: Handle) {
    // SAFETY: the data `open_poll` set, taken back once, here.
    let data = unsafe { uv_handle_get_data(poll) } as *mut PollData;
    if !data.is_null() {
        // SAFETY: as above; the duplicate is no longer polled.
        let data = unsafe { Box::from_raw(data) };
        unsafe { libc::close(data.fd) };
    }
    free_handle(poll, UV_POLL);
}

fn free_handle(h: Handle, kind: c_int) {
    if let Some(l) = layout(kind) {
        // SAFETY: allocated by `new_handle` with the same layout; libuv is done with it.
        unsafe { alloc::dealloc(h.cast(), l) };
    }
}

/// Polls run in this process (tests: a socket reported on every loop iteration shows as a
/// count that keeps growing).
static PUMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times the JS thread turned its runtime for a readable socket or a tick, and how
/// many of its runtime's sockets libuv watches now (muted ones not counted).
pub(crate) fn stats() -> (u64, usize) {
    let watched = HERE.with_borrow(|here| here.as_ref().map_or(0, |h| h.watched.iter().filter(|w| !w.muted).count()));
    (PUMPS.load(std::sync::atomic::Ordering::Relaxed), watched)
}

/// A watched socket is readable: turn the runtime, then watch again.
unsafe extern "C" fn on_readable(poll: Handle, _status: c_int, _events: c_int) {
    // SAFETY: the data `open_poll` set, alive while the handle is open.
    let id = unsafe { (uv_handle_get_data(poll) as *const PollData).as_ref() }.map(|d| d.id);
    // Idle in a pool as it was found readable (before the turn, which may pool it again
    // after its call): no call reads it.
    let idle = id.filter(|id| local::pooled(*id));
    pump();
    if let Some(id) = idle {
        // Readable with no call to read it (the peer closed an idle connection): libuv
        // would report it on every iteration. Muted until a call takes it again.
        HERE.with_borrow_mut(|here| {
            let Some(h) = here.as_mut() else { return };
            if let Some(w) = h.watched.iter_mut().find(|w| w.id == id && !w.muted) {
                // SAFETY: an initialised poll handle of this loop.
                unsafe { uv_poll_stop(w.poll) };
                w.muted = true;
            }
        });
    }
}

unsafe extern "C" fn on_tick(_timer: Handle) {
    HERE.with_borrow_mut(|here| {
        if let Some(h) = here.as_mut() {
            h.ticking = false;
        }
    });
    pump();
}

/// Turns the runtime: what finished is queued on the bridge (which rings the loop).
fn pump() {
    PUMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if local::turn().is_err() {
        return; // inside a runtime: not ours to turn
    }
    watch(false);
}
