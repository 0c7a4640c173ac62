//! Calls owned by the JS thread (issue 18), as Python's asyncio client has them.
//!
//! A call started on the main JS thread with nothing else of that thread pending runs on the
//! thread's own runtime ([`micro::transport::local`]) instead of the shared one: the request
//! is written before `call` returns, and libuv watches that runtime's sockets (a `uv_poll_t`
//! each), so the reply wakes the JS thread, which reads it there. Through the shared runtime
//! the reply woke a runtime worker, which then woke the JS thread.
//!
//! The outcome is queued on the thread's bridge as every other ([`crate::bridge`]), but the
//! libuv callback that turned the runtime settles it itself when its work is done
//! ([`Around`]: the bridge's `answering`), in a callback scope: no bell rung (an eventfd written,
//! then polled and read by another turn of the loop). While the bridge is already settling,
//! or its bell is already rung from another thread, that answer settles it instead. So a
//! promise is never settled inside `call`, and the JS of a `then` runs in a callback scope,
//! with its microtasks.
//!
//! What a socket cannot signal (a connect completing, a timeout, a wake-up from another
//! thread such as a registry lookup done on the shared runtime) is picked up by a tick: a
//! one-shot `uv_timer_t` of [`TICK_MS`] re-armed while calls are in flight there. So a
//! timeout fires up to a tick late, and a call that dials a new connection waits up to a
//! tick for it.
//!
//! The bookkeeping (which sockets are watched, which are muted while idle in a pool, when
//! the tick is armed) is core's [`local::Watches`], shared with Python's asyncio client;
//! here is only how libuv watches a descriptor ([`Uv`]). Each watch polls a duplicate of
//! the socket's descriptor that `Watches` owns, so a number the runtime closed and Node
//! reused is never ours.
//!
//! libuv is Node's own, looked up when the first call starts ([`crate::uv`]); where the
//! process has none (Bun, Deno) calls take the shared runtime. Only the main thread's loop
//! is used (`uv_default_loop`): a worker thread's loop is closed with its thread, and its
//! calls take the shared runtime as before. Every handle is unreferenced: what keeps Node
//! alive while a call waits is the bridge's pending promise, as for any call.

use crate::uv::{api, Api, Handle, Loop, UV_POLL, UV_READABLE, UV_TIMER};
use micro::transport::local::{self, Watcher, Watches};
use std::cell::RefCell;
use std::ffi::c_int;
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;

/// How often the runtime is turned while calls are in flight there, in milliseconds.
const TICK_MS: u64 = 1;

/// What a poll handle carries: the id of the socket it watches.
struct PollData {
    id: u64,
}

/// How the loop's callbacks that turn the runtime run that work: the bridge's answer around
/// it (`bridge::answering`), given by the bridge as it starts a call here, so this module
/// does not reach back up into the bridge.
pub(crate) type Around = fn(&mut dyn FnMut());

/// The main JS thread's watch over its runtime.
struct Here {
    /// What the callbacks run their work in.
    around: Around,
    uv: Uv,
    /// Its sockets (each a `uv_poll_t` whose data is a boxed [`PollData`]) and the tick.
    watches: Watches<Handle>,
}

/// How libuv watches a descriptor ([`Watcher`]): a `uv_poll_t` each, and a one-shot
/// `uv_timer_t` for the tick.
struct Uv {
    api: &'static Api,
    lp: Loop,
    timer: Handle,
}

thread_local! {
    /// `None` until the first call here; stays `None` off the main thread.
    static HERE: RefCell<Option<Here>> = const { RefCell::new(None) };
}

impl Here {
    /// The watch for the loop `lp`, when it is the main thread's.
    fn new(lp: Loop, around: Around) -> Option<Here> {
        let api = api()?;
        // SAFETY: returns the process's default loop, made on first use (Node's main loop).
        if lp.is_null() || lp != unsafe { (api.default_loop)() } {
            return None;
        }
        let timer = api.new_handle(UV_TIMER);
        if timer.is_null() {
            return None;
        }
        // SAFETY: a zeroed handle of libuv's timer size, initialised on the loop's thread.
        if unsafe { (api.timer_init)(lp, timer) } != 0 {
            api.free_handle(timer, UV_TIMER);
            return None;
        }
        // SAFETY: an initialised handle; unreferenced, it never keeps Node alive.
        unsafe { (api.unref)(timer) };
        Some(Here { around, uv: Uv { api, lp, timer }, watches: Watches::new() })
    }
}

