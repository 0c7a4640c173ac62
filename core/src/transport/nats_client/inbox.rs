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

/// What a subscription's queue holds, shared by the read loop and the reader.
#[derive(Debug, Default)]
pub(super) struct Queued {
    /// Payload bytes waiting.
    pub(super) bytes: AtomicUsize,
    /// Messages dropped since the subscription began.
    pub(super) dropped: AtomicU64,
    /// Dropping now: warned once, until a message fits again.
    slow: AtomicBool,
}

impl Queued {
    /// A message did not fit: counted, and warned about once per run of drops.
    pub(super) fn drop_one(&self, subject: &str, max_messages: usize, max_bytes: usize) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.slow.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                subject,
                max_messages,
                max_bytes,
                dropped,
                "nats subscriber too slow: messages dropped until its queue has room"
            );
        }
    }

    /// A message fitted: ends a run of drops, saying how many were lost in all.
    pub(super) fn caught_up(&self, subject: &str) {
        if self.slow.load(Ordering::Relaxed) && self.slow.swap(false, Ordering::Relaxed) {
            let dropped = self.dropped.load(Ordering::Relaxed);
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
    /// The reading end of a subscription's queue.
    pub(super) fn new(rx: mpsc::Receiver<NatsMsg>, queued: Arc<Queued>) -> Inbox {
        Inbox { rx, queued }
    }

    /// The next message; `None` once the subscription ended.
    pub async fn recv(&mut self) -> Option<NatsMsg> {
        let m = self.rx.recv().await?;
        self.queued.bytes.fetch_sub(m.payload.len(), Ordering::Relaxed);
        Some(m)
    }

    /// Messages dropped because the reader was too slow, since the subscription began.
    pub fn dropped(&self) -> u64 {
        self.queued.dropped.load(Ordering::Relaxed)
    }
}
