//! The calling thread's own runtime, for hosts that block on a call (a plain `def` in
//! Python calling `call_blocking`, C's `micro_client_call`).
//!
//! A call blocked on the shared runtime crosses threads twice: the reply wakes a runtime
//! worker parked in `epoll_wait`, which then wakes the caller. Profiled on a 2-core machine
//! that was 2.7 context switches per call against the Rust client's 1.0, and ~40 µs of
//! added latency (`bench/results/2026-12-04-sync-prototype.md`). [`block_on`] instead runs
//! the call on a current-thread runtime owned by the calling thread, so the thread that
//! waits is the one that reads the reply.
//!
//! What makes that sound, and where each rule is kept:
//! - A socket belongs to the runtime that dialled it: its readiness is only seen while that
//!   runtime runs. Connections dialled here carry this runtime's [`Home`], and
//!   [`super::pool::Pool`] only gives a connection back to the runtime it belongs to, so no
//!   connection dialled by one thread's runtime is handed to another's, and none of the
//!   shared runtime's to a thread.
//! - Work that must outlive the call (a registry watch, a lookup shared by callers, a
//!   background refresh) goes to the runtime that built the cache
//!   ([`crate::registry::cache::Cache`] spawns it there when [`current`] says a thread's
//!   runtime is running).
//! - A thread's runtime is dropped with the thread (tokio shuts a current-thread runtime
//!   down safely from a thread-local destructor), and never in a forked child, which only
//!   builds its own: the inherited one's epoll instance is shared with the parent's.
//!
//! A client that cannot keep to these rules (one with call wrappers, which may spawn) says
//! so in [`crate::Client::drives_on_any_thread`]; hosts then block on the shared runtime.
//!
//! A thread that runs an event loop cannot block, but it can own calls too: [`spawn_here`]
//! starts a call on the thread's runtime and [`turn`] runs what is ready there without
//! blocking (sockets polled with a zero timeout, expired timers, woken tasks). The loop
//! watches the runtime's sockets ([`Watches`]) and turns it when one is readable, so the
//! reply wakes the loop's own thread: no runtime worker between (issue 18; Python's asyncio
//! client at one call in flight added 64.6 µs a call over the Rust client through a worker,
//! 40.7 µs so, unpinned). What a socket cannot signal (a connect completing, a timeout, a
//! wake-up from another thread) waits for the host's next turn, so a host turns on a short
//! timer too while calls are in flight.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::Context;
use std::time::Duration;
use tokio::runtime::Runtime;

#[cfg(unix)]
mod watches;
#[cfg(unix)]
pub use watches::{Watcher, Watches};

/// Which thread's runtime a connection was dialled on: an id that is never reused, and
/// whether that runtime still exists.
#[derive(Clone, Debug)]
pub struct Home {
    id: u64,
    alive: Weak<()>,
    sockets: Arc<Sockets>,
}

impl Home {
    /// The id, unique for the life of the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// False once the thread that owned the runtime has exited.
    pub fn is_alive(&self) -> bool {
        self.alive.strong_count() > 0
    }
}

/// Why [`block_on`] did not run the future.
#[derive(Debug, thiserror::Error)]
pub enum NotHere {
    /// The thread is already inside a runtime (a runtime worker, or a `block_on` in
    /// progress): blocking it would stall that runtime.
    #[error("this thread is already running a tokio runtime")]
    InRuntime,
    /// The runtime could not be built (out of file descriptors).
    #[error("could not build this thread's runtime: {0}")]
    Build(std::io::Error),
    /// As many threads as there are CPUs to run them are blocked in their own calls
    /// already. Past that the shared runtime serves blocked callers better: its workers take
    /// many replies per wake-up, where each thread would wake for its own (measured with
    /// 100 blocking Python callers on one core: 9.1k calls/s on their own runtimes against
    /// 14.8k on the shared one; `bench/results/2026-12-04-sync-local.md`).
    #[error("{0} threads are already driving their own calls")]
    Busy(usize),
}

