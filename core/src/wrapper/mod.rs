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

use crate::broker::{Event, Handler};
use crate::client::{CallOptions, Client, Reply};
use crate::error::Result;
use crate::server::{BoxFuture, Request, Response, UnaryHandler};
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;

/// Runs around a server's unary handlers: `(request, next) -> answer`.
pub type HandlerWrapper = Arc<dyn Fn(Request, HandlerNext) -> BoxFuture<Result<Response>> + Send + Sync>;

/// Runs around a client's calls: `(call, next) -> reply`.
pub type CallWrapper = Arc<dyn Fn(Call, CallNext) -> BoxFuture<Result<Reply>> + Send + Sync>;

/// Runs around a subscriber's deliveries: `(message, next) -> outcome`.
pub type SubscriberWrapper = Arc<dyn Fn(Event, SubscriberNext) -> BoxFuture<Result<()>> + Send + Sync>;

/// Makes a [`HandlerWrapper`] from an async closure.
pub fn handler_wrapper<F, Fut>(f: F) -> HandlerWrapper
where
    F: Fn(Request, HandlerNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response>> + Send + 'static,
{
    Arc::new(move |req, next| Box::pin(f(req, next)))
}

/// Makes a [`CallWrapper`] from an async closure.
pub fn call_wrapper<F, Fut>(f: F) -> CallWrapper
where
    F: Fn(Call, CallNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply>> + Send + 'static,
{
    Arc::new(move |call, next| Box::pin(f(call, next)))
}

/// Makes a [`SubscriberWrapper`] from an async closure.
pub fn subscriber_wrapper<F, Fut>(f: F) -> SubscriberWrapper
where
    F: Fn(Event, SubscriberNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Arc::new(move |event, next| Box::pin(f(event, next)))
}

/// The rest of a handler chain: the wrappers after this one, then the handler.
pub struct HandlerNext {
    chain: Arc<[HandlerWrapper]>,
    at: usize,
    handler: UnaryHandler,
}

impl HandlerNext {
    /// Runs the rest of the chain on `req`.
    pub fn run(self, req: Request) -> BoxFuture<Result<Response>> {
        match self.chain.get(self.at).cloned() {
            Some(w) => w(req, HandlerNext { at: self.at + 1, ..self }),
            None => (self.handler)(req),
        }
    }
}

/// Runs `handler` on `req` inside `chain` (outermost first; `None`: no wrappers).
pub(crate) fn run_handler(
    chain: Option<Arc<[HandlerWrapper]>>,
    handler: UnaryHandler,
    req: Request,
) -> BoxFuture<Result<Response>> {
    match chain {
        Some(chain) if !chain.is_empty() => HandlerNext { chain, at: 0, handler }.run(req),
        _ => handler(req),
    }
}

/// One call as a [`CallWrapper`] sees it; change any field before passing it on.
#[derive(Clone, Debug)]
pub struct Call {
    /// The service called.
    pub service: String,
    /// `Handler.Method`.
    pub endpoint: String,
    /// The request body.
    pub body: Bytes,
    /// The call's options (metadata, timeouts, retries, addresses).
    pub options: CallOptions,
}

/// The rest of a client's call chain: the wrappers after this one, then the call itself.
pub struct CallNext {
    chain: Arc<[CallWrapper]>,
    at: usize,
    client: Client,
}

impl CallNext {
    pub(crate) fn new(chain: Arc<[CallWrapper]>, client: Client) -> Self {
        CallNext { chain, at: 0, client }
    }

    /// Runs the rest of the chain on `call`.
    pub fn run(self, call: Call) -> BoxFuture<Result<Reply>> {
        match self.chain.get(self.at).cloned() {
            Some(w) => w(call, CallNext { at: self.at + 1, ..self }),
            None => Box::pin(async move {
                self.client.call_unwrapped(&call.service, &call.endpoint, call.body, &call.options).await
            }),
        }
    }
}

/// The rest of a subscriber chain: the wrappers after this one, then the subscriber.
pub struct SubscriberNext {
    chain: Arc<[SubscriberWrapper]>,
    at: usize,
    handler: Handler,
}

impl SubscriberNext {
    /// Runs the rest of the chain on `event`.
    pub fn run(self, event: Event) -> BoxFuture<Result<()>> {
        match self.chain.get(self.at).cloned() {
            Some(w) => w(event, SubscriberNext { at: self.at + 1, ..self }),
            None => (self.handler)(event),
        }
    }
}

/// `handler` inside `chain` (outermost first), as one broker handler.
pub(crate) fn wrap_subscriber(chain: Arc<[SubscriberWrapper]>, handler: Handler) -> Handler {
    if chain.is_empty() {
        return handler;
    }
    Arc::new(move |event| SubscriberNext { chain: Arc::clone(&chain), at: 0, handler: Arc::clone(&handler) }.run(event))
}

/// The `status` label go-micro's wrappers give an outcome: `success` or `fail`.
pub(crate) fn status<T>(r: &Result<T>) -> &'static str {
    if r.is_ok() {
        "success"
    } else {
        "fail"
    }
}
