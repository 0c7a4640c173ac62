//! `Service`: the one-line way to join a mesh — a registry, a server and a client wired
//! together, configured from go-micro's environment variables and overridable in code.

use crate::client::{Client, ClientBuilder, ClientOptions};
use crate::config::Config;
use crate::error::Result;
use crate::registry::cache::Cache;
use crate::registry::Registry;
use crate::server::{Server, ServerOptions};
use crate::wrapper;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Builds a [`Service`]; start with [`Service::builder`]. Its client, registry and broker
/// are built as [`Client::builder`] builds a client's.
pub struct ServiceBuilder {
    server: ServerOptions,
    client: ClientBuilder,
    env_error: Option<crate::error::Error>,
    access_log: bool,
    metrics_address: Option<String>,
    rate_limit: Option<wrapper::limit::RateLimit>,
}

impl ServiceBuilder {
    /// Sets the version (default `latest`).
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.server.version = v.into();
        self
    }
    /// Sets the listen address (default `0.0.0.0:0`).
    pub fn address(mut self, a: impl Into<String>) -> Self {
        self.server.address = a.into();
        self
    }
    /// Sets the address to register instead of the listener's.
    pub fn advertise(mut self, a: impl Into<String>) -> Self {
        self.server.advertise = Some(a.into());
        self
    }
    /// Sets the node id (default `<name>-<uuid>`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.server.id = Some(id.into());
        self
    }
    /// Adds node metadata.
    pub fn metadata(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.server.metadata.insert(k.into(), v.into());
        self
    }
    /// Uses this registry instead of the one the environment names.
    pub fn registry(mut self, r: Arc<dyn Registry>) -> Self {
        self.client = self.client.registry(r);
        self
    }
    /// Names the registry by URL (`mdns`, `memory`, `etcd`, `etcd://HOST:PORT[,HOST:PORT…]`;
    /// see [`crate::registry::from_url`]).
    pub fn registry_url(mut self, url: impl Into<String>) -> Self {
        self.client = self.client.registry_url(url);
        self
    }
    /// Uses this broker instead of the one the environment names.
    pub fn broker(mut self, b: Arc<dyn crate::broker::Broker>) -> Self {
        self.client = self.client.broker(b);
        self
    }
    /// Names the broker by URL (`http`, `http://0.0.0.0:0`, `nats://host:4222`, `memory`;
    /// see [`crate::broker::from_url`]). Default from `MICRO_BROKER`/`MICRO_BROKER_ADDRESS`,
    /// else `http` on `127.0.0.1:0` as go-micro.
    pub fn broker_url(mut self, url: impl Into<String>) -> Self {
        self.client = self.client.broker_url(url);
        self
    }
    /// Sets the registration TTL.
    pub fn register_ttl(mut self, d: Duration) -> Self {
        self.server.register_ttl = d;
        self
    }
    /// Sets the re-registration interval.
    pub fn register_interval(mut self, d: Duration) -> Self {
        self.server.register_interval = d;
        self
    }
    /// Lets at most `n` unary handlers run at once (see [`ServerOptions::max_concurrency`]).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.server.max_concurrency = Some(n);
        self
    }
    /// Sets the largest message accepted or sent, both ways (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.server.limits.max_body = bytes;
        self.client = self.client.max_message_size(bytes);
        self
    }
    /// Sets what a peer may send and how long it may take — message size, header, idle and
    /// body timeouts, connection cap — for the server's listener, the client and the http
    /// broker's listener alike (default from `MICRO_MAX_MESSAGE_SIZE` and the
    /// `MICRO_SERVER_*` variables; see [`crate::transport::Limits`]).
    pub fn limits(mut self, limits: crate::transport::Limits) -> Self {
        self.server.limits = limits;
        self.client = self.client.limits(limits);
        self
    }
    /// Caps open streams: `total` across the server (default 4096), `per_connection` on one
    /// connection (default 128); a stream beyond either is refused with a 503.
    pub fn max_streams(mut self, total: usize, per_connection: usize) -> Self {
        self.server.max_streams = total;
        self.server.max_conn_streams = per_connection;
        self
    }
    /// Replaces the client options.
    pub fn client_options(mut self, o: ClientOptions) -> Self {
        self.client = self.client.options(o);
        self
    }
    /// Logs every request handled, call made and message received (`MICRO_ACCESS_LOG`;
    /// [`crate::wrapper::logging`]).
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }
    /// Records Prometheus metrics for every request, call and message and serves them on
    /// `http://ADDRESS/metrics` while the service runs (`MICRO_METRICS_ADDRESS`;
    /// [`crate::wrapper::metrics`]). Port 0 picks a free one: see [`Service::metrics_address`].
    pub fn metrics_address(mut self, address: impl Into<String>) -> Self {
        self.metrics_address = Some(address.into());
        self
    }

    /// Traces every request handled, call made and message delivered as
    /// [`crate::wrapper::trace`] describes (default: from the OpenTelemetry variables,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` …); `None` turns it off.
    pub fn trace(mut self, cfg: Option<crate::wrapper::trace::TraceConfig>) -> Self {
        self.client = self.client.trace(cfg);
        self
    }

    /// Limits the requests each endpoint handles ([`crate::wrapper::limit`]: 429 over the
    /// limit; default: from `MICRO_RATE_LIMIT`); `None` turns it off.
    pub fn rate_limit(mut self, limit: Option<wrapper::limit::RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Breaks the circuit to an endpoint the service's client keeps failing to call
    /// ([`crate::wrapper::breaker`]: 503 while open; default: from `MICRO_CLIENT_BREAKER`).
    pub fn breaker(mut self, cfg: Option<wrapper::breaker::Breaker>) -> Self {
        self.client = self.client.breaker(cfg);
        self
    }
    /// Replaces the server options (the name is kept).
    pub fn server_options(mut self, mut o: ServerOptions) -> Self {
        o.name = self.server.name.clone();
        self.server = o;
        self
    }

    /// Opens the registry and builds the service; nothing listens until [`Service::start`].
    pub async fn build(self) -> Result<Service> {
        if let Some(e) = self.env_error {
            return Err(e);
        }
        crate::host::check::service(&self.server.name)?;
        let (trace_cfg, breaker) = (self.client.trace.clone(), self.client.breaker);
        let (registry, broker, client_opts) = self.client.open().await?;
        let broker = match broker {
            Some(b) => b,
            None => crate::broker::from_url_with_limits("http", Arc::clone(&registry), self.server.limits)?,
        };
        let mut server_opts = self.server;
        server_opts.broker_name = broker.name().to_string();
        let cache = Cache::new(Arc::clone(&registry));
        let client = Client::with_cache(Some(cache), client_opts);
        client.set_broker(Arc::clone(&broker));
        let server = Server::new(server_opts, Arc::clone(&registry));
        server.set_broker(Arc::clone(&broker));
        // Outermost, so a span covers the other wrappers too.
        let tracer = match &trace_cfg {
            Some(cfg) => {
                let tracer = wrapper::trace::Tracer::start(cfg, &server.options().name)?;
                server.wrap(tracer.handler());
                server.wrap_subscriber(tracer.subscriber());
                client.wrap(tracer.call());
                client.trace_publishes(tracer.clone());
                Some(tracer)
            }
            None => None,
        };
        if self.access_log {
            server.wrap(wrapper::logging::handler());
            server.wrap_subscriber(wrapper::logging::subscriber());
            client.wrap(wrapper::logging::call());
        }
        let metrics = self.metrics_address.map(|address| {
            let metrics = wrapper::metrics::Metrics::new();
            server.wrap(metrics.handler());
            server.wrap_subscriber(metrics.subscriber());
            client.wrap(metrics.call());
            Arc::new(MetricsEndpoint { address, metrics, serving: Mutex::default() })
        });
        // Inside the metrics, so refusals are counted as failures.
        if let Some(limit) = self.rate_limit {
            server.wrap(wrapper::limit::handler(limit));
        }
        if let Some(cfg) = breaker {
            client.wrap(wrapper::breaker::call(cfg));
        }
        Ok(Service { server, client, registry, broker, metrics, tracer })
    }
}

