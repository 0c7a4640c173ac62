//! The neighbour: the program beside the sidecar, registered in the mesh on its behalf
//! (`--server_name`, `--server_address`, spec P4–P6).
//!
//! The sidecar serves the neighbour's service on an RPC listener of its own (a library
//! [`Server`] whose catch-all handler is a [`Forwarder`]) and registers that listener as the
//! service's one node, `<name>-<uuid>`, with the endpoints it was given. The mesh calls the
//! sidecar; the sidecar POSTs to the program. The registration is refreshed every
//! `register_interval` (TTL `register_ttl`), withdrawn by [`Neighbour::stop`] (on exit and
//! SIGTERM), and, with a health URL, follows the program's health: polled every
//! `health_interval`, a non-200 answer or no answer deregisters the node (logged), the next
//! 200 registers it again.
//!
//! The RPC server itself registers only in a private memory registry: which registry the
//! node is in, and when, is this module's business, not the server's.

use super::forward::Forwarder;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use micro::registry::{Endpoint, RegisterOptions, Registry, Service};
use micro::{Server, ServerOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Why the neighbour could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NeighbourError {
    /// A flag is missing or malformed.
    #[error("{0}")]
    Config(String),
    /// The endpoints file could not be read or is not JSON.
    #[error("endpoints file {path}: {why}")]
    Endpoints {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// The RPC listener or the registration failed.
    #[error("{0}")]
    Mesh(micro::Error),
}

/// What registers the neighbour, with the classic sidecar's defaults.
#[derive(Clone, Debug)]
pub struct NeighbourConfig {
    /// The service name (`--server_name`).
    pub name: String,
    /// The service version.
    pub version: String,
    /// The program's HTTP address, `host:port` (`--server_address`).
    pub address: String,
    /// The endpoints registered for it.
    pub endpoints: Vec<Endpoint>,
    /// Polled with GET; `None`: always healthy.
    pub healthcheck_url: Option<String>,
    /// How often the health URL is polled (the classic's 30 s).
    pub health_interval: Duration,
    /// Where the sidecar's RPC listener for the neighbour listens (`0.0.0.0:0`).
    pub rpc_address: String,
    /// Address to register instead of the listener's.
    pub advertise: Option<String>,
    /// Registration TTL.
    pub register_ttl: Duration,
    /// Re-registration interval.
    pub register_interval: Duration,
    /// Longest a forwarded call may take.
    pub call_timeout: Duration,
}

impl NeighbourConfig {
    /// A configuration for `name` at `address` with go-micro's TTL and interval, the classic
    /// sidecar's 30 s health interval and a 5 s call timeout.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        NeighbourConfig {
            name: name.into(),
            version: "latest".into(),
            address: address.into(),
            endpoints: Vec::new(),
            healthcheck_url: None,
            health_interval: Duration::from_secs(30),
            rpc_address: "0.0.0.0:0".into(),
            advertise: None,
            register_ttl: Duration::from_secs(90),
            register_interval: Duration::from_secs(30),
            call_timeout: super::forward::DEFAULT_TIMEOUT,
        }
    }
}

/// Endpoints from `--server_endpoints`: names separated by commas (`Greeter.Hello,Greeter.Bye`).
pub fn endpoints_from_list(list: &str) -> Vec<Endpoint> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| Endpoint { name: n.to_string(), ..Default::default() })
        .collect()
}

/// Endpoints from a JSON file: an array of go-micro registry endpoints
/// (`[{"name":"Greeter.Hello","request":{…},"metadata":{…}}]`) or of names.
pub fn endpoints_from_file(path: &std::path::Path) -> Result<Vec<Endpoint>, NeighbourError> {
    let bad = |why: String| NeighbourError::Endpoints { path: path.display().to_string(), why };
    let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let items = v.as_array().ok_or_else(|| bad("expected a JSON array of endpoints".into()))?;
    items
        .iter()
        .map(|item| match item {
            serde_json::Value::String(n) => Ok(Endpoint { name: n.clone(), ..Default::default() }),
            other => serde_json::from_value::<Endpoint>(other.clone()).map_err(|e| bad(format!("an endpoint: {e}"))),
        })
        .collect()
}

