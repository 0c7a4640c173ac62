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
use micro::host::start::{spawned, start, Start};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;

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
    /// Threads waiting on `changed`. Leaving wakes them only when there are some: std's
    /// `notify_all` is a system call even with no waiter, and every blocking call leaves
    /// the gate once.
    waiting: usize,
}

/// Proof of being admitted; leaving the gate on drop.
struct Admitted<'a>(&'a Gate);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.inside -= 1;
        if st.inside == 0 && st.waiting > 0 {
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
            st = self.wait(st);
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
            st = self.wait(st);
        }
    }

    /// Waits for a change, counted in `waiting` meanwhile.
    fn wait<'a>(&'a self, mut st: std::sync::MutexGuard<'a, GateState>) -> std::sync::MutexGuard<'a, GateState> {
        st.waiting += 1;
        let mut st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        st.waiting -= 1;
        st
    }

    /// Lets arrivals in again after a fork.
    fn reopen(&self) {
        self.lock().forking = false;
        self.changed.notify_all();
    }

    /// Runs `f` attached to Python, unless the interpreter is exiting (then `None`).
    fn attach<R>(&self, f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
        ATTACHES.fetch_add(1, Ordering::Relaxed);
        let _admitted = self.enter()?;
        Some(Python::attach(f))
    }
}

/// The gate of this process's runtime, if one was built here.
fn current_gate() -> Option<Arc<Gate>> {
    let slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    slot.as_ref().filter(|s| s.pid == pid()).map(|s| Arc::clone(&s.gate))
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

/// Times a thread outside Python entered it through a gate (a runtime thread handing a
/// result over, a blocked caller checking for Ctrl-C): the tests check that results reach
/// a loop that watches its bell without any.
static ATTACHES: AtomicU64 = AtomicU64::new(0);

/// [`ATTACHES`] so far.
pub fn attaches() -> u64 {
    ATTACHES.load(Ordering::Relaxed)
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
    let pid = pid();
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
        .worker_threads(runtime_threads())
        .build()
        .map_err(|e| crate::err(500, format!("cannot start the micro runtime: {e}")))?;
    let rt = Arc::new(rt);
    let gate = Arc::new(Gate::new(EXITING.load(Ordering::SeqCst)));
    GENERATION.fetch_add(1, Ordering::Relaxed);
    *slot = Some(Slot { pid, rt: Arc::clone(&rt), gate: Arc::clone(&gate) });
    Ok((rt, gate))
}

/// How many threads the runtime runs: two, or one where the process may use a single CPU
/// (`taskset`, a container's CPU quota). The interpreter's thread is busy beside them, and two
/// runtime threads sharing one CPU wake and steal from each other: pinned to one CPU, a
/// Python-served call cost the server about 3 µs more CPU with two than with one (issue 18,
/// `LOAD=loadgen PIN=1 bash bench/thread_cpu.sh`).
fn runtime_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(2))
}

/// This process's id, read from memory ([`micro::process::id`]): what each object's fork
/// check, the runtime slot and the completion queue compare, several times a call.
pub fn pid() -> u32 {
    micro::process::id()
}

/// Raises `NativeError` (id `micro.python.fork`) when an object built in process `pid` is
/// used in another one (a forked child).
pub fn check_pid(pid: u32) -> PyResult<()> {
    let now = self::pid();
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

/// Aborts the Rust task of a future: called by asyncio when the future is done, if it was
/// cancelled ([`spawn_with`]), or by the one awaiting it when that await ended with an
/// exception ([`spawn_abortable`], `abort`).
#[pyclass(module = "micro._native", frozen)]
pub struct Canceller {
    /// The future, started on the loop's thread or spawned ([`micro::host::start`]), or a
    /// task of the loop thread's own runtime ([`Run::Here`]).
    started: Started,
}

/// Where a future given to [`spawn_with`] went.
enum Started {
    /// Started on the loop's thread or spawned on the shared runtime.
    Shared(Start),
    /// A task of the loop thread's own runtime: aborted, it is dropped at the next turn.
    Here(tokio::task::AbortHandle),
}

#[pymethods]
impl Canceller {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()? {
            self.abort();
        }
        Ok(())
    }

    /// Aborts the task (nothing when it finished already).
    fn abort(&self) {
        match &self.started {
            Started::Shared(s) => s.abort(),
            Started::Here(task) => task.abort(),
        }
    }
}