/// A future [`block_on`] did not run, given back with the reason, to run elsewhere (as
/// `std::sync::mpsc::SendError` gives back the value).
#[derive(Debug)]
pub struct Refused<F> {
    /// Why it was not run.
    pub why: NotHere,
    /// The future, untouched.
    pub fut: F,
}

/// How far ahead [`Horizon`]'s timer is due.
const HORIZON: Duration = Duration::from_secs(1);

/// A timer kept registered on a thread's runtime, due within [`HORIZON`], that nothing waits
/// on.
///
/// Tokio's timer wakes its driver (writes its eventfd) when a timer is registered sooner than
/// every timer the driver saw when it last polled, so it can shorten its wait. With no other
/// timer pending that is every call's timeout: a system call a call on the JS or asyncio
/// thread, and in [`block_on`] one more poll of the driver too. With this timer due sooner, a
/// call's timeout (seconds ahead) is not the soonest, and the driver is woken once a
/// [`HORIZON`] at most, as the timer is set again.
///
/// The shared runtime's twin is `host::start`'s keeper, a task sleeping in a loop. Not that
/// here: a task of a thread's own runtime counts as a call in flight ([`tasks`]), and would
/// keep the host's tick going; a registered timer is not a task.
#[derive(Default)]
struct Horizon(RefCell<Option<Pin<Box<tokio::time::Sleep>>>>);

impl Horizon {
    /// Keeps the timer registered and due within `ahead`; inside the thread's runtime.
    fn keep(&self, ahead: Duration) {
        let Ok(mut slot) = self.0.try_borrow_mut() else { return };
        let now = tokio::time::Instant::now();
        match slot.as_mut() {
            // Not fired yet: still registered.
            Some(timer) if timer.deadline() > now => return,
            Some(timer) => timer.as_mut().reset(now + ahead),
            None => *slot = Some(Box::pin(tokio::time::sleep_until(now + ahead))),
        }
        if let Some(timer) = slot.as_mut() {
            // Registered as it is polled; it fires into a waker that does nothing.
            let _ = timer.as_mut().poll(&mut Context::from_waker(futures::task::noop_waker_ref()));
        }
    }
}

/// Keeps this thread's [`Horizon`]; inside its runtime.
fn keep_horizon() {
    with_own(|own| own.horizon.keep(HORIZON));
}

/// One thread's runtime.
struct Own {
    /// Before `rt`: dropped while its runtime is still there.
    horizon: Horizon,
    pid: u32,
    rt: Arc<Runtime>,
    home: Home,
    /// Dropped with the thread: [`Home::is_alive`] turns false.
    _alive: Arc<()>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static OWN: RefCell<Option<Own>> = const { RefCell::new(None) };
    /// The home of the runtime this thread is driving right now, inside [`block_on`].
    static DRIVING: RefCell<Option<Home>> = const { RefCell::new(None) };
}

/// The thread runtime being driven on this thread right now, if any: code that dials or
/// spawns asks this to keep sockets and background work where they belong.
pub fn current() -> Option<Home> {
    DRIVING.try_with(|d| d.borrow().clone()).ok().flatten()
}

/// [`Home::id`] of [`current`] (on every pooled call, so without cloning the `Home`).
pub fn current_id() -> Option<u64> {
    DRIVING.try_with(|d| d.borrow().as_ref().map(Home::id)).ok().flatten()
}

/// Whether this thread is driving its own runtime right now.
pub fn is_driving() -> bool {
    current_id().is_some()
}

/// Whether this thread is inside a tokio runtime (its own, or any other): where none of
/// [`block_on`], [`spawn_here`] or [`turn`] may run.
fn inside_a_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok() || is_driving()
}

/// [`block_on`], or `shared.block_on` where this thread may not drive its own runtime: what
/// a host's blocking call does (Python's `call_sync`, C's `micro_client_call_sync`).
pub fn block_on_or<F: Future>(shared: &tokio::runtime::Handle, fut: F) -> F::Output {
    match block_on(fut) {
        Ok(out) => out,
        Err(refused) => shared.block_on(refused.fut),
    }
}

