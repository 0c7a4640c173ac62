//! The log level every host reads, in one place: go-micro's `MICRO_LOG_LEVEL` (trace, debug,
//! info, warn, error, fatal) sets it for everything; without it `RUST_LOG`'s directives
//! apply (`micro=debug,hyper=warn`); without either, the host's default. The CLI, Python and
//! Node install their subscribers from [`directives`]; C sets its level by call.

use std::fmt::Write as _;

/// go-micro's log level names, as `MICRO_LOG_LEVEL` takes them, to a `tracing` level name;
/// `fatal` has no level of its own and shows errors.
pub fn level(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" => "error",
        _ => return None,
    })
}

/// The filter directives for these settings: `micro_log_level`'s level, else `rust_log`,
/// else `default`; with a note for the user when `MICRO_LOG_LEVEL` names no level. The
/// caller parses the result (tracing-subscriber's `EnvFilter`) and falls back to `default`,
/// with a note of its own, when `RUST_LOG` does not parse.
pub fn directives(micro_log_level: Option<&str>, rust_log: Option<&str>, default: &str) -> (String, Option<String>) {
    let mut note = None;
    if let Some(name) = micro_log_level.filter(|s| !s.trim().is_empty()) {
        match level(name) {
            Some(l) => return (l.to_string(), None),
            None => {
                note = Some(format!(
                    "micro: MICRO_LOG_LEVEL={name:?} is not one of trace, debug, info, warn, error, fatal; ignoring it"
                ))
            }
        }
    }
    match rust_log.filter(|s| !s.trim().is_empty()) {
        Some(d) => (d.to_string(), note),
        None => (default.to_string(), note),
    }
}

/// [`directives`] for this process's environment.
pub fn directives_from_env(default: &str) -> (String, Option<String>) {
    directives(std::env::var("MICRO_LOG_LEVEL").ok().as_deref(), std::env::var("RUST_LOG").ok().as_deref(), default)
}

/// An event as the one line every host shows: its message, then its other fields as
/// ` key=value` (the Python logger's record, the Node hook's message, the stderr line).
pub fn event_text(event: &tracing::Event<'_>) -> String {
    let mut text = Text::default();
    event.record(&mut text);
    text.message.push_str(&text.fields);
    text.message
}

/// Collects an event's message and other fields ([`event_text`]).
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl tracing::field::Visit for Text {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{directives, level};

    #[test]
    fn go_micro_level_names() {
        assert_eq!(level("fatal"), Some("error"));
        assert_eq!(level(" WARN "), Some("warn"));
        assert_eq!(level("loud"), None);
    }

    #[test]
    fn micro_log_level_before_rust_log_before_the_default() {
        let show = |a, b| {
            let (d, n) = directives(a, b, "warn");
            (d, n.is_some())
        };
        assert_eq!(show(Some("error"), Some("debug")), ("error".into(), false));
        assert_eq!(show(None, Some("micro=debug")), ("micro=debug".into(), false));
        assert_eq!(show(None, None), ("warn".into(), false));
        assert_eq!(show(Some("loud"), None), ("warn".into(), true));
        assert_eq!(show(Some(""), Some("info")), ("info".into(), false));
    }
}
