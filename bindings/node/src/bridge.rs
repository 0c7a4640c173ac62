//! Futures as JS promises, settled through one bell per JS thread.
//!
//! napi-rs's `Env::spawn_future` makes a thread-safe function for every promise: a libuv
//! handle opened, registered for teardown and closed again per call, which cost a small call
//! more than everything else it did (issue 18). Here every promise of a JS thread is settled
//! through one bell, made on first use: a finished future puts its outcome on this thread's
//! queue and, when the queue was empty, rings the JS thread once; the JS thread settles
//! everything queued in one go, in a callback scope (its microtasks run after). The bell is
//! referenced (keeps Node alive) only while promises are pending, as napi-rs's per-promise
//! functions were.
//!
//! On the main thread the bell is a `uv_async_t` of its loop ([`crate::uv`]): ringing it takes
//! no lock. napi's thread-safe function, the bell elsewhere (worker threads, whose loop closes
//! with the thread; runtimes without libuv), wakes the loop while holding its queue's lock,
//! which the woken JS thread takes at once: on a busy CPU the JS thread runs first, finds
//! the lock held and sleeps again, two more context switches a wake-up.
//!
//! Why hand-written: napi-rs's `ThreadsafeFunction` calls a JS function per value and queues
//! each call; what is needed is a wake-up that carries nothing and coalesces, around
//! `napi_create_promise` deferreds that napi-rs does not expose without its own
//! thread-safe function.

use crate::uv::{self, Handle, UV_ASYNC};
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsError};
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A finished future's outcome, turned into a JS value on the JS thread.
type Outcome = Box<dyn FnOnce(sys::napi_env) -> napi::Result<sys::napi_value> + Send>;

/// A `napi_deferred` travels to a runtime thread and back; it is only ever used on the JS
/// thread that made it.
struct Deferred(sys::napi_deferred);
// SAFETY: the pointer is only dereferenced by napi on the JS thread that created it (in
// `settle_all`, called by the thread-safe function on that thread).
unsafe impl Send for Deferred {}

/// The thread-safe function's handle; napi's thread-safe function calls may come from any
/// thread.
#[derive(Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: `napi_call_threadsafe_function` is documented as callable from any thread; the
// other calls on it (ref, unref) are made on the JS thread.
unsafe impl Send for Tsfn {}
unsafe impl Sync for Tsfn {}

/// The main thread's bell: a `uv_async_t` of its loop, and what its callback needs to
/// settle promises there.
#[derive(Clone, Copy)]
struct Ring {
    handle: Handle,
    env: sys::napi_env,
    /// The async context of the callback scope the promises are settled in.
    cx: sys::napi_async_context,
}
// SAFETY: `uv_async_send` on `handle` may be called from any thread; `env` and `cx` are only
// used on the JS thread (in `on_ring` and at teardown).
unsafe impl Send for Ring {}
unsafe impl Sync for Ring {}

/// How a bridge wakes its JS thread.
#[derive(Clone, Copy)]
enum Bell {
    /// The main thread's `uv_async_t`.
    Uv(Ring),
    /// napi's thread-safe function (worker threads; runtimes without libuv).
    Tsfn(Tsfn),
}

