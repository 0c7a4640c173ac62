//! A circuit breaker around a client's calls, per service and endpoint, as go-micro's
//! breaker plugins (hystrix, gobreaker) put one: after `failures` failed calls in a row the
//! circuit opens and calls fail at once with 503 (`go.micro.client`, nothing sent) for
//! `cooldown`; then one trial call goes through (half open): its success closes the circuit,
//! its failure opens it again.
//!
//! A failure is what says the far side is unwell: a 5xx, a 408 timeout, or a transport or
//! discovery failure; a 4xx answer is the caller's mistake and does not count.
//!
//! Turned on for a client by `MICRO_CLIENT_BREAKER` (`FAILURES,COOLDOWN`, e.g. `5,30s`;
//! `true` for 5 and 30 s; read by [`crate::config::parse_breaker`]) or
//! [`crate::ClientBuilder::breaker`].

use super::{call_wrapper, CallWrapper};
use crate::error::{Error, CLIENT_ID};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a circuit opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breaker {
    /// Failed calls in a row that open the circuit (at least 1).
    pub failures: u32,
    /// How long an open circuit refuses calls before it lets a trial through.
    pub cooldown: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { failures: 5, cooldown: Duration::from_secs(30) }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed {
        failed: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out (since then); if it never comes back (its caller gave up on
    /// it), another is let through a cooldown later.
    HalfOpen {
        since: Instant,
    },
}

/// Whether an outcome says the far side is unwell.
fn unwell(e: &Error) -> bool {
    e.code >= 500 || e.code == 408 || e.code <= 0
}

/// A breaker per `service.endpoint` around every call.
pub fn call(cfg: Breaker) -> CallWrapper {
    let circuits: Arc<Mutex<HashMap<String, State>>> = Arc::default();
    call_wrapper(move |call: super::Call, next| {
        let key = format!("{}.{}", call.service, call.endpoint);
        let circuits = Arc::clone(&circuits);
        let admitted = {
            let mut map = circuits.lock().unwrap_or_else(|p| p.into_inner());
            let state = map.entry(key.clone()).or_insert(State::Closed { failed: 0 });
            match *state {
                State::Closed { .. } => Ok(()),
                State::Open { until } if Instant::now() >= until => {
                    *state = State::HalfOpen { since: Instant::now() };
                    Ok(())
                }
                State::Open { until } => Err(until.saturating_duration_since(Instant::now())),
                State::HalfOpen { since } if since.elapsed() >= cfg.cooldown => {
                    *state = State::HalfOpen { since: Instant::now() };
                    Ok(())
                }
                State::HalfOpen { since } => Err(cfg.cooldown.saturating_sub(since.elapsed())),
            }
        };
        async move {
            if let Err(left) = admitted {
                return Err(Error::new(
                    CLIENT_ID,
                    format!(
                        "circuit open for {key}: {} failed calls in a row; next trial in {} ms",
                        cfg.failures,
                        left.as_millis()
                    ),
                    503,
                ));
            }
            let out = next.run(call).await;
            let mut map = circuits.lock().unwrap_or_else(|p| p.into_inner());
            let state = map.entry(key.clone()).or_insert(State::Closed { failed: 0 });
            match (&out, *state) {
                (Err(e), State::HalfOpen { .. }) if unwell(e) => {
                    tracing::warn!(circuit = %key, error = %e, "circuit breaker: the trial call failed; open again");
                    *state = State::Open { until: Instant::now() + cfg.cooldown };
                }
                (Err(e), State::Closed { failed }) if unwell(e) => {
                    if failed + 1 >= cfg.failures {
                        tracing::warn!(circuit = %key, failures = failed + 1, error = %e, "circuit breaker: open");
                        *state = State::Open { until: Instant::now() + cfg.cooldown };
                    } else {
                        *state = State::Closed { failed: failed + 1 };
                    }
                }
                (Err(e), _) if unwell(e) => {}
                (_, State::HalfOpen { .. }) => {
                    tracing::info!(circuit = %key, "circuit breaker: closed after a good trial call");
                    *state = State::Closed { failed: 0 };
                }
                (_, State::Closed { .. }) => *state = State::Closed { failed: 0 },
                _ => {}
            }
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_far_sides_failures_count() {
        assert!(unwell(&Error::internal("x", "boom")));
        assert!(unwell(&Error::timeout("x", "slow")));
        assert!(unwell(&Error::new("x", "503", 503)));
        assert!(!unwell(&Error::bad_request("x", "yours")));
        assert!(!unwell(&Error::not_found("x", "no such thing")));
    }
}
