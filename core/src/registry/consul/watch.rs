//! The Consul registry's watch: Consul's blocking queries turned into registry events.
//!
//! A service watch repeats `/v1/health/service/<name>?passing&index=N&wait=…`: each answer
//! is the whole healthy set, compared with the previous one node by node — a new node is a
//! create, a changed one (address, metadata, version, endpoints) an update, a missing one a
//! delete (a node whose TTL check went critical leaves this way). A watch of everything
//! runs the same loop on `/v1/catalog/services` and one service watch per name; a name that
//! leaves the catalog ends its service watch with a delete for each node it had seen.
//!
//! The first answer is read before [`start`] returns and is the baseline, not events: the
//! watch reports changes after it was created, as the registry contract says. An index
//! that goes backwards (an agent restarted) starts again from 0, as Consul's documentation
//! asks. A failed query ends the watch (the stream closes); the registry cache re-opens it.

use super::{Consul, Service};
use crate::error::Result;
use crate::registry::{Action, Event, Node, Watcher};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long one blocking query waits for a change.
const WAIT: Duration = Duration::from_secs(30);

type Tx = mpsc::UnboundedSender<Event>;

/// What a service watch has seen: by node id, the node with its service's version and endpoints.
type Seen = HashMap<String, Service>;

/// Opens the watch of one service (`Some`) or of all, its baseline read.
pub(super) async fn start(reg: Consul, service: Option<String>) -> Result<Watcher> {
    let (tx, rx) = mpsc::unbounded_channel();
    match service {
        Some(name) => {
            let (index, services) = reg.health(&name, 0, WAIT).await?;
            let stop = CancellationToken::new();
            tokio::spawn(service_loop(reg, name, index, seen_of(services), tx, stop));
        }
        None => {
            let (index, names) = reg.catalog(0, WAIT).await?;
            let mut loops = HashMap::new();
            for name in names {
                let (idx, services) = reg.health(&name, 0, WAIT).await?;
                let stop = CancellationToken::new();
                tokio::spawn(service_loop(reg.clone(), name.clone(), idx, seen_of(services), tx.clone(), stop.clone()));
                loops.insert(name, stop);
            }
            tokio::spawn(catalog_loop(reg, index, loops, tx));
        }
    }
    Ok(Watcher::new(rx))
}

/// One node per entry, as the events carry them.
fn seen_of(services: Vec<Service>) -> Seen {
    let mut seen = Seen::new();
    for s in services {
        for node in &s.nodes {
            seen.insert(node.id.clone(), one(&s, node));
        }
    }
    seen
}

fn one(s: &Service, node: &Node) -> Service {
    Service {
        name: s.name.clone(),
        version: s.version.clone(),
        metadata: s.metadata.clone(),
        endpoints: s.endpoints.clone(),
        nodes: vec![node.clone()],
    }
}

/// The events that take `old` to `new`, in a stable order (by node id).
fn diff(old: &Seen, new: &Seen) -> Vec<Event> {
    let mut out = Vec::new();
    let mut ids: Vec<&String> = new.keys().chain(old.keys()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let action = match (old.get(id), new.get(id)) {
            (None, Some(_)) => Action::Create,
            (Some(a), Some(b)) if a != b => Action::Update,
            (Some(_), None) => Action::Delete,
            _ => continue,
        };
        let service = match action {
            Action::Delete => old.get(id),
            _ => new.get(id),
        };
        if let Some(service) = service {
            out.push(Event { action, service: service.clone() });
        }
    }
    out
}

/// The next index to ask with: Consul's, reset to 0 when it went backwards.
fn next_index(old: u64, new: u64) -> u64 {
    if new < old {
        0
    } else {
        new
    }
}

async fn service_loop(reg: Consul, name: String, mut index: u64, mut seen: Seen, tx: Tx, stop: CancellationToken) {
    loop {
        let answer = tokio::select! {
            a = reg.health(&name, index.max(1), WAIT) => a,
            _ = tx.closed() => return,
            _ = stop.cancelled() => {
                // The name left the catalog: every node it had is gone.
                for ev in diff(&seen, &Seen::new()) {
                    let _ = tx.send(ev);
                }
                return;
            }
        };
        match answer {
            Ok((new_index, services)) => {
                index = next_index(index, new_index);
                let now = seen_of(services);
                for ev in diff(&seen, &now) {
                    if tx.send(ev).is_err() {
                        return;
                    }
                }
                seen = now;
            }
            Err(e) => {
                tracing::warn!(service = %name, error = %e, "consul: watch ended");
                stop.cancel();
                return;
            }
        }
    }
}

async fn catalog_loop(reg: Consul, mut index: u64, mut loops: HashMap<String, CancellationToken>, tx: Tx) {
    let stop_all = |loops: &HashMap<String, CancellationToken>| loops.values().for_each(CancellationToken::cancel);
    loop {
        let answer = tokio::select! {
            a = reg.catalog(index.max(1), WAIT) => a,
            _ = tx.closed() => {
                stop_all(&loops);
                return;
            }
        };
        let (new_index, names) = match answer {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "consul: watch ended");
                stop_all(&loops);
                return;
            }
        };
        index = next_index(index, new_index);
        // A service watch that failed ends the whole watch: the cache reopens it.
        if loops.values().any(CancellationToken::is_cancelled) {
            stop_all(&loops);
            return;
        }
        loops.retain(|name, stop| {
            let keep = names.contains(name);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for name in names {
            if loops.contains_key(&name) {
                continue;
            }
            // Everything a new name has is news: start from an empty view.
            let stop = CancellationToken::new();
            tokio::spawn(service_loop(reg.clone(), name.clone(), 0, Seen::new(), tx.clone(), stop.clone()));
            loops.insert(name, stop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: &str, addr: &str) -> Service {
        Service {
            name: "g".into(),
            version: "1".into(),
            nodes: vec![Node { id: id.into(), address: addr.into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn answers_diff_into_events() {
        let old = seen_of(vec![svc("a", "h:1"), svc("b", "h:2")]);
        let new = seen_of(vec![svc("b", "h:3"), svc("c", "h:4")]);
        let evs = diff(&old, &new);
        let got: Vec<(Action, &str, &str)> = evs
            .iter()
            .map(|e| (e.action, e.service.nodes[0].id.as_str(), e.service.nodes[0].address.as_str()))
            .collect();
        assert_eq!(got, [(Action::Delete, "a", "h:1"), (Action::Update, "b", "h:3"), (Action::Create, "c", "h:4")]);
        assert!(diff(&new, &new).is_empty());
        assert_eq!(next_index(10, 5), 0);
        assert_eq!(next_index(10, 12), 12);
    }
}
