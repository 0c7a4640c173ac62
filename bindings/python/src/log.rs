//! The library's `tracing` events, for Python's `logging` (the package's `micro/_logs.py`).
//!
//! A layer queues each event (level, target, message with its fields) into a bounded channel
//! without blocking: a full queue drops the event and counts it. No Python runs here; a
//! daemon thread of the package pulls the events (`_log_next`, the GIL released while it
//! waits) and hands them to the `micro` logger. The level comes from `MICRO_LOG_LEVEL` /
//! `RUST_LOG` ([`micro::host::log`]), read once when the module loads.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Events waiting for the Python thread; beyond this they are dropped and counted.
const CAPACITY: usize = 4096;

/// One queued item: an event, or the word that the pulling thread should stop.
enum Item {
    /// Python's level number (logging.ERROR = 40 … DEBUG = 10, TRACE = 5), target, message.
    Event(i32, String, String),
    /// `_log_close`: wake the puller and tell it to stop.
    Close,
}

/// The queue both sides share: one per process (a forked child makes its own, since the
/// parent's receiver may have been locked by a thread the child does not have).
struct Queue {
    tx: SyncSender<Item>,
    rx: Mutex<Receiver<Item>>,
    dropped: AtomicU64,
}

impl Queue {
    fn new() -> Arc<Queue> {
        let (tx, rx) = sync_channel(CAPACITY);
        Arc::new(Queue { tx, rx: Mutex::new(rx), dropped: AtomicU64::new(0) })
    }
}

static QUEUE: LazyLock<RwLock<Arc<Queue>>> = LazyLock::new(|| RwLock::new(Queue::new()));

fn queue() -> Arc<Queue> {
    Arc::clone(&QUEUE.read().unwrap_or_else(|p| p.into_inner()))
}

/// Python's number for a tracing level.
fn python_level(level: &tracing::Level) -> i32 {
    match *level {
        tracing::Level::ERROR => 40,
        tracing::Level::WARN => 30,
        tracing::Level::INFO => 20,
        tracing::Level::DEBUG => 10,
        tracing::Level::TRACE => 5,
    }
}

/// The layer that queues events for Python.
struct ToPython;

impl<S: tracing::Subscriber> Layer<S> for ToPython {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let message = micro::host::log::event_text(event);
        let item = Item::Event(python_level(meta.level()), meta.target().to_string(), message);
        let q = queue();
        if let Err(TrySendError::Full(_)) = q.tx.try_send(item) {
            q.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the forwarding subscriber for this process (once; a subscriber already set by
/// another library wins). Returns a note for the user when `MICRO_LOG_LEVEL` or `RUST_LOG`
/// was not understood.
#[pyfunction]
pub(crate) fn _log_start() -> Option<String> {
    let (directives, mut note) = micro::host::log::directives_from_env("warn");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        note = Some(format!("RUST_LOG={directives:?} is not a log filter ({e}); ignoring it"));
        EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::registry().with(ToPython.with_filter(filter)).try_init();
    note
}

/// The next event as `(level, target, message)`, waiting up to `timeout` seconds with the
/// GIL released: `None` when none came; `(0, "", "")` after `_log_close`. Events dropped
/// because the queue was full are reported first, as one warning.
#[pyfunction]
pub(crate) fn _log_next(py: Python<'_>, timeout: f64) -> Option<(i32, String, String)> {
    let q = queue();
    let dropped = q.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        return Some((
            30,
            "micro".into(),
            format!("{dropped} log events dropped: the Python logging thread fell behind"),
        ));
    }
    let wait = Duration::from_secs_f64(timeout.clamp(0.0, 60.0));
    py.detach(|| {
        let rx = q.rx.lock().unwrap_or_else(|p| p.into_inner());
        match rx.recv_timeout(wait) {
            Ok(Item::Event(level, target, message)) => Some((level, target, message)),
            Ok(Item::Close) => Some((0, String::new(), String::new())),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    })
}

/// Wakes the pulling thread and tells it to stop (interpreter exit). When the queue is full
/// the thread sees its stop flag at its next timeout instead.
#[pyfunction]
pub(crate) fn _log_close() {
    let _ = queue().tx.try_send(Item::Close);
}

/// `os.register_at_fork(after_in_child=…)`: a fresh queue for the child (the parent's
/// receiver may be held by its logging thread, which the child does not have). Skipped,
/// with the child's library events lost, if the queue's lock was held at the fork.
#[pyfunction]
pub(crate) fn _log_after_fork_in_child() {
    if let Ok(mut q) = QUEUE.try_write() {
        *q = Queue::new();
    }
}
