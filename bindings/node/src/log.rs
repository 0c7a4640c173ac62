//! The library's `tracing` events, for Node (`micro.onLog`, in `lib/log.js`).
//!
//! A layer sees each event at the level `MICRO_LOG_LEVEL` / `RUST_LOG` allow
//! ([`micro::host::log`], read once when the package loads). With a hook set, the event is
//! queued to it through a weak threadsafe function (called on the JS thread; it never keeps
//! the process alive, and a full queue drops the event rather than block the runtime).
//! Without one, warnings and errors are printed on stderr, one line each, prefixed `micro:`.

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use std::sync::RwLock;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// What the hook is called with: level name, target (the Rust module), message.
type Event = (String, String, String);

/// The hook: weak (does not hold the event loop open), at most 4096 events queued.
type Hook = ThreadsafeFunction<Event, (), Event, Status, false, true, 4096>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

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
                // NonBlocking: a full queue drops the event; the runtime never waits for JS.
                let _ = h.call((level, meta.target().to_string(), message), ThreadsafeFunctionCallMode::NonBlocking);
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

/// Sets the hook the library's events go to (`null`: back to stderr for warnings and errors).
#[napi]
pub fn set_log_hook(hook: Option<Function<Event, ()>>) -> napi::Result<()> {
    let built = match hook {
        Some(f) => Some(
            f.build_threadsafe_function::<Event>()
                .callee_handled::<false>()
                .weak::<true>()
                .max_queue_size::<4096>()
                .build()?,
        ),
        None => None,
    };
    *HOOK.write().unwrap_or_else(|p| p.into_inner()) = built;
    Ok(())
}
