//! A subscription's queue: what waits for its reader, bounded ([`Pending`]), and what was
//! dropped past the bound.

use super::NatsMsg;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How much may wait for a subscription's reader before newer messages are dropped (a slow
/// consumer, in NATS's words): whichever limit is reached first. Bytes count payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Messages waiting.
    pub messages: usize,
    /// Payload bytes waiting.
    pub bytes: usize,
}

impl Pending {
    /// nats.go's defaults for a subscription (512 Ki messages, 64 MiB), which go-micro's NATS
    /// broker subscribes with: a burst a Go subscriber absorbs is absorbed here too.
    pub const NATS_GO: Pending = Pending { messages: 512 * 1024, bytes: 64 << 20 };

    /// At most `n` messages, whatever their size.
    pub const fn messages(n: usize) -> Pending {
        Pending { messages: n, bytes: usize::MAX }
    }
}

/// A subscription's queue bounded by `pending`: the read loop's end and the reader's.
pub(super) fn channel(pending: Pending) -> (Feed, Inbox) {
    let (tx, rx) = mpsc::channel(pending.messages.max(1));
    let queued = Arc::new(Queued::default());
    (Feed { tx, queued: Arc::clone(&queued), max_bytes: pending.bytes }, Inbox { rx, queued })
}

/// What a subscription's queue holds, shared by its two ends.
#[derive(Debug, Default)]
struct Queued {
    /// Payload bytes waiting.
    bytes: AtomicUsize,
    /// Messages dropped since the subscription began.
    dropped: AtomicU64,
    /// Dropping now: warned once, until a message fits again.
    slow: AtomicBool,
}

/// The read loop's end of a subscription's queue.
#[derive(Debug)]
pub(super) struct Feed {
    tx: mpsc::Sender<NatsMsg>,
    queued: Arc<Queued>,
    max_bytes: usize,
}

impl Feed {
    /// Queues `msg` (published on `subject`) when it fits in both bounds; otherwise drops and
    /// counts it, with a warning when a run of drops begins and another when it ends.
    pub(super) fn offer(&self, subject: &str, msg: NatsMsg) {
        let len = msg.payload.len();
        if self.queued.bytes.load(Ordering::Relaxed).saturating_add(len) <= self.max_bytes {
            // Counted before the send, so the reader, which subtracts as it takes, never goes
            // below zero.
            self.queued.bytes.fetch_add(len, Ordering::Relaxed);
            if self.tx.try_send(msg).is_ok() {
                self.caught_up(subject);
                return;
            }
            self.queued.bytes.fetch_sub(len, Ordering::Relaxed);
        }
        self.drop_one(subject);
    }

    /// Messages dropped since the subscription began.
    pub(super) fn dropped(&self) -> u64 {
        self.queued.dropped.load(Ordering::Relaxed)
    }

    /// A message did not fit: counted, and warned about once per run of drops.
    fn drop_one(&self, subject: &str) {
        let dropped = self.queued.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.queued.slow.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                subject,
                max_messages = self.tx.max_capacity(),
                max_bytes = self.max_bytes,
                dropped,
                "nats subscriber too slow: messages dropped until its queue has room"
            );
        }
    }

    /// A message fitted: ends a run of drops, saying how many were lost in all.
    fn caught_up(&self, subject: &str) {
        if self.queued.slow.load(Ordering::Relaxed) && self.queued.slow.swap(false, Ordering::Relaxed) {
            let dropped = self.queued.dropped.load(Ordering::Relaxed);
            tracing::warn!(subject, dropped, "nats subscriber caught up; messages dropped since it subscribed");
        }
    }
}

/// A subscription's messages, in arrival order.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<NatsMsg>,
    queued: Arc<Queued>,
}

impl Inbox {
    /// The next message; `None` once the subscription ended.
    pub async fn recv(&mut self) -> Option<NatsMsg> {
        let m = self.rx.recv().await?;
        self.queued.bytes.fetch_sub(m.payload.len(), Ordering::Relaxed);
        Some(m)
    }
}
