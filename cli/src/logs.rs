//! The library's log lines on stderr, for every command: go-micro's `MICRO_LOG_LEVEL` (trace,
//! debug, info, warn, error, fatal) sets the level for everything; without it `RUST_LOG`'s
//! directives apply (`micro=debug,hyper=warn`); without either, warnings and errors are shown,
//! plus what the running command announces by default (the sidecar's registrations).

use tracing_subscriber::EnvFilter;

/// go-micro's log level names, as `MICRO_LOG_LEVEL` takes them, to a tracing level;
/// `fatal` has no tracing level of its own and shows errors.
fn level(name: &str) -> Option<&'static str> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" => "error",
        _ => return None,
    })
}

/// The filter for these settings: `micro_log_level`, else `rust_log`, else `default`; with
/// a note for stderr when `MICRO_LOG_LEVEL` names no level.
fn filter(micro_log_level: Option<&str>, rust_log: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    let mut note = None;
    if let Some(name) = micro_log_level.filter(|s| !s.trim().is_empty()) {
        match level(name) {
            Some(l) => return (EnvFilter::new(l), None),
            None => {
                note = Some(format!(
                    "micro: MICRO_LOG_LEVEL={name:?} is not one of trace, debug, info, warn, error, fatal; ignoring it"
                ))
            }
        }
    }
    if let Some(directives) = rust_log.filter(|s| !s.trim().is_empty()) {
        match EnvFilter::try_new(directives) {
            Ok(f) => return (f, note),
            Err(e) => note = Some(format!("micro: RUST_LOG={directives:?} is not a log filter ({e}); ignoring it")),
        }
    }
    (EnvFilter::new(default), note)
}

/// Installs the stderr logger once; `default` is the filter when neither variable is set.
pub fn init(default: &str) {
    let (filter, note) =
        filter(std::env::var("MICRO_LOG_LEVEL").ok().as_deref(), std::env::var("RUST_LOG").ok().as_deref(), default);
    if let Some(n) = note {
        eprintln!("{n}");
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::{filter, level};

    #[test]
    fn go_micro_level_names() {
        assert_eq!(level("fatal"), Some("error"));
        assert_eq!(level(" WARN "), Some("warn"));
        assert_eq!(level("loud"), None);
    }

    #[test]
    fn micro_log_level_before_rust_log_before_the_default() {
        let show = |a, b| {
            let (f, n) = filter(a, b, "warn");
            (f.to_string(), n.is_some())
        };
        assert_eq!(show(Some("error"), Some("debug")), ("error".into(), false));
        assert_eq!(show(None, Some("micro=debug")), ("micro=debug".into(), false));
        assert_eq!(show(None, None), ("warn".into(), false));
        assert_eq!(show(Some("loud"), None), ("warn".into(), true));
        assert_eq!(show(Some(""), Some("info")), ("info".into(), false));
    }
}
