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
    /// Message size limits.
    pub limits: Limits,
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
            broker_name: "http".into(),
            tls: None,
            max_concurrency: None,
        }
    }
}
