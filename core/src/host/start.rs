//! Starting a host's call on the host's own thread.
//!
//! A call a host makes (`await client.call(…)` in Node or asyncio) used to be spawned on the
//! shared runtime: the host thread queued the task and woke a runtime worker, which then
//! wrote the request. At one call in flight that wake-up sits on the critical path: measured
//! on a 2-core machine, a Node call added 30 µs over the Rust client unpinned and 19 µs
//! pinned, most of it the two thread hops (issue 18). [`start`] polls the call once on the
//! calling thread, inside the runtime's context, so the request is written before the host
//! thread returns; only when the future is woken (its reply arrived, a timer fired) does it
//! become a task of the runtime, spawned by whoever woke it, usually the worker that was
//! already awake to read the socket. No worker is woken just to write.
//!
//! What makes that sound: sockets and timers made during the first poll are registered
//! with the runtime whose context is entered, exactly as they would be from a task; the
//! future never runs on two threads at once (the waker moves it into a task only after the
//! first poll has put it back); a panic in the first poll is caught and the future dropped,
//! as a task's panic would be.
//!
//! A call's first poll also arms its timeout, and a timer set from outside the runtime
//! wakes the runtime's timer driver when that driver sleeps with no deadline, to re-arm it
//! (tokio's `reregister`): at one call in flight it always does, since the last call's timer
//! is gone by then, so every call woke a worker for nothing (an `eventfd` write on the host
//! thread, a wake-up and a context switch on the runtime; found with `perf record -e
//! syscalls:sys_enter_write` on the asyncio client, issue 18). While calls are being started,
//! [`start`] keeps a timer armed on the runtime (a keeper task, never more than a second
//! away, that stops once no call is started), so the driver sleeps with a deadline that a
//! call's timeout does not come before; a server does the same for a handler that waits.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

type Boxed = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a started future is.
enum State {
    /// Being polled for the first time, on the calling thread; `woken` if its waker fired
    /// meanwhile.
    First { woken: bool },
    /// Waiting for its first wake-up, owned by nobody's thread.
    Parked(Boxed),
    /// A task of the runtime.
    Running(AbortHandle),
    /// Finished, dropped after a panic, or aborted.
    Gone,
}

/// A future started on the calling thread, shared with its waker.
struct Started {
    rt: Handle,
    state: Mutex<State>,
}

impl Started {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Wake for Started {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.lock();
        *state = match std::mem::replace(&mut *state, State::Gone) {
            State::First { .. } => State::First { woken: true },
            State::Parked(fut) => State::Running(self.rt.spawn(fut).abort_handle()),
            running_or_gone => running_or_gone,
        };
    }
}

/// A started call: [`Start::abort`] cancels it wherever it is.
pub struct Start(Arc<Started>);

/// Spawns `fut` on `rt` as a task, as `rt.spawn` does, for a caller that keeps one kind of
/// handle for futures it [`start`]s and futures it spawns.
pub fn spawned<F>(rt: &Handle, fut: F) -> Start
where
    F: Future<Output = ()> + Send + 'static,
{
    let running = State::Running(rt.spawn(fut).abort_handle());
    Start(Arc::new(Started { rt: rt.clone(), state: Mutex::new(running) }))
}

impl Start {
    /// Cancels the future: dropped (on this thread) while it waits for its first wake-up,
    /// aborted once it is a task; nothing once finished.
    pub fn abort(&self) {
        let dropped = {
            let mut state = self.0.lock();
            match std::mem::replace(&mut *state, State::Gone) {
                State::Parked(fut) => Some(fut),
                State::Running(task) => {
                    task.abort();
                    None
                }
                // `First` is only seen on the thread that polls it, inside `start`.
                State::First { .. } | State::Gone => None,
            }
        };
        drop(dropped);
    }

    /// Whether the future finished during its first poll, on the calling thread.
    #[cfg(test)]
    fn finished_here(&self) -> bool {
        matches!(*self.0.lock(), State::Gone)
    }
}

