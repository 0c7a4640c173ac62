//! The inbox: the one queue between the server and a host's handlers.
//!
//! A host (Python's event loop, Node's, a C program's threads) cannot run a Rust future,
//! so every endpoint, stream endpoint and subscriber it serves feeds one [`Inbox`]: the
//! server's task puts an [`Incoming`] item in and waits for its [`Answer`]; the host pulls
//! items in batches ([`Inbox::pull`]) and answers each once, from any thread, now or later.
//!
//! The rules, the same in every host:
//! - **Bounded, and nothing is dropped.** An inbox holds at most its capacity
//!   ([`DEFAULT_CAPACITY`]) unanswered-and-unpulled items. When it is full, a new call,
//!   stream or message waits for room: a caller's own timeout still applies (its call ends
//!   with a 408 and its item is never handed out), and a broker delivery waits, which slows
//!   the publisher (go-micro's http broker answers the publisher when the subscriber is done).
//! - **Answered once.** The [`Answer`] of an item goes back exactly once; one dropped
//!   unanswered (a host object collected without an answer) answers with a 500 naming the
//!   endpoint, so a caller never waits for an answer that cannot come.
//! - **Close and abandon.** [`Inbox::close`] (after the server stopped): pulls return nothing
//!   and new items are refused with a 503. [`Inbox::abandon`] (the host's loop is gone, the
//!   process is exiting): the same, and every item still waiting for an answer is answered
//!   with a 503 at once. [`Inbox::open`] (at start) undoes both.

use crate::broker::{Event, SubscribeOptions};
use crate::error::{Error, Result};
use crate::server::{Request, Response, Server, ServerStream};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Items an inbox holds before a new one waits for room.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One item for the host to answer.
pub enum Incoming {
    /// A unary call: answer with a [`Response`] or an error.
    Call {
        /// The call.
        request: Request,
        /// The way back.
        answer: Answer,
    },
    /// A bidirectional stream: talk on `stream`, then answer to end it (a response body
    /// is ignored; an error ends the stream with it).
    Stream {
        /// The opening request (go-micro discards its body).
        request: Request,
        /// The stream.
        stream: ServerStream,
        /// Ends the stream.
        answer: Answer,
    },
    /// A message for a subscriber: answer to acknowledge it (or report its failure).
    Event {
        /// The topic and message.
        event: Event,
        /// The index the host gave the subscription.
        subscriber: usize,
        /// The acknowledgement.
        answer: Answer,
    },
}

impl Incoming {
    /// The item's way back.
    pub fn into_answer(self) -> Answer {
        match self {
            Incoming::Call { answer, .. } | Incoming::Stream { answer, .. } | Incoming::Event { answer, .. } => answer,
        }
    }
}

enum Way {
    Reply(oneshot::Sender<Result<Response>>),
    Done(oneshot::Sender<Result<()>>),
    /// Nobody waits: the item was acknowledged when it was queued ([`Inbox::post_event`]).
    Posted,
}

/// The way back for one [`Incoming`] item. Dropping it unanswered answers with a 500.
pub struct Answer {
    way: Option<Way>,
    what: String,
}

impl Answer {
    fn new(way: Way, what: String) -> Self {
        Answer { way: Some(way), what }
    }

    /// An answer that goes to `tx` (for a call routed outside an inbox); `what` names the
    /// call in the 500 of an answer dropped unanswered.
    pub(crate) fn reply(tx: oneshot::Sender<Result<Response>>, what: String) -> Self {
        Answer::new(Way::Reply(tx), what)
    }

    fn send(mut self, outcome: Result<Response>) -> bool {
        match self.way.take() {
            Some(Way::Reply(tx)) => tx.send(outcome).is_ok(),
            Some(Way::Done(tx)) => tx.send(outcome.map(|_| ())).is_ok(),
            Some(Way::Posted) => true,
            None => false,
        }
    }

    /// Answers with `response` (for a stream or a message: ends it / acknowledges it).
    /// Returns `false` when nobody waits any more; the answer is then discarded.
    pub fn respond(self, response: Response) -> bool {
        self.send(Ok(response))
    }

    /// Answers with a go-micro error. Returns `false` when nobody waits any more.
    pub fn fail(self, error: Error) -> bool {
        self.send(Err(error))
    }

