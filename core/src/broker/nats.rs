//! go-micro's NATS broker, on a real `nats-server`.
//!
//! Compatible with `go-micro.dev/v5/broker/nats`: the NATS payload is go-micro's JSON
//! envelope `{"Header":{…},"Body":"<base64>"}` (its default `json.Marshaler` applied to
//! `broker.Message`), the NATS subject is the topic, and a queue group is a NATS queue
//! subscription with the group's name. Go and Rust publishers and subscribers share
//! topics through one server.
//!
//! The connection is the library's own minimal NATS client
//! ([`crate::transport::nats_client`]), which the NATS registry uses too.
//!
//! **Delivery is at most once** — NATS core's promise. After a lost connection the client
//! reconnects (every server in the URL list, in turn, with back-off up to 2 s, for ever
//! until [`Broker::disconnect`]) and re-sends every `SUB`, so subscribers resume by
//! themselves (go-micro's broker relies on nats.go for that). Messages published while the
//! server was away are lost for subscribers; our `publish` waits up to 2 s for a
//! connection and then returns an error, so a publisher is never told "ok" for a message
//! that was not handed to a server. A message over the server's `max_payload` (1 MiB by
//! default) or our own limit is refused with a 413 naming the limit. Per subscription, the
//! handler runs on one task in arrival order; as many messages wait for a slow handler as
//! nats.go lets wait for go-micro's (512 Ki, or 64 MiB of payloads), beyond that newer ones
//! are dropped with a warning (NATS calls this a slow consumer).

use super::{
    decode_envelope, encode_envelope, too_large, Broker, Event, Handler, Message, SubscribeOptions, Subscriber,
    BROKER_ID,
};
use crate::error::Result;
use crate::transport::nats_client::{NatsClient, Pending};
use async_trait::async_trait;
use std::time::Duration;

pub use crate::transport::nats_client::{DEFAULT_PING_INTERVAL, DEFAULT_URL, PUBLISH_WAIT};

/// What may wait for one subscription's handler: nats.go's defaults, as go-micro's has.
const QUEUED_PER_SUB: Pending = Pending::NATS_GO;

/// The NATS broker.
pub struct Nats {
    client: NatsClient,
    max_message: usize,
}

impl Nats {
    /// A broker for `urls`: `nats://host:port`, comma-separated for several servers.
    pub fn new(urls: &str, max_message: usize) -> Result<Self> {
        Ok(Nats { client: NatsClient::shared(urls, max_message, BROKER_ID)?, max_message })
    }

    /// How often to PING the server ([`DEFAULT_PING_INTERVAL`]); after two PINGs without a
    /// PONG the connection is dropped and re-dialled — a server that hangs (or a network
    /// path that silently drops packets) is noticed, and `publish` then fails instead of
    /// writing into a dead socket. Takes effect from the next PING.
    pub fn set_ping_interval(&self, every: Duration) {
        self.client.set_ping_interval(every);
    }

    /// Messages dropped so far because a live subscription's handler was too slow for them
    /// (more than 512 Ki messages, or 64 MiB of payloads, waiting for it).
    pub fn dropped(&self) -> u64 {
        self.client.dropped()
    }

    /// A round trip to the server on this broker's connection: what this client published
    /// before it has reached the server, and what the server sent before the answer has been
    /// read (queued for its subscription, or dropped). Waits up to [`PUBLISH_WAIT`] for a
    /// connection, as publish does.
    pub async fn flush(&self) -> Result<()> {
        self.client.flush().await
    }

    /// How many times the connection was re-established after a loss.
    pub fn reconnects(&self) -> u64 {
        self.client.reconnects()
    }
}

struct NatsSub {
    client: NatsClient,
    sid: u64,
    topic: String,
    queue: Option<String>,
}

#[async_trait]
impl Subscriber for NatsSub {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    async fn unsubscribe(&self) -> Result<()> {
        self.client.unsubscribe(self.sid).await;
        Ok(())
    }
}

#[async_trait]
impl Broker for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn address(&self) -> String {
        self.client.address()
    }

    async fn connect(&self) -> Result<()> {
        self.client.connect().await
    }

    async fn disconnect(&self) -> Result<()> {
        self.client.disconnect().await;
        Ok(())
    }

    async fn publish(&self, topic: &str, msg: Message) -> Result<()> {
        let env = encode_envelope(&msg);
        if env.len() > self.max_message {
            return Err(too_large(env.len(), self.max_message, "broker's message size (encoded envelope)"));
        }
        self.client.publish(topic, None, &env).await
    }

    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>> {
        let (sid, mut rx) = self.client.subscribe(topic, opts.queue.as_deref(), QUEUED_PER_SUB).await?;
        let t = topic.to_string();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                match decode_envelope(&m.payload) {
                    Ok(message) => {
                        if let Err(e) = handler(Event { topic: t.clone(), message }).await {
                            tracing::warn!(topic = %t, error = %e, "subscriber handler failed; the message is not redelivered");
                        }
                    }
                    Err(e) => tracing::error!(topic = %t, error = %e, "undecodable NATS message dropped"),
                }
            }
        });
        Ok(Box::new(NatsSub { client: self.client.clone(), sid, topic: topic.to_string(), queue: opts.queue }))
    }
}
