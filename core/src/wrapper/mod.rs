//! Wrappers: go-micro's way to extend a service — code that runs around every handled
//! request ([`HandlerWrapper`]), every call a client makes ([`CallWrapper`]) and every
//! message a subscriber gets ([`SubscriberWrapper`]).
//!
//! A wrapper receives the request and a `next` that runs the rest of the chain; it may
//! read or change the request, call `next` (or not: a short-circuit answers without the
//! handler), then read or change the answer, time it, or turn it into an error. Wrappers
//! run in the order they were added: the first added is the outermost.
//!
//! ```
//! use micro::wrapper::{handler_wrapper, HandlerNext};
//! use micro::server::{Request, Response};
//!
//! // Refuses calls without an `Authorization` header, before the handler runs.
//! let auth = handler_wrapper(|req: Request, next: HandlerNext| async move {
//!     if !req.header.contains_key("Authorization") {
//!         return Err(micro::Error::unauthorized("auth", "no token"));
//!     }
//!     next.run(req).await
//! });
//! # let _ = auth;
//! ```
//!
//! Where they apply: a [`crate::server::Server`]'s unary handlers (not its streams) with
//! [`crate::server::Server::wrap`]; its subscribers, on either path a message arrives by,
//! with [`crate::server::Server::wrap_subscriber`]; a [`crate::Client`]'s `call` (the
//! whole call, retries included, as go-micro's `client.Wrapper` does) with
//! [`crate::Client::wrap`]. A panic in a server-side wrapper is the handler's panic: a 500
//! for that call only.
//!
//! Shipped wrappers: [`logging`] (an access log line per call, request and message),
//! [`metrics`] (Prometheus counters and latency histograms under go-micro's names) and
//! [`trace`] (OpenTelemetry spans with go-micro's `Traceparent` metadata, over OTLP/HTTP),
//! [`limit`] (a rate limit per endpoint: 429) and [`breaker`] (a circuit breaker per
//! endpoint on a client: 503).

pub mod breaker;
pub mod limit;
pub mod logging;
pub mod metrics;
pub mod trace;

pub use crate::client::wrap::{call_wrapper, Call, CallNext, CallWrapper};
pub use crate::server::wrap::{
    handler_wrapper, subscriber_wrapper, HandlerNext, HandlerWrapper, SubscriberNext, SubscriberWrapper,
};

use crate::error::Result;

/// The `status` label go-micro's wrappers give an outcome: `success` or `fail`.
pub(crate) fn status<T>(r: &Result<T>) -> &'static str {
    if r.is_ok() {
        "success"
    } else {
        "fail"
    }
}
