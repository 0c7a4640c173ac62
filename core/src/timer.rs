//! Keeping a runtime's timer driver armed, so that setting a timeout does not wake it.
//!
//! tokio's timer driver sleeps (in `epoll_wait`, on whichever worker parks on it) until its
//! earliest timer. A timer set with an earlier deadline than the one the driver went to sleep
//! with wakes it, to sleep again with the new one (tokio's `reregister`: an `eventfd` write on
//! the setting thread, a wake-up and a context switch on the runtime). Two places set such a
//! timer once a call:
//!
//! - a host's call started on its own thread ([`crate::host::start`]): at one call in flight
//!   the last call's timer is gone when the next is set, so the driver sleeps with no
//!   deadline and every call woke it;
//! - a server's handler that does not answer at once (a host's, through its inbox, or an
//!   async Rust handler that waits): its caller's timeout (go-micro's `Timeout` header, 5 s
//!   by default) comes before the connections' idle timers, and whenever the driver went to
//!   sleep with no handler waiting, the next one's timer woke it. Found with `perf record -e
//!   syscalls:sys_enter_write --call-graph dwarf` on a Node-served greeter at 64 in flight:
//!   0.23 wake-ups a call, 79% of the server's `write` calls (issue 18).
//!
//! [`keep_armed`] keeps a timer of the runtime's own (a keeper task) never more than
//! [`KEEP_ARMED`] away while timeouts are being set, so the driver always sleeps with a
//! deadline that a longer timeout does not come before. The keeper stops after a period with
//! no timeout set, so an idle process is not woken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::runtime::Handle;

/// Notes that a timeout is about to be set on `rt`, from any thread: starts the runtime's
/// keeper if it is not running. Cheap when it is: a thread-local lookup and an atomic load.
pub(crate) fn keep_armed(rt: &Handle) {
    let id = rt.id();
    let Ok(keeper) = LAST.try_with(|last| {
        let mut last = last.borrow_mut();
        match last.as_ref() {
            Some(k) if k.rt == id => Arc::clone(k),
            _ => Arc::clone(last.insert(Keeper::of(id))),
        }
    }) else {
        return; // the thread is exiting
    };
    if !keeper.started.load(Ordering::Relaxed) {
        keeper.started.store(true, Ordering::Relaxed);
    }
    if !keeper.running.load(Ordering::Acquire) && !keeper.running.swap(true, Ordering::AcqRel) {
        rt.spawn(keeper.run());
    }
}

/// How far ahead the [`Keeper`]'s timer is kept, at most: timeouts longer than this are set
/// without waking the runtime.
const KEEP_ARMED: Duration = Duration::from_secs(1);

/// A task that keeps a timer armed on one runtime while timeouts are being set there (see
/// the module's doc).
struct Keeper {
    rt: tokio::runtime::Id,
    /// A timeout was set since the keeper's last tick.
    started: AtomicBool,
    /// The keeper's task is running.
    running: AtomicBool,
}

/// The keepers of the runtimes timeouts were set on (runtime ids are never reused). Weak: a
/// keeper lives while its task runs or a thread's [`LAST`] holds it, and one runtime never
/// has two, since a new one is made only once the old one is gone.
static KEEPERS: Mutex<Vec<Weak<Keeper>>> = Mutex::new(Vec::new());

thread_local! {
    /// The keeper of the runtime this thread last set a timeout on: no lock per timeout.
    static LAST: std::cell::RefCell<Option<Arc<Keeper>>> = const { std::cell::RefCell::new(None) };
}

impl Keeper {
    /// Runtime `id`'s keeper, made on first use.
    fn of(id: tokio::runtime::Id) -> Arc<Keeper> {
        let mut all = KEEPERS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = all.iter().filter_map(Weak::upgrade).find(|k| k.rt == id) {
            return k;
        }
        all.retain(|k| k.strong_count() > 0);
        let k = Arc::new(Keeper { rt: id, started: AtomicBool::new(false), running: AtomicBool::new(false) });
        all.push(Arc::downgrade(&k));
        k
    }

    /// Sleeps [`KEEP_ARMED`] at a time until a whole period passes with no timeout set.
    async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(KEEP_ARMED).await;
            if self.started.swap(false, Ordering::Relaxed) {
                continue;
            }
            self.running.store(false, Ordering::Release);
            // A timeout set since the swap saw this keeper running and did not start
            // another: go on for it, unless a new keeper was started meanwhile.
            if !self.started.load(Ordering::Acquire) || self.running.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
    }

    /// A runtime keeps one keeper while any thread holds it, even an idle one (not running)
    /// while keepers of other runtimes come and go: two would arm two timers on one runtime.
    #[test]
    fn a_runtime_has_one_keeper_while_a_thread_holds_it() {
        let (a, b) = (runtime(), runtime());
        let held = Keeper::of(a.handle().id());
        assert!(!held.running.load(Ordering::Acquire));
        let _other = Keeper::of(b.handle().id());
        assert!(Arc::ptr_eq(&held, &Keeper::of(a.handle().id())), "a second keeper for one runtime");
    }
}
