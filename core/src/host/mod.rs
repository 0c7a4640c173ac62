//! Bridging for host languages (C, Python, Node): requests handed out to be answered later,
//! pull queues, and cancellation — with no FFI types, so every binding can share it.
//!
//! A host cannot run a Rust future, so a server endpoint served by the host works like
//! this: [`handler`] (push) or [`queue`] (pull) builds a [`UnaryHandler`] that turns each
//! incoming call into a [`HostRequest`] and waits for its answer on a oneshot channel.
//! The host answers with [`HostRequest::respond`] from any thread, now or later. A
//! request dropped without an answer replies with a 500 naming the endpoint, so a caller
//! never waits for an answer that cannot come.

pub mod body;

use crate::error::{Error, Result, SERVER_ID};
use crate::server::{Request, Response, UnaryHandler};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
pub use tokio_util::sync::CancellationToken;

/// One incoming call, owned by the host until it is answered.
pub struct HostRequest {
    request: Request,
    reply: Option<oneshot::Sender<Result<Response>>>,
}

impl HostRequest {
    /// A request and the channel its answer goes to (for bindings that route calls
    /// themselves; [`handler`] and [`queue`] build these).
    pub fn new(request: Request) -> (Self, oneshot::Receiver<Result<Response>>) {
        let (tx, rx) = oneshot::channel();
        (HostRequest { request, reply: Some(tx) }, rx)
    }

    /// The call: service, endpoint, content type, headers, body.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Answers the call. Returns `false` when nobody waits any more (the call was
    /// cancelled or the server stopped); the answer is then discarded.
    pub fn respond(mut self, answer: Result<Response>) -> bool {
        match self.reply.take() {
            Some(tx) => tx.send(answer).is_ok(),
            None => false,
        }
    }

    /// Whether the server side has stopped waiting for this answer.
    pub fn is_cancelled(&self) -> bool {
        self.reply.as_ref().map_or(true, |tx| tx.is_closed())
    }
}

impl Drop for HostRequest {
    fn drop(&mut self) {
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(Err(Error::internal(
                SERVER_ID,
                format!("{}: the handler released the request without answering", self.request.endpoint),
            )));
        }
    }
}

async fn wait(request: Request, deliver: impl FnOnce(HostRequest)) -> Result<Response> {
    let endpoint = request.endpoint.clone();
    let (req, rx) = HostRequest::new(request);
    deliver(req);
    match rx.await {
        Ok(answer) => answer,
        Err(_) => Err(Error::internal(SERVER_ID, format!("{endpoint}: the handler went away without answering"))),
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
        Box::pin(async move { wait(req, |r| deliver(r)).await })
    })
}

/// Pull queue of [`HostRequest`]s, for hosts that prefer to own their threads or event loop.
pub struct RequestQueue {
    rx: mpsc::UnboundedReceiver<HostRequest>,
}

impl RequestQueue {
    /// The next call; `None` once every handler feeding the queue is gone.
    pub async fn next(&mut self) -> Option<HostRequest> {
        self.rx.recv().await
    }

    /// The next call if one is waiting, without blocking.
    pub fn try_next(&mut self) -> Option<HostRequest> {
        self.rx.try_recv().ok()
    }
}

/// A pull handler and the queue its calls arrive on. A call that arrives after the queue
/// was dropped is answered with a 500.
pub fn queue() -> (UnaryHandler, RequestQueue) {
    let (tx, rx) = mpsc::unbounded_channel::<HostRequest>();
    let h = handler(move |req| {
        // A send error hands the request back, and dropping it answers with a 500.
        let _ = tx.send(req);
    });
    (h, RequestQueue { rx })
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

    #[tokio::test]
    async fn answered_later_from_another_thread() {
        let (h, mut q) = queue();
        let call = tokio::spawn(h(Request { endpoint: "A.B".into(), ..Default::default() }));
        let req = q.next().await.expect("a request");
        assert!(!req.is_cancelled());
        std::thread::spawn(move || assert!(req.respond(Ok(Response::from("ok"))))).join().expect("thread");
        let rsp = call.await.expect("join").expect("answer");
        assert_eq!(&rsp.body[..], b"ok");
    }

    #[tokio::test]
    async fn dropped_request_is_a_500() {
        let (h, mut q) = queue();
        let call = tokio::spawn(h(Request { endpoint: "A.B".into(), ..Default::default() }));
        drop(q.next().await.expect("a request"));
        let err = call.await.expect("join").expect_err("an error");
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