/// The neighbour's health as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Registered (no health URL, or it answered 200).
    Healthy,
    /// Deregistered: why the health URL failed.
    Unhealthy(String),
}

/// A read-only view of the neighbour's health, for `/health`.
#[derive(Clone, Debug)]
pub struct HealthView(watch::Receiver<Health>);

impl HealthView {
    /// The health as last seen.
    pub fn current(&self) -> Health {
        self.0.borrow().clone()
    }

    /// Waits until the health is `want` (for tests and tools that follow it).
    pub async fn wait_for(&mut self, want: impl Fn(&Health) -> bool) {
        let _ = self.0.wait_for(|h| want(h)).await;
    }
}

/// The registered neighbour: stop it to deregister.
pub struct Neighbour {
    server: Server,
    service: Service,
    registry: Arc<dyn Registry>,
    health: watch::Receiver<Health>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Neighbour {
    /// Starts the RPC listener, registers the neighbour in `registry` (first checking its
    /// health URL once, when it has one) and keeps the registration up to date.
    pub async fn start(cfg: NeighbourConfig, registry: Arc<dyn Registry>) -> Result<Neighbour, NeighbourError> {
        if cfg.name.trim().is_empty() {
            return Err(NeighbourError::Config("Require server name: --server_name".into()));
        }
        if cfg.address.trim().is_empty() {
            return Err(NeighbourError::Config("Require server address: --server_address".into()));
        }
        let probe = match &cfg.healthcheck_url {
            Some(u) => Some(Probe::new(u)?),
            None => None,
        };
        let mut opts = ServerOptions::new(cfg.name.clone());
        opts.version = cfg.version.clone();
        opts.address = cfg.rpc_address.clone();
        opts.advertise = cfg.advertise.clone();
        opts.register_interval = Duration::ZERO;
        let private: Arc<dyn Registry> = Arc::new(micro::registry::memory::Memory::new());
        let server = Server::new(opts, private);
        let forwarder = Forwarder::new(cfg.address.clone(), cfg.call_timeout);
        server.handle_any(move |req| {
            let f = forwarder.clone();
            async move { f.forward(req).await }
        });
        server.start().await.map_err(NeighbourError::Mesh)?;
        let mut service = match server.service() {
            Some(s) => s,
            None => return Err(NeighbourError::Mesh(micro::Error::internal(super::SIDECAR_ID, "no RPC address"))),
        };
        service.endpoints = cfg.endpoints.clone();
        for n in &mut service.nodes {
            n.metadata.insert("registry".into(), registry.name().into());
        }
        let first = match &probe {
            Some(p) => p.check().await,
            None => Health::Healthy,
        };
        if first == Health::Healthy {
            if let Err(e) = registry.register(&service, RegisterOptions { ttl: cfg.register_ttl }).await {
                let _ = server.stop().await;
                return Err(NeighbourError::Mesh(e));
            }
        } else {
            tracing::warn!(target: "micro::proxy", id = %server.id(), health = ?first, "neighbour unhealthy at start: not registered");
        }
        let (tx, rx) = watch::channel(first);
        let stop = CancellationToken::new();
        let task = tokio::spawn(keep(service.clone(), Arc::clone(&registry), cfg, probe, tx, stop.clone()));
        tracing::info!(target: "micro::proxy", service = %service.name, id = %server.id(), rpc = ?server.bound(), "neighbour registered");
        Ok(Neighbour { server, service, registry, health: rx, stop, task })
    }

    /// The registration (name, node at the sidecar's RPC listener, endpoints).
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The node id, `<name>-<uuid>`.
    pub fn id(&self) -> &str {
        self.server.id()
    }

    /// The neighbour's health, as `/health` reports it.
    pub fn health(&self) -> HealthView {
        HealthView(self.health.clone())
    }

    /// Deregisters the node and stops the RPC listener (calls in flight finish).
    pub async fn stop(self) -> micro::Result<()> {
        self.stop.cancel();
        let _ = self.task.await;
        let node = Service { endpoints: vec![], ..self.service.clone() };
        let dereg = self.registry.deregister(&node).await;
        tracing::info!(target: "micro::proxy", id = %self.server.id(), "neighbour deregistered");
        let stopped = self.server.stop().await;
        dereg.and(stopped)
    }
}

/// Re-registers on the interval while healthy; follows the health URL.
async fn keep(
    service: Service,
    registry: Arc<dyn Registry>,
    cfg: NeighbourConfig,
    probe: Option<Probe>,
    health: watch::Sender<Health>,
    stop: CancellationToken,
) {
    let opts = RegisterOptions { ttl: cfg.register_ttl };
    let forever = Duration::from_secs(365 * 24 * 3600);
    let every = |d: Duration| {
        let d = if d.is_zero() { forever } else { d };
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let mut reregister = every(cfg.register_interval);
    let mut poll = every(if probe.is_some() { cfg.health_interval } else { Duration::ZERO });
    let id = service.nodes.first().map(|n| n.id.clone()).unwrap_or_default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = reregister.tick() => {
                if *health.borrow() == Health::Healthy {
                    if let Err(e) = registry.register(&service, opts).await {
                        tracing::warn!(target: "micro::proxy", %id, error = %e, "re-registration failed");
                    }
                }
            }
            _ = poll.tick() => {
                let Some(p) = &probe else { continue };
                let now = p.check().await;
                let was = health.borrow().clone();
                match (&was, &now) {
                    (Health::Healthy, Health::Unhealthy(why)) => {
                        tracing::warn!(target: "micro::proxy", %id, %why, "Healthcheck error. Deregistering {id}");
                        let node = Service { endpoints: vec![], ..service.clone() };
                        if let Err(e) = registry.deregister(&node).await {
                            tracing::warn!(target: "micro::proxy", %id, error = %e, "deregistration failed");
                        }
                    }
                    (Health::Unhealthy(_), Health::Healthy) => {
                        tracing::info!(target: "micro::proxy", %id, "Healthcheck recovered. Registering {id}");
                        if let Err(e) = registry.register(&service, opts).await {
                            tracing::warn!(target: "micro::proxy", %id, error = %e, "registration failed");
                        }
                    }
                    _ => {}
                }
                health.send_replace(now);
            }
        }
    }
}

