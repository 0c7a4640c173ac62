//! `micro_runtime`: a tokio runtime for I/O plus library-owned dispatch threads on which
//! every callback runs; and the process-wide log callback.

use crate::*;
use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// `micro_debug_thread_role`: a thread the library did not start (yours).
pub const MICRO_THREAD_ROLE_NONE: i32 = 0;
/// `micro_debug_thread_role`: a dispatch thread of a runtime (where callbacks run).
pub const MICRO_THREAD_ROLE_DISPATCH: i32 = 1;
/// `micro_debug_thread_role`: an async runtime (tokio) thread of a runtime, worker or
/// blocking pool; no C code ever runs there.
pub const MICRO_THREAD_ROLE_RUNTIME: i32 = 2;
/// `micro_debug_thread_role`: the library's log thread (where the log callback runs).
pub const MICRO_THREAD_ROLE_LOG: i32 = 3;

thread_local! {
    /// What this thread is to the library (a `MICRO_THREAD_ROLE_*`); set once when a
    /// library thread starts.
    static ROLE: Cell<i32> = const { Cell::new(MICRO_THREAD_ROLE_NONE) };
}

fn set_role(role: i32) {
    ROLE.with(|c| c.set(role));
}

/// Whether the current thread belongs to the library (tokio, dispatch or log thread).
pub(crate) fn on_library_thread() -> bool {
    ROLE.with(|c| c.get()) != MICRO_THREAD_ROLE_NONE
}

/// Whether the current thread is an async runtime (tokio) thread.
pub(crate) fn on_runtime_thread() -> bool {
    ROLE.with(|c| c.get()) == MICRO_THREAD_ROLE_RUNTIME
}

/// Test support: what the calling thread is to the library — `MICRO_THREAD_ROLE_DISPATCH`
/// inside every callback and handler, `MICRO_THREAD_ROLE_LOG` inside the log callback,
/// `MICRO_THREAD_ROLE_NONE` on threads you started. `MICRO_THREAD_ROLE_RUNTIME` (an async
/// runtime thread) would mean a library bug: C code never runs there. The library's
/// threads are also named: `micro-dispatch-N`, `micro-io`, `micro-log`.
#[no_mangle]
pub extern "C" fn micro_debug_thread_role() -> i32 {
    guard(MICRO_THREAD_ROLE_NONE, || ROLE.with(|c| c.get()))
}

/// A pointer the C side promises may be used from any thread (userdata).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub *mut c_void);
// SAFETY: the library never dereferences it; it only hands it back to the C callbacks,
// and the header documents that callbacks run on library threads.
unsafe impl Send for SendPtr {}
// SAFETY: as for Send: shared references only copy the pointer value.
unsafe impl Sync for SendPtr {}

pub(crate) type Job = Box<dyn FnOnce() + Send>;

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
    pub(crate) fn release(self, rt: &std::sync::Weak<Rt>) {
        let job: Job = Box::new(move || self.run());
        match (on_runtime_thread(), rt.upgrade()) {
            (true, Some(rt)) => rt.dispatch_or_run(job),
            _ => job(),
        }
    }
}

/// Runtime options; a builder owned by the caller (not thread-safe), freed with
/// `micro_runtime_options_free`.
pub struct micro_runtime_options {
    worker_threads: usize,
    dispatch_threads: usize,
}

/// A runtime: owns the I/O threads and the dispatch threads. Every other object is
/// created from one and keeps it alive. Thread-safe.
pub struct micro_runtime {
    pub(crate) rt: Arc<Rt>,
}

pub(crate) struct Rt {
    tokio: Mutex<Option<tokio::runtime::Runtime>>,
    pub(crate) handle: tokio::runtime::Handle,
    closed: AtomicBool,
    pid: u32,
    pool: Arc<Pool>,
}

/// The dispatch pool: `min` threads always, more while every thread is busy (a callback
/// may block, e.g. in a synchronous call whose answer needs another callback), up to `MAX`;
/// extra threads leave after a while idle.
struct Pool {
    state: Mutex<PoolState>,
    cv: Condvar,
    min: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    idle: usize,
    live: usize,
    /// Dispatch threads inside a blocking library call (a re-entrant synchronous call).
    blocked: usize,
    closed: bool,
}

const MAX_DISPATCH: usize = 512;

impl Pool {
    fn spawn_worker(self: &Arc<Self>, st: &mut PoolState) -> bool {
        let pool = Arc::clone(self);
        let n = st.live;
        match std::thread::Builder::new().name(format!("micro-dispatch-{n}")).spawn(move || pool.work()) {
            Ok(h) => {
                st.live += 1;
                if let Ok(mut t) = self.threads.lock() {
                    t.push(h);
                }
                true
            }
            Err(_) => false,
        }
    }