impl Bell {
    /// Wakes the JS thread (any thread; coalesces with a wake-up not yet heard).
    fn ring(self) {
        match self {
            Bell::Uv(r) => {
                if let Some(api) = uv::api() {
                    // SAFETY: an initialised async handle, open until the environment's
                    // teardown, which cannot pass while a `wake` guard is held.
                    unsafe { (api.async_send)(r.handle) };
                }
            }
            Bell::Tsfn(t) => {
                // SAFETY: the function lives until `finalize`, which cannot pass while a
                // `wake` guard is held.
                let _ = unsafe {
                    sys::napi_call_threadsafe_function(
                        t.0,
                        ptr::null_mut(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                };
            }
        }
    }

    /// Keeps Node alive while promises wait (`true`), or lets it exit. On the JS thread.
    fn hold(self, env: sys::napi_env, on: bool) -> napi::Result<()> {
        match self {
            Bell::Uv(r) => {
                if let Some(api) = uv::api() {
                    // SAFETY: an initialised handle of this thread's loop.
                    unsafe {
                        if on {
                            (api.ref_)(r.handle)
                        } else {
                            (api.unref)(r.handle)
                        }
                    };
                }
                Ok(())
            }
            // SAFETY: on the JS thread, with its live function.
            Bell::Tsfn(t) => check(unsafe {
                if on {
                    sys::napi_ref_threadsafe_function(env, t.0)
                } else {
                    sys::napi_unref_threadsafe_function(env, t.0)
                }
            }),
        }
    }
}

/// One JS thread's bridge.
struct Bridge {
    /// The bell: `None` once the environment is torn down. Its teardown takes it out under
    /// the write side, so no ring is in flight when the bell goes.
    wake: RwLock<Option<Bell>>,
    /// Outcomes waiting for the JS thread; `None` once the environment is torn down.
    queue: Mutex<Option<Vec<(Deferred, Outcome)>>>,
    /// Promises not settled yet (touched on the JS thread only, atomic for `Sync`).
    pending: AtomicUsize,
    /// Calls ([`Start::Here`], [`Start::Owned`]) not finished yet, wherever they run.
    calls: AtomicUsize,
    /// How many promises the last wake-up settled: more than one means calls are finishing
    /// faster than one at a time, and the JS thread, the busiest, keeps off their replies.
    last_batch: AtomicUsize,
    /// Whether the main thread's bell is being answered ([`RUNNING`]) and was rung meanwhile
    /// ([`RUNG`]): an outcome queued then, often by a call the settled promises' reactions
    /// started and whose reply was already in, is settled by another round of the same
    /// answer instead of a turn of the loop (an eventfd written, polled and read), as napi's
    /// thread-safe function does.
    dispatch: AtomicU8,
}

/// [`Bridge::dispatch`]: `on_ring` is settling.
const RUNNING: u8 = 1;
/// [`Bridge::dispatch`]: an outcome was queued while it was.
const RUNG: u8 = 2;
/// Rounds `on_ring` goes before it lets the loop turn (its other handles wait meanwhile).
const MAX_ROUNDS: usize = 64;

thread_local! {
    static BRIDGE: RefCell<Option<Arc<Bridge>>> = const { RefCell::new(None) };
}

impl Bridge {
    /// This JS thread's bridge, made on first use.
    fn get(env: sys::napi_env) -> napi::Result<Arc<Bridge>> {
        BRIDGE.with(|b| {
            if let Some(b) = b.borrow().as_ref() {
                return Ok(Arc::clone(b));
            }
            let bridge = Bridge::new(env)?;
            *b.borrow_mut() = Some(Arc::clone(&bridge));
            Ok(bridge)
        })
    }

    fn new(env: sys::napi_env) -> napi::Result<Arc<Bridge>> {
        let bridge = Arc::new(Bridge {
            wake: RwLock::new(None),
            queue: Mutex::new(Some(Vec::new())),
            pending: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            last_batch: AtomicUsize::new(0),
            dispatch: AtomicU8::new(0),
        });
        let bell = match Ring::open(env, &bridge) {
            Some(ring) => Bell::Uv(ring),
            None => Bell::Tsfn(thread_safe_function(env, &bridge)?),
        };
        // Unreferenced until a promise waits.
        bell.hold(env, false)?;
        *bridge.wake.write().unwrap_or_else(|p| p.into_inner()) = Some(bell);
        Ok(bridge)
    }

    /// The bell, while the environment lasts.
    fn bell(&self) -> Option<Bell> {
        *self.wake.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an outcome; wakes the JS thread when the queue was empty (a wake-up is
    /// already on its way otherwise). Dropped once the environment is gone.
    fn settle(&self, deferred: Deferred, outcome: Outcome) {
        let first = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let Some(q) = q.as_mut() else { return };
            q.push((deferred, outcome));
            q.len() == 1
        };
        if !first {
            return;
        }
        // Past the queue's lock: the JS thread, woken, takes everything queued by then (a
        // wake-up that finds the queue empty settles nothing).
        // The read guard is held while ringing: the bell cannot go meanwhile.
        if let Some(bell) = *self.wake.read().unwrap_or_else(|p| p.into_inner()) {
            if self.dispatch.fetch_or(RUNG, Ordering::AcqRel) & RUNNING != 0 {
                return; // `on_ring` goes round again (only the main thread's bell runs so)
            }
            bell.ring();
        }
    }
}

/// Runs `fut` on napi's runtime; the promise returned settles with its outcome on this JS
/// thread, through the thread's one thread-safe function.
pub(crate) fn spawn<'env, T, F>(env: &'env Env, fut: F) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    spawn_with(env, fut, Start::Spawn)
}

/// Where [`spawn_with`] starts a call while no other call of the JS thread is in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Spawned on napi's runtime.
    Spawn,
    /// Its first poll on the JS thread, then napi's runtime ([`micro::host::start`]).
    Here,
    /// On the JS thread's own runtime, watched by its loop ([`crate::here`]); as [`Start::Here`]
    /// where that cannot be (a worker thread). Only for a client that drives on any thread.
    Owned,
}

