//! The library's `tracing` events, for Node (`micro.onLog`, in `lib/log.js`).
//!
//! A layer sees each event at the level `MICRO_LOG_LEVEL` / `RUST_LOG` allow
//! ([`micro::host::log`], read once when the package loads). With a hook set, the event is
//! queued here (at most 4096; a full queue drops the event rather than block the runtime)
//! and the JS thread is woken through a weak threadsafe function, which never keeps the
//! process alive. JS takes the queue with `takeLogs` when woken, and once more when the
//! process exits, so an event queued just before the end is not lost with the last wake-up.
//! Without a hook, warnings and errors are printed on stderr, one line each, prefixed `micro:`.

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What the hook is called with: level name, target (the Rust module), message.
type Event = (String, String, String);

/// The wake-up of the JS thread: weak (does not hold the event loop open).
type Hook = ThreadsafeFunction<(), (), (), Status, false, true>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Events not yet taken by JS.
static QUEUE: Mutex<VecDeque<Event>> = Mutex::new(VecDeque::new());

/// Events kept for JS at most; more are dropped until it catches up.
const MAX_QUEUED: usize = 4096;

/// The layer that hands events to the hook, or to stderr.
struct ToNode;

impl<S: tracing::Subscriber> Layer<S> for ToNode {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let message = micro::host::log::event_text(event);
        let level = meta.level().as_str().to_ascii_lowercase();
        let hook = HOOK.read().unwrap_or_else(|p| p.into_inner());
        match hook.as_ref() {
            Some(h) => {
                let was_empty = {
                    let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
                    if q.len() >= MAX_QUEUED {
                        return; // JS is behind: dropped, the runtime never waits for it
                    }
                    q.push_back((level, meta.target().to_string(), message));
                    q.len() == 1
                };
                if was_empty {
                    // One wake-up per batch: JS takes everything queued by then.
                    let _ = h.call((), ThreadsafeFunctionCallMode::NonBlocking);
                }
            }
            None if *meta.level() <= tracing::Level::WARN => {
                eprintln!("micro: {level} {}: {}", meta.target(), message);
            }
            None => {}
        }
    }
}

/// Installs the subscriber for this process (once; one set by another addon wins). Returns
/// a note for the user when `MICRO_LOG_LEVEL` or `RUST_LOG` was not understood.
#[napi]
pub fn init_logs() -> Option<String> {
    let (directives, mut note) = micro::host::log::directives_from_env("warn");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        note = Some(format!("micro: RUST_LOG={directives:?} is not a log filter ({e}); ignoring it"));
        EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::registry().with(ToNode.with_filter(filter)).try_init();
    note
}

/// Sets the function that wakes JS to take the queued events (`null`: no hook, back to
/// stderr for warnings and errors; what was queued is dropped).
#[napi]
pub fn set_log_hook(wake: Option<Function<(), ()>>) -> napi::Result<()> {
    let built = match wake {
        Some(f) => Some(f.build_threadsafe_function::<()>().callee_handled::<false>().weak::<true>().build()?),
        None => None,
    };
    let mut hook = HOOK.write().unwrap_or_else(|p| p.into_inner());
    *hook = built;
    QUEUE.lock().unwrap_or_else(|p| p.into_inner()).clear();
    Ok(())
}

/// The events queued for the hook since the last call, oldest first, as
/// `[level, target, message]`.
#[napi]
pub fn take_logs() -> Vec<Event> {
    QUEUE.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
}
