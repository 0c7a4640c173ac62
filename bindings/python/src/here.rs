//! Calls owned by the event loop's own thread (issue 18).
//!
//! An `await client.call(…)` with nothing else in flight for its loop runs on the loop
//! thread's own runtime ([`micro::transport::local`]) rather than the shared one: the request
//! is written before `call` returns, and the loop watches the runtime's sockets itself
//! (`loop.add_reader`), so the reply wakes the loop's thread, which reads it there. Through
//! the shared runtime the reply woke a runtime worker, which then woke the loop. Measured at
//! one call in flight (`CLIENT=asyncio bash bench/sync_ab.sh`, median of 3), the time a call
//! adds over the Rust client went from 64.6 to 40.7 µs unpinned and from 49.8 to 36.5 µs
//! pinned; 100 in flight are unchanged (they run on the shared runtime, as before).
//!
//! Results are resolved in a callback of the loop, never inside `call`: even a call whose
//! reply was read as it started (a fast server on the same core) leaves its future pending
//! for one pass, so awaiting calls in a loop always lets the loop's other tasks run. And one
//! call per pass of the loop starts here ([`available`]); the others of that pass go to the
//! shared runtime, where they overlap.
//!
//! The bookkeeping (which sockets are watched, which are muted while idle in a pool, when
//! the tick is armed) is core's [`local::Watches`], shared with Node's JS thread; here is
//! only how asyncio's loop watches a descriptor ([`Selector`]).
//!
//! What a socket cannot signal (a connect completing, a timeout, a wake-up from another
//! thread such as a registry lookup done on the shared runtime) is picked up by a tick: a
//! `loop.call_later` every [`TICK`] that turns the runtime while calls are in flight there,
//! and stops once a tick finds none. So a timeout fires up to a tick late, and a call that
//! dials a new connection waits up to a tick for it.
//!
//! Everything here runs on the loop's thread with the GIL held: turning the runtime runs
//! only the calls' own Rust futures, which never touch Python; their results are queued
//! for the loop (its [`Completions`](crate::bridge::Completions) queue, without ringing its
//! bell) and resolved after the turn.

use crate::bridge::{self, Completions};
use micro::transport::local::{self, Watcher, Watches};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::time::Duration;

/// How often the loop turns its runtime while calls are in flight there, for what no
/// socket signals.
const TICK: Duration = Duration::from_millis(1);

/// The loop thread's watch over its runtime.
struct Here {
    /// The queue of the loop that watches the sockets (a new loop on the thread starts over).
    completions: Py<Completions>,
    /// The sockets of the runtime the loop watches (each by its descriptor and id), and the
    /// tick.
    watches: Watches<(RawFd, u64)>,
    /// What the loop calls when a socket is readable.
    pump: Py<Pump>,
    /// What the loop calls every tick.
    tick: Py<Pump>,
    /// What the loop calls on its next pass after a call started here.
    pass: Py<Pump>,
    /// A call was started here during this pass of the loop (see [`available`]).
    busy: bool,
}

impl Here {
    fn new(py: Python<'_>, completions: &Py<Completions>) -> PyResult<Here> {
        Ok(Here {
            completions: completions.clone_ref(py),
            watches: Watches::new(),
            pump: Py::new(py, Pump { kind: Kind::Socket })?,
            tick: Py::new(py, Pump { kind: Kind::Tick })?,
            pass: Py::new(py, Pump { kind: Kind::Pass })?,
            busy: false,
        })
    }
}

/// Runs `f` on this thread's watch for the loop of `completions`, made anew for a new loop.
fn with_here<T>(
    py: Python<'_>,
    completions: &Py<Completions>,
    f: impl FnOnce(&mut Here) -> PyResult<T>,
) -> PyResult<T> {
    HERE.with_borrow_mut(|here| {
        let h = match here {
            Some(h) if h.completions.is(completions) => h,
            _ => here.insert(Here::new(py, completions)?),
        };
        f(h)
    })
}

/// Whether a call for the loop of `completions` may start here now: not while another call
/// started here in this same pass of that loop. A call answered during its own start (a fast server: the reply is
/// read before `call` returns) leaves nothing in flight, and without this every call of a
/// pass (the tasks one batch of replies woke) would run here one after another, the loop
/// thread doing all their waiting itself while the runtime's workers stay idle, where
/// spawned they overlap (measured: 100 calls in flight went from 8 to 16 µs a call).
fn available(completions: &Py<Completions>) -> bool {
    HERE.try_with(|here| here.borrow().as_ref().map_or(true, |h| !(h.busy && h.completions.is(completions))))
        .unwrap_or(false)
}

thread_local! {
    static HERE: RefCell<Option<Here>> = const { RefCell::new(None) };
}

/// How [`bridge::spawn_with`] runs a call here ([`bridge::Run::Here`]).
pub const OWNER: bridge::Owner = bridge::Owner { available, start };

/// Starts `task` (a call, delivering to `completions`) on this thread's own runtime, watched
/// by the loop of `completions`; gives it back when this thread cannot run one (it is
/// inside a runtime, or none can be built), to run elsewhere.
fn start(
    py: Python<'_>,
    lp: &Bound<'_, PyAny>,
    completions: &Py<Completions>,
    task: bridge::Task,
) -> Result<tokio::task::AbortHandle, bridge::Task> {
    // Busy for the rest of this pass: cleared by a callback the loop runs first on its next
    // pass (before the tasks this call's reply wakes, which are queued after it).
    let marked = with_here(py, completions, |h| {
        if !h.busy {
            lp.call_method1("call_soon", (h.pass.clone_ref(py),))?;
            h.busy = true;
        }
        Ok(())
    });
    if let Err(e) = marked {
        tracing::debug!(error = %e, "cannot start a call on the loop's thread");
        return Err(task);
    }
    let started = {
        let _quiet = bridge::Quiet::enter();
        local::spawn_here(task)
    };
    let abort = started.map_err(|refused| refused.fut)?;
    if let Err(e) = watch(py, lp, completions, true) {
        // The call runs on; only its watch failed: the tick (or a later call) tries again.
        tracing::debug!(error = %e, "cannot watch the loop thread's sockets");
    }
    Ok(abort)
}

