//! The library's threads: what each is to the library (`MICRO_THREAD_ROLE_*`) and the
//! dispatch pool every callback and handler runs on, so that no C code ever runs on an I/O
//! (tokio) thread. A `runtime` owns one pool.

use crate::error::{fail, FfiResult};
use crate::status::MICRO_STATUS_INTERNAL;
use crate::unwind::guard;
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

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

/// Records what the calling thread is to the library (once, when a library thread starts).
pub(crate) fn set_role(role: i32) {
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

/// A unit of work for a dispatch thread (a callback with its arguments).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The dispatch pool: `min` threads always, more while every thread is busy (a callback
/// may block, e.g. in a synchronous call whose answer needs another callback), up to `MAX`;
/// extra threads leave after a while idle.
///
/// A job wakes the thread that went idle **last** (a stack, not a condition variable's
/// queue). With one call in flight, each call's callback starting the next, a condition
/// variable woke the pool's threads in turn, so every call's callback and request ran on a
/// thread that had slept longest, cold, and was often placed on the other CPU (issue 18: a
/// CPU migration nearly every call once the request was written on the dispatch thread).
/// Last-in, first-out keeps one warm thread serving while one suffices.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    min: usize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct PoolState {
    jobs: VecDeque<Job>,
    /// The threads waiting for a job, the one that went idle last on top.
    idle: Vec<Arc<Idle>>,
    live: usize,
    /// Dispatch threads inside a blocking library call (a re-entrant synchronous call).
    blocked: usize,
    closed: bool,
}

/// A dispatch thread waiting for a job.
struct Idle {
    thread: Thread,
    /// Set (under the pool's lock) by whoever takes this thread off the idle stack; the
    /// thread sleeps until it is, or until its idle time is up.
    woken: AtomicBool,
}

const MAX_DISPATCH: usize = 512;

/// How long a thread beyond the pool's `min` may wait for a job before it leaves.
const IDLE_LEAVE: Duration = Duration::from_secs(10);