/// Runs `fut` to completion on the calling thread's own current-thread runtime (built on
/// first use, kept for the thread's life). Refused, with the future given back untouched,
/// inside a runtime, when the runtime cannot be built, or while as many threads as the
/// process has CPUs are in here already ([`NotHere::Busy`]).
pub fn block_on<F: Future>(fut: F) -> Result<F::Output, Refused<F>> {
    if inside_a_runtime() {
        return Err(Refused { why: NotHere::InRuntime, fut });
    }
    let Some(_slot) = Slot::take() else {
        return Err(Refused { why: NotHere::Busy(DRIVERS.load(Ordering::Relaxed)), fut });
    };
    let (rt, home) = match own() {
        Ok(found) => found,
        Err(why) => return Err(Refused { why, fut }),
    };
    let _driving = Driving::enter(home);
    Ok(rt.block_on(async move {
        keep_horizon();
        fut.await
    }))
}

/// A future for [`spawn_here`].
pub type Task = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Spawns `task` on this thread's own runtime (built on first use) and runs what is ready
/// there ([`turn`]): a call's request is written before this returns. The task goes on only
/// while the thread turns its runtime again (or blocks in [`block_on`]). Refused, with the
/// task given back, inside a runtime or when the runtime cannot be built.
pub fn spawn_here(task: Task) -> Result<tokio::task::AbortHandle, Refused<Task>> {
    if inside_a_runtime() {
        return Err(Refused { why: NotHere::InRuntime, fut: task });
    }
    let (rt, home) = match own() {
        Ok(found) => found,
        Err(why) => return Err(Refused { why, fut: task }),
    };
    let _driving = Driving::enter(home);
    // Spawned from inside the runtime: queued, no wake-up of a driver nobody waits on. Both
    // of `settle`'s yields, though the first already writes the request: on one CPU with its
    // server, the reply is often in by the driver's first poll (the server ran as the request
    // was written), and the second lets the call read it and finish here, so a host settling
    // in rounds goes on without another turn of its loop. With one yield a Node call at one
    // in flight, pinned, took 4 µs more (p50 36-37 → 40-42 µs, 5 of 6 reps; libuv polled
    // once a call instead of once in 25).
    Ok(rt.block_on(async move {
        keep_horizon();
        let task = tokio::spawn(task).abort_handle();
        settle().await;
        task
    }))
}

/// Runs what is ready on this thread's own runtime without blocking: its sockets are polled
/// once with a zero timeout, its expired timers fire, and the tasks they (or anything
/// before) woke run. Refused inside a runtime or when the runtime cannot be built.
pub fn turn() -> Result<(), NotHere> {
    if inside_a_runtime() {
        return Err(NotHere::InRuntime);
    }
    let (rt, home) = own()?;
    let _driving = Driving::enter(home);
    rt.block_on(settle());
    Ok(())
}

/// Inside a current-thread runtime's `block_on`: runs the queued tasks, polls the driver
/// without blocking, runs what that woke, and polls it once more. A `yield_now` makes the
/// runtime poll its driver with a zero timeout rather than park (it has deferred work), and
/// the second lets the tasks the first poll woke run before `block_on` returns.
async fn settle() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// The sockets dialled on one thread's runtime, for a host that watches them.
#[derive(Debug, Default)]
struct Sockets {
    /// The live sockets.
    list: Mutex<Vec<Arc<Socket>>>,
    /// Bumped on every change of `list`.
    generation: AtomicU64,
}

