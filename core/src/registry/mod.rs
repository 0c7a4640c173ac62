//! Service discovery: go-micro's `registry` package.
//!
//! A [`Registry`] stores [`Service`]s — a name and version with [`Endpoint`]s and the
//! [`Node`]s that serve them. Plugins: [`memory`] (one process), [`mdns`] (go-micro's
//! default, on the LAN), [`etcd`] (go-micro's `registry/etcd`, across networks),
//! [`consul`] (go-micro's `registry/consul`), [`nats`] (go-micro's `registry/nats`), and
//! [`cache`], which wraps any of them with a watch-fed view so a call does not query the
//! network. Choose one by name with [`from_url`].
//!
//! The JSON shape is go-micro's exactly (field names, order, and `null` for empty
//! collections), so a service we register reads the same in any go-micro registry.

pub mod cache;
pub mod consul;
pub mod etcd;
pub mod mdns;
pub mod memory;
pub mod nats;

use crate::error::{Error, Result};
use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// String-to-string metadata, kept sorted like Go's JSON output.
pub type Metadata = BTreeMap<String, String>;

/// A named, versioned service and the nodes serving it (go-micro `registry.Service`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Service name, e.g. `greeter`.
    #[serde(default)]
    pub name: String,
    /// Version; go-micro's default is `latest`.
    #[serde(default)]
    pub version: String,
    /// Service-level metadata (`null` on the wire when empty).
    #[serde(default, serialize_with = "map_or_null", deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Endpoints the service offers (`null` when empty).
    #[serde(default, serialize_with = "vec_or_null", deserialize_with = "null_default")]
    pub endpoints: Vec<Endpoint>,
    /// Nodes serving it (`null` when empty).
    #[serde(default, serialize_with = "vec_or_null", deserialize_with = "null_default")]
    pub nodes: Vec<Node>,
}

/// One running instance of a service (go-micro `registry.Node`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Node metadata: `protocol=mucp`, `transport`, `broker`, `registry`, `server` …
    #[serde(default, serialize_with = "map_or_null", deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// `<service name>-<uuid>`.
    #[serde(default)]
    pub id: String,
    /// `host:port` (IPv6 as `[addr]:port`).
    #[serde(default)]
    pub address: String,
}

/// One endpoint, `Handler.Method` (go-micro `registry.Endpoint`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Shape of the request, when known.
    #[serde(default)]
    pub request: Option<Value>,
    /// Shape of the response, when known (`null` for subscribers).
    #[serde(default)]
    pub response: Option<Value>,
    /// Endpoint metadata (`stream`, `subscriber`, `topic`, `description` …); `{}` when empty.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// `Handler.Method`.
    #[serde(default)]
    pub name: String,
}

/// The description of a type (go-micro `registry.Value`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// Field or type name.
    #[serde(default)]
    pub name: String,
    /// Type name (`string`, `int64`, `Request` …).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Child fields (`null` when none).
    #[serde(default, serialize_with = "vec_or_null", deserialize_with = "null_default")]
    pub values: Vec<Value>,
}

impl Value {
    /// A leaf value such as `{"name":"name","type":"string"}`.
    pub fn leaf(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Value { name: name.into(), kind: kind.into(), values: Vec::new() }
    }
}

fn map_or_null<S: Serializer>(m: &Metadata, s: S) -> std::result::Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

fn vec_or_null<T: Serialize, S: Serializer>(v: &[T], s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

fn null_default<'de, T: Default + Deserialize<'de>, D: Deserializer<'de>>(d: D) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What happened to a service, as delivered by [`Registry::watch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A node appeared.
    Create,
    /// A node changed.
    Update,
    /// A node left.
    Delete,
}

/// One change seen by a watcher: the service carries the node(s) it concerns.
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// The service, with only the affected node(s) in `nodes`.
    pub service: Service,
}

/// A stream of registry [`Event`]s; dropping it stops the watch.
pub struct Watcher {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Watcher {
    /// A watcher fed by `rx`; plugins keep the sender and drop it when they stop.
    pub fn new(rx: mpsc::UnboundedReceiver<Event>) -> Self {
        Watcher { rx }
    }