/// Results finished on runtime threads for one event loop, handed over in batches: the
/// runtime thread that finds the queue empty wakes the loop once; every result that lands
/// before the loop gets to it rides along, so under load the loop wakes once per batch.
///
/// The wake-up is a byte on a socket pair the loop watches (`loop.add_reader`), so a runtime
/// thread queues a result and wakes the loop without ever taking the GIL: under load the
/// loop's thread holds it nearly all the time, and a runtime thread asking for it would wait
/// (up to the interpreter's switch interval, 5 ms) with its sockets unserved. A loop that
/// cannot watch a file descriptor (Windows' proactor) is woken with `call_soon_threadsafe`,
/// which needs the GIL, as before.
#[pyclass(module = "micro._native", frozen)]
pub struct Completions {
    queue: Arc<Queue>,
    /// What empties the queue on the loop: watched by the loop (`add_reader`), or handed to
    /// its `call_soon_threadsafe` when the loop has no bell.
    drainer: Py<Drainer>,
    /// The loop. Weakly for a cached queue (held by `QUEUES` while the loop lives, it must
    /// not keep the loop alive), and to tell whether a thread's last queue is the loop's.
    lp: LoopRef,
}

/// The Rust side of a [`Completions`], shared with the tasks that deliver to it and the
/// [`Drainer`] the loop holds. Its only Python references are the queued futures, which
/// only the loop's thread takes out (or the `Completions`' drop, with the GIL).
struct Queue {
    pending: Mutex<Pending>,
    /// Futures spawned for this loop and not delivered yet: with none, a new one is started
    /// on the loop's thread ([`micro::host::start`]), its request written before `call`
    /// returns, instead of waking a runtime worker to write it.
    in_flight: AtomicUsize,
    /// Set once the loop watches it.
    bell: OnceLock<Bell>,
    /// The process that made it: a forked child makes its own queues and never takes this
    /// one's lock (a runtime thread of the parent may have held it at the fork).
    pid: u32,
}

#[derive(Default)]
struct Pending {
    items: Vec<(Py<PyAny>, PyResult<Conv>)>,
    /// The `Completions` is gone (its loop was collected): nothing is queued any more.
    closed: bool,
}

impl Queue {
    fn new() -> Arc<Self> {
        Arc::new(Queue {
            pending: Mutex::new(Pending::default()),
            in_flight: AtomicUsize::new(0),
            bell: OnceLock::new(),
            pid: pid(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A socket pair: one end rings, the loop watches the other. std's `UnixStream` rather
/// than an eventfd through libc: the same syscalls, no new dependency.
#[cfg(unix)]
struct Bell {
    ring: std::os::unix::net::UnixStream,
    heard: std::os::unix::net::UnixStream,
}

#[cfg(unix)]
impl Bell {
    fn new() -> std::io::Result<Self> {
        let (ring, heard) = std::os::unix::net::UnixStream::pair()?;
        ring.set_nonblocking(true)?;
        heard.set_nonblocking(true)?;
        Ok(Bell { ring, heard })
    }

    fn fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(&self.heard)
    }

    /// Makes the watched end readable (a full buffer means it is readable already).
    fn ring(&self) {
        use std::io::Write;
        let _ = (&self.ring).write(&[1]);
    }

    /// Empties the watched end; called before the queue is taken, so a ring after it is
    /// heard.
    fn quiet(&self) {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.heard).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// No socket pair off Unix: every loop is woken with `call_soon_threadsafe`.
#[cfg(not(unix))]
struct Bell;

#[cfg(not(unix))]
impl Bell {
    fn new() -> std::io::Result<Self> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no socket pair here"))
    }
    fn fd(&self) -> i32 {
        -1
    }
    fn ring(&self) {}
    fn quiet(&self) {}
}

/// Empties a [`Completions`] queue on its loop: resolves every queued future.
#[pyclass(module = "micro._native", frozen)]
pub struct Drainer {
    queue: Arc<Queue>,
}

#[pymethods]
impl Drainer {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        if self.queue.pid != pid() {
            return Ok(()); // a loop carried into a forked child: not ours to drain
        }
        if let Some(bell) = self.queue.bell.get() {
            bell.quiet();
        }
        resolve_all(py, &self.queue);
        Ok(())
    }
}

/// Resolves every future queued in `queue` (on its loop's thread).
fn resolve_all(py: Python<'_>, queue: &Queue) {
    let batch = std::mem::take(&mut queue.lock().items);
    if batch.is_empty() {
        return;
    }
    let resolve = match resolver(py) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot complete asyncio futures");
            return;
        }
    };
    for (fut, out) in batch {
        let (ok, value) = match out.and_then(|c| c(py)) {
            Ok(v) => (true, v),
            Err(e) => (false, e.into_value(py).into_any()),
        };
        if let Err(e) = resolve.call1(py, (fut, ok, value)) {
            tracing::warn!(error = %e, "cannot complete an asyncio future");
        }
    }
}

/// Resolves what is queued for `completions`' loop, on that loop's thread, without
/// quieting its bell (a ring from another thread is heard later and finds the queue empty).
pub fn drain(py: Python<'_>, completions: &Completions) {
    if completions.queue.pid == pid() {
        resolve_all(py, &completions.queue);
    }
}

impl Completions {
    /// The loop, unless it is gone.
    pub fn event_loop<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.lp.get(py)
    }
}