/// One socket of a thread's runtime.
#[derive(Debug)]
struct Socket {
    /// Never reused.
    id: u64,
    fd: i32,
    /// Idle in a pool: no call reads it, so readiness there is the peer closing it.
    pooled: AtomicBool,
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Socket>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A socket dialled on a thread's runtime, listed among that runtime's sockets (for [`Watches`]) for as long
/// as this lives (kept beside the socket, dropped with it).
#[derive(Debug)]
pub struct Watched {
    sockets: Arc<Sockets>,
    socket: Arc<Socket>,
}

impl Watched {
    /// Lists the socket `fd` among the sockets of the runtime this thread is driving; `None`
    /// when it drives none (a socket of the shared runtime).
    pub fn new(fd: i32) -> Option<Watched> {
        let sockets = DRIVING.try_with(|d| d.borrow().as_ref().map(|h| Arc::clone(&h.sockets))).ok().flatten()?;
        let socket =
            Arc::new(Socket { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), fd, pooled: AtomicBool::new(false) });
        sockets.lock().push(Arc::clone(&socket));
        sockets.generation.fetch_add(1, Ordering::Release);
        Some(Watched { sockets, socket })
    }

    /// Notes whether the socket sits idle in a pool ([`pooled`]).
    pub fn set_pooled(&self, pooled: bool) {
        self.socket.pooled.store(pooled, Ordering::Relaxed);
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.sockets.lock().retain(|s| s.id != self.socket.id);
        self.sockets.generation.fetch_add(1, Ordering::Release);
    }
}

/// Whether socket `id` of this thread's runtime sits idle in a pool, read by no call: a
/// readiness there is its peer closing it (or talking out of turn), which only the next call
/// on it will read, so a host watching it stops until then ([`Watches::mute`]). A host asks
/// as the socket is found readable, before the turn (which may pool it again after its call).
pub fn pooled(id: u64) -> bool {
    own_sockets().is_some_and(|sockets| sockets.lock().iter().any(|s| s.id == id && s.pooled.load(Ordering::Relaxed)))
}

/// This thread's runtime's sockets, if it has a runtime.
fn own_sockets() -> Option<Arc<Sockets>> {
    with_own(|own| Arc::clone(&own.home.sockets))
}

/// `f` of this thread's own runtime, if it has one built in this process (not inherited
/// through a fork).
fn with_own<T>(f: impl FnOnce(&Own) -> T) -> Option<T> {
    let pid = crate::process::id();
    OWN.try_with(|o| o.borrow().as_ref().filter(|own| own.pid == pid).map(f)).ok().flatten()
}

/// The tasks alive on this thread's own runtime: spawned there and not finished or dropped
/// yet (0 when the thread has none).
pub fn tasks() -> usize {
    with_own(|own| own.rt.metrics().num_alive_tasks()).unwrap_or(0)
}

/// Threads inside [`block_on`] right now.
static DRIVERS: AtomicUsize = AtomicUsize::new(0);

/// One of the [`block_on`]s allowed at once: as many as the CPUs this process may run on.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        static LIMIT: OnceLock<usize> = OnceLock::new();
        let limit = *LIMIT.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let before = DRIVERS.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            DRIVERS.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        DRIVERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sets [`current`] for the length of a `block_on`, and clears it however that ends.
struct Driving;

impl Driving {
    fn enter(home: Home) -> Self {
        DRIVING.with(|d| *d.borrow_mut() = Some(home));
        Driving
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        let _ = DRIVING.try_with(|d| d.borrow_mut().take());
    }
}

