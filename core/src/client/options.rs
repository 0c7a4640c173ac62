//! What shapes a call: the client-wide [`ClientOptions`], the per-call [`CallOptions`], and
//! the [`Reply`] a call returns.

use crate::codec;
use crate::registry::Metadata;
use crate::selector::{Filter, Strategy};
use crate::transport::{Header, Limits};
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Client-wide defaults; each can be overridden per call by [`CallOptions`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Content type of requests (`application/json`, go-micro's default).
    pub content_type: String,
    /// Budget for a whole call, all attempts included (go-micro: 30 s).
    pub request_timeout: Duration,
    /// Budget for one attempt, sent as the `Timeout` header (go-micro: 5 s).
    pub conn_timeout: Duration,
    /// Dial timeout (go-micro: 5 s).
    pub dial_timeout: Duration,
    /// Extra attempts after the first (go-micro: 5).
    pub retries: u32,
    /// How nodes are picked.
    pub strategy: Strategy,
    /// Message size limits.
    pub limits: Limits,
    /// Idle connections kept per address.
    pub pool_size: usize,
    /// Age after which an idle connection is closed.
    pub pool_ttl: Duration,
    /// TLS for every connection (go-micro's `transport.Secure`); see [`crate::transport::tls`].
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            content_type: codec::JSON.into(),
            request_timeout: Duration::from_secs(30),
            conn_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(5),
            retries: 5,
            strategy: Strategy::Random,
            limits: Limits::default(),
            pool_size: 100,
            pool_ttl: Duration::from_secs(60),
            tls: None,
        }
    }
}

/// Per-call options.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// Call these addresses instead of asking the registry.
    pub address: Vec<String>,
    /// Content type of this request.
    pub content_type: Option<String>,
    /// Per-attempt timeout (and `Timeout` header).
    pub timeout: Option<Duration>,
    /// Whole-call budget.
    pub request_timeout: Option<Duration>,
    /// Extra attempts after the first.
    pub retries: Option<u32>,
    /// Re-send after a timeout too (the attempt's own, or a 408 the server answered): only
    /// for endpoints safe to run twice.
    pub retry_timeouts: bool,
    /// Metadata sent as headers (go-micro context metadata).
    pub metadata: Metadata,
    /// Node filters (version, metadata).
    pub filters: Vec<Filter>,
}

/// Headers that describe one hop, not the caller's context: never forwarded.
const HOP_HEADERS: &[&str] = &[
    "Accept",
    "Connection",
    "Content-Length",
    "Content-Type",
    "Local",
    "Micro-Endpoint",
    "Micro-Error",
    "Micro-Id",
    "Micro-Method",
    "Micro-Service",
    "Micro-Stream",
    "Micro-Topic",
    "Remote",
    "Timeout",
    "User-Agent",
];

impl CallOptions {
    /// Options for a call made while handling `req`: its metadata travels on (as go-micro
    /// passes its context), and the per-attempt timeout is what is left of the caller's
    /// deadline, so a chain of calls fails with a 408 instead of outliving its caller.
    pub fn from_request(req: &crate::server::Request) -> Self {
        let metadata = req
            .header
            .iter()
            .filter(|(k, _)| !HOP_HEADERS.contains(&k.as_str()) && !k.starts_with("X-Micro-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let left = req.deadline.map(|d| d.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        CallOptions { metadata, timeout: left, request_timeout: left, ..Default::default() }
    }
}

/// A successful reply.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The body as the server sent it.
    pub body: Bytes,
    /// The body's content type.
    pub content_type: String,
    /// Reply headers (go-micro servers echo request headers here; trust only `Content-Type`).
    pub header: Header,
    /// The node that answered.
    pub node: String,
}
