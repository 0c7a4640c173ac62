//! Pub/sub: go-micro's `broker` package.
//!
//! A [`Broker`] publishes [`Message`]s (a header map and a body) to topics and delivers
//! them to subscribers: every broadcast subscriber gets a copy, and each queue group
//! ([`SubscribeOptions::queue`]) gets exactly one copy, taken by one of its members.
//!
//! Three plugins, chosen by [`from_url`]:
//!
//! - [`memory`]: in-process, for tests and single-process programs.
//! - [`http`]: go-micro's default broker, wire-compatible with v4/v5 — subscribers register
//!   as `micro.http.broker` and publishers `POST` the JSON envelope
//!   `{"Header":{…},"Body":"<base64>"}` to each subscriber node.
//! - [`nats`]: go-micro's NATS broker on a `nats-server`: the same JSON envelope as the
//!   NATS payload, queue groups as NATS queue subscriptions; resubscribes after a reconnect.
//!
//! Header keys inside the envelope are **not** canonicalised (`Micro-ID` stays `Micro-ID`).

pub mod http;
pub mod memory;
pub mod nats;

use crate::error::{Error, Result};
use crate::registry::Registry;
use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The error id of broker failures.
pub const BROKER_ID: &str = "go.micro.broker";

/// Envelope headers: exact keys as the publisher wrote them, sorted like Go's JSON.
pub type Header = BTreeMap<String, String>;

/// One message: go-micro's `broker.Message`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Headers (`Content-Type`, `Micro-Topic`, `Micro-ID`, publisher metadata …).
    pub header: Header,
    /// The body, byte for byte.
    pub body: Bytes,
}

impl Message {
    /// A message with no headers.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Message { header: Header::new(), body: body.into() }
    }

    /// The header `key`, matched case-insensitively (Go canonicalises on other paths).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.header
            .get(key)
            .or_else(|| self.header.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            .map(String::as_str)
    }
}

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    #[serde(rename = "Header")]
    header: Option<&'a Header>,
    #[serde(rename = "Body")]
    body: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    #[serde(rename = "Header", default)]
    header: Option<Header>,
    #[serde(rename = "Body", default)]
    body: Option<String>,
}

/// Encodes `msg` as go-micro's JSON envelope `{"Header":{…},"Body":"<base64>"}` (Go's
/// `encoding/json` of `broker.Message`: a nil map or slice is `null`).
pub fn encode_envelope(msg: &Message) -> Vec<u8> {
    let out = EnvelopeOut {
        header: (!msg.header.is_empty()).then_some(&msg.header),
        body: (!msg.body.is_empty()).then(|| base64::engine::general_purpose::STANDARD.encode(&msg.body)),
    };
    // Serialising a map of strings and a string cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// Decodes go-micro's JSON envelope; a body that is not base64 or not JSON is an error.
pub fn decode_envelope(bytes: &[u8]) -> Result<Message> {
    let env: EnvelopeIn = serde_json::from_slice(bytes)
        .map_err(|e| Error::bad_request(BROKER_ID, format!("broker message is not a go-micro envelope: {e}")))?;
    let body = match env.body {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b.as_bytes())
            .map_err(|e| Error::bad_request(BROKER_ID, format!("broker message body is not base64: {e}")))?,
        None => Vec::new(),
    };
    Ok(Message { header: env.header.unwrap_or_default(), body: body.into() })
}

/// A delivery: the topic it came on and the message.
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// The topic.
    pub topic: String,
    /// The message.
    pub message: Message,
}

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A subscription handler. Its error is logged (and, on the RPC transport path, returned to
/// the sender); brokers do not redeliver, as in go-micro.
pub type Handler = Arc<dyn Fn(Event) -> BoxFuture<Result<()>> + Send + Sync>;

/// Wraps an async closure as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Arc::new(move |e| Box::pin(f(e)))
}

/// How to subscribe.
#[derive(Clone, Debug, Default)]
pub struct SubscribeOptions {
    /// Queue group: each message goes to one member of the group. `None` = broadcast.
    pub queue: Option<String>,
}

impl SubscribeOptions {
    /// Options for queue group `q`.
    pub fn queue(q: impl Into<String>) -> Self {
        SubscribeOptions { queue: Some(q.into()) }
    }
}

/// A live subscription; [`Subscriber::unsubscribe`] ends it.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// The topic.
    fn topic(&self) -> &str;
    /// The queue group, if any.
    fn queue(&self) -> Option<&str>;
    /// Stops deliveries (and, for the http broker, deregisters the subscriber node).
    async fn unsubscribe(&self) -> Result<()>;
}

/// The contract every broker plugin honours.
///
/// - `connect` is idempotent and must precede `publish`/`subscribe` on network brokers;
/// - `publish` returns an error the publisher can act on when the message cannot be handed
///   over (too large, not connected, no subscriber registry entry for the http broker);
/// - each broadcast subscriber gets every message, each queue group one copy.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// The plugin name go-micro puts in node metadata (`http`, `nats`, `memory`).
    fn name(&self) -> &'static str;
    /// Where the broker listens or connects (after `connect`).
    fn address(&self) -> String;
    /// Starts listening / connects.
    async fn connect(&self) -> Result<()>;
    /// Stops listening / disconnects.
    async fn disconnect(&self) -> Result<()>;
    /// Publishes `msg` on `topic`.
    async fn publish(&self, topic: &str, msg: Message) -> Result<()>;
    /// Subscribes `handler` to `topic`.
    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>>;
}

