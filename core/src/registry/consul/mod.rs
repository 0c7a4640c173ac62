//! Consul registry, interoperable with go-micro's `registry/consul` (v5): go-micro's
//! default registry before mDNS, and the one most meshes that span networks already run.
//!
//! Layout (go-micro's): each node is a Consul service instance registered with the local
//! agent (`PUT /v1/agent/service/register`) — ID the node id, name the service name,
//! address and port the node's — whose tags carry the version, the endpoints and the node
//! metadata in go-micro's encoding (`tags`); the metadata is also copied into Consul's
//! `Meta` where Consul accepts the key. A registration with a TTL gets a TTL check
//! (`service:<node id>`), passed at once and then every third of the TTL by a task per node,
//! so a node that dies leaves the healthy view within its TTL (Consul removes the instance
//! itself one minute later, go-micro's `DeregisterCriticalServiceAfter`). When the agent no
//! longer knows the check (it restarted without its data), the task registers the node
//! again. `get_service` asks `/v1/health/service/<name>?passing` — healthy instances only —
//! and groups nodes by version; `list_services` reads `/v1/catalog/services`; `watch` is a
//! loop of Consul's blocking queries (`watch`).
//!
//! Where we differ from go-micro on purpose: the TTL check is passed by a task between the
//! server's re-registrations (go-micro passes it only when re-registering), and every node
//! of a registration is registered (go-micro registers the first).
//!
//! Requests go through the transport's shared keep-alive HTTP client, `https` when asked
//! (CONSUL_HTTP_SSL / `https://` addresses, trusting CONSUL_CACERT), with the ACL token
//! from CONSUL_HTTP_TOKEN (or [`Options::token`]) in `X-Consul-Token`. Addresses are tried
//! in order. A refusal (a wrong token, a bad request) is an error naming Consul, the
//! request and Consul's own reason.

mod tags;
mod watch;

use super::{Metadata, Node, RegisterOptions, Registry, Service, Watcher};
use crate::error::{Error, Result};
use crate::transport::http_client::{is_unreachable, HttpClient, Method, Response};
use async_trait::async_trait;
use bytes::Bytes;
use rustls::ClientConfig;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

pub use tags::{decode_endpoints, decode_metadata, decode_version, encode_tags};

const ID: &str = "go.micro.registry";
/// Consul's default agent address.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8500";
/// Idle connections kept per agent.
const IDLE_PER_AGENT: usize = 4;
/// Consul's minimum for removing a critical instance, plus go-micro's splay.
const MIN_DEREGISTER_AFTER: Duration = Duration::from_secs(65);

/// Options for [`Consul::new`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Agent addresses, `host:port` (an `http://` or `https://` prefix is accepted), tried in order.
    pub addresses: Vec<String>,
    /// Speak https to the agents (also implied by an `https://` address).
    pub https: bool,
    /// TLS client configuration for https; `None` trusts CONSUL_CACERT (required then),
    /// or nothing is verified when CONSUL_HTTP_SSL_VERIFY=false.
    pub tls: Option<Arc<ClientConfig>>,
    /// ACL token sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// Per-request timeout (blocking queries get their wait on top).
    pub timeout: Duration,
    /// Let any server answer reads (go-micro's `AllowStale`, default true).
    pub stale: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addresses: vec![DEFAULT_ADDRESS.to_string()],
            https: false,
            tls: None,
            token: None,
            timeout: Duration::from_secs(5),
            stale: true,
        }
    }
}