    /// The next event, or `None` once the registry has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

/// Options for [`Registry::register`].
#[derive(Clone, Copy, Debug)]
pub struct RegisterOptions {
    /// How long the registration lives without being renewed (ignored by mDNS, as in go-micro).
    pub ttl: Duration,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions { ttl: Duration::from_secs(90) }
    }
}

/// The contract every registry plugin honours.
///
/// - `register` is idempotent per node id and adds or refreshes the given nodes;
/// - `deregister` removes the given nodes; an unknown node is not an error;
/// - `get_service` returns one `Service` per version, an empty list (not an error) when
///   nobody serves the name;
/// - `list_services` returns services with at least their names;
/// - `watch` delivers events for changes after it was created, until it is dropped.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Announces the service's nodes.
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()>;
    /// Withdraws the service's nodes.
    async fn deregister(&self, service: &Service) -> Result<()>;
    /// All versions of a service, with their nodes.
    async fn get_service(&self, name: &str) -> Result<Vec<Service>>;
    /// Every service known.
    async fn list_services(&self) -> Result<Vec<Service>>;
    /// Changes to one service (`Some(name)`) or to all.
    async fn watch(&self, service: Option<&str>) -> Result<Watcher>;
    /// The plugin's name as go-micro reports it (`mdns`, `memory`, `etcd`), used in node metadata.
    fn name(&self) -> &'static str;
    /// Whether `e`, returned by this registry, means its backend could not be reached (not
    /// up yet, a network outage) rather than that it refused (bad credentials, an untrusted
    /// certificate, a rejected service): a server that meets it at start serves anyway and
    /// retries the registration with backoff. Default: code 503.
    fn is_unreachable(&self, e: &Error) -> bool {
        e.code == 503
    }
}

/// No `member` of a remote registry (`backend`: etcd, consul) answered; `last` is the last
/// failure. 503 when every failure was a network one (the backend is down or not up yet:
/// worth retrying, see [`Registry::is_unreachable`]), 502 when one was reached and refused
/// (an untrusted certificate, a TLS server dialled in the clear).
pub(crate) fn not_reached(backend: &str, member: &str, last: &str, refused: bool) -> Error {
    let (what, code) = if refused {
        (format!("no {member} accepted the connection"), 502)
    } else {
        (format!("cannot reach any {member}"), 503)
    };
    Error::new("go.micro.registry", format!("{backend}: {what} ({last})"), code)
}

/// A registry chosen by name or URL: `mdns` (default), `memory`, `etcd` (`127.0.0.1:2379`)
/// or `etcd://HOST:PORT[,HOST:PORT…]`, `consul` (CONSUL_HTTP_ADDR, else `127.0.0.1:8500`) or
/// `consul://[https://]HOST:PORT[,…]` (ACL token and TLS from Consul's own environment
/// variables, see [`consul::Options::from_env`]), `nats` (`nats://127.0.0.1:4222`) or
/// `nats://HOST:PORT[,nats://HOST:PORT…]`.
///
/// Unknown names are an error that lists the known ones, never a silent fallback.
pub async fn from_url(url: &str) -> Result<Arc<dyn Registry>> {
    let scheme = url.split("://").next().unwrap_or("").trim();
    match scheme {
        "" | "mdns" => Ok(Arc::new(mdns::Mdns::new(mdns::Options::default()).await?)),
        "memory" => Ok(Arc::new(memory::Memory::new())),
        "etcd" => {
            let addresses = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            Ok(Arc::new(etcd::Etcd::from_addresses(addresses)?))
        }
        "consul" => {
            let addresses = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            Ok(Arc::new(consul::Consul::from_addresses(addresses)?))
        }
        "nats" => {
            // `nats://tls://HOST:PORT` is what MICRO_REGISTRY=nats with a tls:// address makes.
            let urls = match url.strip_prefix("nats://") {
                Some(rest) if rest.starts_with("tls://") => rest,
                _ if url.contains("://") => url,
                _ => "",
            };
            Ok(Arc::new(nats::Nats::from_urls(urls)?))
        }
        other => Err(Error::bad_request(
            "go.micro.registry",
            format!("unknown registry {other:?}: use mdns, memory, etcd, consul or nats"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_json_matches_go() {
        let svc = Service {
            name: "greeter".into(),
            version: "latest".into(),
            endpoints: vec![Endpoint {
                request: Some(Value {
                    name: "Request".into(),
                    kind: "Request".into(),
                    values: vec![Value::leaf("name", "string")],
                }),
                response: None,
                metadata: Metadata::new(),
                name: "Greeter.Hello".into(),
            }],
            nodes: vec![Node { id: "greeter-1".into(), address: "10.0.0.1:1".into(), ..Default::default() }],
            ..Default::default()
        };
        let json = serde_json::to_string(&svc).unwrap();
        assert_eq!(
            json,
            r#"{"name":"greeter","version":"latest","metadata":null,"endpoints":[{"request":{"name":"Request","type":"Request","values":[{"name":"name","type":"string","values":null}]},"response":null,"metadata":{},"name":"Greeter.Hello"}],"nodes":[{"metadata":null,"id":"greeter-1","address":"10.0.0.1:1"}]}"#
        );
        let back: Service = serde_json::from_str(&json).unwrap();
        assert_eq!(back, svc);
    }
}