/// The health URL, polled with GET.
struct Probe {
    uri: hyper::Uri,
    client: HttpClient<HttpConnector, Empty<bytes::Bytes>>,
}

impl Probe {
    fn new(url: &str) -> Result<Probe, NeighbourError> {
        let uri: hyper::Uri =
            url.parse().map_err(|e| NeighbourError::Config(format!("--healthcheck_url {url:?} is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(NeighbourError::Config(format!(
                "--healthcheck_url {url:?}: expected http://HOST:PORT/PATH (https is not polled)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Probe { uri, client: HttpClient::builder(TokioExecutor::new()).build(connector) })
    }

    async fn check(&self) -> Health {
        let get = self.client.get(self.uri.clone());
        match tokio::time::timeout(Duration::from_secs(5), get).await {
            Ok(Ok(rsp)) if rsp.status() == hyper::StatusCode::OK => {
                let _ = rsp.into_body().collect().await;
                Health::Healthy
            }
            Ok(Ok(rsp)) => Health::Unhealthy(format!("Non 200 response: {}", rsp.status().as_u16())),
            Ok(Err(e)) => Health::Unhealthy(format!("GET {}: {e}", self.uri)),
            Err(_) => Health::Unhealthy(format!("GET {}: no answer within 5s", self.uri)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::endpoints_from_list;

    #[test]
    fn endpoint_lists_are_comma_separated() {
        let eps = endpoints_from_list(" Greeter.Hello, ,Greeter.Bye");
        assert_eq!(eps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["Greeter.Hello", "Greeter.Bye"]);
    }
}
