//! The client's wrapper chain: [`CallWrapper`]s around every call, run outermost first, the
//! call itself last (see [`crate::wrapper`]).

use super::options::{CallOptions, Reply};
use crate::error::Result;
use crate::server::BoxFuture;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;

/// Runs around a client's calls: `(call, next) -> reply`.
pub type CallWrapper = Arc<dyn Fn(Call, CallNext) -> BoxFuture<Result<Reply>> + Send + Sync>;

/// The end of a chain: the call itself, past every wrapper (the client's
/// `call_unwrapped`).
pub(crate) type CallLast = Arc<dyn Fn(Call) -> BoxFuture<Result<Reply>> + Send + Sync>;

/// Makes a [`CallWrapper`] from an async closure.
pub fn call_wrapper<F, Fut>(f: F) -> CallWrapper
where
    F: Fn(Call, CallNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply>> + Send + 'static,
{
    Arc::new(move |call, next| Box::pin(f(call, next)))
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
    last: CallLast,
}

impl CallNext {
    pub(crate) fn new(chain: Arc<[CallWrapper]>, last: CallLast) -> Self {
        CallNext { chain, at: 0, last }
    }

    /// Runs the rest of the chain on `call`.
    pub fn run(self, call: Call) -> BoxFuture<Result<Reply>> {
        match self.chain.get(self.at).cloned() {
            Some(w) => w(call, CallNext { at: self.at + 1, ..self }),
            None => (self.last)(call),
        }
    }
}
