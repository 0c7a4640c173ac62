//! The access log: one `tracing` event per handled request, call and message, with the
//! service, the endpoint (or topic), the status (`success`/`fail`, the error code on
//! failure) and the duration; target `micro::access`, level INFO (WARN for a failure).
//! Turned on for a [`crate::Service`] by `MICRO_ACCESS_LOG=true`; see where the events
//! go in the host's logging section (`MICRO_LOG_LEVEL`, `RUST_LOG`). While no subscriber
//! would record them (none installed, or `micro::access` filtered out) a call only asks
//! that, and skips the clock and the copies of its names.

use super::{
    call_wrapper, handler_wrapper, status, subscriber_wrapper, CallWrapper, HandlerWrapper, SubscriberWrapper,
};
use crate::error::Result;
use std::time::Instant;

/// Whether a subscriber would record an access-log event (of either level) now.
fn wanted() -> bool {
    tracing::enabled!(target: "micro::access", tracing::Level::INFO)
        || tracing::enabled!(target: "micro::access", tracing::Level::WARN)
}

fn log<T>(kind: &'static str, service: &str, endpoint: &str, started: Instant, outcome: &Result<T>) {
    let micros = started.elapsed().as_micros() as u64;
    match outcome {
        Ok(_) => tracing::info!(target: "micro::access", kind, service, endpoint, status = "success", micros),
        Err(e) => tracing::warn!(
            target: "micro::access", kind, service, endpoint, status = status(outcome), code = e.code, micros,
            detail = %e.detail
        ),
    }
}

/// Logs every request a server handles (`kind=handler`).
pub fn handler() -> HandlerWrapper {
    handler_wrapper(|req, next| async move {
        if !wanted() {
            return next.run(req).await;
        }
        let (service, endpoint, started) = (req.service.clone(), req.endpoint.clone(), Instant::now());
        let out = next.run(req).await;
        log("handler", &service, &endpoint, started, &out);
        out
    })
}

/// Logs every call a client makes (`kind=call`).
pub fn call() -> CallWrapper {
    call_wrapper(|call, next| async move {
        if !wanted() {
            return next.run(call).await;
        }
        let (service, endpoint, started) = (call.service.clone(), call.endpoint.clone(), Instant::now());
        let out = next.run(call).await;
        log("call", &service, &endpoint, started, &out);
        out
    })
}

/// Logs every message a subscriber gets (`kind=subscriber`, the topic as the endpoint).
pub fn subscriber() -> SubscriberWrapper {
    subscriber_wrapper(|event, next| async move {
        if !wanted() {
            return next.run(event).await;
        }
        let (topic, started) = (event.topic.clone(), Instant::now());
        let out = next.run(event).await;
        log("subscriber", "subscriber", &topic, started, &out);
        out
    })
}