/// This thread's runtime, built on first use (and again in a forked child).
fn own() -> Result<(Arc<Runtime>, Home), NotHere> {
    if let Some(found) = with_own(|own| (own.rt.clone(), own.home.clone())) {
        return Ok(found);
    }
    let pid = crate::process::id();
    let rt = Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(NotHere::Build)?);
    let alive = Arc::new(());
    let home =
        Home { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), alive: Arc::downgrade(&alive), sockets: Arc::default() };
    let fresh = Own { horizon: Horizon::default(), pid, rt: rt.clone(), home: home.clone(), _alive: alive };
    if let Some(inherited) = OWN.with(|o| o.borrow_mut().replace(fresh)) {
        // Built by the parent before a fork: its epoll instance is the parent's too, and
        // shutting it down here would deregister the parent's sockets.
        std::mem::forget(inherited);
    }
    Ok((rt, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `block_on`, waiting for a slot while other tests hold them all.
    fn run<F: Future>(mut fut: F) -> F::Output {
        loop {
            match block_on(fut) {
                Ok(out) => return out,
                Err(Refused { why: NotHere::Busy(_), fut: back }) => {
                    fut = back;
                    std::thread::yield_now();
                }
                Err(r) => panic!("refused: {}", r.why),
            }
        }
    }

    /// The sockets of this thread's own runtime, each as (an id never reused, its file
    /// descriptor), when they changed since generation `*seen` (which is then updated); `None`
    /// when they did not, or the thread has no runtime. A host watching them compares ids, not
    /// descriptors: a closed socket's number may be given to the next one.
    fn sockets(seen: &mut u64) -> Option<Vec<(u64, i32)>> {
        let sockets = own_sockets()?;
        let list = sockets.lock();
        let generation = sockets.generation.load(Ordering::Acquire);
        if generation == *seen {
            return None;
        }
        *seen = generation;
        Some(list.iter().map(|s| (s.id, s.fd)).collect())
    }

    #[test]
    fn a_thread_drives_its_own_runtime_and_only_inside_block_on() {
        assert!(current().is_none());
        let (inside, thread) = run(async { (current().map(|h| h.id()), std::thread::current().id()) });
        assert_eq!(thread, std::thread::current().id());
        let id = inside.expect("a home while driving");
        assert!(current().is_none(), "cleared after block_on");
        // The same runtime next time.
        assert_eq!(run(async { current().map(|h| h.id()) }), Some(id));
    }

    #[test]
    fn refused_inside_a_runtime() {
        let nested = run(async { block_on(async {}).is_err() });
        assert!(nested, "a block_on inside block_on must be refused");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(rt.block_on(async { matches!(block_on(async {}), Err(Refused { why: NotHere::InRuntime, .. })) }));
    }

    #[test]
    fn no_more_threads_drive_their_own_calls_than_there_are_cpus() {
        let limit = std::thread::available_parallelism().map_or(1, |n| n.get());
        let held: Vec<Slot> = std::iter::from_fn(Slot::take).take(limit + 1).collect();
        // Other tests may hold slots for a moment: never more than the limit in all.
        assert!(held.len() <= limit && DRIVERS.load(Ordering::SeqCst) <= limit, "{} slots of {limit}", held.len());
        if held.len() == limit {
            // All of them are ours: nobody can give one back.
            assert!(Slot::take().is_none(), "a slot past the limit");
        }
        drop(held);
    }

    #[test]
    fn the_runtime_of_an_exited_thread_is_gone_with_it() {
        let (home, stream) = std::thread::spawn(|| {
            run(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
                (current().expect("a home"), stream)
            })
        })
        .join()
        .expect("no panic dropping the runtime at thread exit");
        assert!(!home.is_alive(), "the thread exited");
        // A socket of that runtime outlives it without harm.
        drop(stream);
    }

    /// Turns the thread's runtime until `done` says so, yielding between turns (the socket
    /// events come from another thread); fails after 10 s without it.
    fn turn_until(mut done: impl FnMut() -> bool) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !done() {
            turn().expect("a turn");
            assert!(std::time::Instant::now() < end, "not done after 10 s of turns");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_task_spawned_here_runs_on_this_thread_as_it_is_turned_and_lists_its_socket() {
        std::thread::spawn(|| {
            // A server on other threads: answers each line with the same line.
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr").to_string();
            std::thread::spawn(move || {
                for s in listener.incoming().map_while(Result::ok) {
                    std::thread::spawn(move || {
                        use std::io::{BufRead, Write};
                        let Ok(read) = s.try_clone() else { return };
                        let mut s = s;
                        for line in std::io::BufReader::new(read).lines().map_while(Result::ok) {
                            let _ = writeln!(s, "{line}");
                        }
                    });
                }
            });
            let (tx, rx) = std::sync::mpsc::channel();
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let task = spawn_here(Box::pin(async move {
                use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
                let conn = super::super::pool::Conn::dial(
                    &addr,
                    std::time::Duration::from_secs(10),
                    super::super::Limits::default(),
                    None,
                )
                .await
                .expect("dial");
                let _ = tx.send(("dialled".to_string(), std::thread::current().id()));
                // A plain socket as well, to see the task go on from socket readiness.
                let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
                s.write_all(b"ping\n").await.expect("write");
                let mut line = String::new();
                tokio::io::BufReader::new(&mut s).read_line(&mut line).await.expect("read");
                let _ = tx.send((line, std::thread::current().id()));
                let _ = released.await;
                drop(conn);
                let _ = tx.send(("dropped".to_string(), std::thread::current().id()));
            }));
            assert!(task.is_ok(), "spawn_here refused on a plain thread");
            let here = std::thread::current().id();
            let mut got = Vec::new();
            let mut seen = 0;
            turn_until(|| {
                got.extend(rx.try_iter());
                got.len() == 2
            });
            assert_eq!(got[0], ("dialled".to_string(), here));
            assert_eq!(got[1], ("ping\n".to_string(), here), "the task went on on this thread");
            let listed = sockets(&mut seen).expect("the dialled connection is listed");
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert!(sockets(&mut seen).is_none(), "nothing changed since");
            let _ = release.send(());
            turn_until(|| {
                got.extend(rx.try_iter());
                got.len() == 3
            });
            assert_eq!(sockets(&mut seen), Some(vec![]), "a dropped connection is no longer listed");
        })
        .join()
        .expect("no panic");
    }

    /// This thread's `write` system calls so far (`/proc/thread-self/io`), if the kernel
    /// counts them.
    fn writes_of_this_thread() -> Option<u64> {
        let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
        io.lines().find_map(|l| l.strip_prefix("syscw:")).and_then(|n| n.trim().parse().ok())
    }

    #[test]
    fn a_calls_timeout_does_not_wake_the_driver_each_call() {
        std::thread::spawn(|| {
            // A call's shape, as far as the timer sees it: a timeout seconds ahead around
            // something that waits once.
            let call = || async {
                let waits_once = tokio::task::yield_now();
                tokio::time::timeout(Duration::from_secs(5), waits_once).await.expect("in time");
            };
            run(call()); // the runtime built, its horizon set
            let Some(before) = writes_of_this_thread() else {
                eprintln!("no /proc/thread-self/io: the driver's wake-ups cannot be counted here");
                return;
            };
            for _ in 0..50 {
                run(call());
                // The driver polled with the call's timer gone, as a host's next turn does:
                // no timer pending, so the next one registered would be the soonest.
                turn().expect("a turn");
            }
            let writes = writes_of_this_thread().expect("counted before") - before;
            // Each timeout registered as the soonest timer would write the driver's eventfd.
            assert!(writes < 10, "{writes} writes for 50 calls");
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn the_horizon_is_set_again_once_it_fired() {
        std::thread::spawn(|| {
            let ahead = Duration::from_millis(20);
            run(async move {
                let horizon = Horizon::default();
                horizon.keep(ahead);
                let first = horizon.0.borrow().as_ref().map(|t| t.deadline()).expect("set");
                horizon.keep(ahead);
                assert_eq!(horizon.0.borrow().as_ref().map(|t| t.deadline()), Some(first), "kept while ahead");
                tokio::time::sleep_until(first + Duration::from_millis(1)).await;
                horizon.keep(ahead);
                let again = horizon.0.borrow().as_ref().map(|t| t.deadline()).expect("set");
                assert!(again > first, "set again after it fired");
            });
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn spawn_here_is_refused_inside_a_runtime_and_gives_the_task_back() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let back = rt.block_on(async move {
            match spawn_here(Box::pin(async move { flag.store(true, Ordering::SeqCst) })) {
                Err(Refused { why: NotHere::InRuntime, fut }) => Some(fut),
                _ => None,
            }
        });
        let back = back.expect("refused with the task");
        assert!(!ran.load(Ordering::SeqCst));
        rt.block_on(back);
        assert!(ran.load(Ordering::SeqCst), "the task given back is whole");
        assert!(rt.block_on(async { matches!(turn(), Err(NotHere::InRuntime)) }));
    }
}