    fn work(&self) {
        set_role(MICRO_THREAD_ROLE_DISPATCH);
        let Ok(mut st) = self.state.lock() else { return };
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                // A panic in a job is a library bug; keep the thread serving.
                let _ = catch_unwind(AssertUnwindSafe(job));
                st = match self.state.lock() {
                    Ok(s) => s,
                    Err(_) => return,
                };
                continue;
            }
            if st.closed {
                st.live -= 1;
                return;
            }
            st.idle += 1;
            let (next, timeout) = match self.cv.wait_timeout(st, Duration::from_secs(10)) {
                Ok(r) => r,
                Err(_) => return,
            };
            st = next;
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() && st.live > self.min {
                st.live -= 1;
                return;
            }
        }
    }

    fn push(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let Ok(mut st) = self.state.lock() else { return Err(job) };
        if st.closed {
            return Err(job);
        }
        st.jobs.push_back(job);
        self.grow(&mut st);
        drop(st);
        self.cv.notify_one();
        Ok(())
    }

    /// Starts one more thread when jobs wait and every thread is blocked in a library call
    /// (otherwise a callback's synchronous call could wait for a callback that cannot run).
    fn grow(self: &Arc<Self>, st: &mut PoolState) {
        if !st.jobs.is_empty() && st.idle == 0 && st.blocked >= st.live && st.live < MAX_DISPATCH {
            self.spawn_worker(st);
        }
    }

    fn set_blocked(self: &Arc<Self>, enter: bool) {
        if let Ok(mut st) = self.state.lock() {
            if enter {
                st.blocked += 1;
                self.grow(&mut st);
            } else {
                st.blocked = st.blocked.saturating_sub(1);
            }
        }
    }

    fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
        }
        self.cv.notify_all();
    }
}

impl Rt {
    /// Fails with CLOSED after shutdown and FORKED in a child process.
    pub(crate) fn check(&self) -> R<()> {
        if self.pid != std::process::id() {
            return Err(fail(MICRO_STATUS_FORKED, "the runtime was created in another process"));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(fail(MICRO_STATUS_CLOSED, "the runtime is shut down"));
        }
        Ok(())
    }