/// After a turn in a callback of the loop: resolves what finished, then [`watch`]es.
fn settle(py: Python<'_>, lp: &Bound<'_, PyAny>, completions: &Py<Completions>, started: bool) -> PyResult<()> {
    bridge::drain(py, completions.get());
    watch(py, lp, completions, started)
}

/// Watches the runtime's sockets as they are now, and keeps the tick going. `started`: a
/// call was just started.
fn watch(py: Python<'_>, lp: &Bound<'_, PyAny>, completions: &Py<Completions>, started: bool) -> PyResult<()> {
    with_here(py, completions, |h| {
        h.watches.update(&mut Selector { lp, pump: &h.pump, tick: &h.tick }, started);
        Ok(())
    })
}

/// How asyncio's loop watches a descriptor ([`Watcher`]): `add_reader` with the [`Pump`]
/// (given the socket's id), and `call_later` for the tick.
struct Selector<'a, 'py> {
    lp: &'a Bound<'py, PyAny>,
    pump: &'a Py<Pump>,
    tick: &'a Py<Pump>,
}

impl Watcher for Selector<'_, '_> {
    type Watch = (RawFd, u64);

    fn open(&mut self, id: u64, fd: RawFd) -> Option<(RawFd, u64)> {
        Some((fd, id))
    }

    fn start(&mut self, &(fd, id): &(RawFd, u64)) -> bool {
        match self.lp.call_method1("add_reader", (fd, self.pump.clone_ref(self.lp.py()), id)) {
            Ok(_) => true,
            Err(e) => {
                // Left muted: the tick turns the runtime for it meanwhile, and a later call
                // tries again.
                tracing::debug!(error = %e, fd, "the loop cannot watch a socket of its runtime");
                false
            }
        }
    }

    fn stop(&mut self, &(fd, _): &(RawFd, u64)) {
        let _ = self.lp.call_method1("remove_reader", (fd,));
    }

    fn close(&mut self, _: (RawFd, u64)) {}

    fn arm_tick(&mut self) -> bool {
        match self.lp.call_method1("call_later", (TICK.as_secs_f64(), self.tick.clone_ref(self.lp.py()))) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "the loop cannot schedule its runtime's tick");
                false
            }
        }
    }
}

/// Pumps run in this process (for tests: a socket the loop reports on every pass shows
/// here as a count that keeps growing).
static PUMPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times loops have turned their thread's runtime ([`Pump`]) in this process.
pub fn pumps() -> u64 {
    PUMPS.load(std::sync::atomic::Ordering::Relaxed)
}

/// What the loop calls to turn its thread's runtime: when one of its sockets is readable
/// (`tick` false), or every [`TICK`] while calls are in flight there (`tick` true).
#[pyclass(module = "micro._native", frozen)]
pub struct Pump {
    kind: Kind,
}

/// What a [`Pump`] is called for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A socket of the runtime is readable.
    Socket,
    /// The tick, while calls are in flight.
    Tick,
    /// The loop's next pass after a call started here: only ends [`Here::busy`].
    Pass,
}

#[pymethods]
impl Pump {
    /// Turns the runtime and resolves what finished; `socket`: the id of the socket found
    /// readable (none for a tick).
    #[pyo3(signature = (socket=None))]
    fn __call__(&self, py: Python<'_>, socket: Option<u64>) -> PyResult<()> {
        if self.kind == Kind::Pass {
            let completions = HERE.with_borrow_mut(|here| {
                let h = here.as_mut()?;
                h.busy = false;
                Some(h.completions.clone_ref(py))
            });
            // What finished as it started (a fast server) is resolved now, a pass after
            // `call` returned: an awaited call always lets the loop's other tasks run.
            if let Some(c) = completions {
                bridge::drain(py, c.get());
            }
            return Ok(());
        }
        PUMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Idle in a pool as it was found readable (before the turn, which may pool it again
        // after its call): no call reads it.
        let idle = socket.filter(|id| local::pooled(*id));
        let Some((completions, lp)) = HERE.with_borrow_mut(|here| {
            let h = here.as_mut()?;
            if self.kind == Kind::Tick {
                h.watches.ticked();
            }
            let lp = h.completions.get().event_loop(py)?;
            Some((h.completions.clone_ref(py), lp))
        }) else {
            return Ok(()); // the loop that armed it is gone
        };
        {
            let _quiet = bridge::Quiet::enter();
            if local::turn().is_err() {
                return Ok(()); // called inside a runtime: not the loop's turn to take
            }
        }
        settle(py, &lp, &completions, false)?;
        if let Some(id) = idle {
            // Readable with no call to read it (the peer closed an idle connection): the
            // selector would report it on every pass. Muted until a call takes it again.
            HERE.with_borrow_mut(|here| {
                let Some(h) = here.as_mut() else { return };
                h.watches.mute(&mut Selector { lp: &lp, pump: &h.pump, tick: &h.tick }, id);
            });
        }
        Ok(())
    }
}