/// [`spawn`], starting `fut` on the JS thread as `how` says when no other call of this
/// thread is in flight (other promises, a service's pending `nextRequests` among them, do not
/// count): a call's request is then written before `call` returns, where spawning
/// would first wake a runtime worker to write it (at one call in flight, 36.0 → 21.0 µs
/// added over the Rust client unpinned, 19.8 → 16.5 pinned:
/// `bench/results/2026-12-05-start-here.md`), and with [`Start::Owned`] its reply is read
/// there too. Not [`Start::Spawn`] only for futures whose first poll does no blocking work (a
/// call: a cached lookup, a pooled connection, a non-blocking write). Under load the workers
/// are awake anyway and the JS thread is the busiest, so it does not take their writes.
pub(crate) fn spawn_with<'env, T, F>(env: &'env Env, fut: F, how: Start) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    let raw = env.raw();
    let (bridge, deferred, promise) = pending_promise(raw)?;
    let call = (how != Start::Spawn).then(|| InFlight::count(&bridge));
    let alone = call.as_ref().is_some_and(|c| c.alone);
    let quiet = bridge.last_batch.load(Ordering::Relaxed) <= 1;
    let run = async move {
        let out = fut.await;
        drop(call);
        bridge.settle(deferred, outcome(out));
    };
    match (alone, how) {
        (true, Start::Owned) if quiet => {
            let mut lp = ptr::null_mut();
            // SAFETY: on the JS thread, a valid out-pointer.
            let found = unsafe { sys::napi_get_uv_event_loop(raw, &mut lp) } == sys::Status::napi_ok;
            let task = crate::here::task(run);
            let refused = if found { crate::here::start(lp.cast(), task, answering).err() } else { Some(task) };
            if let Some(task) = refused {
                started_here(task);
            }
        }
        (true, Start::Owned | Start::Here) => started_here(run),
        _ => {
            napi::bindgen_prelude::spawn(run);
        }
    }
    Ok(PromiseRaw::new(raw, promise))
}

/// A promise that settles with `value` on this JS thread's next settling, as a spawned
/// future's would once finished: queued on the bridge without a task or a runtime thread. From
/// inside the bell's answer (a promise's reaction that asks again), it is settled by the
/// answer's next round, no ring needed; otherwise the bell rings from this thread.
pub(crate) fn resolved<'env, T>(env: &'env Env, value: T) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
{
    let raw = env.raw();
    let (bridge, deferred, promise) = pending_promise(raw)?;
    bridge.settle(deferred, outcome(Ok(value)));
    Ok(PromiseRaw::new(raw, promise))
}

/// A new promise of this JS thread's bridge, counted as pending (the bell then keeps Node
/// alive), and its deferred.
fn pending_promise(raw: sys::napi_env) -> napi::Result<(Arc<Bridge>, Deferred, sys::napi_value)> {
    let bridge = Bridge::get(raw)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: on the JS thread, valid out-pointers.
    unsafe { check(sys::napi_create_promise(raw, &mut deferred, &mut promise))? };
    let idle = bridge.pending.fetch_add(1, Ordering::Relaxed) == 0;
    if let (true, Some(bell)) = (idle, bridge.bell()) {
        bell.hold(raw, true)?;
    }
    Ok((bridge, Deferred(deferred), promise))
}