    /// Runs `fut` to completion from a host thread (not from a tokio worker).
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> R<F::Output> {
        self.check()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(fail(MICRO_STATUS_ILLEGAL_STATE, "a blocking call cannot run on an async runtime thread"));
        }
        let dispatch = on_library_thread();
        if dispatch {
            self.pool.set_blocked(true);
        }
        let out = self.handle.block_on(fut);
        if dispatch {
            self.pool.set_blocked(false);
        }
        Ok(out)
    }

    /// Runs a stop (`what` names it in the log): to completion from a host thread; from a
    /// library thread (inside a callback, where waiting for the drain could wait on this
    /// very callback) in the background, returning at once.
    pub(crate) fn stop<F>(&self, what: &'static str, stop: F) -> R<()>
    where
        F: std::future::Future<Output = micro_core::error::Result<()>> + Send + 'static,
    {
        if on_library_thread() {
            self.check()?;
            self.handle.spawn(async move {
                if let Err(e) = stop.await {
                    tracing::warn!(error = %e, "{what} stop failed");
                }
            });
            return Ok(());
        }
        self.block_on(stop)?.map_err(core_fail)
    }

    /// Runs `job` on a dispatch thread. Gives the job back when the pool is closed.
    pub(crate) fn dispatch(&self, job: Job) -> Result<(), Job> {
        self.pool.push(job)
    }

    /// Runs `job` on a dispatch thread, or here when none is left (the runtime is being torn
    /// down), so that it runs exactly once either way.
    pub(crate) fn dispatch_or_run(&self, job: Job) {
        if let Err(job) = self.dispatch(job) {
            job();
        }
    }

    /// Cancels everything, then drains and joins the dispatch threads.
    fn shutdown(&self, timeout: Duration) {
        self.closed.store(true, Ordering::Release);
        let tokio = self.tokio.lock().ok().and_then(|mut t| t.take());
        let detached = on_library_thread();
        if let Some(t) = tokio {
            if detached {
                t.shutdown_background();
            } else {
                t.shutdown_timeout(timeout);
            }
        }
        // Each dispatch thread leaves once the queue is drained.
        self.pool.close();
        if !detached {
            // A thread may be added while the first ones drain (a job that blocked as the pool
            // closed): join until none is left.
            loop {
                let threads = self.pool.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
                if threads.is_empty() {
                    break;
                }
                for t in threads {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

fn build(opts: &micro_runtime_options) -> R<micro_runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all().thread_name("micro-io").on_thread_start(|| set_role(MICRO_THREAD_ROLE_RUNTIME));
    if opts.worker_threads > 0 {
        b.worker_threads(opts.worker_threads);
    }
    let tokio = b.build().map_err(|e| fail(MICRO_STATUS_INTERNAL, format!("cannot start the runtime: {e}")))?;
    let handle = tokio.handle().clone();
    let n = if opts.dispatch_threads > 0 { opts.dispatch_threads } else { 4 };
    let pool = Arc::new(Pool { state: Mutex::default(), cv: Condvar::new(), min: n, threads: Mutex::default() });
    {
        let mut st = pool.state.lock().map_err(|_| fail(MICRO_STATUS_INTERNAL, "pool lock"))?;
        for _ in 0..n {
            if !pool.spawn_worker(&mut st) {
                return Err(fail(MICRO_STATUS_INTERNAL, "cannot start a dispatch thread"));
            }
        }
    }
    Ok(micro_runtime {
        rt: Arc::new(Rt {
            tokio: Mutex::new(Some(tokio)),
            handle,
            closed: AtomicBool::new(false),
            pid: std::process::id(),
            pool,
        }),
    })
}

/// New runtime options with defaults (I/O threads: one per core; dispatch threads: 4).
#[no_mangle]
pub extern "C" fn micro_runtime_options_new() -> *mut micro_runtime_options {
    new_handle(|| micro_runtime_options { worker_threads: 0, dispatch_threads: 0 })
}

/// Releases runtime options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_options_free(o: *mut micro_runtime_options) {
    free_handle(o)
}

/// Number of I/O threads (0 = one per core).
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_options_set_worker_threads(
    o: *mut micro_runtime_options,
    n: u32,
) -> micro_status {
    set_option(o, || Ok(n as usize), |o, n| o.worker_threads = n)
}

/// Number of dispatch threads that always run (0 = 4); more start while all are busy.
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_options_set_dispatch_threads(
    o: *mut micro_runtime_options,
    n: u32,
) -> micro_status {
    let input = || {
        if n > 1024 {
            return Err(fail(MICRO_STATUS_INVALID_ARG, "at most 1024 dispatch threads"));
        }
        Ok(n as usize)
    };
    set_option(o, input, |o, n| o.dispatch_threads = n)
}

/// Starts a runtime. `options` may be NULL (defaults). On success `*out` owns the runtime:
/// release it with `micro_runtime_free` (after `micro_runtime_shutdown` for a clean stop).
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_new(
    options: *const micro_runtime_options,
    out: *mut *mut micro_runtime,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let out = arg_mut(out, "out")?;
        let defaults = micro_runtime_options { worker_threads: 0, dispatch_threads: 0 };
        let opts = options.as_ref().unwrap_or(&defaults);
        *out = export(build(opts)?);
        Ok(())
    })
}

/// Shuts the runtime down: cancels every call in flight (their callbacks fire with
/// `MICRO_STATUS_CANCELLED`), stops I/O within `timeout_ms`, runs the callbacks still
/// queued and joins the dispatch threads. Afterwards every call on objects of this runtime
/// returns `MICRO_STATUS_CLOSED`. Returns `MICRO_STATUS_ILLEGAL_STATE` from a callback.
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_shutdown(rt: *mut micro_runtime, timeout_ms: u32) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let rt = arg(rt, "rt")?;
        if on_library_thread() {
            return Err(fail(MICRO_STATUS_ILLEGAL_STATE, "micro_runtime_shutdown called from a library thread"));
        }
        rt.rt.shutdown(Duration::from_millis(u64::from(timeout_ms)));
        Ok(())
    })
}

/// Releases the caller's reference; the runtime shuts down when the last object using it
/// is freed. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_runtime_free(rt: *mut micro_runtime) {
    free_handle(rt)
}

// ---------------------------------------------------------------------------------------
// Logging

/// A log callback: `level` 1 = error … 5 = trace; `target` is the Rust module, `message`
/// the formatted event; both borrowed for the duration of the call. Runs on the library's
/// log thread, in order.
pub type micro_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: i32, target: micro_str, message: micro_str)>;

enum LogMsg {
    Event(i32, CString, CString),
    Set(micro_log_fn, SendPtr, micro_free_fn),
    Flush(mpsc::Sender<()>),
}

