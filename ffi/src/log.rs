//! The process-wide log callback (`micro_log_set`): the library's `tracing` events, at the
//! level asked for, go to one log thread that calls the C callback in order.

use crate::boundary::boundary;
use crate::callback::{micro_free_fn, SendPtr};
use crate::dispatch::{set_role, MICRO_THREAD_ROLE_LOG};
use crate::error::{fail, FfiResult};
use crate::status::{micro_status, MICRO_STATUS_INTERNAL, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_TIMEOUT};
use crate::view::{cstring, micro_str, view};
use std::ffi::{c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// A log callback: `level` 1 = error … 5 = trace; `target` is the Rust module, `message`
/// the formatted event; both borrowed for the duration of the call. Runs on the library's
/// log thread, in order.
pub type micro_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: i32, target: micro_str, message: micro_str)>;

enum LogMsg {
    Event(i32, CString, CString),
    Set(micro_log_fn, SendPtr, micro_free_fn),
    Flush(mpsc::Sender<()>),
}

struct LogSink {
    tx: Mutex<mpsc::Sender<LogMsg>>,
    level: std::sync::atomic::AtomicI32,
}

static LOG: std::sync::OnceLock<LogSink> = std::sync::OnceLock::new();

fn level_num(l: &tracing::Level) -> i32 {
    match *l {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    }
}

struct Visitor(String);

impl tracing::field::Visit for Visitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.0, "{}{value:?}", if self.0.is_empty() { "" } else { " " });
        } else {
            let _ = write!(self.0, "{}{}={value:?}", if self.0.is_empty() { "" } else { " " }, field.name());
        }
    }
}

struct Layer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: tracing_subscriber::layer::Context<'_, S>) -> bool {
        LOG.get().is_some_and(|l| level_num(meta.level()) <= l.level.load(Ordering::Relaxed))
    }
    fn on_event(&self, ev: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(sink) = LOG.get() else { return };
        let mut v = Visitor(String::new());
        ev.record(&mut v);
        let msg = LogMsg::Event(level_num(ev.metadata().level()), cstring(ev.metadata().target()), cstring(v.0));
        if let Ok(tx) = sink.tx.lock() {
            let _ = tx.send(msg);
        }
    }
}

fn log_sink() -> FfiResult<&'static LogSink> {
    if let Some(s) = LOG.get() {
        return Ok(s);
    }
    let (tx, rx) = mpsc::channel::<LogMsg>();
    std::thread::Builder::new()
        .name("micro-log".into())
        .spawn(move || {
            set_role(MICRO_THREAD_ROLE_LOG);
            let mut cb: Option<(micro_log_fn, SendPtr, micro_free_fn)> = None;
            while let Ok(m) = rx.recv() {
                match m {
                    LogMsg::Event(level, target, text) => {
                        if let Some((Some(f), ud, _)) = cb {
                            // SAFETY: `f` is the non-NULL log callback registered with `ud`;
                            // the views borrow `target`/`text`, which outlive the call.
                            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                                f(ud.0, level, view(&target), view(&text))
                            }));
                        }
                    }
                    LogMsg::Set(f, ud, free) => {
                        if let Some((_, old_ud, Some(old_free))) = cb.take() {
                            // SAFETY: the replaced callback's hook, run once after its last call.
                            unsafe { old_free(old_ud.0) };
                        }
                        cb = f.map(|f| (Some(f), ud, free));
                        if f.is_none() {
                            if let Some(free) = free {
                                // SAFETY: no callback comes with this userdata: release it once now.
                                unsafe { free(ud.0) };
                            }
                        }
                    }
                    LogMsg::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })
        .map_err(|e| fail(MICRO_STATUS_INTERNAL, format!("cannot start the log thread: {e}")))?;
    let sink = LOG.get_or_init(|| LogSink { tx: Mutex::new(tx), level: std::sync::atomic::AtomicI32::new(0) });
    use tracing_subscriber::layer::SubscriberExt;
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Layer));
    Ok(sink)
}

/// Sends the library's log events at `min_level` and more severe (1 = error … 5 = trace;
/// 0 turns logging off) to `fn`, process-wide. Replaces any earlier callback; the earlier
/// callback's `userdata_free` runs once its last call has returned. `fn` NULL turns logging
/// off (and `userdata_free`, if given, runs at once on the log thread).
#[no_mangle]
pub unsafe extern "C" fn micro_log_set(
    min_level: i32,
    callback: micro_log_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        if !(0..=5).contains(&min_level) {
            return Err(fail(MICRO_STATUS_INVALID_ARG, format!("min_level {min_level} is not in 0..=5")));
        }
        let sink = log_sink()?;
        let level = if callback.is_some() { min_level } else { 0 };
        let tx = sink.tx.lock().map_err(|_| fail(MICRO_STATUS_INTERNAL, "log lock poisoned"))?;
        let _ = tx.send(LogMsg::Set(callback, SendPtr(userdata), userdata_free));
        sink.level.store(level, Ordering::Relaxed);
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    })
}

/// Waits until every log event emitted so far has been delivered (at most `timeout_ms`).
#[no_mangle]
pub unsafe extern "C" fn micro_log_flush(timeout_ms: u32) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let Some(sink) = LOG.get() else { return Ok(()) };
        let (tx, rx) = mpsc::channel();
        if let Ok(s) = sink.tx.lock() {
            let _ = s.send(LogMsg::Flush(tx));
        }
        rx.recv_timeout(Duration::from_millis(u64::from(timeout_ms)))
            .map_err(|_| fail(MICRO_STATUS_TIMEOUT, "log flush timed out"))
    })
}
