//! What the commands of one invocation (or of one `micro cli` session) share: the registry
//! chosen by `--registry`, made once and on first use; the client over it; the services a
//! session registered; and the client and call options the flags stand for.
//!
//! A command asks the session for what it needs (`registry()`, `client_for()`, `lookup()`),
//! so `micro call --address …` never opens the registry, and a session keeps one registry
//! (and so one mDNS cache) for all its lines.

use crate::cmd::Failure;
use crate::Opts;
use micro::registry::{mdns, memory, Registry, Service};
use micro::{CallOptions, Client, ClientOptions};
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
        }
    }

    /// The session's registry, opened on first use: mdns, memory or etcd; any other name
    /// is a usage failure.
    pub async fn registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        self.registry
            .get_or_try_init(|| async {
                if self.registry_address.is_some() && self.registry_name != "etcd" {
                    eprintln!("note: --registry_address is not used by the {} registry", self.registry_name);
                }
                match self.registry_name.as_str() {
                    "etcd" => {
                        let r = micro::registry::etcd::Etcd::from_addresses(self.registry_address.as_deref().unwrap_or(""))
                            .map_err(|e| Failure::Usage(format!("etcd registry: {}", e.detail)))?;
                        Ok(Arc::new(r) as Arc<dyn Registry>)
                    }
                    "mdns" => {
                        let opts = mdns::Options { timeout: Duration::from_millis(200), ..Default::default() };
                        let r = mdns::Mdns::new(opts).await.map_err(|e| Failure::Failed(format!("mdns registry: {}", e.detail)))?;
                        Ok(Arc::new(r) as Arc<dyn Registry>)
                    }
                    "memory" => Ok(Arc::new(memory::Memory::new()) as Arc<dyn Registry>),
                    other => Err(Failure::Usage(format!(
                        "unknown registry {other:?}: choose mdns (go-micro's default), memory or etcd with --registry or MICRO_REGISTRY"
                    ))),
                }
            })
            .await
            .cloned()
    }

    /// The session's client over its registry, made once with the options of the first
    /// command that asks.
    async fn client(&self, opts: &Opts) -> Result<Client, Failure> {
        let registry = self.registry().await?;
        let o = client_options(opts)?;
        Ok(self.client.get_or_init(|| async { Client::new(registry, o) }).await.clone())
    }

    /// A hint for "not found": where we looked and how to look elsewhere.
    pub fn where_hint(&self) -> String {
        let mut h = format!(
            "looked in the {} registry; choose another with --registry or MICRO_REGISTRY (mdns, memory, etcd), \
             or call a node directly with --address HOST:PORT",
            self.registry_name
        );
        if self.registry_name == "memory" && !self.interactive {
            h.push_str("; the memory registry only holds what this process registered (try `micro cli`)");
        }
        h
    }
}

/// Client options from the flags, with TLS from go-micro-style variables
/// (`MICRO_TRANSPORT_SECURE`, `MICRO_TLS_CA`, `MICRO_TLS_INSECURE`).
pub fn client_options(opts: &Opts) -> Result<ClientOptions, Failure> {
    let mut o = ClientOptions {
        request_timeout: opts.client_request_timeout * (opts.client_retries + 1),
        conn_timeout: opts.client_request_timeout,
        retries: opts.client_retries,
        ..Default::default()
    };
    let cfg = micro::config::Config::from_env().map_err(|e| Failure::Usage(e.detail))?;
    o.tls = cfg.client_tls().map_err(|e| Failure::Usage(e.detail))?;
    Ok(o)
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
        Ok(Client::with_cache(None, client_options(opts)?))
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
