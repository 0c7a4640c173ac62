//! Futures as JS promises, settled through one thread-safe function per JS thread.
//!
//! napi-rs's `Env::spawn_future` makes a thread-safe function for every promise: a libuv
//! handle opened, registered for teardown and closed again per call, which cost a small call
//! more than everything else it did (issue 18). Here every promise of a JS thread is settled
//! through one thread-safe function, made on first use: a finished future puts its outcome
//! on this thread's queue and, when the queue was empty, wakes the JS thread once; the JS
//! thread settles everything queued in one go. The function is referenced (keeps Node alive)
//! only while promises are pending, as napi-rs's per-promise functions were.
//!
//! Why hand-written: napi-rs's `ThreadsafeFunction` calls a JS function per value and queues
//! each call; what is needed is a wake-up that carries nothing and coalesces, around
//! `napi_create_promise` deferreds that napi-rs does not expose without its own
//! thread-safe function.

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, JsError};
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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

/// One JS thread's bridge.
struct Bridge {
    tsfn: OnceLock<Tsfn>,
    /// Outcomes waiting for the JS thread; `None` once the environment is torn down.
    queue: Mutex<Option<Vec<(Deferred, Outcome)>>>,
    /// Promises not settled yet (touched on the JS thread only, atomic for `Sync`).
    pending: AtomicUsize,
    /// Calls ([`Start::Here`], [`Start::Owned`]) not finished yet, wherever they run.
    calls: AtomicUsize,
    /// How many promises the last wake-up settled: more than one means calls are finishing
    /// faster than one at a time, and the JS thread, the busiest, keeps off their replies.
    last_batch: AtomicUsize,
}

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
        let mut name = ptr::null_mut();
        let label = "micro";
        // SAFETY: plain napi calls on the JS thread with valid out-pointers.
        unsafe {
            check(sys::napi_create_string_utf8(env, label.as_ptr().cast(), label.len() as isize, &mut name))?;
        }
        let bridge = Arc::new(Bridge {
            tsfn: OnceLock::new(),
            queue: Mutex::new(Some(Vec::new())),
            pending: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            last_batch: AtomicUsize::new(0),
        });
        // The function's context holds one reference, given back in `finalize`.
        let context = Arc::into_raw(Arc::clone(&bridge)) as *mut c_void;
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
        // SAFETY: on the JS thread, the function just made. Unreferenced until a promise waits.
        unsafe { check(sys::napi_unref_threadsafe_function(env, tsfn))? };
        let _ = bridge.tsfn.set(Tsfn(tsfn));
        Ok(bridge)
    }

    /// Queues an outcome; wakes the JS thread when the queue was empty (a wake-up is
    /// already on its way otherwise). Dropped once the environment is gone.
    fn settle(&self, deferred: Deferred, outcome: Outcome) {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = q.as_mut() else { return };
        q.push((deferred, outcome));
        if let (1, Some(tsfn)) = (q.len(), self.tsfn.get()) {
            // Under the lock: `finalize` takes it before the function is freed.
            // SAFETY: the function lives until `finalize`, which cannot run meanwhile.
            let _ = unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn.0,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
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
    let bridge = Bridge::get(raw)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: on the JS thread, valid out-pointers.
    unsafe { check(sys::napi_create_promise(raw, &mut deferred, &mut promise))? };
    let idle = bridge.pending.fetch_add(1, Ordering::Relaxed) == 0;
    let call = (how != Start::Spawn).then(|| InFlight::count(&bridge));
    let alone = call.as_ref().is_some_and(|c| c.alone);
    if let (true, Some(tsfn)) = (idle, bridge.tsfn.get()) {
        // SAFETY: on the JS thread; keeps Node alive while a promise waits.
        unsafe { check(sys::napi_ref_threadsafe_function(raw, tsfn.0))? };
    }
    let quiet = bridge.last_batch.load(Ordering::Relaxed) <= 1;
    let deferred = Deferred(deferred);
    let run = async move {
        let out = fut.await;
        drop(call);
        let outcome: Outcome = Box::new(move |env| match out {
            // SAFETY: called on the JS thread with its live env.
            Ok(v) => unsafe { T::to_napi_value(env, v) },
            Err(e) => Err(e),
        });
        bridge.settle(deferred, outcome);
    };
    match (alone, how) {
        (true, Start::Owned) if quiet => {
            let mut lp = ptr::null_mut();
            // SAFETY: on the JS thread, a valid out-pointer.
            let found = unsafe { sys::napi_get_uv_event_loop(raw, &mut lp) } == sys::Status::napi_ok;
            let task = crate::here::task(run);
            let refused = if found { crate::here::start(lp.cast(), task).err() } else { Some(task) };
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
    let bridge = unsafe { &*(context as *const Bridge) };
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
    if let (true, Some(tsfn)) = (n > 0 && bridge.pending.fetch_sub(n, Ordering::Relaxed) == n, bridge.tsfn.get()) {
        // SAFETY: on the JS thread; nothing waits, so Node may exit.
        unsafe { sys::napi_unref_threadsafe_function(env, tsfn.0) };
    }
}

/// The environment is torn down: no more wake-ups, and the context's reference goes.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: the reference `Bridge::new` gave the function.
    let bridge = unsafe { Arc::from_raw(data as *const Bridge) };
    *bridge.queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
    BRIDGE.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            *b = None;
        }
    });
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "napi call failed in micro's promise bridge"))
    }
}
