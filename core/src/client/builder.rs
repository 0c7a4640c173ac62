//! `Client::builder()`: a client on its own (no server), configured the way a
//! [`crate::ServiceBuilder`] configures a service — go-micro's environment variables first,
//! then whatever the code sets — so every host (Rust, C, Python, Node, the CLI) builds its
//! clients in one way and reads the same variables.

use super::{Client, ClientOptions};
use crate::broker::Broker;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::registry::{self, Registry};
use crate::selector::Strategy;
use crate::wrapper::breaker::Breaker;
use crate::wrapper::trace::{TraceConfig, Tracer};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Client`]; start with [`Client::builder`].
///
/// Defaults come from the environment (`MICRO_REGISTRY`, `MICRO_REGISTRY_ADDRESS`,
/// `MICRO_BROKER`, `MICRO_BROKER_ADDRESS`, `MICRO_CLIENT_*`, `MICRO_SELECTOR`,
/// `MICRO_MAX_MESSAGE_SIZE` and the TLS variables); a variable that does not parse makes
/// [`ClientBuilder::build`] fail with its name.
pub struct ClientBuilder {
    options: ClientOptions,
    registry: Option<Arc<dyn Registry>>,
    registry_url: String,
    broker: Option<Arc<dyn Broker>>,
    broker_url: Option<String>,
    env_error: Option<Error>,
    pub(crate) trace: Option<TraceConfig>,
    pub(crate) breaker: Option<Breaker>,
}

impl Client {
    /// A builder for a client with its own registry (and broker, for publishing), with
    /// defaults from go-micro's environment variables.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::from_config(Config::from_env())
    }
}

impl ClientBuilder {
    /// A builder over settings already read (a malformed variable is kept for `build`).
    pub(crate) fn from_config(cfg: Result<Config>) -> Self {
        let mut options = ClientOptions::default();
        let trace = cfg.as_ref().ok().and_then(|cfg| cfg.trace.clone());
        let breaker = cfg.as_ref().ok().and_then(|cfg| cfg.client_breaker);
        let (registry_url, broker_url, env_error) = match cfg {
            Ok(cfg) => {
                cfg.apply_client(&mut options);
                let tls_error = match cfg.client_tls() {
                    Ok(tls) => {
                        options.tls = tls;
                        None
                    }
                    Err(e) => Some(e),
                };
                let broker_url = crate::broker::url_from_env(cfg.broker.as_deref(), cfg.broker_address.as_deref());
                (cfg.registry_url(), Some(broker_url), tls_error)
            }
            Err(e) => ("mdns".into(), None, Some(e)),
        };
        ClientBuilder { options, registry: None, registry_url, broker: None, broker_url, env_error, trace, breaker }
    }

    /// Traces every call as [`crate::wrapper::trace`] describes (default: from the
    /// OpenTelemetry variables, `OTEL_EXPORTER_OTLP_ENDPOINT` …); `None` turns it off.
    pub fn trace(mut self, cfg: Option<TraceConfig>) -> Self {
        self.trace = cfg;
        self
    }

    /// Breaks the circuit to an endpoint that keeps failing ([`crate::wrapper::breaker`];
    /// default: from `MICRO_CLIENT_BREAKER`); `None` turns it off.
    pub fn breaker(mut self, cfg: Option<Breaker>) -> Self {
        self.breaker = cfg;
        self
    }

    /// Sets the largest message sent or accepted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.options.limits.max_body = bytes;
        self
    }

    /// Sets every limit: message size, and the timeouts and connection cap its http
    /// broker's listener runs under (default from the `MICRO_SERVER_*` variables).
    pub fn limits(mut self, limits: crate::transport::Limits) -> Self {
        self.options.limits = limits;
        self
    }

    /// Checks the environment, opens the registry and the broker: what a client (or a
    /// service) is built on.
    pub(crate) async fn open(self) -> Result<(Arc<dyn Registry>, Option<Arc<dyn Broker>>, ClientOptions)> {
        if let Some(e) = self.env_error {
            return Err(e);
        }
        let registry = match self.registry {
            Some(r) => r,
            None => registry::from_url(&self.registry_url).await?,
        };
        let broker = match (self.broker, self.broker_url) {
            (Some(b), _) => Some(b),
            (None, Some(url)) => {
                Some(crate::broker::from_url_with_limits(&url, Arc::clone(&registry), self.options.limits)?)
            }
            (None, None) => None,
        };
        Ok((registry, broker, self.options))
    }
}

impl ClientBuilder {
    /// Finds services through this registry instead of opening one by URL.
    pub fn registry(mut self, r: Arc<dyn Registry>) -> Self {
        self.registry = Some(r);
        self
    }

    /// Opens the registry named by `url` (`mdns`, `memory`, `etcd://HOST:PORT`) at
    /// [`ClientBuilder::build`]; default `MICRO_REGISTRY`, else mDNS.
    pub fn registry_url(mut self, url: impl Into<String>) -> Self {
        self.registry_url = url.into();
        self
    }

    /// Publishes through this broker instead of opening one by URL.
    pub fn broker(mut self, b: Arc<dyn Broker>) -> Self {
        self.broker = Some(b);
        self
    }

    /// Opens the broker named by `url` (`http`, `memory`, `nats://HOST:PORT`) at
    /// [`ClientBuilder::build`]; default `MICRO_BROKER`/`MICRO_BROKER_ADDRESS`, else
    /// go-micro's http broker.
    pub fn broker_url(mut self, url: impl Into<String>) -> Self {
        self.broker_url = Some(url.into());
        self
    }

    /// Publishing is not needed: no broker is opened (a publish then fails with a clear
    /// error). For tools that only call, such as a one-shot CLI command.
    pub fn without_broker(mut self) -> Self {
        self.broker_url = None;
        self.broker = None;
        self
    }

    /// Replaces every client option (the environment's included) with `o`; TLS stays as
    /// the environment set it when `o.tls` is `None`.
    pub fn options(mut self, o: ClientOptions) -> Self {
        let tls = o.tls.clone().or_else(|| self.options.tls.take());
        self.options = ClientOptions { tls, ..o };
        self
    }

    /// The content type of requests (default `application/json`).
    pub fn content_type(mut self, ct: impl Into<String>) -> Self {
        self.options.content_type = ct.into();
        self
    }

    /// The budget of a whole call, all attempts included.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.options.request_timeout = d;
        self
    }

    /// The budget of one attempt, sent as the `Timeout` header.
    pub fn conn_timeout(mut self, d: Duration) -> Self {
        self.options.conn_timeout = d;
        self
    }

    /// Extra attempts after the first.
    pub fn retries(mut self, n: u32) -> Self {
        self.options.retries = n;
        self
    }

    /// Idle connections kept per address.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.options.pool_size = n;
        self
    }

    /// How nodes are picked.
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.options.strategy = s;
        self
    }

    /// TLS for every connection (see [`crate::transport::tls`]); overrides the environment.
    pub fn tls(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.options.tls = Some(config);
        self
    }

    /// The options as they stand (environment plus what was set).
    pub fn client_options(&self) -> &ClientOptions {
        &self.options
    }

    /// A client with no registry and no broker: every call names its nodes
    /// ([`crate::CallOptions::address`]). Fails only on a malformed variable.
    pub fn build_direct(self) -> Result<Client> {
        if let Some(e) = self.env_error {
            return Err(e);
        }
        Ok(Client::with_cache(None, self.options))
    }

    /// Opens the registry and broker and builds the client. Needs a Tokio runtime.
    pub async fn build(self) -> Result<Client> {
        let (trace_cfg, breaker) = (self.trace.clone(), self.breaker);
        let (registry, broker, options) = self.open().await?;
        let client = Client::new(registry, options);
        if let Some(b) = broker {
            client.set_broker(b);
        }
        if let Some(cfg) = &trace_cfg {
            // A client on its own names its spans' resource OTEL_SERVICE_NAME or, as the
            // OpenTelemetry SDKs do, unknown_service.
            let tracer = Tracer::start(cfg, "unknown_service")?;
            client.wrap(tracer.call());
            client.trace_publishes(tracer);
        }
        if let Some(cfg) = breaker {
            client.wrap(crate::wrapper::breaker::call(cfg));
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::memory::Memory;

    #[tokio::test]
    async fn builds_on_a_given_registry_with_options_set_in_code() {
        let reg: Arc<dyn Registry> = Arc::new(Memory::new());
        let c = Client::builder()
            .registry(reg)
            .retries(2)
            .content_type("application/protobuf")
            .broker_url("memory")
            .build()
            .await
            .expect("client");
        assert_eq!(c.options().retries, 2);
        assert_eq!(c.options().content_type, "application/protobuf");
        assert!(c.broker().is_some());
        assert!(c.cache().is_some());
    }

    #[tokio::test]
    async fn an_unknown_registry_url_is_an_error_that_names_it() {
        let Err(e) = Client::builder().registry_url("zookeeper").build().await else {
            panic!("an unknown registry must fail");
        };
        assert!(e.detail.contains("zookeeper"), "{}", e.detail);
    }
}