impl Drop for Completions {
    /// Dropped by Python (the GIL is held): what is still queued goes now, and a task that
    /// delivers later drops its result through the gate.
    fn drop(&mut self) {
        if self.queue.pid != pid() {
            return;
        }
        let items = {
            let mut p = self.queue.lock();
            p.closed = true;
            std::mem::take(&mut p.items)
        };
        drop(items);
    }
}

/// A [`Completions`]' loop.
enum LoopRef {
    /// A `weakref.ref` to it.
    Weak(Py<PyAny>),
    /// A loop that takes no weak reference (its queue is used once, never cached).
    Strong(Py<PyAny>),
}

impl LoopRef {
    /// The loop, unless it is gone.
    fn get<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        match self {
            LoopRef::Weak(w) => w.bind(py).call0().ok().filter(|l| !l.is_none()),
            LoopRef::Strong(l) => Some(l.bind(py).clone()),
        }
    }
}

static QUEUES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

thread_local! {
    /// The queue this thread used last: a thread runs one loop at a time, so the lookup in
    /// `QUEUES` (a `WeakKeyDictionary`, written in Python) is skipped while it is the same.
    static LAST: std::cell::RefCell<Option<Py<Completions>>> = const { std::cell::RefCell::new(None) };
}

/// The completion queue of `lp` (made on first use; held weakly by the loop's lifetime).
fn completions(py: Python<'_>, lp: &Bound<'_, PyAny>) -> PyResult<Py<Completions>> {
    let pid = pid();
    let same = |q: &Py<Completions>| {
        let q = q.get();
        q.queue.pid == pid && q.lp.get(py).is_some_and(|l| l.is(lp))
    };
    if let Some(q) = LAST.with_borrow(|last| last.as_ref().filter(|q| same(q)).map(|q| q.clone_ref(py))) {
        return Ok(q);
    }
    let queues = QUEUES
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind()))?
        .bind(py);
    let found = match queues.get_item(lp) {
        Ok(q) => q.cast_into::<Completions>().ok().map(Bound::unbind).filter(|q| q.get().queue.pid == pid),
        Err(_) => None,
    };
    let q = match found {
        Some(q) => q,
        None => {
            match py.import("weakref")?.getattr("ref")?.call1((lp,)) {
                Ok(weak) => {
                    let q = new_completions(py, lp, LoopRef::Weak(weak.unbind()))?;
                    queues.set_item(lp, q.clone_ref(py))?;
                    q
                }
                // A loop that takes no weak reference gets a fresh queue per call (woken with
                // call_soon_threadsafe, never watched, never cached): slower, still right.
                Err(_) => return new_completions(py, lp, LoopRef::Strong(lp.clone().unbind())),
            }
        }
    };
    // The old value is a Py: replaced here, with the GIL held.
    LAST.with_borrow_mut(|last| *last = Some(q.clone_ref(py)));
    Ok(q)
}

/// A queue for `lp`, which watches its bell when held weakly (a one-use queue never is);
/// one it cannot watch (no `add_reader`, as Windows' proactor) is woken with
/// `call_soon_threadsafe` instead.
fn new_completions(py: Python<'_>, lp: &Bound<'_, PyAny>, lp_ref: LoopRef) -> PyResult<Py<Completions>> {
    let queue = Queue::new();
    let drainer = Py::new(py, Drainer { queue: Arc::clone(&queue) })?;
    if matches!(lp_ref, LoopRef::Weak(_)) {
        if let Ok(bell) = Bell::new() {
            if lp.call_method1("add_reader", (bell.fd(), drainer.clone_ref(py))).is_ok() {
                let _ = queue.bell.set(bell);
            }
        }
    }
    Py::new(py, Completions { queue, drainer, lp: lp_ref })
}

/// Where a spawned future's result goes. The future (a Python reference) is only ever
/// dropped through the runtime's [`Gate`] or by the loop that takes it from the queue.
struct Target {
    fut: Option<Py<PyAny>>,
    queue: Arc<Queue>,
    /// The `Completions`, for a loop woken with `call_soon_threadsafe` (no bell).
    unwatched: Option<Py<Completions>>,
    gate: Arc<Gate>,
}