impl Options {
    /// Options from a comma-separated address list and Consul's own environment variables:
    /// CONSUL_HTTP_ADDR (when `addresses` is empty), CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL,
    /// CONSUL_CACERT, CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY (for an agent that verifies
    /// clients), and CONSUL_HTTP_SSL_VERIFY.
    pub fn from_env(addresses: &str) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let list = match addresses.trim() {
            "" => env("CONSUL_HTTP_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
            a => a.to_string(),
        };
        let mut opts = Options {
            addresses: list.split(',').map(str::to_string).collect(),
            token: env("CONSUL_HTTP_TOKEN"),
            https: env("CONSUL_HTTP_SSL").is_some_and(|v| v == "true" || v == "1"),
            ..Options::default()
        };
        let wants_https = opts.https || opts.addresses.iter().any(|a| a.trim().starts_with("https://"));
        if wants_https {
            opts.https = true;
            if env("CONSUL_HTTP_SSL_VERIFY").is_some_and(|v| v == "false" || v == "0") {
                opts.tls = Some(crate::transport::tls::insecure_client_config()?);
            } else {
                // An agent with verify_incoming wants the client's own certificate too.
                opts.tls = crate::transport::tls::client_config_from_env(
                    ID,
                    "consul",
                    ["CONSUL_CACERT", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY"],
                    env,
                )?;
            }
        }
        Ok(opts)
    }
}

/// The Consul registry; cheap to clone.
#[derive(Clone)]
pub struct Consul {
    session: Arc<Session>,
}

/// What every clone shares: the agents, the kept-alive connections, the token, and the
/// TTL checks this process keeps passing.
struct Session {
    addresses: Vec<String>,
    scheme: &'static str,
    token: Option<String>,
    timeout: Duration,
    stale: bool,
    http: HttpClient,
    checks: Mutex<HashMap<String, Check>>,
}

/// A node this process registered with a TTL check.
struct Check {
    /// The registration body last sent: an unchanged re-registration only passes the check.
    body: String,
    keepalive: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for (_, c) in self.checks.get_mut().unwrap_or_else(|p| p.into_inner()).drain() {
            c.keepalive.abort();
        }
    }
}

/// One entry of `/v1/health/service/<name>`.
#[derive(Debug, Deserialize)]
struct HealthEntry {
    #[serde(rename = "Node", default)]
    node: Option<AgentNode>,
    #[serde(rename = "Service")]
    service: AgentService,
    #[serde(rename = "Checks", default)]
    checks: Option<Vec<HealthCheck>>,
}

#[derive(Debug, Deserialize)]
struct AgentNode {
    #[serde(rename = "Address", default)]
    address: String,
}

#[derive(Debug, Deserialize)]
struct AgentService {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Service", default)]
    service: String,
    #[serde(rename = "Tags", default)]
    tags: Option<Vec<String>>,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "Port", default)]
    port: u16,
}

#[derive(Debug, Deserialize)]
struct HealthCheck {
    #[serde(rename = "Status", default)]
    status: String,
}

fn unavailable(detail: String) -> Error {
    Error::new(ID, detail, 503)
}

