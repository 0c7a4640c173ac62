//! The library's log lines on stderr, for every command, at the level every host reads
//! ([`micro::host::log`]: `MICRO_LOG_LEVEL`, else `RUST_LOG`, else warnings and errors plus
//! what the running command announces by default, such as the sidecar's registrations).

use tracing_subscriber::EnvFilter;

/// The filter for these settings, with a note for stderr when a variable is not understood.
fn filter(micro_log_level: Option<&str>, rust_log: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    let (directives, note) = micro::host::log::directives(micro_log_level, rust_log, default);
    match EnvFilter::try_new(&directives) {
        Ok(f) => (f, note),
        Err(e) => (
            EnvFilter::new(default),
            Some(format!("micro: RUST_LOG={directives:?} is not a log filter ({e}); ignoring it")),
        ),
    }
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
    use super::filter;

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
        assert_eq!(show(None, Some("micro=[")), ("warn".into(), true));
    }
}
