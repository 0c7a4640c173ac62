//! Client-side load balancing: go-micro's `selector` package.
//!
//! A [`Selector`] turns the services a registry returned into one node per attempt:
//! [`Filter`]s narrow the candidates (by version, by node metadata), then a [`Strategy`]
//! picks — [`Strategy::Random`] as go-micro does by default, or [`Strategy::RoundRobin`].
//! Nodes the caller already tried are skipped while others remain, so a retry after a
//! refused connection lands on another node.

use crate::registry::{Node, Service};
use rand::Rng;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a node is picked among the candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// A uniformly random node on every attempt (go-micro's default).
    #[default]
    Random,
    /// Each node in turn.
    RoundRobin,
}

impl Strategy {
    /// `random` or `roundrobin` (also `round_robin`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace(['_', '-'], "").as_str() {
            "random" => Some(Strategy::Random),
            "roundrobin" => Some(Strategy::RoundRobin),
            _ => None,
        }
    }
}

/// A condition a service version or node must meet to be picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Only this service version.
    Version(String),
    /// Only nodes whose metadata has `key` equal to `value`.
    Metadata(String, String),
}

impl Filter {
    fn keeps(&self, service: &Service, node: &Node) -> bool {
        match self {
            Filter::Version(v) => &service.version == v,
            Filter::Metadata(k, v) => node.metadata.get(k) == Some(v),
        }
    }
}

/// Picks nodes; one per client, shared by all its calls.
#[derive(Debug, Default)]
pub struct Selector {
    strategy: Strategy,
    counter: AtomicUsize,
}

impl Selector {
    /// A selector with the given strategy.
    pub fn new(strategy: Strategy) -> Self {
        Selector { strategy, counter: AtomicUsize::new(0) }
    }

    /// The strategy in use.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Picks a node from `services` that passes every filter, preferring nodes whose ids are
    /// not in `tried`. `None` when no node passes the filters.
    pub fn select<'a>(&self, services: &'a [Service], filters: &[Filter], tried: &[String]) -> Option<&'a Node> {
        self.select_at(services, filters, tried).map(|(s, n)| &services[s].nodes[n])
    }

    /// [`Selector::select`] as positions: the service's in `services` and the node's in its
    /// `nodes`, so a caller holding `services` shared can keep the pick without copying the
    /// node.
    pub fn select_at(&self, services: &[Service], filters: &[Filter], tried: &[String]) -> Option<(usize, usize)> {
        let candidates = || {
            services
                .iter()
                .enumerate()
                .flat_map(|(si, s)| s.nodes.iter().enumerate().map(move |(ni, n)| (si, s, ni, n)))
                .filter(|(_, s, _, n)| filters.iter().all(|f| f.keeps(s, n)))
        };
        self.pick(candidates, |(_, _, _, n)| &n.id, tried).map(|(si, _, ni, _)| (si, ni))
    }

    /// Picks one of `addresses`, preferring those not in `tried`, as [`Selector::select`]
    /// picks a node (an address given for a call is its node's id too). `None` when empty.
    pub fn select_address<'a>(&self, addresses: &'a [String], tried: &[String]) -> Option<&'a str> {
        self.pick(|| addresses.iter(), |a| a, tried).map(String::as_str)
    }

    /// One of the `candidates` (an iterator made anew on each call) by the strategy,
    /// preferring those whose `id` is not in `tried` while any is left. Nothing is
    /// allocated: the candidates are counted, then walked again to the chosen one.
    fn pick<I: Iterator>(
        &self,
        candidates: impl Fn() -> I,
        id: impl Fn(&I::Item) -> &String,
        tried: &[String],
    ) -> Option<I::Item> {
        let untried = |c: &I::Item| !tried.contains(id(c));
        let fresh = candidates().filter(|c| untried(c)).count();
        // Untried candidates while any is left; once all were tried, any candidate again.
        let len = if fresh > 0 { fresh } else { candidates().count() };
        let i = self.index(len)?;
        candidates().filter(|c| fresh == 0 || untried(c)).nth(i)
    }

    /// The position the strategy picks among `len` candidates; `None` when there are none.
    fn index(&self, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        Some(match self.strategy {
            Strategy::Random => rand::rng().random_range(0..len),
            Strategy::RoundRobin => self.counter.fetch_add(1, Ordering::Relaxed) % len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> Vec<Service> {
        let node = |id: &str, zone: &str| Node {
            id: id.into(),
            address: format!("127.0.0.1:{}", id.len()),
            metadata: [("zone".to_string(), zone.to_string())].into(),
        };
        vec![
            Service {
                name: "s".into(),
                version: "v1".into(),
                nodes: vec![node("a", "x"), node("b", "y")],
                ..Default::default()
            },
            Service { name: "s".into(), version: "v2".into(), nodes: vec![node("c", "x")], ..Default::default() },
        ]
    }

    #[test]
    fn round_robin_visits_every_node() {
        let sel = Selector::new(Strategy::RoundRobin);
        let svcs = services();
        let mut seen: Vec<String> = (0..3).map(|_| sel.select(&svcs, &[], &[]).unwrap().id.clone()).collect();
        seen.sort();
        assert_eq!(seen, ["a", "b", "c"]);
    }

    #[test]
    fn random_covers_all_nodes() {
        let sel = Selector::new(Strategy::Random);
        let svcs = services();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(sel.select(&svcs, &[], &[]).unwrap().id.clone());
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn filters_by_version_and_metadata() {
        let sel = Selector::default();
        let svcs = services();
        for _ in 0..20 {
            assert_eq!(sel.select(&svcs, &[Filter::Version("v2".into())], &[]).unwrap().id, "c");
            let n =
                sel.select(&svcs, &[Filter::Metadata("zone".into(), "x".into()), Filter::Version("v1".into())], &[]);
            assert_eq!(n.unwrap().id, "a");
        }
        assert!(sel.select(&svcs, &[Filter::Version("v9".into())], &[]).is_none());
    }

    #[test]
    fn tried_nodes_are_skipped_while_others_remain() {
        let sel = Selector::default();
        let svcs = services();
        for _ in 0..20 {
            let n = sel.select(&svcs, &[], &["a".into(), "b".into()]).unwrap();
            assert_eq!(n.id, "c");
        }
        // All tried: fall back to any node rather than fail.
        assert!(sel.select(&svcs, &[], &["a".into(), "b".into(), "c".into()]).is_some());
    }
}
