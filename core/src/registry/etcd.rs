//! etcd registry, interoperable with go-micro's `registry/etcd` (v5): for the meshes that
//! span more than one network, where mDNS cannot reach.
//!
//! Layout (go-micro's): one key per node, `/micro/registry/<service>/<node id>` (`/` in
//! either part replaced by `-`), whose value is go-micro's registry JSON of the service with
//! that single node, attached to a lease of the registration TTL. `get_service` reads the
//! `<service>/` prefix and groups nodes by version; `list_services` reads the whole prefix;
//! `watch` is an etcd watch on the same prefixes (a new key is a create, a changed one an
//! update, a deleted or expired one a delete, decoded from the previous value).
//!
//! Leases are kept alive by a task per node (every third of the TTL) and re-granted when
//! etcd has lost them (an etcd restart, a long pause), so a registration does not vanish
//! between the server's re-registrations. Deregistering deletes the key and revokes the lease.
//!
//! The client speaks etcd's v3 JSON gateway (`POST /v3/kv/range` …, etcd ≥ 3.4) over the
//! transport's shared HTTP client, not gRPC: the library every binding embeds then carries
//! no gRPC stack or protobuf build step for a handful of calls. Requests reuse kept-alive
//! connections (a watch holds one of its own). Endpoints are tried in order; each request
//! has the registry's timeout.
//!
//! Credentials and TLS, as go-micro's etcd registry takes them: ETCD_USERNAME and
//! ETCD_PASSWORD (or `etcd://user:password@host:port`) authenticate once
//! (`/v3/auth/authenticate`) and the token goes in every request's `Authorization`, renewed
//! when etcd says it expired; `https://` members are verified against ETCDCTL_CACERT, with a
//! client certificate from ETCDCTL_CERT and ETCDCTL_KEY when given (etcdctl's names). A
//! wrong password or an untrusted certificate is an error naming etcd and the reason.

use super::{Action, Event, RegisterOptions, Registry, Service, Watcher};
use crate::error::{Error, Result};
use crate::transport::http_client::{is_unreachable, HttpClient, Incoming, StatusCode};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const ID: &str = "go.micro.registry";
/// go-micro's key prefix.
pub const PREFIX: &str = "/micro/registry/";
/// etcd's default client address.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:2379";
/// A watch stream line longer than this is a broken peer.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Options for [`Etcd::new`].
#[derive(Clone, Debug)]
pub struct Options {
    /// `host:port` of etcd members (an `http://` or `https://` prefix is accepted), tried in order.
    pub endpoints: Vec<String>,
    /// Per-request timeout (go-micro's default: 5 s).
    pub timeout: Duration,
    /// User name and password, when etcd has authentication on.
    pub credentials: Option<(String, String)>,
    /// TLS client configuration; required for `https://` members.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            endpoints: vec![DEFAULT_ADDRESS.to_string()],
            timeout: Duration::from_secs(5),
            credentials: None,
            tls: None,
        }
    }
}

/// The etcd registry; cheap to clone.
#[derive(Clone)]
pub struct Etcd {
    session: Arc<EtcdSession>,
}

/// What every clone of an [`Etcd`] shares: the members, the kept-alive connections to
/// them, and the leases this process keeps alive.
struct EtcdSession {
    endpoints: Vec<String>,
    timeout: Duration,
    http: HttpClient,
    credentials: Option<(String, String)>,
    /// The auth token while it is valid.
    token: Mutex<Option<String>>,
    /// Live leases by node key.
    leases: Mutex<HashMap<String, Lease>>,
}

/// Idle connections kept per etcd member.
const IDLE_PER_MEMBER: usize = 4;

struct Lease {
    id: i64,
    /// The JSON last written under the key: an unchanged re-registration only renews.
    value: String,
    keepalive: JoinHandle<()>,
}

impl Drop for EtcdSession {
    fn drop(&mut self) {
        for (_, lease) in self.leases.get_mut().unwrap_or_else(|p| p.into_inner()).drain() {
            lease.keepalive.abort();
        }
    }
}

fn key_part(s: &str) -> String {
    s.replace('/', "-")
}

/// The key of one node (go-micro's `nodePath`).
pub fn node_key(service: &str, node_id: &str) -> String {
    format!("{PREFIX}{}/{}", key_part(service), key_part(node_id))
}