/// A future's result as the outcome that settles its promise.
fn outcome<T: ToNapiValue + Send + 'static>(out: napi::Result<T>) -> Outcome {
    Box::new(move |env| match out {
        // SAFETY: called on the JS thread with its live env.
        Ok(v) => unsafe { T::to_napi_value(env, v) },
        Err(e) => Err(e),
    })
}

/// A call counted in [`Bridge::calls`] until it ends, or its future is dropped unfinished.
struct InFlight {
    bridge: Arc<Bridge>,
    /// No other call was in flight when this one was counted.
    alone: bool,
}

impl InFlight {
    fn count(bridge: &Arc<Bridge>) -> InFlight {
        let alone = bridge.calls.fetch_add(1, Ordering::Relaxed) == 0;
        InFlight { bridge: Arc::clone(bridge), alone }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.bridge.calls.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Polls `run` once on the JS thread, then leaves it to napi's runtime.
fn started_here<F: Future<Output = ()> + Send + 'static>(run: F) {
    napi::bindgen_prelude::within_runtime_if_available(|| {
        micro::host::start::start(&tokio::runtime::Handle::current(), run)
    });
}

/// The thread-safe function's call on the JS thread: settles everything queued.
unsafe extern "C" fn settle_all(env: sys::napi_env, _js: sys::napi_value, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() || context.is_null() {
        return; // torn down: nothing can be settled any more
    }
    // SAFETY: `context` is the bridge's reference, alive until `finalize`.
    settle_queued(env, unsafe { &*(context as *const Bridge) });
}

/// Settles every outcome queued on `bridge`, on its JS thread (inside a callback scope).
fn settle_queued(env: sys::napi_env, bridge: &Bridge) {
    let batch = {
        let mut q = bridge.queue.lock().unwrap_or_else(|p| p.into_inner());
        match q.as_mut() {
            Some(q) => std::mem::take(q),
            None => return,
        }
    };
    let n = batch.len();
    bridge.last_batch.store(n, Ordering::Relaxed);
    for (deferred, outcome) in batch {
        // SAFETY: on the JS thread with its env; each deferred is settled exactly once.
        unsafe {
            match outcome(env) {
                Ok(v) => {
                    sys::napi_resolve_deferred(env, deferred.0, v);
                }
                Err(e) => {
                    let v = JsError::from(e).into_value(env);
                    sys::napi_reject_deferred(env, deferred.0, v);
                }
            }
        }
    }
    if let (true, Some(bell)) = (n > 0 && bridge.pending.fetch_sub(n, Ordering::Relaxed) == n, bridge.bell()) {
        // Nothing waits, so Node may exit.
        let _ = bell.hold(env, false);
    }
}

impl Ring {
    /// The main thread's bell on its loop, for `bridge`; `None` on any other thread or
    /// without libuv (the bridge then uses a thread-safe function).
    fn open(env: sys::napi_env, bridge: &Arc<Bridge>) -> Option<Ring> {
        let api = uv::api()?;
        let mut lp = ptr::null_mut();
        // SAFETY: on the JS thread, a valid out-pointer.
        if unsafe { sys::napi_get_uv_event_loop(env, &mut lp) } != sys::Status::napi_ok
            || lp.is_null()
            // SAFETY: the process's default loop, made on first use (Node's main loop).
            || lp.cast() != unsafe { (api.default_loop)() }
        {
            return None;
        }
        let name = resource_name(env).ok()?;
        let mut cx = ptr::null_mut();
        // SAFETY: on the JS thread with a valid out-pointer; no resource object (napi makes
        // one).
        if unsafe { sys::napi_async_init(env, ptr::null_mut(), name, &mut cx) } != sys::Status::napi_ok {
            return None;
        }
        let handle = api.new_handle(UV_ASYNC);
        // SAFETY: a zeroed handle of libuv's async size, initialised on the loop's thread.
        if handle.is_null() || unsafe { (api.async_init)(lp.cast(), handle, on_ring) } != 0 {
            if !handle.is_null() {
                api.free_handle(handle, UV_ASYNC);
            }
            // SAFETY: the context made above, unused.
            unsafe { sys::napi_async_destroy(env, cx) };
            return None;
        }
        // The handle and the teardown hook share one reference, given back when it closes.
        let context = Arc::into_raw(Arc::clone(bridge)) as *mut c_void;
        // SAFETY: an initialised handle; `context` lives until `on_ring_closed`.
        unsafe { (api.handle_set_data)(handle, context) };
        // SAFETY: on the JS thread; `context` outlives the hook (it goes after the hook ran).
        if unsafe { sys::napi_add_env_cleanup_hook(env, Some(ring_gone), context) } != sys::Status::napi_ok {
            // SAFETY: the context made above, unused; the handle closes on this loop, and
            // its close callback takes the reference back.
            unsafe {
                sys::napi_async_destroy(env, cx);
                (api.close)(handle, Some(on_ring_closed));
            }
            return None;
        }
        Some(Ring { handle, env, cx })
    }
}

/// The main thread's bell rang: settle what is queued, in a callback scope, so the
/// promises' reactions (microtasks) run when it closes, as after any callback; again while
/// outcomes are queued meanwhile (up to [`MAX_ROUNDS`], then the loop is rung).
unsafe extern "C" fn on_ring(handle: Handle) {
    let Some(api) = uv::api() else { return };
    // SAFETY: the data `Ring::open` set, alive while the handle is open.
    let Some(bridge) = (unsafe { ((api.handle_get_data)(handle) as *const Bridge).as_ref() }) else { return };
    let Some(Bell::Uv(ring)) = bridge.bell() else { return };
    answer(ring, bridge);
}

/// Runs `work`, a libuv callback of the main thread that turns its own runtime
/// ([`crate::here`]), as if answering the bell: what the turn settles is not rung (an
/// eventfd written, then polled and read by the next turn of the loop) but settled when
/// `work` returns, as [`on_ring`] would, in a callback scope of this callback. At one call
/// in flight that is every reply: three system calls and a loop iteration fewer a call.
fn answering(work: &mut dyn FnMut()) {
    let Some(bridge) = BRIDGE.with(|b| b.try_borrow().ok().and_then(|b| b.clone())) else { return work() };
    let Some(Bell::Uv(ring)) = bridge.bell() else { return work() };
    // Taken only when nothing is rung or being answered; else the bell, already on its
    // way, answers as before.
    if bridge.dispatch.compare_exchange(0, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return work();
    }
    work();
    if bridge.dispatch.compare_exchange(RUNNING, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
        ANSWERED.fetch_add(1, Ordering::Relaxed);
        answer(ring, &bridge);
    }
}

/// Times [`answering`] settled what its callback's work queued (tests: calls at one in flight
/// are settled there, not by a ring).
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// How many times a libuv callback of the main thread settled what it queued itself.
pub(crate) fn answered() -> u64 {
    ANSWERED.load(Ordering::Relaxed)
}

/// Settles what is queued on the main thread's `bridge`, in rounds while more is queued
/// meanwhile (up to [`MAX_ROUNDS`], then the loop is rung).
fn answer(ring: Ring, bridge: &Bridge) {
    for _ in 0..MAX_ROUNDS {
        bridge.dispatch.store(RUNNING, Ordering::Release);
        settle_round(ring, bridge);
        if bridge.dispatch.compare_exchange(RUNNING, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return;
        }
    }
    bridge.dispatch.store(0, Ordering::Release);
    Bell::Uv(ring).ring();
}

/// One round of [`on_ring`]: settles what is queued, then runs the reactions.
fn settle_round(ring: Ring, bridge: &Bridge) {
    let env = ring.env;
    let mut handles = ptr::null_mut();
    // SAFETY: on the JS thread, outside any other scope (a libuv callback).
    if unsafe { sys::napi_open_handle_scope(env, &mut handles) } != sys::Status::napi_ok {
        return;
    }
    let mut scope = ptr::null_mut();
    // SAFETY: as above, with the ring's live async context.
    let scoped =
        unsafe { sys::napi_open_callback_scope(env, ptr::null_mut(), ring.cx, &mut scope) } == sys::Status::napi_ok;
    settle_queued(env, bridge);
    // SAFETY: on the JS thread with its env. An exception left by a conversion is reported
    // as uncaught, as napi does for a thread-safe function's call.
    unsafe {
        let mut pending = false;
        if sys::napi_is_exception_pending(env, &mut pending) == sys::Status::napi_ok && pending {
            let mut e = ptr::null_mut();
            if sys::napi_get_and_clear_last_exception(env, &mut e) == sys::Status::napi_ok {
                sys::napi_fatal_exception(env, e);
            }
        }
        if scoped {
            sys::napi_close_callback_scope(env, scope);
        }
        sys::napi_close_handle_scope(env, handles);
    }
}

/// The main thread's environment is torn down: no more rings, and the bell closes.
unsafe extern "C" fn ring_gone(context: *mut c_void) {
    // SAFETY: the bridge's reference `Ring::open` gave the handle, alive until it closes.
    let Some(bridge) = (unsafe { (context as *const Bridge).as_ref() }) else { return };
    // No ring passes this: the runtime's threads ring under a read guard.
    let bell = bridge.wake.write().unwrap_or_else(|p| p.into_inner()).take();
    *bridge.queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
    BRIDGE.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            *b = None;
        }
    });
    if let (Some(Bell::Uv(ring)), Some(api)) = (bell, uv::api()) {
        // SAFETY: on the JS thread in its teardown, the env still live; the handle is closed
        // once, here, and its memory and reference go in `on_ring_closed`.
        unsafe {
            sys::napi_async_destroy(ring.env, ring.cx);
            (api.close)(ring.handle, Some(on_ring_closed));
        }
    }
}