/// Starts `task` (a call, settling through the bridge) on this thread's own runtime, watched
/// by the thread's libuv loop `lp`, its callbacks' work run in `around`; gives it back when
/// it cannot run here (not the main thread, no libuv, inside a runtime, no runtime could be
/// built).
pub(crate) fn start(lp: Loop, task: local::Task, around: Around) -> Result<(), local::Task> {
    let ready = HERE.with_borrow_mut(|here| {
        if here.is_none() {
            *here = Here::new(lp, around);
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
        if let Some(h) = here.as_mut() {
            h.watches.update(&mut h.uv, started);
        }
    });
}

impl Watcher for Uv {
    type Watch = Handle;

    fn open(&mut self, id: u64, fd: RawFd) -> Option<Handle> {
        let poll = self.api.new_handle(UV_POLL);
        if poll.is_null() {
            return None;
        }
        // SAFETY: a zeroed handle of libuv's poll size, initialised on the loop's thread with
        // a descriptor that stays open until after `close`.
        if unsafe { (self.api.poll_init)(self.lp, poll, fd) } != 0 {
            self.api.free_handle(poll, UV_POLL);
            return None;
        }
        let data = Box::into_raw(Box::new(PollData { id }));
        // SAFETY: the handle is initialised; `data` lives until `on_poll_closed`.
        unsafe {
            (self.api.handle_set_data)(poll, data.cast());
            (self.api.unref)(poll);
        }
        Some(poll)
    }

    fn start(&mut self, poll: &Handle) -> bool {
        // SAFETY: an initialised poll handle of this loop.
        unsafe { (self.api.poll_start)(*poll, UV_READABLE, on_readable) == 0 }
    }

    fn stop(&mut self, poll: &Handle) {
        // SAFETY: as above.
        unsafe { (self.api.poll_stop)(*poll) };
    }

    fn close(&mut self, poll: Handle) {
        // SAFETY: an initialised poll handle of this loop, closed once. libuv stops it and
        // forgets its descriptor inside `uv_close` (the descriptor is closed right after);
        // its memory goes in `on_poll_closed`.
        unsafe { (self.api.close)(poll, Some(on_poll_closed)) };
    }

    fn arm_tick(&mut self) -> bool {
        // SAFETY: the thread's initialised timer, on its loop's thread.
        unsafe { (self.api.timer_start)(self.timer, on_tick, TICK_MS, 0) == 0 }
    }
}

unsafe extern "C" fn on_poll_closed(poll: Handle) {
    let Some(api) = api() else { return };
    // SAFETY: the data `open` set, taken back once, here.
    let data = unsafe { (api.handle_get_data)(poll) } as *mut PollData;
    if !data.is_null() {
        // SAFETY: as above.
        drop(unsafe { Box::from_raw(data) });
    }
    api.free_handle(poll, UV_POLL);
}

/// Polls run in this process (tests: a socket reported on every loop iteration shows as a
/// count that keeps growing).
static PUMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times the JS thread turned its runtime for a readable socket or a tick, and how
/// many of its runtime's sockets libuv watches now (muted ones not counted).
pub(crate) fn stats() -> (u64, usize) {
    let watched = HERE.with_borrow(|here| here.as_ref().map_or(0, |h| h.watches.watching()));
    (PUMPS.load(std::sync::atomic::Ordering::Relaxed), watched)
}

/// What the callbacks run their work in ([`Around`]); the work alone before the first start.
fn around() -> Around {
    HERE.with_borrow(|here| here.as_ref().map(|h| h.around)).unwrap_or(|work| work())
}

/// A watched socket is readable: turn the runtime, then watch again. What finished is settled
/// when the callback's work is done ([`Around`]), so the promises' reactions (which may start
/// calls here) see its watches as they are after it.
unsafe extern "C" fn on_readable(poll: Handle, _status: c_int, _events: c_int) {
    let Some(api) = api() else { return };
    // SAFETY: the data `open` set, alive while the handle is open.
    let id = unsafe { ((api.handle_get_data)(poll) as *const PollData).as_ref() }.map(|d| d.id);
    around()(&mut || {
        // Idle in a pool as it was found readable (before the turn, which may pool it again
        // after its call): no call reads it.
        let idle = id.filter(|id| local::pooled(*id));
        pump();
        if let Some(id) = idle {
            // Readable with no call to read it (the peer closed an idle connection): libuv
            // would report it on every iteration. Muted until a call takes it again.
            HERE.with_borrow_mut(|here| {
                if let Some(h) = here.as_mut() {
                    h.watches.mute(&mut h.uv, id);
                }
            });
        }
    });
}

unsafe extern "C" fn on_tick(_timer: Handle) {
    around()(&mut || {
        HERE.with_borrow_mut(|here| {
            if let Some(h) = here.as_mut() {
                h.watches.ticked();
            }
        });
        pump();
    });
}

/// Turns the runtime: what finished is queued on the bridge (settled when the callback's
/// work is done, [`Around`]).
fn pump() {
    PUMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if local::turn().is_err() {
        return; // inside a runtime: not ours to turn
    }
    watch(false);
}