fn service_prefix(service: &str) -> String {
    format!("{PREFIX}{}/", key_part(service))
}

/// etcd's `range_end` for "every key starting with `prefix`".
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn unavailable(detail: String) -> Error {
    Error::new(ID, detail, 503)
}

/// The code of an etcd answer that is not a success: its own 4xx (a wrong password is a
/// 401, not an outage), else 503.
fn answered_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        c @ 400..=499 => i32::from(c),
        _ => 503,
    }
}

/// An int64 the gateway writes as a JSON string (or a number).
fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn b64_field(v: &Value, field: &str) -> Option<Vec<u8>> {
    v.get(field).and_then(Value::as_str).and_then(|s| B64.decode(s).ok())
}

/// A node's service JSON from a kv; `None` (logged) when it is not go-micro's shape.
fn decode_kv(kv: &Value) -> Option<Service> {
    let value = b64_field(kv, "value")?;
    match serde_json::from_slice::<Service>(&value) {
        Ok(s) => Some(s),
        Err(e) => {
            let key = b64_field(kv, "key").map(|k| String::from_utf8_lossy(&k).into_owned()).unwrap_or_default();
            tracing::debug!(%key, error = %e, "etcd: skipping a value that is not a service");
            None
        }
    }
}

/// The services in a range reply's kvs, nodes of one name and version grouped; values
/// that are not go-micro's service JSON are skipped.
fn services_of(kvs: &[Value]) -> Vec<Service> {
    let mut out = Vec::new();
    for s in kvs.iter().filter_map(decode_kv) {
        merge(&mut out, s);
    }
    out
}

/// The next complete line (newline included) of a watch stream, taken from `buf`.
fn next_line(buf: &mut BytesMut) -> Option<BytesMut> {
    let pos = buf.iter().position(|&b| b == b'\n')?;
    Some(buf.split_to(pos + 1))
}

/// Fuzzing: `bytes` as a range reply (`{"kvs":[…]}`), then as a watch stream cut into
/// chunks whose sizes the first byte picks, each line mapped to events.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_replies(bytes: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        let kvs = v.get("kvs").and_then(Value::as_array).cloned().unwrap_or_default();
        let decoded: usize = kvs.iter().filter_map(decode_kv).map(|s| s.nodes.len()).sum();
        let grouped: usize = services_of(&kvs).iter().map(|s| s.nodes.len()).sum();
        assert_eq!(decoded, grouped, "grouping by name and version lost or invented nodes");
    }
    let chunk = usize::from(bytes.first().copied().unwrap_or(1)).max(1);
    let (mut buf, mut seen) = (BytesMut::new(), Vec::with_capacity(bytes.len()));
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(line) = next_line(&mut buf) {
            assert_eq!(line.iter().position(|&b| b == b'\n'), Some(line.len() - 1), "one line per newline");
            seen.extend_from_slice(&line);
            let _ = watch_events(&line);
        }
    }
    seen.extend_from_slice(&buf);
    assert_eq!(seen, bytes, "the line splitter lost or reordered bytes");
}

/// Adds `s`'s nodes to the service of the same name and version in `out` (go-micro's grouping).
fn merge(out: &mut Vec<Service>, s: Service) {
    match out.iter_mut().find(|o| o.name == s.name && o.version == s.version) {
        Some(o) => o.nodes.extend(s.nodes),
        None => out.push(s),
    }
}

