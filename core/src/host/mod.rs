//! Bridging for host languages (C, Python, Node), written once so each binding only
//! translates types and threads: the [`Inbox`] of calls, streams and messages a host serves,
//! the body rules ([`body`]), the argument checks ([`check`]), the log level ([`log`]), and
//! cancellation, and [`start`]ing a host's call on the host's own thread.
//!
//! Besides the inbox, a push [`handler`] serves hosts that own a dispatch pool (C's unary
//! handlers): each call becomes a [`HostRequest`] handed to `deliver`, answered later from
//! any thread with the same [`Answer`] rules as the inbox's items.

pub mod body;
pub mod check;
mod inbox;
pub mod log;
pub mod start;

pub use inbox::{Answer, AnswerSlot, Inbox, Incoming, Unanswerable, DEFAULT_CAPACITY};

use crate::error::{Error, Result};
use crate::server::{Request, Response, UnaryHandler};
use std::sync::Arc;
use tokio::sync::oneshot;
pub use tokio_util::sync::CancellationToken;

/// One incoming call, owned by the host until it is answered; dropped unanswered, it
/// answers with a 500 naming the endpoint.
pub struct HostRequest {
    request: Request,
    answer: Answer,
}

impl HostRequest {
    /// A request and the channel its answer goes to (for bindings that route calls
    /// themselves; [`handler`] builds these).
    pub fn new(request: Request) -> (Self, oneshot::Receiver<Result<Response>>) {
        let (tx, rx) = oneshot::channel();
        let answer = Answer::reply(tx, request.endpoint.clone());
        (HostRequest { request, answer }, rx)
    }

    /// The call: service, endpoint, content type, headers, body.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The call, to change before it goes on (a host's handler wrapper rewriting a header
    /// or the body).
    pub fn request_mut(&mut self) -> &mut Request {
        &mut self.request
    }

    /// Answers the call. Returns `false` when nobody waits any more (the call was
    /// cancelled or the server stopped); the answer is then discarded.
    pub fn respond(self, answer: Result<Response>) -> bool {
        match answer {
            Ok(r) => self.answer.respond(r),
            Err(e) => self.answer.fail(e),
        }
    }

    /// Whether the server side has stopped waiting for this answer.
    pub fn is_cancelled(&self) -> bool {
        self.answer.is_closed()
    }
}

/// A push handler: `deliver` receives each call and must hand it off quickly (to a thread
/// the host owns); the call completes when the [`HostRequest`] is answered or dropped.
pub fn handler<F>(deliver: F) -> UnaryHandler
where
    F: Fn(HostRequest) + Send + Sync + 'static,
{
    let deliver = Arc::new(deliver);
    Arc::new(move |req: Request| {
        let deliver = Arc::clone(&deliver);
        Box::pin(async move {
            let endpoint = req.endpoint.clone();
            let (req, rx) = HostRequest::new(req);
            deliver(req);
            match rx.await {
                Ok(answer) => answer,
                Err(_) => Err(Error::internal(
                    crate::error::SERVER_ID,
                    format!("{endpoint}: the handler went away without answering"),
                )),
            }
        })
    })
}

/// Runs `fut` unless `token` is cancelled first; `None` means cancelled (the future is
/// dropped, which abandons the call).
pub async fn cancellable<T>(token: &CancellationToken, fut: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        _ = token.cancelled() => None,
        v = fut => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_on(h: &UnaryHandler) -> tokio::task::JoinHandle<Result<Response>> {
        tokio::spawn(h(Request { endpoint: "A.B".into(), ..Default::default() }))
    }

    #[tokio::test]
    async fn answered_later_from_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = handler(move |r| tx.send(r).expect("send"));
        let call = call_on(&h);
        let req = tokio::task::spawn_blocking(move || rx.recv().expect("a request")).await.expect("join");
        assert!(!req.is_cancelled());
        std::thread::spawn(move || assert!(req.respond(Ok(Response::from("ok"))))).join().expect("thread");
        let rsp = call.await.expect("join").expect("answer");
        assert_eq!(&rsp.body[..], b"ok");
    }

    #[tokio::test]
    async fn dropped_request_is_a_500() {
        let h = handler(drop);
        let err = call_on(&h).await.expect("join").expect_err("an error");
        assert_eq!(err.code, 500);
        assert!(err.detail.contains("A.B"), "{}", err.detail);
    }

    #[tokio::test]
    async fn cancel_wins() {
        let t = CancellationToken::new();
        t.cancel();
        assert!(cancellable(&t, std::future::pending::<()>()).await.is_none());
    }
}
