//! What the commands of one invocation (or of one `micro cli` session) share: the registry
//! chosen by `--registry`, made once and on first use; the client over it; the services a
//! session registered; and the client and call options the flags stand for.
//!
//! A command asks the session for what it needs (`registry()`, `client_for()`, `lookup()`),
//! so `micro call --address …` never opens the registry, and a session keeps one registry
//! (and so one mDNS cache) for all its lines.

use crate::failure::Failure;
use crate::Opts;
use micro::registry::{self, mdns, Registry, Service};
use micro::{CallOptions, Client};
use micro_gateway::sidecar::remote::Remote;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// State shared by the commands of one invocation or one interactive session.
pub struct Session {
    /// The registry's name from `--registry` (mdns, memory, etcd …), before it is opened.
    pub registry_name: String,
    registry_address: Option<String>,
    /// True inside `micro cli`: registrations are held by the session, not by the command.
    pub interactive: bool,
    registry: OnceCell<Arc<dyn Registry>>,
    client: OnceCell<Client>,
    /// What this session registered and still holds (deregistered when the session ends).
    pub registered: Mutex<Vec<Service>>,
    /// The sidecar of `--proxy_address`: registry, calls and publishes go through it.
    pub proxy: Option<Remote>,
}

impl Session {
    /// A session for `opts`: `--registry NAME` or `--registry NAME://ADDRESS`, and
    /// `--registry_address`, which wins over an address in the URL. Nothing is opened yet.
    pub fn new(opts: &Opts, interactive: bool) -> Self {
        let (name, in_url) = match opts.registry.split_once("://") {
            Some((n, rest)) => (n.trim().to_string(), Some(rest.trim().to_string()).filter(|r| !r.is_empty())),
            None => (opts.registry.trim().to_string(), None),
        };
        Session {
            registry_name: if name.is_empty() { "mdns".into() } else { name },
            registry_address: opts.registry_address.clone().or(in_url),
            interactive,
            registry: OnceCell::new(),
            client: OnceCell::new(),
            registered: Mutex::new(Vec::new()),
            proxy: opts.proxy_address.as_deref().filter(|a| !a.trim().is_empty()).map(|a| {
                Remote::new(a.trim(), opts.client_request_timeout * (opts.client_retries + 1) + Duration::from_secs(1))
            }),
        }
    }