/// A registry, a server and a client, wired together.
#[derive(Clone)]
pub struct Service {
    server: Server,
    client: Client,
    registry: Arc<dyn Registry>,
    broker: Arc<dyn crate::broker::Broker>,
    metrics: Option<Arc<MetricsEndpoint>>,
    tracer: Option<wrapper::trace::Tracer>,
}

/// The metrics a service records and, while it runs, the endpoint serving them.
struct MetricsEndpoint {
    address: String,
    metrics: wrapper::metrics::Metrics,
    serving: Mutex<Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)>>,
}

impl Service {
    /// A builder for service `name`, with defaults from go-micro's environment variables.
    /// A malformed variable makes [`ServiceBuilder::build`] fail with its name.
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        let mut server = ServerOptions::new(name);
        let cfg = Config::from_env();
        let env_error = match &cfg {
            Ok(cfg) => {
                cfg.apply_server(&mut server);
                cfg.server_tls().map(|tls| server.tls = tls).err()
            }
            Err(_) => None, // the client builder keeps the error
        };
        let (access_log, metrics_address, rate_limit) = match &cfg {
            Ok(cfg) => (cfg.access_log, cfg.metrics_address.clone(), cfg.rate_limit),
            Err(_) => (false, None, None),
        };
        ServiceBuilder {
            server,
            client: ClientBuilder::from_config(cfg),
            env_error,
            access_log,
            metrics_address,
            rate_limit,
        }
    }

    /// The server, to add handlers.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The client, sharing the registry.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.registry
    }

    /// The broker [`Client::publish`] and the server's subscribers use.
    pub fn broker(&self) -> &Arc<dyn crate::broker::Broker> {
        &self.broker
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.server.options().name
    }

    /// The metrics this service records, when they are on.
    pub fn metrics(&self) -> Option<&wrapper::metrics::Metrics> {
        self.metrics.as_ref().map(|m| &m.metrics)
    }

    /// Where the metrics are served (`http://…/metrics`), while the service runs.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        let m = self.metrics.as_ref()?;
        let serving = m.serving.lock().unwrap_or_else(|p| p.into_inner());
        serving.as_ref().map(|(a, _)| *a)
    }

    /// Connects the broker, serves the metrics (when on), then listens, registers and
    /// subscribes.
    pub async fn start(&self) -> Result<()> {
        self.broker.connect().await?;
        if let Some(m) = &self.metrics {
            let served = wrapper::metrics::serve(&m.address, m.metrics.clone()).await?;
            if let Some((_, old)) = m.serving.lock().unwrap_or_else(|p| p.into_inner()).replace(served) {
                old.abort();
            }
        }
        self.server.start().await
    }

    /// Deregisters, unsubscribes and drains, then disconnects the broker and stops serving
    /// the metrics.
    pub async fn stop(&self) -> Result<()> {
        let r = self.server.stop().await;
        let b = self.broker.disconnect().await;
        if let Some(t) = &self.tracer {
            t.flush().await;
        }
        if let Some(m) = &self.metrics {
            if let Some((_, task)) = m.serving.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
        }
        r.and(b)
    }

    /// Starts, waits for Ctrl-C or SIGTERM, then stops.
    pub async fn run(&self) -> Result<()> {
        self.start().await?;
        wait_for_signal().await;
        self.stop().await
    }
}

/// Returns on Ctrl-C or SIGTERM: what [`Service::run`] waits for between its start and its
/// stop, for a program that starts and stops its service itself (to report in between).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
