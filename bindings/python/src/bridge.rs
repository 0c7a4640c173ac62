//! The runtime slot, Rust futures as asyncio futures, and blocking calls that release the
//! GIL and answer Ctrl-C.
//!
//! Fork: tokio's threads do not survive `fork()`. The runtime is kept with the pid that
//! built it; in a child the old one is leaked on purpose (dropping it would join threads
//! that no longer exist) and the next use builds a fresh one. Objects built before the fork
//! refuse to work in the child (see [`check_pid`]).

use crate::{to_py, FORK_ID};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use pyo3::sync::PyOnceLock;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

struct Slot {
    pid: u32,
    rt: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Slot>> = Mutex::new(None);
/// Set by the Python package's `atexit` hook: from then on no runtime thread touches Python.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Held (shared) by a runtime thread for as long as it is attached to Python, and taken
/// exclusively by [`set_exiting`]: once that returns, no runtime thread is inside Python and
/// none will enter it again — checking the flag and attaching cannot race with finalization.
static ATTACHED: RwLock<()> = RwLock::new(());

/// Marks the interpreter as exiting: waits (with the GIL released, so an attached runtime
/// thread can finish) until no runtime thread is inside Python; results that complete later
/// are dropped, so no runtime thread attaches to a finalizing interpreter.
pub fn set_exiting(py: Python<'_>) {
    py.detach(|| {
        let _exclusive = ATTACHED.write().unwrap_or_else(|p| p.into_inner());
        EXITING.store(true, Ordering::SeqCst);
    });
}

/// Runs `f` attached to Python from a runtime thread, unless the interpreter is exiting
/// (then `None`).
fn attach_unless_exiting<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    let _shared = ATTACHED.read().unwrap_or_else(|p| p.into_inner());
    if !may_attach() {
        return None;
    }
    Some(Python::attach(f))
}

fn may_attach() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, with or without the GIL.
    !EXITING.load(Ordering::SeqCst) && unsafe { pyo3::ffi::Py_IsInitialized() } != 0
}
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many runtimes this process has built.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// The process's runtime, built on first use (and again in a forked child).
pub fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = slot.as_ref() {
        if s.pid == pid {
            return Ok(Arc::clone(&s.rt));
        }
    }
    if let Some(old) = slot.take() {
        // Built by our parent: its threads are gone in this process. Never drop it.
        std::mem::forget(old);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("micro-rt")
        .worker_threads(2)
        .build()
        .map_err(|e| crate::err(500, format!("cannot start the micro runtime: {e}")))?;
    let rt = Arc::new(rt);
    GENERATION.fetch_add(1, Ordering::Relaxed);
    *slot = Some(Slot { pid, rt: Arc::clone(&rt) });
    Ok(rt)
}

/// Raises `NativeError` (id `micro.python.fork`) when an object built in process `pid` is
/// used in another one (a forked child).
pub fn check_pid(pid: u32) -> PyResult<()> {
    let now = std::process::id();
    if now == pid {
        Ok(())
    } else {
        Err(to_py(micro::Error::new(
            FORK_ID,
            format!("this object was created in process {pid} and cannot be used after fork() (in process {now}); create a new one in the child"),
            500,
        )))
    }
}

/// What a finished future hands back: a conversion to run with the GIL held.
pub type Conv = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Wraps a value that converts into Python as a [`Conv`].
pub fn conv<T>(v: T) -> Conv
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    Box::new(move |py| v.into_py_any(py))
}

static RESOLVER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn resolver(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    RESOLVER.get_or_try_init(py, || {
        let m = pyo3::types::PyModule::from_code(
            py,
            c"def resolve(fut, ok, value):\n    if fut.done():\n        return\n    if ok:\n        fut.set_result(value)\n    else:\n        fut.set_exception(value)\n",
            c"micro_native_bridge.py",
            c"micro_native_bridge",
        )?;
        Ok(m.getattr("resolve")?.unbind())
    })
}

/// Called by asyncio when the future is done: aborts the Rust task if it was cancelled.
#[pyclass(module = "micro._native")]
pub struct Canceller {
    handle: Mutex<Option<AbortHandle>>,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()? {
            if let Some(h) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
                h.abort();
            }
        }
        Ok(())
    }
}

/// Runs `fut` on the runtime and returns an asyncio future of the running loop that
/// completes with its result. Only the completion (`call_soon_threadsafe`) touches Python
/// from a runtime thread; cancelling the asyncio future aborts the Rust task.
pub fn spawn<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<Conv>> + Send + 'static,
{
    let rt = runtime()?;
    let resolve = resolver(py)?.clone_ref(py);
    let lp = py.import("asyncio")?.call_method0("get_running_loop")?;
    let pyfut = lp.call_method0("create_future")?;
    let lp_u = lp.unbind();
    let fut_u = pyfut.clone().unbind();
    let task = rt.spawn(async move {
        let out = fut.await;
        let mut parts = Some((out, resolve, lp_u, fut_u));
        let delivered = attach_unless_exiting(|py| {
            let Some((out, resolve, lp_u, fut_u)) = parts.take() else { return };
            let (ok, value) = match out.and_then(|c| c(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            // A closed loop raises RuntimeError: nobody is waiting any more.
            if let Err(e) = lp_u.bind(py).call_method1("call_soon_threadsafe", (resolve, fut_u, ok, value)) {
                tracing::debug!(error = %e, "result dropped: event loop closed");
            }
        });
        if delivered.is_none() {
            // Leak the Python references: dropping them needs the interpreter.
            std::mem::forget(parts);
        }
    });
    let canceller = Canceller { handle: Mutex::new(Some(task.abort_handle())) };
    pyfut.call_method1("add_done_callback", (Py::new(py, canceller)?,))?;
    Ok(pyfut)
}

/// Runs `fut` to completion on the calling thread with the GIL released, checking for
/// signals (Ctrl-C) every 100 ms; a pending `KeyboardInterrupt` abandons the call.
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    let rt = runtime()?;
    py.detach(|| {
        rt.block_on(async move {
            tokio::pin!(fut);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    r = &mut fut => return r,
                    _ = tick.tick() => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}
