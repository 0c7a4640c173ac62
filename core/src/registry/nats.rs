//! NATS registry, interoperable with go-micro's `registry/nats` (v5): discovery by asking
//! the live services over a `nats-server`, with no store of its own.
//!
//! go-micro's protocol, which we follow: each process keeps the services it registered in
//! memory and, per service name, subscribes to the query subject `micro.nats.query`. A
//! lookup publishes `{"Service":{…name…},"Action":"get"}` (or `"Service":null`,
//! `"Action":"list"`) there with a fresh inbox as reply subject; every process serving the
//! name answers with one message per version of its own registry JSON, and the asker merges
//! what arrives within the timeout (go-micro's default: 100 ms) by name and version.
//! Registering and deregistering also announce `{"Service":…,"Action":"create"|"delete"}` on
//! `micro.nats.watch`, which is what a watch reads.
//!
//! As in go-micro, there is no TTL: a process that dies stops answering, so it is gone from
//! the next lookup, but watchers hear no goodbye. The connection is the library's NATS
//! client ([`crate::transport::nats_client`], the one the NATS broker uses), dialled on
//! first use and kept up (re-dialled and re-subscribed) until the registry is dropped.

use super::{Action, Event, RegisterOptions, Registry, Service, Watcher};
use crate::error::{Error, Result};
use crate::transport::nats_client::{new_inbox, NatsClient, NatsMsg, Pending};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const ID: &str = "go.micro.registry";
/// go-micro's query subject.
pub const QUERY_TOPIC: &str = "micro.nats.query";
/// go-micro's watch subject.
pub const WATCH_TOPIC: &str = "micro.nats.watch";
/// A registry message larger than this is not read.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Queries or announcements waiting for their reader.
const QUEUED: usize = 1024;

/// go-micro's `registry.Result`, the query and watch message.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    #[serde(rename = "Service", default)]
    service: Option<Service>,
    #[serde(rename = "Action", default)]
    action: String,
}

/// Options for [`Nats::new`].
#[derive(Clone, Debug)]
pub struct Options {
    /// `nats://host:port`, comma-separated for several servers.
    pub urls: String,
    /// How long a lookup collects answers (go-micro's default: 100 ms).
    pub timeout: Duration,
    /// TLS for `tls://` servers; `None` reads NATS_CA/NATS_CERT/NATS_KEY when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            urls: crate::transport::nats_client::DEFAULT_URL.to_string(),
            timeout: Duration::from_millis(100),
            tls: None,
        }
    }
}

/// The NATS registry; cheap to clone.
#[derive(Clone)]
pub struct Nats {
    shared: Arc<Shared>,
}

/// What every clone shares: the connection, the services this process answers for, and
/// the query listener per service name.
struct Shared {
    client: NatsClient,
    timeout: Duration,
    services: Arc<Mutex<HashMap<String, Vec<Service>>>>,
    listeners: Mutex<HashMap<String, (u64, JoinHandle<()>)>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for (_, (_, task)) in self.listeners.get_mut().unwrap_or_else(|p| p.into_inner()).drain() {
            task.abort();
        }
        let client = self.client.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { client.disconnect().await });
        }
    }
}

/// Adds `new`'s nodes to the version they belong to (go-micro's `addServices`).
fn add(services: &mut Vec<Service>, new: &Service) {
    match services.iter_mut().find(|s| s.version == new.version) {
        Some(s) => {
            let nodes = std::mem::take(&mut s.nodes);
            *s = Service { nodes, ..new.clone() };
            for n in &new.nodes {
                s.nodes.retain(|o| o.id != n.id);
                s.nodes.push(n.clone());
            }
        }
        None => services.push(new.clone()),
    }
}

/// Removes `gone`'s nodes from its version, and versions left without nodes
/// (go-micro's `delServices`).
fn remove(services: &mut Vec<Service>, gone: &Service) {
    for s in services.iter_mut().filter(|s| s.version == gone.version) {
        s.nodes.retain(|n| !gone.nodes.iter().any(|g| g.id == n.id));
    }
    services.retain(|s| !s.nodes.is_empty());
}