    /// Whether nobody waits for this answer any more (the caller gave up, the server
    /// stopped past its drain, or the inbox was abandoned).
    pub fn is_closed(&self) -> bool {
        match &self.way {
            Some(Way::Reply(tx)) => tx.is_closed(),
            Some(Way::Done(tx)) => tx.is_closed(),
            Some(Way::Posted) => false,
            None => true,
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.way.is_some() {
            let what = std::mem::take(&mut self.what);
            self.send_drop(Error::internal(
                crate::error::SERVER_ID,
                format!("{what}: the handler released the request without answering"),
            ));
        }
    }
}

impl Answer {
    fn send_drop(&mut self, e: Error) {
        match self.way.take() {
            Some(Way::Reply(tx)) => {
                let _ = tx.send(Err(e));
            }
            Some(Way::Done(tx)) => {
                let _ = tx.send(Err(e));
            }
            Some(Way::Posted) | None => {}
        }
    }
}

/// Why an [`AnswerSlot`] would not give up its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswerable {
    /// It was answered already (a host maps this to 409 Conflict).
    Answered,
    /// Nobody waits for it any more (the host's "closed" error).
    NobodyWaits,
}

/// A host object's hold on its [`Answer`]: taken once, from any thread.
pub struct AnswerSlot(Mutex<Option<Answer>>);