impl Target {
    /// Queues `out` for the asyncio future; wakes the loop if the queue was empty.
    fn deliver(mut self, out: PyResult<Conv>) {
        let Some(fut) = self.fut.take() else { return };
        let first = {
            let mut p = self.queue.lock();
            if p.closed {
                drop(p);
                // The loop is gone: nobody waits; the reference goes through the gate.
                let mut gone = Some((fut, out));
                if self.gate.attach(|_py| drop(gone.take())).is_none() {
                    std::mem::forget(gone);
                }
                return;
            }
            p.items.push((fut, out));
            p.items.len() == 1
        };
        // Queued by the loop's own thread as it turns its runtime: resolved right after.
        if !first || QUIET.try_with(std::cell::Cell::get).unwrap_or(false) {
            return;
        }
        if let Some(bell) = self.queue.bell.get() {
            bell.ring();
            return;
        }
        let Some(q) = self.unwatched.as_ref() else { return };
        let queue = &self.queue;
        let delivered = self.gate.attach(|py| {
            let q = q.get();
            // A closed loop raises RuntimeError, a collected one is gone: nobody waits.
            let woken = match q.lp.get(py) {
                Some(lp) => lp.call_method1("call_soon_threadsafe", (q.drainer.clone_ref(py),)).map(drop),
                None => Err(pyo3::exceptions::PyRuntimeError::new_err("event loop collected")),
            };
            if let Err(e) = woken {
                tracing::debug!(error = %e, "results dropped: event loop closed");
                drop(std::mem::take(&mut queue.lock().items));
            }
        });
        if delivered.is_none() {
            // Interpreter exiting: leak what waits (dropping needs the interpreter).
            std::mem::forget(std::mem::take(&mut queue.lock().items));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.queue.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Python references: the future when the task was aborted (cancelled from Python)
        // or dropped unfinished, and the queue of an unwatched loop.
        let mut refs = (self.fut.take(), self.unwatched.take());
        if refs.0.is_none() && refs.1.is_none() {
            return;
        }
        let mut refs = Some(std::mem::take(&mut refs));
        if self.gate.attach(|_py| drop(refs.take())).is_none() {
            std::mem::forget(refs);
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
    spawn_with(py, fut, Run::Spawned)
}

/// Where [`spawn_with`] runs a future while nothing else spawned for its loop is in flight
/// (with some in flight it is always spawned on the shared runtime).
#[derive(Clone, Copy)]
pub enum Run {
    /// Spawned on the shared runtime.
    Spawned,
    /// Started on the loop's thread, going on on the shared runtime once woken
    /// ([`micro::host::start`]): the request is written before `call` returns, where
    /// spawning would first wake a runtime worker to write it. Only for futures whose first
    /// poll does no blocking work (a call: a cached lookup, a pooled connection, a
    /// non-blocking write); it runs with the GIL held.
    Started,
    /// A task of the loop thread's own runtime, watched by the loop, through `Owner` (made
    /// by `crate::here`, which builds on this module); as [`Run::Started`] where the loop
    /// cannot watch it. Only for futures that keep to [`micro::transport::local`]'s rules (a
    /// call of a client that `drives_on_any_thread`).
    Here(Owner),
}

/// A future for [`Owner::start`].
pub type Task = micro::transport::local::Task;

/// How a future runs on the loop thread's own runtime ([`Run::Here`]).
#[derive(Clone, Copy)]
pub struct Owner {
    /// Whether a future for the loop of these completions may start there now.
    pub available: fn(&Py<Completions>) -> bool,
    /// Starts it there (on the loop of these completions, `lp`), or gives it back.
    pub start: StartHere,
}

/// [`Owner::start`]: given the loop, its completions and the task, the task's abort handle,
/// or the task back when it cannot run there.
pub type StartHere =
    fn(Python<'_>, &Bound<'_, PyAny>, &Py<Completions>, Task) -> Result<tokio::task::AbortHandle, Task>;

thread_local! {
    /// Results delivered on this thread now are queued without ringing the loop's bell (see
    /// [`Quiet`]).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While it lives, results delivered on this thread (the loop's, as it runs futures of its
/// own runtime) are queued without ringing the bell: the loop's thread resolves them itself.
pub struct Quiet;

impl Quiet {
    /// Results delivered on this thread from now on do not ring.
    pub fn enter() -> Self {
        QUIET.with(|q| q.set(true));
        Quiet
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = QUIET.try_with(|q| q.set(false));
    }
}

/// [`spawn`], run as `how` says while nothing else spawned for this loop is in flight.
pub fn spawn_with<'py, F>(py: Python<'py>, fut: F, how: Run) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<Conv>> + Send + 'static,
{
    let (pyfut, canceller) = started(py, fut, how)?;
    pyfut.call_method1("add_done_callback", (Py::new(py, canceller)?,))?;
    Ok(pyfut)
}

/// [`spawn_with`] for a caller that awaits the future itself: `(future, canceller)`, with no
/// done callback on the future. The caller calls the canceller's `abort` when its await ends
/// with an exception (a cancellation among them). asyncio schedules every done callback as
/// a handle of its own, one more per call on the loop.
pub fn spawn_abortable<'py, F>(py: Python<'py>, fut: F, how: Run) -> PyResult<Bound<'py, PyTuple>>
where
    F: Future<Output = PyResult<Conv>> + Send + 'static,
{
    let (pyfut, canceller) = started(py, fut, how)?;
    PyTuple::new(py, [pyfut, Bound::new(py, canceller)?.into_any()])
}

/// `fut` started as `how` says, with the asyncio future it resolves and what aborts it.
fn started<'py, F>(py: Python<'py>, fut: F, how: Run) -> PyResult<(Bound<'py, PyAny>, Canceller)>
where
    F: Future<Output = PyResult<Conv>> + Send + 'static,
{
    let (rt, gate) = runtime_and_gate()?;
    let get_loop = GET_RUNNING_LOOP
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind()))?;
    let lp = get_loop.bind(py).call0()?;
    let completions = completions(py, &lp)?;
    let pyfut = lp.call_method0("create_future")?;
    let queue = Arc::clone(&completions.get().queue);
    // A loop that watches its bell can watch its thread's sockets as well.
    let (watched, unwatched) =
        if queue.bell.get().is_some() { (Some(completions), None) } else { (None, Some(completions)) };
    let idle = queue.in_flight.fetch_add(1, Ordering::Relaxed) == 0;
    let target = Target { fut: Some(pyfut.clone().unbind()), queue, unwatched, gate };
    let run = async move {
        let out = fut.await;
        target.deliver(out);
    };
    let started = match how {
        _ if !idle => Started::Shared(spawned(rt.handle(), run)),
        Run::Spawned => Started::Shared(spawned(rt.handle(), run)),
        Run::Started => Started::Shared(start(rt.handle(), run)),
        Run::Here(owner) => match &watched {
            Some(completions) if cfg!(unix) && (owner.available)(completions) => {
                match (owner.start)(py, &lp, completions, Box::pin(run)) {
                    Ok(task) => Started::Here(task),
                    Err(run) => Started::Shared(start(rt.handle(), run)),
                }
            }
            _ => Started::Shared(start(rt.handle(), run)),
        },
    };
    Ok((pyfut, Canceller { started }))
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
    let checks_signals = MAIN_THREAD.get().map_or(true, |t| *t == std::thread::current().id());
    let (out, admitted) = py.detach(|| {
        let watched = async move {
            tokio::pin!(fut);
            // Only Python's main thread runs signal handlers, so only it checks; other
            // threads wait for the call alone, with no timer of their own (and on exit they
            // are turned away at the gate once the call ends). The first check after 100 ms,
            // not at once: a check attaches to Python, and one per call was an extra GIL
            // handoff per call for threads blocked more than a millisecond (the timer's
            // resolution).
            let mut tick = checks_signals
                .then(|| tokio::time::interval_at(tokio::time::Instant::now() + SIGNAL_CHECK, SIGNAL_CHECK));
            loop {
                tokio::select! {
                    r = &mut fut => return Some(r),
                    _ = next_tick(&mut tick) => match gate.attach(|py| py.check_signals()) {
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

/// Python's main thread, the only one that runs signal handlers, if the module was
/// imported there (else every blocked thread checks, as before it was known).
static MAIN_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Notes the calling thread as Python's main thread if it is (at import).
pub fn note_main_thread(py: Python<'_>) -> PyResult<()> {
    let threading = py.import("threading")?;
    if threading.call_method0("current_thread")?.is(&threading.call_method0("main_thread")?) {
        let _ = MAIN_THREAD.set(std::thread::current().id());
    }
    Ok(())
}

/// The next tick of `tick`; never, without one.
async fn next_tick(tick: &mut Option<tokio::time::Interval>) {
    match tick {
        Some(tick) => {
            tick.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// How often a thread blocked in [`block_with`] checks for signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

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