impl Nats {
    /// A registry on the given servers; nothing is dialled until the first call.
    pub fn new(opts: Options) -> Result<Self> {
        let client = NatsClient::shared_with_tls(&opts.urls, MAX_MESSAGE, ID, opts.tls)?;
        Ok(Nats {
            shared: Arc::new(Shared {
                client,
                timeout: opts.timeout,
                services: Arc::default(),
                listeners: Mutex::default(),
            }),
        })
    }

    /// A registry for `urls` (`nats://host:port[,…]`; empty: go-micro's default server).
    pub fn from_urls(urls: &str) -> Result<Self> {
        let urls = if urls.trim().is_empty() { Options::default().urls } else { urls.to_string() };
        Nats::new(Options { urls, ..Options::default() })
    }

    async fn client(&self) -> Result<&NatsClient> {
        let client = &self.shared.client;
        // The client's 503 (unreachable) and 401 (credentials refused) are kept; anything
        // else from a server that was reached is a 502.
        client.connect().await.map_err(|e| {
            let code = if matches!(e.code, 401 | 503) { e.code } else { 502 };
            Error::new(ID, format!("nats registry: {}", e.detail), code)
        })?;
        Ok(client)
    }

    async fn announce(&self, action: &str, service: &Service) -> Result<()> {
        let msg = Message { service: Some(service.clone()), action: action.to_string() };
        let bytes = serde_json::to_vec(&msg).map_err(|e| Error::internal(ID, e.to_string()))?;
        self.client().await?.publish(WATCH_TOPIC, None, &bytes).await
    }

    /// Answers queries for `name` from this process's services until aborted.
    async fn listen(&self, name: &str) -> Result<()> {
        if self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).contains_key(name) {
            return Ok(());
        }
        let client = self.client().await?.clone();
        let (sid, mut rx) = client.subscribe(QUERY_TOPIC, None, Pending::messages(QUEUED)).await?;
        // Registered once the server has the SUB: a lookup from another connection
        // right after `register` returns finds us.
        if let Err(e) = client.flush().await {
            client.unsubscribe(sid).await;
            return Err(e);
        }
        let services = Arc::clone(&self.shared.services);
        let own = name.to_string();
        let answerer = client.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                answer(&answerer, &services, &own, m).await;
            }
        });
        let lost_race = {
            let mut listeners = self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner());
            if listeners.contains_key(name) {
                Some(task)
            } else {
                listeners.insert(name.to_string(), (sid, task));
                None
            }
        };
        if let Some(task) = lost_race {
            // Another registration got there first.
            task.abort();
            client.unsubscribe(sid).await;
        }
        Ok(())
    }

    /// Asks every process; what answered within the timeout, merged by name and version.
    async fn query(&self, name: Option<&str>) -> Result<Vec<Service>> {
        let client = self.client().await?;
        let inbox = new_inbox();
        let (sid, mut rx) = client.subscribe(&inbox, None, Pending::messages(QUEUED)).await?;
        let msg = match name {
            Some(n) => {
                Message { service: Some(Service { name: n.to_string(), ..Default::default() }), action: "get".into() }
            }
            None => Message { service: None, action: "list".into() },
        };
        let bytes = serde_json::to_vec(&msg).map_err(|e| Error::internal(ID, e.to_string()))?;
        if let Err(e) = client.publish(QUERY_TOPIC, Some(&inbox), &bytes).await {
            client.unsubscribe(sid).await;
            return Err(e);
        }
        let mut out: Vec<Service> = Vec::new();
        let deadline = tokio::time::Instant::now() + self.shared.timeout;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            let Ok(s) = serde_json::from_slice::<Service>(&m.payload) else {
                tracing::debug!("nats registry: skipping an answer that is not a service");
                continue;
            };
            match out.iter_mut().find(|o| o.name == s.name && o.version == s.version) {
                Some(o) => o.nodes.extend(s.nodes),
                None => out.push(s),
            }
        }
        client.unsubscribe(sid).await;
        Ok(out)
    }
}

