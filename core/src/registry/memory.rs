//! The in-process registry: services registered in this process only. Good for tests and
//! for a process that hosts both ends of a call.

use super::{Action, Event, RegisterOptions, Registry, Service, Watcher};
use crate::error::Result;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A registry held in memory; nodes expire when their TTL passes without re-registration.
#[derive(Default)]
pub struct Memory {
    table: Mutex<ServiceTable>,
}

/// The services registered, by name and version, and the watchers told of changes.
#[derive(Default)]
struct ServiceTable {
    /// name → version → (service without nodes, node id → (node, expiry)).
    services: BTreeMap<String, BTreeMap<String, Entry>>,
    watchers: Vec<(Option<String>, mpsc::UnboundedSender<Event>)>,
}

struct Entry {
    service: Service,
    nodes: BTreeMap<String, (super::Node, Instant)>,
}

impl Memory {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ServiceTable {
    fn notify(&mut self, action: Action, service: &Service) {
        self.watchers.retain(|(filter, tx)| {
            if filter.as_deref().is_some_and(|f| f != service.name) {
                return !tx.is_closed();
            }
            tx.send(Event { action, service: service.clone() }).is_ok()
        });
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        for versions in self.services.values_mut() {
            for entry in versions.values_mut() {
                let dead: Vec<String> =
                    entry.nodes.iter().filter(|(_, (_, exp))| *exp <= now).map(|(id, _)| id.clone()).collect();
                for id in dead {
                    if let Some((node, _)) = entry.nodes.remove(&id) {
                        gone.push(Service { nodes: vec![node], ..entry.service.clone() });
                    }
                }
            }
            versions.retain(|_, e| !e.nodes.is_empty());
        }
        self.services.retain(|_, v| !v.is_empty());
        for svc in gone {
            self.notify(Action::Delete, &svc);
        }
    }
}

#[async_trait]
impl Registry for Memory {
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
        let ttl = if opts.ttl.is_zero() { Duration::from_secs(3600 * 24 * 365) } else { opts.ttl };
        let expiry = Instant::now() + ttl;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let entry =
            table.services.entry(service.name.clone()).or_default().entry(service.version.clone()).or_insert_with(
                || Entry { service: Service { nodes: vec![], ..service.clone() }, nodes: BTreeMap::new() },
            );
        entry.service = Service { nodes: vec![], ..service.clone() };
        let mut fresh = Vec::new();
        for node in &service.nodes {
            if entry.nodes.insert(node.id.clone(), (node.clone(), expiry)).is_none() {
                fresh.push(node.clone());
            }
        }
        if !fresh.is_empty() {
            let svc = Service { nodes: fresh, ..service.clone() };
            table.notify(Action::Create, &svc);
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone = Vec::new();
        if let Some(versions) = table.services.get_mut(&service.name) {
            for (version, entry) in versions.iter_mut() {
                if !service.version.is_empty() && *version != service.version {
                    continue;
                }
                for node in &service.nodes {
                    if let Some((n, _)) = entry.nodes.remove(&node.id) {
                        gone.push(Service { nodes: vec![n], ..entry.service.clone() });
                    }
                }
            }
            versions.retain(|_, e| !e.nodes.is_empty());
        }
        table.services.retain(|_, v| !v.is_empty());
        for svc in gone {
            table.notify(Action::Delete, &svc);
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.expire();
        Ok(table
            .services
            .get(name)
            .map(|versions| {
                versions
                    .values()
                    .map(|e| Service { nodes: e.nodes.values().map(|(n, _)| n.clone()).collect(), ..e.service.clone() })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.expire();
        Ok(table.services.values().flat_map(|versions| versions.values().map(|e| e.service.clone())).collect())
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.watchers.push((service.map(str::to_string), tx));
        Ok(Watcher::new(rx))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Node;

    fn svc(id: &str) -> Service {
        Service {
            name: "greeter".into(),
            version: "latest".into(),
            nodes: vec![Node { id: id.into(), address: "127.0.0.1:1".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn register_watch_deregister() {
        let r = Memory::new();
        let mut w = r.watch(Some("greeter")).await.unwrap();
        r.register(&svc("a"), RegisterOptions::default()).await.unwrap();
        r.register(&svc("b"), RegisterOptions::default()).await.unwrap();
        let got = r.get_service("greeter").await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].nodes.len(), 2);
        assert_eq!(w.next().await.unwrap().action, Action::Create);
        assert_eq!(w.next().await.unwrap().action, Action::Create);
        r.deregister(&svc("a")).await.unwrap();
        let ev = w.next().await.unwrap();
        assert_eq!((ev.action, ev.service.nodes[0].id.as_str()), (Action::Delete, "a"));
        assert_eq!(r.get_service("greeter").await.unwrap()[0].nodes.len(), 1);
        assert!(r.get_service("nobody").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn nodes_expire_after_ttl() {
        let r = Memory::new();
        r.register(&svc("a"), RegisterOptions { ttl: Duration::from_millis(30) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(r.get_service("greeter").await.unwrap().is_empty());
    }
}