/// `host:port` as Go's `net.JoinHostPort` writes it.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host and port of a node address (go-micro: `net.SplitHostPort`, port 0 when absent).
fn split_host_port(address: &str) -> (String, u16) {
    let split = match address.strip_prefix('[') {
        Some(rest) => rest.split_once("]:"),
        None if address.matches(':').count() == 1 => address.split_once(':'),
        None => None,
    };
    match split {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(0)),
        None => (address.to_string(), 0),
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Go duration string Consul parses (`3s`, `1500ms`).
fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Whether Consul accepts `key` in a service's `Meta` (letters, digits, `-`, `_`; at most
/// 128 bytes; not `consul-` prefixed).
fn meta_key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && !key.starts_with("consul-")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The agent registration body go-micro sends for one node.
fn registration(service: &Service, node: &Node, ttl: Duration) -> Value {
    let (host, port) = split_host_port(&node.address);
    let meta: Metadata = node
        .metadata
        .iter()
        .filter(|(k, v)| meta_key_ok(k) && v.len() <= 512)
        .take(64)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut body = json!({
        "ID": node.id,
        "Name": service.name,
        "Tags": encode_tags(&node.metadata, &service.endpoints, &service.version),
        "Port": port,
        "Address": host,
        "Meta": meta,
    });
    if !ttl.is_zero() {
        let deregister = (ttl + Duration::from_secs(5)).max(MIN_DEREGISTER_AFTER);
        body["Check"] = json!({
            "TTL": go_duration(ttl),
            "DeregisterCriticalServiceAfter": go_duration(deregister),
        });
    }
    body
}

/// The services in a health answer, grouped by version, critical instances left out
/// (go-micro's `GetService`).
fn services_from(name: &str, entries: Vec<HealthEntry>) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for e in entries {
        if e.service.service != name {
            continue;
        }
        let tags = e.service.tags.unwrap_or_default();
        let version = decode_version(&tags);
        let idx = match out.iter().position(|s| s.version == version) {
            Some(i) => i,
            None => {
                out.push(Service {
                    name: name.to_string(),
                    version: version.clone(),
                    endpoints: decode_endpoints(&tags),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        if e.checks.unwrap_or_default().iter().any(|c| c.status == "critical") {
            continue;
        }
        let host = if e.service.address.is_empty() {
            e.node.map(|n| n.address).unwrap_or_default()
        } else {
            e.service.address
        };
        out[idx].nodes.push(Node {
            id: e.service.id,
            address: host_port(&host, e.service.port),
            metadata: decode_metadata(&tags),
        });
    }
    out
}

impl Consul {
    /// A registry on the given agents; nothing is dialled until the first call.
    pub fn new(opts: Options) -> Result<Self> {
        let mut https = opts.https;
        let mut addresses = Vec::new();
        for a in &opts.addresses {
            let a = a.trim();
            let a = if let Some(rest) = a.strip_prefix("https://") {
                https = true;
                rest
            } else {
                a.strip_prefix("http://").unwrap_or(a)
            };
            let a = a.trim_end_matches('/');
            if a.is_empty() {
                continue;
            }
            // go-micro adds Consul's port to a bare host.
            let (h, p) = split_host_port(a);
            addresses.push(if p == 0 && !a.ends_with(":0") { host_port(&h, 8500) } else { a.to_string() });
        }
        if addresses.is_empty() {
            return Err(Error::bad_request(ID, "consul: no agent address given"));
        }
        let http = if https {
            let tls = match opts.tls {
                Some(t) => t,
                None => {
                    return Err(Error::bad_request(
                        ID,
                        "consul: https needs a CA to trust: set CONSUL_CACERT (or CONSUL_HTTP_SSL_VERIFY=false for development)",
                    ))
                }
            };
            HttpClient::with_tls(IDLE_PER_AGENT, tls)
        } else {
            HttpClient::new(IDLE_PER_AGENT)
        };
        let session = Session {
            addresses,
            scheme: if https { "https" } else { "http" },
            token: opts.token.filter(|t| !t.is_empty()),
            timeout: opts.timeout,
            stale: opts.stale,
            http,
            checks: Mutex::new(HashMap::new()),
        };
        Ok(Consul { session: Arc::new(session) })
    }

    /// A registry from a comma-separated address list (empty: CONSUL_HTTP_ADDR, else
    /// `127.0.0.1:8500`) and Consul's environment variables (see [`Options::from_env`]).
    pub fn from_addresses(addresses: &str) -> Result<Self> {
        Consul::new(Options::from_env(addresses)?)
    }

    fn checks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Check>> {
        self.session.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one request to the first agent that answers. `wait` is a blocking query's
    /// wait, added to the timeout (with Consul's jitter of a sixteenth).
    async fn call(&self, method: Method, path: &str, body: Option<&Value>, wait: Duration) -> Result<Response> {
        let payload = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let timeout = self.session.timeout + wait + wait / 16;
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(2);
        if let Some(t) = &self.session.token {
            headers.push(("x-consul-token", t));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let mut last = String::new();
        let mut refused = false;
        for agent in &self.session.addresses {
            let attempt = self.session.http.send(method.clone(), agent, path, &headers, payload.clone());
            let rsp = match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    refused |= !is_unreachable(&e);
                    last = format!("{}://{agent}: {e}", self.session.scheme);
                    continue;
                }
                Err(_) => {
                    last = format!("{}://{agent}: no answer within {timeout:?}", self.session.scheme);
                    continue;
                }
            };
            if !rsp.status.is_success() {
                let reason = String::from_utf8_lossy(&rsp.body).trim().chars().take(300).collect::<String>();
                let hint = if rsp.status.as_u16() == 403 { " (check the ACL token: CONSUL_HTTP_TOKEN)" } else { "" };
                let short = path.split('?').next().unwrap_or(path);
                let code = match rsp.status.as_u16() {
                    c @ 400..=499 => c as i32,
                    _ => 503,
                };
                return Err(Error::new(
                    ID,
                    format!("consul: {method} {short} at {agent}: {}: {reason}{hint}", rsp.status),
                    code,
                ));
            }
            return Ok(rsp);
        }
        Err(super::not_reached("consul", "agent", &last, refused))
    }

    fn read_query(&self, path: &str, index: u64, wait: Duration) -> String {
        let mut q = String::from(path);
        let mut sep = if path.contains('?') { '&' } else { '?' };
        let mut add = |kv: String| {
            q.push(sep);
            q.push_str(&kv);
            sep = '&';
        };
        if self.session.stale {
            add("stale".into());
        }
        if index > 0 {
            add(format!("index={index}"));
            add(format!("wait={}", go_duration(wait)));
        }
        q
    }

    /// The healthy instances of `name` and the index of the answer; a blocking query when
    /// `index` is not 0 (returns when something changed after `index`, or after `wait`).
    async fn health(&self, name: &str, index: u64, wait: Duration) -> Result<(u64, Vec<Service>)> {
        let path = self.read_query(&format!("/v1/health/service/{}?passing=1", path_escape(name)), index, wait);
        let rsp = self.call(Method::GET, &path, None, if index > 0 { wait } else { Duration::ZERO }).await?;
        let entries: Vec<HealthEntry> = serde_json::from_slice::<Option<Vec<HealthEntry>>>(&rsp.body)
            .map_err(|e| unavailable(format!("consul: health answer for {name:?} is not what Consul sends ({e})")))?
            .unwrap_or_default();
        Ok((consul_index(&rsp), services_from(name, entries)))
    }

    /// Every service name in the catalog and the index of the answer (blocking as [`Consul::health`]).
    async fn catalog(&self, index: u64, wait: Duration) -> Result<(u64, Vec<String>)> {
        let path = self.read_query("/v1/catalog/services", index, wait);
        let rsp = self.call(Method::GET, &path, None, if index > 0 { wait } else { Duration::ZERO }).await?;
        let names: HashMap<String, Value> = serde_json::from_slice::<Option<HashMap<String, Value>>>(&rsp.body)
            .map_err(|e| unavailable(format!("consul: catalog answer is not what Consul sends ({e})")))?
            .unwrap_or_default();
        let mut names: Vec<String> = names.into_keys().collect();
        names.sort();
        Ok((consul_index(&rsp), names))
    }

    async fn pass(&self, node_id: &str) -> Result<()> {
        let path = format!("/v1/agent/check/pass/{}", path_escape(&format!("service:{node_id}")));
        self.call(Method::PUT, &path, None, Duration::ZERO).await.map(|_| ())
    }

    async fn put_registration(&self, body: &Value) -> Result<()> {
        self.call(Method::PUT, "/v1/agent/service/register", Some(body), Duration::ZERO).await.map(|_| ())
    }

    /// Passes the TTL check of `node_id` every third of `ttl` until aborted; when the agent
    /// refuses (it lost the check), registers the node again from `body`.
    fn keepalive(&self, node_id: String, body: Value, ttl: Duration) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.session);
        let every = (ttl / 3).max(Duration::from_millis(500));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(session) = weak.upgrade() else { return };
                let reg = Consul { session };
                match reg.pass(&node_id).await {
                    Ok(()) => {}
                    Err(e) if e.code != 503 => {
                        tracing::info!(node = %node_id, error = %e, "consul: check lost, registering again");
                        let again = async {
                            reg.put_registration(&body).await?;
                            reg.pass(&node_id).await
                        };
                        if let Err(e) = again.await {
                            tracing::warn!(node = %node_id, error = %e, "consul: cannot register again");
                        }
                    }
                    Err(e) => tracing::warn!(node = %node_id, error = %e, "consul: TTL check pass failed"),
                }
            }
        })
    }
}

