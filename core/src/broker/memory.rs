//! The in-process broker: go-micro's `memory` broker.
//!
//! `publish` runs the handlers before it returns (every broadcast subscriber, one random
//! member per queue group) and returns the first handler error, as go-micro's does.

use super::{too_large, Broker, Event, Handler, Message, SubscribeOptions, Subscriber};
use crate::error::Result;
use async_trait::async_trait;
use rand::seq::IndexedRandom;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

struct Sub {
    id: u64,
    queue: Option<String>,
    handler: Handler,
}

type Table = Arc<Mutex<HashMap<String, Vec<Sub>>>>;

/// The in-process broker.
pub struct Memory {
    subs: Table,
    next: AtomicU64,
    max_message: usize,
}

impl Memory {
    /// A broker whose messages may be up to `max_message` body bytes.
    pub fn new(max_message: usize) -> Self {
        Memory { subs: Table::default(), next: AtomicU64::new(1), max_message }
    }
}

struct MemorySub {
    subs: Table,
    topic: String,
    queue: Option<String>,
    id: u64,
}

#[async_trait]
impl Subscriber for MemorySub {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    async fn unsubscribe(&self) -> Result<()> {
        let mut t = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = t.get_mut(&self.topic) {
            v.retain(|s| s.id != self.id);
        }
        Ok(())
    }
}

#[async_trait]
impl Broker for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn address(&self) -> String {
        String::new()
    }
    async fn connect(&self) -> Result<()> {
        Ok(())
    }
    async fn disconnect(&self) -> Result<()> {
        Ok(())
    }

    async fn publish(&self, topic: &str, msg: Message) -> Result<()> {
        if msg.body.len() > self.max_message {
            return Err(too_large(msg.body.len(), self.max_message, "broker's message size"));
        }
        let targets: Vec<Handler> = {
            let t = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            let Some(subs) = t.get(topic) else { return Ok(()) };
            let mut groups: BTreeMap<&str, Vec<&Sub>> = BTreeMap::new();
            let mut out = Vec::new();
            for s in subs {
                match &s.queue {
                    None => out.push(Arc::clone(&s.handler)),
                    Some(q) => groups.entry(q.as_str()).or_default().push(s),
                }
            }
            let mut rng = rand::rng();
            for members in groups.values() {
                if let Some(s) = members.choose(&mut rng) {
                    out.push(Arc::clone(&s.handler));
                }
            }
            out
        };
        let mut first_err = None;
        for h in targets {
            let ev = Event { topic: topic.to_string(), message: msg.clone() };
            if let Err(e) = h(ev).await {
                tracing::warn!(topic, error = %e, "subscriber failed");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut t = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        t.entry(topic.to_string()).or_default().push(Sub { id, queue: opts.queue.clone(), handler });
        Ok(Box::new(MemorySub { subs: Arc::clone(&self.subs), topic: topic.to_string(), queue: opts.queue, id }))
    }
}
