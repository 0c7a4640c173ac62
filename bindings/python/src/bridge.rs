//! The runtime slot, Rust futures as asyncio futures, and blocking calls that release the
//! GIL and answer Ctrl-C.
//!
//! Fork: tokio's threads do not survive `fork()`. The runtime is kept with the pid that
//! built it; in a child the old one is leaked on purpose (dropping it would join threads
//! that no longer exist) and the next use builds a fresh one. Objects built before the fork
//! refuse to work in the child (see [`check_pid`]).
//!
//! A runtime thread touches the interpreter only to hand a result back, and only through
//! its runtime's [`Gate`]. The gate closes around `fork()` (the package registers
//! [`before_fork`]/[`after_fork_in_parent`] with `os.register_at_fork`) and for good at
//! interpreter exit, so neither a fork nor finalization ever catches a runtime thread
//! half-way through CPython (creating or deleting its thread state): a child forked at
//! that moment would inherit the interpreter's thread list mid-update.

use crate::{to_py, FORK_ID};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

struct Slot {
    pid: u32,
    rt: Arc<Runtime>,
    gate: Arc<Gate>,
}

static RUNTIME: Mutex<Option<Slot>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Set at interpreter exit; a runtime built after that (there should be none) starts shut.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The thread that ran the exit hook (the one finalizing the interpreter).
static EXITING_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Admits runtime threads into Python, or keeps them out while the process forks or the
/// interpreter exits. One per runtime: a forked child gets a new runtime and a new gate, so
/// a lock state copied mid-change by `fork()` is never used again.
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Runtime threads attached to Python right now.
    inside: usize,
    /// A fork is in progress: arrivals wait.
    forking: bool,
    /// The interpreter is finalizing: arrivals are turned away for good.
    exiting: bool,
}

/// Proof of being admitted; leaving the gate on drop.
struct Admitted<'a>(&'a Gate);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.inside -= 1;
        if st.inside == 0 {
            self.0.changed.notify_all();
        }
    }
}