impl Etcd {
    /// A registry on the given members; nothing is dialled until the first call.
    pub fn new(opts: Options) -> Result<Self> {
        let https = opts.endpoints.iter().any(|e| e.trim().starts_with("https://"));
        let endpoints: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| {
                let e = e.trim();
                let e = e.strip_prefix("https://").or_else(|| e.strip_prefix("http://")).unwrap_or(e);
                e.trim_end_matches('/').to_string()
            })
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(Error::bad_request(ID, "etcd: no endpoint given"));
        }
        let http = match (https, opts.tls) {
            (true, Some(tls)) => HttpClient::with_tls(IDLE_PER_MEMBER, tls),
            (true, None) => {
                return Err(Error::bad_request(ID, "etcd: https needs a CA to trust: set ETCDCTL_CACERT"));
            }
            (false, _) => HttpClient::new(IDLE_PER_MEMBER),
        };
        let session = EtcdSession {
            endpoints,
            timeout: opts.timeout,
            http,
            credentials: opts.credentials,
            token: Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
        };
        Ok(Etcd { session: Arc::new(session) })
    }

    /// A registry from a comma-separated list of `[https://][user:password@]host:port`, with
    /// credentials from ETCD_USERNAME/ETCD_PASSWORD and TLS from ETCDCTL_CACERT,
    /// ETCDCTL_CERT and ETCDCTL_KEY.
    pub fn from_addresses(addresses: &str) -> Result<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut credentials = env("ETCD_USERNAME").map(|u| (u, env("ETCD_PASSWORD").unwrap_or_default()));
        let mut endpoints = Vec::new();
        for a in addresses.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let (scheme, rest) = match a.split_once("://") {
                Some((s, r)) => (format!("{s}://"), r),
                None => (String::new(), a),
            };
            let rest = match rest.rsplit_once('@') {
                Some((info, hp)) => {
                    let (u, p) = info.split_once(':').unwrap_or((info, ""));
                    credentials = Some((u.to_string(), p.to_string()));
                    hp
                }
                None => rest,
            };
            endpoints.push(format!("{scheme}{rest}"));
        }
        if endpoints.is_empty() {
            endpoints.push(DEFAULT_ADDRESS.to_string());
        }
        let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
            crate::transport::tls::client_config_from_env(
                ID,
                "etcd",
                ["ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY"],
                env,
            )?
        } else {
            None
        };
        Etcd::new(Options { endpoints, credentials, tls, ..Options::default() })
    }

    /// The auth token, authenticating first when there is none (and credentials are set).
    async fn token(&self) -> Result<Option<String>> {
        let Some((user, password)) = &self.session.credentials else { return Ok(None) };
        if let Some(t) = self.session.token.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(Some(t));
        }
        let v = self.send("/v3/auth/authenticate", json!({ "name": user, "password": password }), None).await?;
        let token =
            v.get("token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                unavailable(format!("etcd: authentication of user {user:?} answered without a token"))
            })?;
        *self.session.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(Some(token))
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.session.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends one gateway request with the auth token (if any); when etcd says the token is
    /// no longer valid, authenticates again and sends it once more.
    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        let token = self.token().await?;
        match self.send(path, body.clone(), token.as_deref()).await {
            Err(e) if token.is_some() && e.detail.contains("invalid auth token") => {
                *self.session.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let token = self.token().await?;
                self.send(path, body, token.as_deref()).await
            }
            other => other,
        }
    }

    /// Sends one gateway request to the first member that answers; its JSON answer.
    async fn send(&self, path: &str, body: Value, token: Option<&str>) -> Result<Value> {
        let payload = Bytes::from(body.to_string());
        let timeout = self.session.timeout;
        let mut headers = vec![("content-type", "application/json")];
        if let Some(t) = token {
            headers.push(("authorization", t));
        }
        let scheme = if self.session.http.is_tls() { "https" } else { "http" };
        let mut last = String::new();
        let mut refused = false;
        for ep in &self.session.endpoints {
            let attempt = self.session.http.post(ep, path, &headers, payload.clone());
            let (status, bytes) = match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    refused |= !is_unreachable(&e);
                    last = format!("{scheme}://{ep}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("{scheme}://{ep}: no answer within {timeout:?}");
                    continue;
                }
            };
            let v: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::new(ID, format!("etcd: {path}: the answer is not JSON ({e})"), 502))?;
            if !status.is_success() {
                let msg = v.get("message").or_else(|| v.get("error")).and_then(Value::as_str).unwrap_or("");
                return Err(Error::new(ID, format!("etcd: {path}: {status} {msg}"), answered_code(status)));
            }
            return Ok(v);
        }
        Err(super::not_reached("etcd", "member", &last, refused))
    }

    /// Opens a stream (a watch) on a connection of its own at the first member that
    /// answers; the status and the body as it arrives.
    async fn stream(&self, path: &str, body: &Value) -> Result<(StatusCode, Incoming)> {
        let payload = Bytes::from(body.to_string());
        let timeout = self.session.timeout;
        let token = self.token().await?;
        let mut headers = vec![("content-type", "application/json")];
        if let Some(t) = token.as_deref() {
            headers.push(("authorization", t));
        }
        let mut last = String::new();
        let mut refused = false;
        for ep in &self.session.endpoints {
            let attempt = self.session.http.post_streaming(ep, path, &headers, payload.clone());
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(r)) => return Ok(r),
                Ok(Err(e)) => {
                    refused |= !is_unreachable(&e);
                    last = format!("{ep}: {e}");
                }
                Err(_) => last = format!("{ep}: no answer within {timeout:?}"),
            }
        }
        Err(super::not_reached("etcd", "member", &last, refused))
    }

    async fn range(&self, prefix: &str) -> Result<Vec<Value>> {
        let v = self
            .call(
                "/v3/kv/range",
                json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)), "serializable": true }),
            )
            .await?;
        Ok(v.get("kvs").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    async fn grant(&self, ttl: Duration) -> Result<i64> {
        let secs = ttl.as_secs().max(1);
        let v = self.call("/v3/lease/grant", json!({ "TTL": secs.to_string() })).await?;
        v.get("ID").and_then(int64).ok_or_else(|| unavailable("etcd: lease grant without an ID".into()))
    }

    /// Renews a lease once; `false` when etcd no longer knows it.
    async fn renew(&self, id: i64) -> Result<bool> {
        let v = self.call("/v3/lease/keepalive", json!({ "ID": id.to_string() })).await?;
        let ttl = v.get("result").and_then(|r| r.get("TTL")).and_then(int64).unwrap_or(0);
        Ok(ttl > 0)
    }

    async fn put(&self, key: &str, value: &str, lease: Option<i64>) -> Result<()> {
        let mut body = json!({ "key": B64.encode(key), "value": B64.encode(value) });
        if let Some(id) = lease {
            body["lease"] = json!(id.to_string());
        }
        self.call("/v3/kv/put", body).await.map(|_| ())
    }

    /// Keeps `id` alive every third of `ttl` until aborted; when etcd has lost the lease,
    /// re-grants one and writes the key again.
    fn keepalive(&self, key: String, value: String, id: i64, ttl: Duration) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.session);
        let every = (ttl / 3).max(Duration::from_millis(500));
        tokio::spawn(async move {
            let mut id = id;
            loop {
                tokio::time::sleep(every).await;
                let Some(session) = weak.upgrade() else { return };
                let reg = Etcd { session };
                match reg.renew(id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(%key, "etcd: lease lost, registering again");
                        match reg.grant(ttl).await {
                            Ok(new) => match reg.put(&key, &value, Some(new)).await {
                                Ok(()) => {
                                    id = new;
                                    if let Some(l) = reg.leases().get_mut(&key) {
                                        l.id = new;
                                    }
                                }
                                Err(e) => tracing::warn!(%key, error = %e, "etcd: cannot write the key again"),
                            },
                            Err(e) => tracing::warn!(%key, error = %e, "etcd: cannot grant a lease"),
                        }
                    }
                    Err(e) => tracing::warn!(%key, error = %e, "etcd: lease renewal failed"),
                }
            }
        })
    }
}

