//! The server's wrapper chains: [`HandlerWrapper`]s around unary handlers and
//! [`SubscriberWrapper`]s around subscribers, run outermost first (see [`crate::wrapper`]).

use super::router::{BoxFuture, Request, Response, UnaryHandler};
use crate::broker::{Event, Handler};
use crate::error::Result;
use std::future::Future;
use std::sync::Arc;

/// Runs around a server's unary handlers: `(request, next) -> answer`.
pub type HandlerWrapper = Arc<dyn Fn(Request, HandlerNext) -> BoxFuture<Result<Response>> + Send + Sync>;

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
