//! The library's threads: what each is to the library (`MICRO_THREAD_ROLE_*`) and the
//! dispatch pool every callback and handler runs on, so that no C code ever runs on an I/O
//! (tokio) thread. A `runtime` owns one pool.

use crate::error::{fail, FfiResult};
use crate::status::MICRO_STATUS_INTERNAL;
use crate::unwind::guard;
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
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
pub(crate) struct Pool {
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
    /// A pool with `min` threads running.
    pub(crate) fn start(min: usize) -> FfiResult<Arc<Self>> {
        let pool = Arc::new(Pool { state: Mutex::default(), cv: Condvar::new(), min, threads: Mutex::default() });
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

    /// Queues `job` for a dispatch thread; gives it back when the pool is closed.
    pub(crate) fn push(self: &Arc<Self>, job: Job) -> Result<(), Job> {
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
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
        }
        self.cv.notify_all();
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