#[async_trait]
impl Registry for Etcd {
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
        if service.name.is_empty() {
            return Err(Error::bad_request(ID, "etcd: service name is empty"));
        }
        if service.nodes.is_empty() {
            return Err(Error::bad_request(ID, "etcd: a registration needs at least one node"));
        }
        for node in &service.nodes {
            let key = node_key(&service.name, &node.id);
            let one = Service { nodes: vec![node.clone()], ..service.clone() };
            let value = serde_json::to_string(&one).map_err(|e| Error::internal(ID, e.to_string()))?;
            if opts.ttl.is_zero() {
                self.put(&key, &value, None).await?;
                continue;
            }
            // Still leased and unchanged: renew that lease and write the key again (it may
            // have been deleted behind our back; go-micro skips the write and loses it).
            let known = self.leases().get(&key).filter(|l| l.value == value).map(|l| l.id);
            if let Some(id) = known {
                if self.renew(id).await? {
                    self.put(&key, &value, Some(id)).await?;
                    continue;
                }
            }
            let id = self.grant(opts.ttl).await?;
            self.put(&key, &value, Some(id)).await?;
            let keepalive = self.keepalive(key.clone(), value.clone(), id, opts.ttl);
            if let Some(old) = self.leases().insert(key, Lease { id, value, keepalive }) {
                old.keepalive.abort();
            }
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        for node in &service.nodes {
            let key = node_key(&service.name, &node.id);
            let lease = self.leases().remove(&key);
            if let Some(l) = &lease {
                l.keepalive.abort();
            }
            self.call("/v3/kv/deleterange", json!({ "key": B64.encode(&key) })).await?;
            if let Some(l) = lease {
                if let Err(e) = self.call("/v3/lease/revoke", json!({ "ID": l.id.to_string() })).await {
                    tracing::debug!(%key, error = %e, "etcd: cannot revoke the lease (it expires by itself)");
                }
            }
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        Ok(services_of(&self.range(&service_prefix(name)).await?))
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let mut out = services_of(&self.range(PREFIX).await?);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let prefix = service.map(service_prefix).unwrap_or_else(|| PREFIX.to_string());
        let create = json!({ "create_request": {
            "key": B64.encode(&prefix), "range_end": B64.encode(prefix_end(&prefix)), "prev_kv": true,
        }});
        let (status, mut body) = self.stream("/v3/watch", &create).await?;
        if !status.is_success() {
            return Err(unavailable(format!("etcd: /v3/watch: {status}")));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            loop {
                let frame = tokio::select! {
                    f = body.frame() => f,
                    _ = tx.closed() => return,
                };
                let data = match frame {
                    Some(Ok(f)) => match f.into_data() {
                        Ok(d) => d,
                        Err(_) => continue,
                    },
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "etcd: watch stream failed");
                        return;
                    }
                    None => return,
                };
                buf.extend_from_slice(&data);
                while let Some(line) = next_line(&mut buf) {
                    for ev in watch_events(&line) {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                }
                if buf.len() > MAX_LINE {
                    tracing::warn!("etcd: watch message over 16 MiB; watch ended");
                    return;
                }
            }
        });
        Ok(Watcher::new(rx))
    }

    fn name(&self) -> &'static str {
        "etcd"
    }
}