/// Polls `fut` once on the calling thread, inside `rt`'s context; if it is not finished, it
/// goes on as a task of `rt` from its first wake-up (see the module's doc). Meant for a
/// host's own thread; on one of `rt`'s workers `rt.spawn` costs no wake-up and is as good.
pub fn start<F>(rt: &Handle, fut: F) -> Start
where
    F: Future<Output = ()> + Send + 'static,
{
    let started = Arc::new(Started { rt: rt.clone(), state: Mutex::new(State::First { woken: false }) });
    let mut fut: Boxed = Box::pin(fut);
    let waker = Waker::from(Arc::clone(&started));
    let polled = {
        let _context = rt.enter();
        let mut cx = Context::from_waker(&waker);
        catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)))
    };
    let mut state = started.lock();
    match polled {
        Ok(Poll::Ready(())) => *state = State::Gone,
        Ok(Poll::Pending) => {
            *state = match *state {
                State::First { woken: true } => State::Running(rt.spawn(fut).abort_handle()),
                _ => State::Parked(fut),
            };
            crate::timer::keep_armed(rt);
        }
        Err(_) => {
            tracing::error!("a host call panicked in its first poll; it is dropped, as a task's would be");
            *state = State::Gone;
        }
    }
    drop(state);
    Start(started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::sync::oneshot;

    /// Sets its flag when dropped: shows that a future holding it was dropped.
    struct Flag(Arc<AtomicBool>);

    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
    }

    #[test]
    fn a_future_that_is_ready_at_once_finishes_on_the_calling_thread() {
        let rt = runtime();
        let here = std::thread::current().id();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = start(rt.handle(), async move {
            let _ = tx.send(std::thread::current().id());
        });
        assert!(s.finished_here());
        assert_eq!(rx.recv().expect("ran"), here);
    }

    #[test]
    fn a_waiting_future_finishes_on_the_runtime_once_woken() {
        let rt = runtime();
        let (wake_tx, wake_rx) = oneshot::channel::<u32>();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let s = start(rt.handle(), async move {
            let v = wake_rx.await.unwrap_or(0);
            let _ = done_tx.send(v);
        });
        assert!(!s.finished_here());
        wake_tx.send(7).expect("waiting");
        let v = done_rx.recv().expect("finished");
        assert_eq!(v, 7);
    }

    #[test]
    fn timers_and_sockets_made_in_the_first_poll_belong_to_the_runtime() {
        let rt = runtime();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let _s = start(rt.handle(), async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = l.local_addr().expect("addr");
            let accept = tokio::spawn(async move { l.accept().await.map(|_| ()) });
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let c = tokio::net::TcpStream::connect(addr).await;
            let _ = done_tx.send(c.is_ok() && accept.await.is_ok());
        });
        assert!(done_rx.recv().expect("finished"));
    }

    #[test]
    fn an_aborted_future_is_dropped_whether_parked_or_running() {
        let rt = runtime();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(Arc::clone(&dropped));
        let s = start(rt.handle(), async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        s.abort();
        assert!(dropped.load(Ordering::SeqCst), "dropped while parked");

        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(Arc::clone(&dropped));
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let (polled_tx, polled_rx) = std::sync::mpsc::channel();
        let s = start(rt.handle(), async move {
            let _flag = flag;
            let _ = go_rx.await;
            let _ = polled_tx.send(());
            std::future::pending::<()>().await;
        });
        go_tx.send(()).expect("waiting");
        polled_rx.recv().expect("running on the runtime");
        s.abort();
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
        assert!(dropped.load(Ordering::SeqCst), "dropped once aborted");
    }

    #[test]
    fn a_spawned_future_runs_on_the_runtime_and_is_aborted_as_a_started_one() {
        let rt = runtime();
        let (ran_tx, ran_rx) = std::sync::mpsc::channel();
        let _s = spawned(rt.handle(), async move {
            let _ = ran_tx.send(std::thread::current().id());
        });
        assert_ne!(ran_rx.recv().expect("ran"), std::thread::current().id());

        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Flag(Arc::clone(&dropped));
        let s = spawned(rt.handle(), async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        s.abort();
        s.abort(); // twice is harmless
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
        assert!(dropped.load(Ordering::SeqCst), "dropped once aborted");
    }

    #[test]
    fn a_panic_in_the_first_poll_does_not_reach_the_caller() {
        let rt = runtime();
        let s = start(rt.handle(), async { panic!("boom") });
        assert!(s.finished_here());
    }

    /// Calls started one after another from a host thread, each with a timeout (the
    /// one-in-flight pattern): starting a call does not wake the runtime's worker to re-arm
    /// its timer driver for the call's timeout; only the reply does.
    #[test]
    fn a_started_call_with_a_timeout_does_not_wake_the_runtime_to_arm_it() {
        use std::time::{Duration, Instant};
        let rt = runtime();
        // Each time the worker goes to sleep; a wake-up with nothing to do shows as one more.
        let parks = || rt.metrics().worker_park_count(0);
        // Waits until the worker has gone to sleep again since `n` (an event, no time bound).
        let parked_after = |n: u64| {
            while parks() <= n {
                std::thread::yield_now();
            }
        };
        // Whether the worker woke and slept again within `grace` of `parks()` reading `n`.
        // Waking is what fails the test, and it shows within microseconds: a loaded machine
        // can only make it late, so the test passes rather than fails for the wrong reason.
        let woke_after = |n: u64, grace: Duration| {
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if parks() > n {
                    return true;
                }
                std::thread::yield_now();
            }
            false
        };
        let mut arming_wakes = 0;
        for i in 0..23u32 {
            let (tx, rx) = oneshot::channel::<u32>();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let p0 = parks();
            let _s = start(rt.handle(), async move {
                let got = tokio::time::timeout(Duration::from_secs(60), rx).await;
                let _ = done_tx.send(matches!(got, Ok(Ok(v)) if v == i));
            });
            // The first three start the keeper (and let the worker settle).
            if woke_after(p0, Duration::from_millis(50)) && i >= 3 {
                arming_wakes += 1;
            }
            let p1 = parks();
            tx.send(i).expect("waiting");
            assert!(done_rx.recv().expect("finished"), "call {i}");
            parked_after(p1);
            // The count goes up just before the worker sleeps, and the driver notes that it
            // sleeps with no deadline as it goes to sleep: give it that moment (too short a
            // wait only lets the next call find the old deadline: a pass, not a failure).
            std::thread::sleep(Duration::from_millis(5));
        }
        // The keeper's own tick (once a second) may fall inside a grace period or two.
        assert!(arming_wakes <= 4, "{arming_wakes} of 20 calls woke the runtime as they started");
    }
}