impl Pool {
    /// A pool with `min` threads running.
    pub(crate) fn start(min: usize) -> FfiResult<Arc<Self>> {
        let pool = Arc::new(Pool { state: Mutex::default(), min, threads: Mutex::default() });
        {
            let mut st = pool.state.lock().map_err(|_| fail(MICRO_STATUS_INTERNAL, "pool lock"))?;
            for _ in 0..min {
                if !pool.spawn_worker(&mut st) {
                    return Err(fail(MICRO_STATUS_INTERNAL, "cannot start a dispatch thread"));
                }
            }
        }
        Ok(pool)
    }

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
        let me = Arc::new(Idle { thread: std::thread::current(), woken: AtomicBool::new(false) });
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
            me.woken.store(false, Ordering::Relaxed);
            st.idle.push(Arc::clone(&me));
            drop(st);
            let until = Instant::now() + IDLE_LEAVE;
            // `park` may return early (a stale unpark, or none at all): `woken` decides.
            while !me.woken.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                std::thread::park_timeout(until - now);
            }
            st = match self.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            // Under the lock `woken` says whether the thread is still on the stack.
            if !me.woken.load(Ordering::Relaxed) {
                st.idle.retain(|i| !Arc::ptr_eq(i, &me));
                if st.jobs.is_empty() && st.live > self.min {
                    st.live -= 1;
                    return;
                }
            }
        }
    }

    /// Takes the thread that went idle last off the stack, to be unparked once the lock is
    /// released.
    fn wake_one(st: &mut PoolState) -> Option<Thread> {
        let idle = st.idle.pop()?;
        idle.woken.store(true, Ordering::Release);
        Some(idle.thread.clone())
    }

    /// Queues `job` for a dispatch thread; gives it back when the pool is closed.
    pub(crate) fn push(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let Ok(mut st) = self.state.lock() else { return Err(job) };
        if st.closed {
            return Err(job);
        }
        st.jobs.push_back(job);
        self.grow(&mut st);
        let woken = Self::wake_one(&mut st);
        drop(st);
        if let Some(t) = woken {
            t.unpark();
        }
        Ok(())
    }

    /// Starts one more thread when jobs wait and every thread is blocked in a library call
    /// (otherwise a callback's synchronous call could wait for a callback that cannot run).
    fn grow(self: &Arc<Self>, st: &mut PoolState) {
        if !st.jobs.is_empty() && st.idle.is_empty() && st.blocked >= st.live && st.live < MAX_DISPATCH {
            self.spawn_worker(st);
        }
    }

    /// Counts a dispatch thread entering (`true`) or leaving a blocking library call.
    pub(crate) fn set_blocked(self: &Arc<Self>, enter: bool) {
        if let Ok(mut st) = self.state.lock() {
            if enter {
                st.blocked += 1;
                self.grow(&mut st);
            } else {
                st.blocked = st.blocked.saturating_sub(1);
            }
        }
    }

    /// Takes no more jobs; each dispatch thread leaves once the queue is drained.
    pub(crate) fn close(&self) {
        let mut woken = Vec::new();
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
            while let Some(t) = Self::wake_one(&mut st) {
                woken.push(t);
            }
        }
        for t in woken {
            t.unpark();
        }
    }

    /// Joins the dispatch threads (after `close`).
    pub(crate) fn join(&self) {
        // A thread may be added while the first ones drain (a job that blocked as the pool
        // closed): join until none is left.
        loop {
            let threads = self.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
            if threads.is_empty() {
                break;
            }
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn pool(n: usize) -> Arc<Pool> {
        match Pool::start(n) {
            Ok(p) => p,
            Err(_) => panic!("cannot start a pool of {n}"),
        }
    }

    impl Pool {
        /// How many threads wait for a job.
        fn idle_threads(&self) -> usize {
            self.state.lock().map(|st| st.idle.len()).unwrap_or(0)
        }

        /// Waits (an event, no time bound) until `n` threads wait for a job.
        fn until_idle(&self, n: usize) {
            while self.idle_threads() < n {
                std::thread::yield_now();
            }
        }
    }

    /// One job at a time, each pushed once the pool is idle again (one call in flight, its
    /// callback starting the next): the thread that went idle last takes every one of them,
    /// where a condition variable's queue handed them to the pool's threads in turn.
    #[test]
    fn one_job_at_a_time_runs_on_one_thread() {
        let pool = pool(4);
        pool.until_idle(4);
        let (tx, rx) = mpsc::channel();
        let mut ran_on = Vec::new();
        for _ in 0..20 {
            let tx = tx.clone();
            assert!(pool.push(Box::new(move || tx.send(std::thread::current().id()).unwrap_or(()))).is_ok());
            ran_on.push(rx.recv().expect("the job ran"));
            pool.until_idle(4);
        }
        ran_on.dedup();
        assert_eq!(ran_on.len(), 1, "jobs moved between threads: {ran_on:?}");
        pool.close();
        pool.join();
    }

    /// Jobs queued faster than one thread runs them wake the others, every job runs once,
    /// and closing the pool lets every thread leave.
    #[test]
    fn a_burst_of_jobs_runs_on_several_threads_and_the_pool_closes() {
        let pool = pool(4);
        pool.until_idle(4);
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let (tx, rx) = mpsc::channel();
        for _ in 0..4 {
            let (tx, gate) = (tx.clone(), Arc::clone(&gate));
            // Each job holds its thread until the gate opens: four jobs need four threads.
            assert!(pool
                .push(Box::new(move || {
                    let _ = tx.send(std::thread::current().id());
                    let _ = gate.lock().map(|g| g.recv());
                }))
                .is_ok());
        }
        let threads: std::collections::HashSet<_> = (0..4).map(|_| rx.recv().expect("a job ran")).collect();
        assert_eq!(threads.len(), 4, "four held jobs ran on {} threads", threads.len());
        drop(gate_tx); // every job's recv fails: all four return
        pool.until_idle(4);
        pool.close();
        pool.join();
        assert_eq!(pool.idle_threads(), 0);
    }
}
