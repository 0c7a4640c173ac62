//! `micro_runtime`: a tokio runtime for I/O plus a dispatch pool (`dispatch`) on which every
//! callback runs. Every other handle holds its `Rt`, which runs blocking calls, hands
//! callbacks to the pool and refuses calls after shutdown or a `fork`.

use crate::boundary::set_option;
use crate::boundary::{arg, arg_mut, boundary};
use crate::dispatch::{on_library_thread, set_role, Job, Pool, MICRO_THREAD_ROLE_RUNTIME};
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::{export, free_handle, new_handle, reclaim};
use crate::status::{
    micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_FORKED, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_INTERNAL,
    MICRO_STATUS_INVALID_ARG,
};
use crate::unwind::guard;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The shared state of a runtime, held by every object made from it.
pub(crate) struct Rt {
    tokio: Mutex<Option<tokio::runtime::Runtime>>,
    pub(crate) handle: tokio::runtime::Handle,
    closed: AtomicBool,
    pid: u32,
    pool: Arc<Pool>,
}

impl Rt {
    /// Fails with CLOSED after shutdown and FORKED in a child process.
    pub(crate) fn check(&self) -> FfiResult<()> {
        if self.pid != std::process::id() {
            return Err(fail(MICRO_STATUS_FORKED, "the runtime was created in another process"));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(fail(MICRO_STATUS_CLOSED, "the runtime is shut down"));
        }
        Ok(())
    }

    /// Runs `fut` to completion from a host thread (not from a tokio worker).
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> FfiResult<F::Output> {
        self.blocking(|| self.handle.block_on(fut))
    }

    /// [`Rt::block_on`], driving `fut` on the calling thread's own runtime when `here`
    /// (`micro_core::transport::local`), so the thread that waits reads the reply itself;
    /// the shared runtime runs it where the thread cannot have one. `here` only for a future
    /// that keeps to that module's rules: a call of a client that `drives_on_any_thread`.
    pub(crate) fn block_here_if<F: std::future::Future>(&self, here: bool, fut: F) -> FfiResult<F::Output> {
        if !here {
            return self.block_on(fut);
        }
        self.blocking(|| micro_core::transport::local::block_on_or(&self.handle, fut))
    }

    /// Runs `wait` from a host thread, telling the dispatch pool when a library thread
    /// blocks in it.
    fn blocking<R>(&self, wait: impl FnOnce() -> R) -> FfiResult<R> {
        self.check()?;
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(fail(MICRO_STATUS_ILLEGAL_STATE, "a blocking call cannot run on an async runtime thread"));
        }
        let dispatch = on_library_thread();
        if dispatch {
            self.pool.set_blocked(true);
        }
        let out = wait();
        if dispatch {
            self.pool.set_blocked(false);
        }
        Ok(out)
    }

    /// Runs a stop (`what` names it in the log): to completion from a host thread; from a
    /// library thread (inside a callback, where waiting for the drain could wait on this
    /// very callback) in the background, returning at once.
    pub(crate) fn stop<F>(&self, what: &'static str, stop: F) -> FfiResult<()>
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
            self.pool.join();
        }
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

fn build(opts: &micro_runtime_options) -> FfiResult<micro_runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.enable_all().thread_name("micro-io").on_thread_start(|| set_role(MICRO_THREAD_ROLE_RUNTIME));
    if opts.worker_threads > 0 {
        b.worker_threads(opts.worker_threads);
    }
    let tokio = b.build().map_err(|e| fail(MICRO_STATUS_INTERNAL, format!("cannot start the runtime: {e}")))?;
    let handle = tokio.handle().clone();
    let n = if opts.dispatch_threads > 0 { opts.dispatch_threads } else { 4 };
    let pool = Pool::start(n)?;
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

/// Releases an object whose parts must be dropped inside its runtime (their tasks wind
/// down there); NULL is a no-op.
pub(crate) unsafe fn free_in_runtime<T>(p: *mut T, rt: impl FnOnce(&T) -> Arc<Rt>) {
    guard((), || {
        if let Some(b) = reclaim(p) {
            let rt = rt(&b);
            let _g = rt.handle.enter();
            drop(b);
        }
    })
}