/// Answers one query message for the service `own` (go-micro's query handler).
async fn answer(client: &NatsClient, services: &Mutex<HashMap<String, Vec<Service>>>, own: &str, m: NatsMsg) {
    let Some(reply) = m.reply else { return };
    let Ok(q) = serde_json::from_slice::<Message>(&m.payload) else { return };
    match q.action.as_str() {
        "get" if q.service.as_ref().is_some_and(|s| s.name == own) => {}
        "list" => {}
        _ => return,
    }
    let mine = services.lock().unwrap_or_else(|p| p.into_inner()).get(own).cloned().unwrap_or_default();
    for s in mine {
        match serde_json::to_vec(&s) {
            Ok(bytes) => {
                if let Err(e) = client.publish(&reply, None, &bytes).await {
                    tracing::debug!(error = %e, "nats registry: cannot answer a query");
                }
            }
            Err(e) => tracing::debug!(error = %e, "nats registry: cannot encode a service"),
        }
    }
}

#[async_trait]
impl Registry for Nats {
    async fn register(&self, service: &Service, _opts: RegisterOptions) -> Result<()> {
        if service.name.is_empty() {
            return Err(Error::bad_request(ID, "nats registry: service name is empty"));
        }
        if service.nodes.is_empty() {
            return Err(Error::bad_request(ID, "nats registry: a registration needs at least one node"));
        }
        {
            let mut all = self.shared.services.lock().unwrap_or_else(|p| p.into_inner());
            add(all.entry(service.name.clone()).or_default(), service);
        }
        self.listen(&service.name).await?;
        self.announce("create", service).await
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let empty = {
            let mut all = self.shared.services.lock().unwrap_or_else(|p| p.into_inner());
            let list = all.entry(service.name.clone()).or_default();
            remove(list, service);
            let empty = list.is_empty();
            if empty {
                all.remove(&service.name);
            }
            empty
        };
        if empty {
            let listener = self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).remove(&service.name);
            if let Some((sid, task)) = listener {
                task.abort();
                self.shared.client.unsubscribe(sid).await;
            }
        }
        self.announce("delete", service).await
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let mut out = self.query(Some(name)).await?;
        out.retain(|s| s.name == name);
        Ok(out)
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let mut names: Vec<String> = self.query(None).await?.into_iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        Ok(names.into_iter().map(|name| Service { name, ..Default::default() }).collect())
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let client = self.client().await?.clone();
        let (sid, mut rx) = client.subscribe(WATCH_TOPIC, None, Pending::messages(QUEUED)).await?;
        // Subscribed before we return: every announcement after this is seen.
        client.flush().await?;
        let only = service.map(str::to_string);
        let (tx, out) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let m = tokio::select! {
                    m = rx.recv() => m,
                    _ = tx.closed() => None,
                };
                let Some(m) = m else { break };
                let Ok(msg) = serde_json::from_slice::<Message>(&m.payload) else { continue };
                let Some(service) = msg.service else { continue };
                if only.as_ref().is_some_and(|n| *n != service.name) {
                    continue;
                }
                let action = match msg.action.as_str() {
                    "create" => Action::Create,
                    "update" => Action::Update,
                    "delete" => Action::Delete,
                    _ => continue,
                };
                if tx.send(Event { action, service }).is_err() {
                    break;
                }
            }
            client.unsubscribe(sid).await;
        });
        Ok(Watcher::new(out))
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Node;

    fn svc(version: &str, ids: &[&str]) -> Service {
        Service {
            name: "g".into(),
            version: version.into(),
            nodes: ids.iter().map(|id| Node { id: id.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn local_services_merge_like_go_micro() {
        let mut list = Vec::new();
        add(&mut list, &svc("1", &["a"]));
        add(&mut list, &svc("1", &["b"]));
        add(&mut list, &svc("2", &["c"]));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].nodes.len(), 2);
        remove(&mut list, &svc("1", &["a", "b"]));
        assert_eq!(list, vec![svc("2", &["c"])]);
    }

    #[test]
    fn messages_are_go_micro_results() {
        let q = Message { service: None, action: "list".into() };
        assert_eq!(serde_json::to_string(&q).unwrap(), r#"{"Service":null,"Action":"list"}"#);
        let m: Message = serde_json::from_str(r#"{"Service":{"name":"x","nodes":null},"Action":"get"}"#).unwrap();
        assert_eq!((m.service.unwrap().name.as_str(), m.action.as_str()), ("x", "get"));
    }
}