/// libuv closed the bell's handle: its memory and the bridge's reference it held go.
unsafe extern "C" fn on_ring_closed(handle: Handle) {
    let Some(api) = uv::api() else { return };
    // SAFETY: the reference `Ring::open` set as the handle's data, taken back once, here.
    let context = unsafe { (api.handle_get_data)(handle) } as *const Bridge;
    if !context.is_null() {
        // SAFETY: as above.
        drop(unsafe { Arc::from_raw(context) });
    }
    api.free_handle(handle, UV_ASYNC);
}

/// The bell of a thread that is not the main one: a thread-safe function whose context holds
/// a reference to `bridge`, given back in `finalize`.
fn thread_safe_function(env: sys::napi_env, bridge: &Arc<Bridge>) -> napi::Result<Tsfn> {
    let name = resource_name(env)?;
    let context = Arc::into_raw(Arc::clone(bridge)) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    // SAFETY: no JS function (napi 5+ allows NULL with a call_js callback); `context`
    // stays valid until `finalize`, which takes its reference back.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            context,
            Some(finalize),
            context,
            Some(settle_all),
            &mut tsfn,
        )
    };
    if let Err(e) = check(status) {
        // SAFETY: the reference made above, never handed to napi.
        drop(unsafe { Arc::from_raw(context as *const Bridge) });
        return Err(e);
    }
    Ok(Tsfn(tsfn))
}

/// The environment is torn down: no more wake-ups, and the context's reference goes.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: the reference `Bridge::new` gave the function.
    let bridge = unsafe { Arc::from_raw(data as *const Bridge) };
    *bridge.wake.write().unwrap_or_else(|p| p.into_inner()) = None;
    *bridge.queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
    BRIDGE.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            *b = None;
        }
    });
}

/// The name the bell's async resource goes by (async hooks, diagnostics).
fn resource_name(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    let mut name = ptr::null_mut();
    let label = "micro";
    // SAFETY: a plain napi call on the JS thread with a valid out-pointer.
    check(unsafe { sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name) })?;
    Ok(name)
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "napi call failed in micro's promise bridge"))
    }
}