/// The `X-Consul-Index` of an answer (0 when absent).
fn consul_index(rsp: &Response) -> u64 {
    rsp.headers.get("x-consul-index").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl Registry for Consul {
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
        if service.name.is_empty() {
            return Err(Error::bad_request(ID, "consul: service name is empty"));
        }
        if service.nodes.is_empty() {
            return Err(Error::bad_request(ID, "consul: a registration needs at least one node"));
        }
        for node in &service.nodes {
            let body = registration(service, node, opts.ttl);
            let text = body.to_string();
            let unchanged = self.checks().get(&node.id).is_some_and(|c| c.body == text);
            if unchanged && self.pass(&node.id).await.is_ok() {
                continue;
            }
            self.put_registration(&body).await?;
            if opts.ttl.is_zero() {
                if let Some(old) = self.checks().remove(&node.id) {
                    old.keepalive.abort();
                }
                continue;
            }
            self.pass(&node.id).await?;
            let keepalive = self.keepalive(node.id.clone(), body, opts.ttl);
            if let Some(old) = self.checks().insert(node.id.clone(), Check { body: text, keepalive }) {
                old.keepalive.abort();
            }
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        for node in &service.nodes {
            if let Some(c) = self.checks().remove(&node.id) {
                c.keepalive.abort();
            }
            let path = format!("/v1/agent/service/deregister/{}", path_escape(&node.id));
            match self.call(Method::PUT, &path, None, Duration::ZERO).await {
                Ok(_) => {}
                // Unknown to this agent: nothing to withdraw.
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let (_, mut services) = self.health(name, 0, Duration::ZERO).await?;
        services.retain(|s| !s.nodes.is_empty());
        Ok(services)
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let (_, names) = self.catalog(0, Duration::ZERO).await?;
        Ok(names.into_iter().map(|name| Service { name, ..Default::default() }).collect())
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        watch::start(self.clone(), service.map(str::to_string)).await
    }

    fn name(&self) -> &'static str {
        "consul"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_durations() {
        assert_eq!(split_host_port("10.0.0.1:8080"), ("10.0.0.1".into(), 8080));
        assert_eq!(split_host_port("[::1]:9"), ("::1".into(), 9));
        assert_eq!(split_host_port("host"), ("host".into(), 0));
        assert_eq!(host_port("::1", 9), "[::1]:9");
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(path_escape("a b/c"), "a%20b%2Fc");
        assert!(meta_key_ok("protocol") && !meta_key_ok("a.b") && !meta_key_ok("consul-x"));
    }

    #[test]
    fn registration_matches_go_micro() {
        let mut md = Metadata::new();
        md.insert("protocol".into(), "mucp".into());
        md.insert("weird.key".into(), "x".into());
        let svc = Service {
            name: "greeter".into(),
            version: "latest".into(),
            nodes: vec![Node { id: "greeter-1".into(), address: "10.0.0.1:4000".into(), metadata: md.clone() }],
            ..Default::default()
        };
        let body = registration(&svc, &svc.nodes[0], Duration::from_secs(3));
        assert_eq!(body["ID"], "greeter-1");
        assert_eq!(body["Address"], "10.0.0.1");
        assert_eq!(body["Port"], 4000);
        assert_eq!(body["Meta"], json!({"protocol": "mucp"}));
        assert_eq!(body["Check"], json!({"TTL": "3s", "DeregisterCriticalServiceAfter": "65s"}));
        let tags: Vec<String> = serde_json::from_value(body["Tags"].clone()).unwrap();
        assert_eq!(decode_metadata(&tags), md);
        assert_eq!(decode_version(&tags), "latest");
    }

    #[test]
    fn health_answers_group_by_version_and_drop_critical() {
        let t = |v: &str| encode_tags(&Metadata::new(), &[], v);
        let raw = json!([
            {"Node": {"Address": "10.0.0.9"}, "Service": {"ID": "a", "Service": "g", "Tags": t("1"), "Address": "", "Port": 1}, "Checks": [{"Status": "passing"}]},
            {"Node": {"Address": "x"}, "Service": {"ID": "b", "Service": "g", "Tags": t("1"), "Address": "::1", "Port": 2}, "Checks": []},
            {"Node": {"Address": "x"}, "Service": {"ID": "c", "Service": "g", "Tags": t("2"), "Address": "h", "Port": 3}, "Checks": [{"Status": "critical"}]},
            {"Service": {"ID": "d", "Service": "other", "Tags": null, "Address": "h", "Port": 4}},
        ]);
        let entries: Vec<HealthEntry> = serde_json::from_value(raw).unwrap();
        let s = services_from("g", entries);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].nodes.iter().map(|n| n.address.as_str()).collect::<Vec<_>>(), ["10.0.0.9:1", "[::1]:2"]);
        assert!(s[1].nodes.is_empty());
    }
}