/// The registry events in one watch response line (go-micro's mapping of etcd events).
fn watch_events(line: &[u8]) -> Vec<Event> {
    let Ok(v) = serde_json::from_slice::<Value>(line) else { return Vec::new() };
    let Some(events) = v.get("result").and_then(|r| r.get("events")).and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ev in events {
        let deleted = ev.get("type").and_then(Value::as_str) == Some("DELETE");
        let (action, service) = if deleted {
            (Action::Delete, ev.get("prev_kv").and_then(decode_kv))
        } else {
            let kv = ev.get("kv");
            let created = kv.and_then(|k| k.get("create_revision")).and_then(int64)
                == kv.and_then(|k| k.get("mod_revision")).and_then(int64);
            (if created { Action::Create } else { Action::Update }, kv.and_then(decode_kv))
        };
        if let Some(service) = service {
            out.push(Event { action, service });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_go_micro() {
        assert_eq!(node_key("greeter", "greeter-1"), "/micro/registry/greeter/greeter-1");
        assert_eq!(node_key("a/b", "c/d"), "/micro/registry/a-b/c-d");
        assert_eq!(prefix_end("/micro/registry/"), b"/micro/registry0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }

    #[test]
    fn watch_lines_map_to_events() {
        let svc = r#"{"name":"g","version":"1","metadata":null,"endpoints":null,"nodes":[{"id":"n","address":"1.2.3.4:5","metadata":null}]}"#;
        let v = B64.encode(svc);
        let put = format!(
            r#"{{"result":{{"events":[{{"kv":{{"key":"eA==","create_revision":"2","mod_revision":"2","value":"{v}"}}}}]}}}}"#
        );
        let evs = watch_events(put.as_bytes());
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].action, Action::Create);
        assert_eq!(evs[0].service.nodes[0].address, "1.2.3.4:5");
        let upd = put.replace(r#""mod_revision":"2""#, r#""mod_revision":"3""#);
        assert_eq!(watch_events(upd.as_bytes())[0].action, Action::Update);
        let del = format!(
            r#"{{"result":{{"events":[{{"type":"DELETE","kv":{{"key":"eA=="}},"prev_kv":{{"key":"eA==","value":"{v}"}}}}]}}}}"#
        );
        assert_eq!(watch_events(del.as_bytes())[0].action, Action::Delete);
        assert!(watch_events(b"not json").is_empty());
        assert!(watch_events(br#"{"result":{"created":true}}"#).is_empty());
    }
}