struct LogSink {
    tx: Mutex<mpsc::Sender<LogMsg>>,
    level: std::sync::atomic::AtomicI32,
}

static LOG: std::sync::OnceLock<LogSink> = std::sync::OnceLock::new();

fn level_num(l: &tracing::Level) -> i32 {
    match *l {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    }
}

struct Visitor(String);
impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, "{}{value:?}", if self.0.is_empty() { "" } else { " " });
        } else {
            let _ = write!(self.0, "{}{}={value:?}", if self.0.is_empty() { "" } else { " " }, field.name());
        }
    }
}

struct Layer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: tracing_subscriber::layer::Context<'_, S>) -> bool {
        LOG.get().is_some_and(|l| level_num(meta.level()) <= l.level.load(Ordering::Relaxed))
    }
    fn on_event(&self, ev: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(sink) = LOG.get() else { return };
        let mut v = Visitor(String::new());
        ev.record(&mut v);
        let msg = LogMsg::Event(level_num(ev.metadata().level()), cstring(ev.metadata().target()), cstring(v.0));
        if let Ok(tx) = sink.tx.lock() {
            let _ = tx.send(msg);
        }
    }
}

fn log_sink() -> R<&'static LogSink> {
    if let Some(s) = LOG.get() {
        return Ok(s);
    }
    let (tx, rx) = mpsc::channel::<LogMsg>();
    std::thread::Builder::new()
        .name("micro-log".into())
        .spawn(move || {
            set_role(MICRO_THREAD_ROLE_LOG);
            let mut cb: Option<(micro_log_fn, SendPtr, micro_free_fn)> = None;
            while let Ok(m) = rx.recv() {
                match m {
                    LogMsg::Event(level, target, text) => {
                        if let Some((Some(f), ud, _)) = cb {
                            // SAFETY: `f` is the non-NULL log callback registered with `ud`;
                            // the views borrow `target`/`text`, which outlive the call.
                            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                                f(ud.0, level, view(&target), view(&text))
                            }));
                        }
                    }
                    LogMsg::Set(f, ud, free) => {
                        if let Some((_, old_ud, Some(old_free))) = cb.take() {
                            // SAFETY: the replaced callback's hook, run once after its last call.
                            unsafe { old_free(old_ud.0) };
                        }
                        cb = f.map(|f| (Some(f), ud, free));
                        if f.is_none() {
                            if let Some(free) = free {
                                // SAFETY: no callback comes with this userdata: release it once now.
                                unsafe { free(ud.0) };
                            }
                        }
                    }
                    LogMsg::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })
        .map_err(|e| fail(MICRO_STATUS_INTERNAL, format!("cannot start the log thread: {e}")))?;
    let sink = LOG.get_or_init(|| LogSink { tx: Mutex::new(tx), level: std::sync::atomic::AtomicI32::new(0) });
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Layer));
    Ok(sink)
}

/// Sends the library's log events at `min_level` and more severe (1 = error … 5 = trace;
/// 0 turns logging off) to `fn`, process-wide. Replaces any earlier callback; the earlier
/// callback's `userdata_free` runs once its last call has returned. `fn` NULL turns logging
/// off (and `userdata_free`, if given, runs at once on the log thread).
#[no_mangle]
pub unsafe extern "C" fn micro_log_set(
    min_level: i32,
    callback: micro_log_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        if !(0..=5).contains(&min_level) {
            return Err(fail(MICRO_STATUS_INVALID_ARG, format!("min_level {min_level} is not in 0..=5")));
        }
        let sink = log_sink()?;
        let level = if callback.is_some() { min_level } else { 0 };
        let tx = sink.tx.lock().map_err(|_| fail(MICRO_STATUS_INTERNAL, "log lock poisoned"))?;
        let _ = tx.send(LogMsg::Set(callback, SendPtr(userdata), userdata_free));
        sink.level.store(level, Ordering::Relaxed);
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    })
}

/// Waits until every log event emitted so far has been delivered (at most `timeout_ms`).
#[no_mangle]
pub unsafe extern "C" fn micro_log_flush(timeout_ms: u32) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let Some(sink) = LOG.get() else { return Ok(()) };
        let (tx, rx) = mpsc::channel();
        if let Ok(s) = sink.tx.lock() {
            let _ = s.send(LogMsg::Flush(tx));
        }
        rx.recv_timeout(Duration::from_millis(u64::from(timeout_ms)))
            .map_err(|_| fail(MICRO_STATUS_TIMEOUT, "log flush timed out"))
    })
}