/// The largest message a broker accepts by default (go-micro's 4 MiB message size).
pub const DEFAULT_MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// A broker by name or URL:
///
/// - `memory`;
/// - `http` (listen `127.0.0.1:0`, go-micro's default) or `http://HOST:PORT` (listen there);
/// - `nats` (`nats://127.0.0.1:4222`) or `nats://HOST:PORT[,nats://HOST:PORT…]`, with
///   `user:password@` or `token@` before the host, or `tls://HOST:PORT` for TLS.
///
/// `registry` is where the http broker registers subscribers and finds them.
/// `max_message` bounds the encoded envelope both ways. Unknown names are an error.
pub fn from_url(url: &str, registry: Arc<dyn Registry>, max_message: usize) -> Result<Arc<dyn Broker>> {
    let limits = crate::transport::Limits { max_body: max_message, ..Default::default() };
    from_url_with_limits(url, registry, limits)
}

/// [`from_url`] with the limits the http broker's listener reads deliveries under (its
/// `max_body` is every broker's message size).
pub fn from_url_with_limits(
    url: &str,
    registry: Arc<dyn Registry>,
    limits: crate::transport::Limits,
) -> Result<Arc<dyn Broker>> {
    let max_message = limits.max_body;
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, Some(r)),
        None => (url, None),
    };
    match scheme {
        "memory" => Ok(Arc::new(memory::Memory::new(max_message))),
        "" | "http" => {
            let listen = rest.filter(|r| !r.is_empty()).unwrap_or(http::DEFAULT_ADDRESS);
            Ok(Arc::new(http::HttpBroker::with_limits(listen, registry, limits)))
        }
        // `tls://` is a NATS server over TLS (what MICRO_BROKER=nats with a tls:// address makes).
        "nats" | "tls" => {
            let servers = if rest.is_some() { url.to_string() } else { nats::DEFAULT_URL.to_string() };
            Ok(Arc::new(nats::Nats::new(&servers, max_message)?))
        }
        other => Err(Error::bad_request(BROKER_ID, format!("unknown broker {other:?}: use http, nats or memory"))),
    }
}

/// Builds the URL [`from_url`] takes from go-micro's `MICRO_BROKER` and
/// `MICRO_BROKER_ADDRESS` values (`nats` + `127.0.0.1:4222` → `nats://127.0.0.1:4222`).
pub fn url_from_env(broker: Option<&str>, address: Option<&str>) -> String {
    let name = broker.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("http");
    match address.map(str::trim).filter(|s| !s.is_empty()) {
        None => name.to_string(),
        Some(a) if a.contains("://") => a.to_string(),
        Some(a) => match name {
            "nats" => a.split(',').map(|x| format!("nats://{}", x.trim())).collect::<Vec<_>>().join(","),
            other => format!("{other}://{a}"),
        },
    }
}

/// A 413 for a broker message: `message of N bytes is over the <what> limit of M bytes`.
pub(crate) fn too_large(size: usize, limit: usize, what: &str) -> Error {
    Error::too_large(BROKER_ID, format!("message of {size} bytes is over the {what} limit of {limit} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_go() {
        let mut m = Message::new(&b"{\"say\":\"hi\"}\n"[..]);
        m.header.insert("Micro-Topic".into(), "events".into());
        m.header.insert("Content-Type".into(), "application/json".into());
        m.header.insert("Micro-ID".into(), "9b2f6d1e-6a51-4d1c-8f1e-2c0d4c7e5a11".into());
        let bytes = encode_envelope(&m);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"Header":{"Content-Type":"application/json","Micro-ID":"9b2f6d1e-6a51-4d1c-8f1e-2c0d4c7e5a11","Micro-Topic":"events"},"Body":"eyJzYXkiOiJoaSJ9Cg=="}"#
        );
        assert_eq!(decode_envelope(&bytes).unwrap(), m);
        assert_eq!(encode_envelope(&Message::default()), br#"{"Header":null,"Body":null}"#);
        assert_eq!(decode_envelope(br#"{"Header":null,"Body":null}"#).unwrap(), Message::default());
        assert!(decode_envelope(b"{\"Body\":\"!!\"}").is_err());
        assert!(decode_envelope(b"nope").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(url_from_env(None, None), "http");
        assert_eq!(url_from_env(Some("nats"), Some("127.0.0.1:4222")), "nats://127.0.0.1:4222");
        assert_eq!(url_from_env(Some("http"), Some("0.0.0.0:0")), "http://0.0.0.0:0");
        assert_eq!(url_from_env(Some("nats"), Some("nats://a:1")), "nats://a:1");
        assert_eq!(url_from_env(Some("nats"), Some("tls://a:1")), "tls://a:1");
    }
}