impl AnswerSlot {
    /// A slot holding `answer`.
    pub fn new(answer: Answer) -> Self {
        AnswerSlot(Mutex::new(Some(answer)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Answer>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the answer to send it: refused when answered already or when nobody waits.
    pub fn take(&self) -> std::result::Result<Answer, Unanswerable> {
        let mut slot = self.lock();
        match slot.as_ref() {
            None => Err(Unanswerable::Answered),
            Some(a) if a.is_closed() => Err(Unanswerable::NobodyWaits),
            Some(_) => slot.take().ok_or(Unanswerable::Answered),
        }
    }

    /// Whether the item is still open: not answered and someone waits (a stream may still
    /// send and receive).
    pub fn check_open(&self) -> std::result::Result<(), Unanswerable> {
        match self.lock().as_ref() {
            None => Err(Unanswerable::Answered),
            Some(a) if a.is_closed() => Err(Unanswerable::NobodyWaits),
            Some(_) => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    Closed,
    Abandoned,
}

/// The bounded queue of [`Incoming`] items one host serves (see the module docs).
pub struct Inbox {
    name: String,
    tx: mpsc::Sender<Incoming>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Incoming>>,
    phase: watch::Sender<Phase>,
}

impl Inbox {
    /// An open inbox for service `name` (the id of its 503s) holding up to `capacity` items
    /// (at least 1).
    pub fn new(name: impl Into<String>, capacity: usize) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Arc::new(Inbox {
            name: name.into(),
            tx,
            rx: tokio::sync::Mutex::new(rx),
            phase: watch::Sender::new(Phase::Open),
        })
    }

    /// The error of an item the inbox refuses or gives up on.
    fn gone(&self) -> Error {
        Error::new(self.name.clone(), "service is shutting down", 503)
    }

    /// Queues an item and waits for its answer; a 503 when the inbox is closed, or when it
    /// is abandoned while the item waits for room or for its answer.
    async fn ask<T>(&self, item: Incoming, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        let mut phase = self.phase.subscribe();
        if *phase.borrow_and_update() != Phase::Open {
            return Err(self.gone());
        }
        let exchange = async {
            self.tx.send(item).await.map_err(|_| self.gone())?;
            // An answer dropped unanswered sends its own 500 naming the call (`Answer`'s
            // drop), so a closed channel here means the answer was leaked, not dropped.
            rx.await
                .unwrap_or_else(|_| Err(Error::internal(self.name.clone(), "the handler finished without answering")))
        };
        tokio::select! {
            r = exchange => r,
            _ = phase.wait_for(|p| *p == Phase::Abandoned) => Err(self.gone()),
        }
    }

    /// A unary call through the inbox: resolves to the host's answer.
    pub async fn call(&self, request: Request) -> Result<Response> {
        let (tx, rx) = oneshot::channel();
        let answer = Answer::new(Way::Reply(tx), request.endpoint.clone());
        self.ask(Incoming::Call { request, answer }, rx).await
    }

    /// A stream through the inbox: resolves when the host ends it.
    pub async fn stream(&self, request: Request, stream: ServerStream) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let answer = Answer::new(Way::Done(tx), request.endpoint.clone());
        self.ask(Incoming::Stream { request, stream, answer }, rx).await
    }

    /// A message through the inbox: resolves when the host acknowledges it.
    pub async fn event(&self, event: Event, subscriber: usize) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let what = format!("message on {}", event.topic);
        let answer = Answer::new(Way::Done(tx), what);
        self.ask(Incoming::Event { event, subscriber, answer }, rx).await
    }

    /// A message acknowledged as soon as it is queued (the host's answer goes nowhere):
    /// waits only for room. A 503 when the inbox is closed or abandoned.
    pub async fn post_event(&self, event: Event, subscriber: usize) -> Result<()> {
        let mut phase = self.phase.subscribe();
        if *phase.borrow_and_update() != Phase::Open {
            return Err(self.gone());
        }
        let what = format!("message on {}", event.topic);
        let item = Incoming::Event { event, subscriber, answer: Answer::new(Way::Posted, what) };
        tokio::select! {
            r = self.tx.send(item) => r.map_err(|_| self.gone()),
            _ = phase.wait_for(|p| *p != Phase::Open) => Err(self.gone()),
        }
    }

    /// Serves `endpoint` on `server` through this inbox (`stream`: a bidirectional stream
    /// endpoint). The endpoint must be non-empty ([`super::check::endpoint`]).
    pub fn serve(self: &Arc<Self>, server: &Server, endpoint: &str, stream: bool) -> Result<()> {
        super::check::endpoint(endpoint)?;
        let inbox = Arc::clone(self);
        if stream {
            server.handle_stream(endpoint, move |req, st| {
                let inbox = Arc::clone(&inbox);
                async move { inbox.stream(req, st).await }
            });
        } else {
            server.handle(endpoint, move |req| {
                let inbox = Arc::clone(&inbox);
                async move { inbox.call(req).await }
            });
        }
        Ok(())
    }

    /// Subscribes to `topic` on `server` through this inbox; its messages come out as
    /// [`Incoming::Event`] with `subscriber`, acknowledged by the host's answer.
    pub fn subscribe(
        self: &Arc<Self>,
        server: &Server,
        topic: &str,
        opts: SubscribeOptions,
        subscriber: usize,
    ) -> Result<()> {
        super::check::topic(topic, opts.queue.as_deref())?;
        let inbox = Arc::clone(self);
        server.subscribe(topic, opts, move |ev: Event| {
            let inbox = Arc::clone(&inbox);
            async move { inbox.event(ev, subscriber).await }
        });
        Ok(())
    }

    /// Up to `max` items (at least one): waits for the first, then takes what else is
    /// already queued without waiting, so a busy host pays one thread hop per batch. Empty
    /// once the inbox is closed or abandoned.
    pub async fn pull(&self, max: usize) -> Vec<Incoming> {
        let mut phase = self.phase.subscribe();
        let mut rx = self.rx.lock().await;
        if *phase.borrow_and_update() != Phase::Open {
            return Vec::new();
        }
        let first = tokio::select! {
            biased;
            item = rx.recv() => item,
            _ = phase.wait_for(|p| *p != Phase::Open) => None,
        };
        let Some(first) = first else { return Vec::new() };
        let mut out = Vec::with_capacity(max.clamp(1, rx.len() + 1));
        out.push(first);
        while out.len() < max {
            match rx.try_recv() {
                Ok(item) => out.push(item),
                Err(_) => break,
            }
        }
        out
    }

    /// Up to `max` items already queued, without waiting (none when another puller holds
    /// the queue, or once closed). For hosts that drain on their own threads.
    pub fn try_pull(&self, max: usize) -> Vec<Incoming> {
        if *self.phase.borrow() != Phase::Open {
            return Vec::new();
        }
        let Ok(mut rx) = self.rx.try_lock() else { return Vec::new() };
        let mut out = Vec::new();
        while out.len() < max {
            match rx.try_recv() {
                Ok(item) => out.push(item),
                Err(_) => break,
            }
        }
        out
    }

    /// Opens the inbox again (a host's `start`).
    pub fn open(&self) {
        self.phase.send_replace(Phase::Open);
    }

    /// Closes the inbox (after the server stopped): pulls return nothing; new items, and
    /// items queued but not yet pulled, are refused with a 503; items already pulled can
    /// still be answered.
    pub fn close(&self) {
        self.phase.send_if_modified(|p| {
            let changed = *p == Phase::Open;
            if changed {
                *p = Phase::Closed;
            }
            changed
        });
        // A puller holding the queue sees the phase and lets go; what is left goes with
        // the inbox.
        if let Ok(mut rx) = self.rx.try_lock() {
            while let Ok(item) = rx.try_recv() {
                item.into_answer().fail(self.gone());
            }
        }
    }

    /// Gives up on every item still waiting for room or an answer (503 at once), and
    /// closes the inbox. Safe to call more than once.
    pub fn abandon(&self) {
        self.phase.send_replace(Phase::Abandoned);
    }

    /// Whether the inbox hands out items (not closed or abandoned).
    pub fn is_open(&self) -> bool {
        *self.phase.borrow() == Phase::Open
    }

    /// The service name the inbox answers for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Message;

    fn req(endpoint: &str) -> Request {
        Request { endpoint: endpoint.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn a_call_is_answered_from_another_thread() {
        let inbox = Inbox::new("svc", 4);
        let i = Arc::clone(&inbox);
        let call = tokio::spawn(async move { i.call(req("A.B")).await });
        let mut items = inbox.pull(8).await;
        let Some(Incoming::Call { request, answer }) = items.pop() else { panic!("a call") };
        assert_eq!(request.endpoint, "A.B");
        std::thread::spawn(move || assert!(answer.respond(Response::from("ok")))).join().expect("thread");
        assert_eq!(&call.await.expect("join").expect("answer").body[..], b"ok");
    }

    #[tokio::test]
    async fn a_dropped_answer_is_a_500_naming_the_endpoint() {
        let inbox = Inbox::new("svc", 4);
        let i = Arc::clone(&inbox);
        let call = tokio::spawn(async move { i.call(req("A.B")).await });
        drop(inbox.pull(1).await);
        let e = call.await.expect("join").expect_err("an error");
        assert_eq!(e.code, 500);
        assert!(e.detail.contains("A.B"), "{}", e.detail);
    }

    #[tokio::test]
    async fn a_full_inbox_makes_the_next_item_wait_then_takes_it() {
        let inbox = Inbox::new("svc", 2);
        let mut calls = Vec::new();
        for n in 0..3 {
            let i = Arc::clone(&inbox);
            calls.push(tokio::spawn(async move { i.call(req(&format!("A.N{n}"))).await }));
        }
        // Two fit; the third waits for room and is not lost.
        let mut seen = Vec::new();
        while seen.len() < 3 {
            for item in inbox.pull(8).await {
                let Incoming::Call { request, answer } = item else { panic!("a call") };
                seen.push(request.endpoint.clone());
                answer.respond(Response::from("ok"));
            }
        }
        for c in calls {
            c.await.expect("join").expect("answered");
        }
        seen.sort();
        assert_eq!(seen, ["A.N0", "A.N1", "A.N2"]);
    }

    #[tokio::test]
    async fn batches_take_what_is_queued_without_waiting() {
        let inbox = Inbox::new("svc", 16);
        for n in 0..5 {
            let ev = Event { topic: format!("t{n}"), message: Message::new("x") };
            inbox.post_event(ev, 0).await.expect("queued");
        }
        assert_eq!(inbox.pull(3).await.len(), 3);
        assert_eq!(inbox.try_pull(64).len(), 2);
        assert!(inbox.try_pull(64).is_empty());
    }

    #[tokio::test]
    async fn abandon_answers_waiting_items_with_503_and_close_ends_pulls() {
        let inbox = Inbox::new("svc", 4);
        let i = Arc::clone(&inbox);
        let call = tokio::spawn(async move { i.call(req("A.B")).await });
        let held = inbox.pull(1).await; // pulled, never answered
        let i = Arc::clone(&inbox);
        let puller = tokio::spawn(async move { i.pull(1).await.len() });
        inbox.abandon();
        assert_eq!(call.await.expect("join").expect_err("503").code, 503);
        assert_eq!(puller.await.expect("join"), 0);
        assert_eq!(inbox.call(req("A.B")).await.expect_err("refused").code, 503);
        drop(held);
        inbox.open();
        assert!(inbox.is_open());
        let i = Arc::clone(&inbox);
        let queued = tokio::spawn(async move { i.call(req("A.Q")).await });
        while inbox.rx.lock().await.is_empty() {
            tokio::task::yield_now().await;
        }
        inbox.close();
        assert_eq!(queued.await.expect("join").expect_err("refused").code, 503);
        assert!(inbox.pull(1).await.is_empty());
        assert_eq!(inbox.post_event(Event::default(), 0).await.expect_err("refused").code, 503);
    }

    #[tokio::test]
    async fn a_slot_answers_once_and_knows_when_nobody_waits() {
        let inbox = Inbox::new("svc", 4);
        let i = Arc::clone(&inbox);
        let call = tokio::spawn(async move { i.call(req("A.B")).await });
        let Some(Incoming::Call { answer, .. }) = inbox.pull(1).await.pop() else { panic!("a call") };
        let slot = AnswerSlot::new(answer);
        assert!(slot.check_open().is_ok());
        assert!(slot.take().expect("first").respond(Response::from("ok")));
        assert_eq!(slot.take().err(), Some(Unanswerable::Answered));
        call.await.expect("join").expect("answer");

        let i = Arc::clone(&inbox);
        let call = tokio::spawn(async move { i.call(req("A.C")).await });
        let Some(Incoming::Call { answer, .. }) = inbox.pull(1).await.pop() else { panic!("a call") };
        let slot = AnswerSlot::new(answer);
        call.abort();
        let _ = call.await;
        assert_eq!(slot.take().err(), Some(Unanswerable::NobodyWaits));
    }
}