impl Gate {
    fn new(exiting: bool) -> Self {
        Gate { state: Mutex::new(GateState { exiting, ..GateState::default() }), changed: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits out a fork in progress; `None` once the interpreter is exiting.
    fn enter(&self) -> Option<Admitted<'_>> {
        let mut st = self.lock();
        while st.forking && !st.exiting {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        // SAFETY: Py_IsInitialized may be called at any time, with or without the GIL.
        if st.exiting || unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
            return None;
        }
        st.inside += 1;
        Some(Admitted(self))
    }

    /// Stops new arrivals (for good when `exiting`) and waits until none is inside.
    fn close(&self, exiting: bool) {
        let mut st = self.lock();
        if exiting {
            st.exiting = true;
        } else {
            st.forking = true;
        }
        while st.inside > 0 {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Lets arrivals in again after a fork.
    fn reopen(&self) {
        self.lock().forking = false;
        self.changed.notify_all();
    }

    /// Runs `f` attached to Python, unless the interpreter is exiting (then `None`).
    fn attach<R>(&self, f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
        let _admitted = self.enter()?;
        Some(Python::attach(f))
    }
}

/// The gate of this process's runtime, if one was built here.
fn current_gate() -> Option<Arc<Gate>> {
    let slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    slot.as_ref().filter(|s| s.pid == std::process::id()).map(|s| Arc::clone(&s.gate))
}

/// Marks the interpreter as exiting: waits (with the GIL released, so an attached runtime
/// thread can finish) until no runtime thread is inside Python; results that complete later
/// are dropped, so no runtime thread attaches to a finalizing interpreter.
pub fn set_exiting(py: Python<'_>) {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    if let Some(gate) = current_gate() {
        py.detach(|| gate.close(true));
    }
}

/// `os.register_at_fork(before=…)`: waits (GIL released) until no runtime thread is inside
/// Python and keeps them out until [`after_fork_in_parent`].
pub fn before_fork(py: Python<'_>) {
    if let Some(gate) = current_gate() {
        py.detach(|| gate.close(false));
    }
}

/// `os.register_at_fork(after_in_parent=…)`: lets runtime threads back into Python.
pub fn after_fork_in_parent() {
    if let Some(gate) = current_gate() {
        gate.reopen();
    }
}

/// How many runtimes this process has built.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// The process's runtime, built on first use (and again in a forked child).
pub fn runtime() -> PyResult<Arc<Runtime>> {
    Ok(runtime_and_gate()?.0)
}

fn runtime_and_gate() -> PyResult<(Arc<Runtime>, Arc<Gate>)> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = slot.as_ref() {
        if s.pid == pid {
            return Ok((Arc::clone(&s.rt), Arc::clone(&s.gate)));
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
    let gate = Arc::new(Gate::new(EXITING.load(Ordering::SeqCst)));
    GENERATION.fetch_add(1, Ordering::Relaxed);
    *slot = Some(Slot { pid, rt: Arc::clone(&rt), gate: Arc::clone(&gate) });
    Ok((rt, gate))
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

/// Results finished on runtime threads for one event loop, handed over in batches: the
/// runtime thread that finds the queue empty wakes the loop once (`call_soon_threadsafe`);
/// every result that lands before the loop gets to it rides along, so under load the
/// runtime threads rarely enter Python at all and the loop wakes once per batch.
#[pyclass(module = "micro._native", frozen)]
pub struct Completions {
    pending: Mutex<Vec<(Py<PyAny>, PyResult<Conv>)>>,
    /// `call_soon_threadsafe` of the loop, and `self.drain`.
    wake: Py<PyAny>,
    drain: OnceLock<Py<PyAny>>,
    /// The process that made it: a forked child makes its own (this one's lock may have
    /// been copied mid-use).
    pid: u32,
}

#[pymethods]
impl Completions {
    /// Runs on the loop: resolves every queued future.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let resolve = resolver(py)?;
        for (fut, out) in batch {
            let (ok, value) = match out.and_then(|c| c(py)) {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            if let Err(e) = resolve.call1(py, (fut, ok, value)) {
                tracing::warn!(error = %e, "cannot complete an asyncio future");
            }
        }
        Ok(())
    }
}

static QUEUES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The completion queue of `lp` (made on first use; held weakly by the loop's lifetime).
fn completions(py: Python<'_>, lp: &Bound<'_, PyAny>) -> PyResult<Py<Completions>> {
    let queues = QUEUES
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind()))?
        .bind(py);
    let pid = std::process::id();
    if let Ok(q) = queues.get_item(lp) {
        if let Ok(q) = q.cast_into::<Completions>() {
            if q.get().pid == pid {
                return Ok(q.unbind());
            }
        }
    }
    let q = Py::new(
        py,
        Completions {
            pending: Mutex::new(Vec::new()),
            wake: lp.getattr("call_soon_threadsafe")?.unbind(),
            drain: OnceLock::new(),
            pid,
        },
    )?;
    let drain = q.bind(py).getattr("drain")?.unbind();
    let _ = q.get().drain.set(drain);
    // A loop that takes no weak reference gets a fresh queue per call: slower, still right.
    let _ = queues.set_item(lp, q.clone_ref(py));
    Ok(q)
}

/// Where a spawned future's result goes. The Python references are only ever touched
/// through the runtime's [`Gate`] — also when the task is aborted (cancelled from Python)
/// and this is dropped on a runtime thread.
struct Target {
    refs: Option<(Py<PyAny>, Py<Completions>)>,
    gate: Arc<Gate>,
}

impl Target {
    /// Queues `out` for the asyncio future; wakes the loop if the queue was empty.
    fn deliver(mut self, out: PyResult<Conv>) {
        let Some((fut, queue)) = self.refs.take() else { return };
        let q = queue.get();
        let first = {
            let mut pending = q.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push((fut, out));
            pending.len() == 1
        };
        if first {
            let delivered = self.gate.attach(|py| {
                let Some(drain) = q.drain.get() else { return };
                // A closed loop raises RuntimeError: nobody is waiting any more.
                if let Err(e) = q.wake.call1(py, (drain.clone_ref(py),)) {
                    tracing::debug!(error = %e, "results dropped: event loop closed");
                    drop(std::mem::take(&mut *q.pending.lock().unwrap_or_else(|p| p.into_inner())));
                }
            });
            if delivered.is_none() {
                // Interpreter exiting: leak what waits (dropping needs the interpreter).
                std::mem::forget(std::mem::take(&mut *q.pending.lock().unwrap_or_else(|p| p.into_inner())));
            }
        }
        // `queue` (a Py) is dropped through the gate, like every other reference here.
        self.refs = None;
        let mut queue = Some(queue);
        if self.gate.attach(|_py| drop(queue.take())).is_none() {
            std::mem::forget(queue);
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(refs) = self.refs.take() {
            let mut refs = Some(refs);
            if self.gate.attach(|_py| drop(refs.take())).is_none() {
                std::mem::forget(refs);
            }
        }
    }
}

/// Runs `fut` on the runtime and returns an asyncio future of the running loop that
/// completes with its result. The completion reaches the loop through its [`Completions`]
/// queue; cancelling the asyncio future aborts the Rust task.
pub fn spawn<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<Conv>> + Send + 'static,
{
    let (rt, gate) = runtime_and_gate()?;
    let lp = py.import("asyncio")?.call_method0("get_running_loop")?;
    let queue = completions(py, &lp)?;
    let pyfut = lp.call_method0("create_future")?;
    let target = Target { refs: Some((pyfut.clone().unbind(), queue)), gate };
    let task = rt.spawn(async move {
        let out = fut.await;
        target.deliver(out);
    });
    let canceller = Canceller { handle: Mutex::new(Some(task.abort_handle())) };
    pyfut.call_method1("add_done_callback", (Py::new(py, canceller)?,))?;
    Ok(pyfut)
}

/// Runs `fut` to completion on the calling thread with the GIL released, checking for
/// signals (Ctrl-C) every 100 ms; a pending `KeyboardInterrupt` abandons the call.
///
/// The signal checks go through the runtime's [`Gate`], like every other attach. Once the
/// interpreter is exiting, a thread blocked here (a daemon thread in `call_sync` at exit)
/// never re-enters Python: CPython would end such a thread with `pthread_exit` in the middle
/// of Rust frames, so it parks instead until the process is gone. The thread running the
/// exit itself keeps waiting for its result (without signal checks).
pub fn block<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    block_with(py, fut, false)
}

/// [`block`], driving `fut` on the calling thread's own runtime when `here`
/// (`micro::transport::local`), so the thread that waits reads the reply itself: no runtime
/// worker is woken to hand it over. `here` only for a future that keeps to that module's
/// rules (a call of a client that `drives_on_any_thread`); where the thread cannot have a
/// runtime of its own, the shared runtime runs it as [`block`] does.
pub fn block_with<T, F>(py: Python<'_>, fut: F, here: bool) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    let (rt, gate) = runtime_and_gate()?;
    let gate = &*gate;
    let (out, admitted) = py.detach(|| {
        let watched = async move {
            tokio::pin!(fut);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    r = &mut fut => return Some(r),
                    _ = tick.tick() => match gate.attach(|py| py.check_signals()) {
                        Some(Err(e)) => return Some(Err(e)),
                        Some(Ok(())) => {}
                        None if must_stay_out() => return None,
                        None => {}
                    },
                }
            }
        };
        let out = if here { micro::transport::local::block_on_or(rt.handle(), watched) } else { rt.block_on(watched) };
        match out {
            // The thread running the exit re-enters freely: finalization waits for it.
            Some(r) if is_exiting_thread() => (r, None),
            // Any other thread re-enters through the gate, holding its admission until it has
            // the GIL again: `set_exiting` waits for that, so a thread that saw "not exiting"
            // cannot be handed the GIL after finalization began (CPython would `pthread_exit`
            // it here, through Rust frames, and the process aborts with "exception not
            // rethrown"). Turned away, it parks.
            Some(r) => match gate.enter() {
                Some(admitted) => (r, Some(admitted)),
                None => park_forever(),
            },
            None => park_forever(),
        }
    });
    drop(admitted);
    out
}

/// Whether this thread must not re-enter Python: the interpreter is exiting and this is
/// not the thread that runs the exit.
fn must_stay_out() -> bool {
    EXITING.load(Ordering::SeqCst) && !is_exiting_thread()
}

/// Whether this is the thread that ran the exit hook (it finalizes the interpreter).
fn is_exiting_thread() -> bool {
    EXITING_THREAD.get().is_some_and(|t| *t == std::thread::current().id())
}

/// Parks the calling (non-Python, GIL-released) thread until the process exits.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
