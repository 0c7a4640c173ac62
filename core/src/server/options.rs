//! [`ServerOptions`]: how a server listens, registers and drains, with go-micro's defaults
//! (the environment's `MICRO_SERVER_*` names overlay them in `config.rs`).

use crate::registry::Metadata;
use crate::transport::Limits;
use std::sync::Arc;
use std::time::Duration;

/// How a server listens, registers and drains.
#[derive(Clone)]
pub struct ServerOptions {
    /// Service name, e.g. `greeter`.
    pub name: String,
    /// Service version (`latest` by default, as in go-micro).
    pub version: String,
    /// Listen address; `0.0.0.0:0` (every interface, a free port) by default.
    pub address: String,
    /// Address to register instead of the listener's (`MICRO_SERVER_ADVERTISE`).
    pub advertise: Option<String>,
    /// Node id; `<name>-<uuid>` when `None`.
    pub id: Option<String>,
    /// Extra node metadata; go-micro's five keys are always set on top.
    pub metadata: Metadata,
    /// Registration TTL (go-micro: 90 s).
    pub register_ttl: Duration,
    /// Re-registration interval (go-micro: 30 s); zero disables it.
    pub register_interval: Duration,
    /// How long `stop` waits for calls in flight.
    pub drain_timeout: Duration,
    /// What a peer may send and how long it may take: message size, header, idle and body
    /// timeouts, the connection cap (see [`Limits`] for the defaults and `MICRO_*` names).
    pub limits: Limits,
    /// Most streams open at once across the whole server (default 4096,
    /// `MICRO_SERVER_MAX_STREAMS`); a stream opened beyond it is refused at once with a 503.
    pub max_streams: usize,
    /// Most streams open at once on one connection (default 128,
    /// `MICRO_SERVER_MAX_CONN_STREAMS`); beyond it, a 503 on that stream. Unary calls are
    /// answered one at a time per connection in the order they came (go-micro's clients
    /// keep one call in flight per connection): a pipelining peer waits in TCP's window, so
    /// in-flight requests per connection are at most one call plus these streams, each
    /// stream's unread messages queued up to 64 before its reader waits.
    pub max_conn_streams: usize,
    /// Names of the broker and transport to advertise in node metadata.
    pub broker_name: String,
    /// TLS on every accepted connection (go-micro's `transport.Secure`); see
    /// [`crate::transport::tls`] for a configuration from PEM files or a self-signed one.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// At most this many unary handlers run at once; a call beyond it waits for a slot,
    /// within its caller's timeout (a 408 when that passes first). `None`, the default, is
    /// go-micro's behaviour: no limit. Streams and subscriber deliveries are not counted.
    pub max_concurrency: Option<usize>,
}

impl ServerOptions {
    /// Defaults for a service called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ServerOptions {
            name: name.into(),
            version: "latest".into(),
            address: "0.0.0.0:0".into(),
            advertise: None,
            id: None,
            metadata: Metadata::new(),
            register_ttl: Duration::from_secs(90),
            register_interval: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            max_streams: 4096,
            max_conn_streams: 128,
            broker_name: "http".into(),
            tls: None,
            max_concurrency: None,
        }
    }
}