    /// The session's registry: the sidecar's with `--proxy_address`, else [`Session::mesh_registry`]
    /// (mdns, memory, etcd, consul or nats).
    pub async fn registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        match &self.proxy {
            Some(remote) => Ok(Arc::new(remote.clone())),
            None => self.mesh_registry().await,
        }
    }

    /// The mesh's registry (never a sidecar's), opened on first use: mdns, memory or etcd;
    /// any other name is a usage failure.
    pub async fn mesh_registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        self.registry
            .get_or_try_init(|| async {
                if self.registry_address.is_some() && self.registry_name != "etcd" {
                    eprintln!("note: --registry_address is not used by the {} registry", self.registry_name);
                }
                if self.registry_name == "mdns" {
                    // A CLI command asks once and prints: a lookup waits a little longer
                    // than a long-running service's (200 ms, not 100) for slow answers.
                    let opts = mdns::Options { timeout: Duration::from_millis(200), ..Default::default() };
                    let r = mdns::Mdns::new(opts)
                        .await
                        .map_err(|e| Failure::Failed(format!("mdns registry: {}", e.detail)))?;
                    return Ok(Arc::new(r) as Arc<dyn Registry>);
                }
                let url = match &self.registry_address {
                    Some(a) => format!("{}://{a}", self.registry_name),
                    None => self.registry_name.clone(),
                };
                registry::from_url(&url).await.map_err(|e| match e.code {
                    400 => Failure::Usage(format!(
                        "{}; choose one with --registry or MICRO_REGISTRY (mdns is go-micro's default)",
                        e.detail
                    )),
                    _ => Failure::Usage(format!("{} registry: {}", self.registry_name, e.detail)),
                })
            })
            .await
            .cloned()
    }

    /// The session's client over its registry, made once with the options of the first
    /// command that asks.
    async fn client(&self, opts: &Opts) -> Result<Client, Failure> {
        let registry = self.registry().await?;
        self.client.get_or_try_init(|| client_builder(opts).registry(registry).build()).await.cloned().map_err(usage)
    }

    /// Deregisters what the session registered and still holds (the end of `micro cli` and
    /// of `micro bot`).
    pub async fn release(&self) {
        let held: Vec<Service> = std::mem::take(&mut *self.registered.lock().unwrap_or_else(|p| p.into_inner()));
        if let Ok(registry) = self.registry().await {
            for s in held {
                let _ = registry.deregister(&s).await;
            }
        }
    }

    /// A hint for "not found": where we looked and how to look elsewhere.
    pub fn where_hint(&self) -> String {
        if let Some(p) = &self.proxy {
            return format!("looked through the sidecar at {} (--proxy_address, MICRO_PROXY_ADDRESS)", p.base());
        }
        let mut h = format!(
            "looked in the {} registry; choose another with --registry or MICRO_REGISTRY (mdns, memory, etcd, consul, nats), \
             or call a node directly with --address HOST:PORT",
            self.registry_name
        );
        if self.registry_name == "memory" && !self.interactive {
            h.push_str("; the memory registry only holds what this process registered (try `micro cli`)");
        }
        h
    }
}

/// A client builder for the flags: go-micro's variables (TLS: `MICRO_TRANSPORT_SECURE`,
/// `MICRO_TLS_CA`, `MICRO_TLS_INSECURE`), then the timeout and retries flags. Without a
/// broker: `publish` sets its own.
pub fn client_builder(opts: &Opts) -> micro::ClientBuilder {
    Client::builder()
        .request_timeout(opts.client_request_timeout * (opts.client_retries + 1))
        .conn_timeout(opts.client_request_timeout)
        .retries(opts.client_retries)
        .without_broker()
}

/// A client that calls the addresses it is given, with no registry (`--address`, the
/// broker's own lookups): a bad variable is a usage failure.
pub fn direct_client(opts: &Opts) -> Result<Client, Failure> {
    client_builder(opts).build_direct().map_err(usage)
}

fn usage(e: micro::Error) -> Failure {
    Failure::Usage(e.detail)
}

/// Options of one call or stream from the flags: JSON, the timeout and retries, metadata,
/// and `--address` as the only node when given.
pub fn call_options(opts: &Opts) -> CallOptions {
    CallOptions {
        address: opts.address.iter().cloned().collect(),
        content_type: Some("application/json".into()),
        timeout: Some(opts.client_request_timeout),
        request_timeout: Some(opts.client_request_timeout * (opts.client_retries + 1)),
        retries: Some(opts.client_retries),
        metadata: opts.metadata.iter().cloned().collect(),
        ..Default::default()
    }
}

/// A client for `opts`: a direct one for --address (no registry needed), else the session's.
pub async fn client_for(sess: &Session, opts: &Opts) -> Result<Client, Failure> {
    if opts.address.is_some() {
        direct_client(opts)
    } else {
        sess.client(opts).await
    }
}

/// Every registration of `name` in the session's registry; none is a failure that says
/// where we looked.
pub async fn lookup(sess: &Session, name: &str) -> Result<Vec<Service>, Failure> {
    let registry = sess.registry().await?;
    let services = registry
        .get_service(name)
        .await
        .map_err(|e| Failure::Failed(format!("{} registry: {}", sess.registry_name, e.detail)))?;
    if services.is_empty() {
        return Err(Failure::Failed(format!("service {name} not found\nhint: {}", sess.where_hint())));
    }
    Ok(services)
}
