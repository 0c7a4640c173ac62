//! A watch storm (checklist §4.4 item 9, go-micro users' rolling-deploy complaints): 50
//! services of 3 nodes each, every node replaced once a second for 5 s — a new node
//! registers, then the old one deregisters, as in a rolling restart — while callers look
//! services up through the registry cache all along.
//!
//! The cache never answers "nobody serves this" during the rollout (two nodes of every
//! service are always up), its view equals the registry's once the churn stops, the whole
//! process spends under 20 % of one core on it, and a dropped cache leaves no task behind.
//!
//! One test in its own binary, so CPU time and runtime tasks are this test's alone.

mod common;

use common::alive_tasks;
use micro::registry::cache::Cache;
use micro::registry::memory::Memory;
use micro::registry::{Node, RegisterOptions, Registry, Service};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: usize = 50;
const NODES: usize = 3;
const SECONDS: u64 = 5;

fn service(s: usize, node: u64) -> Service {
    Service {
        name: format!("storm-{s}"),
        version: "latest".into(),
        nodes: vec![Node {
            id: format!("storm-{s}-{node}"),
            address: format!("127.0.0.1:{}", 10_000 + node % 50_000),
            metadata: [("protocol".to_string(), "mucp".to_string())].into_iter().collect(),
        }],
        ..Default::default()
    }
}

/// User plus system CPU time of this process, from `/proc/self/stat` (clock ticks of
/// 10 ms, Linux's `USER_HZ`).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    Duration::from_millis(10 * f.iter().sum::<u64>())
}

fn ids(services: &[Service]) -> BTreeSet<String> {
    services.iter().flat_map(|s| s.nodes.iter().map(|n| n.id.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_storm_keeps_the_cache_exact_and_cheap() {
    let tasks_before = alive_tasks();
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let opts = RegisterOptions::default();
    // live[s] = the node numbers serving service s.
    let mut live: Vec<Vec<u64>> = Vec::new();
    let mut next = 0u64;
    for s in 0..SERVICES {
        let mut nodes = Vec::new();
        for _ in 0..NODES {
            registry.register(&service(s, next), opts).await.expect("register");
            nodes.push(next);
            next += 1;
        }
        live.push(nodes);
    }
    let cache = Cache::new(registry.clone());
    for s in 0..SERVICES {
        assert_eq!(ids(&cache.lookup(&format!("storm-{s}")).await.expect("lookup")).len(), NODES);
    }

    // Callers: five lookups every 10 ms, across all the services.
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let reader = {
        let (cache, stop, lookups) = (cache.clone(), stop.clone(), lookups.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..5 {
                    let name = format!("storm-{}", i % SERVICES);
                    let found = cache.lookup(&name).await.map(|s| ids(&s).len()).unwrap_or(0);
                    assert!(found >= NODES - 1, "{name}: {found} nodes during the rollout");
                    lookups.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            }
        })
    };

    // The storm: each second every node is replaced, new one first, three every 20 ms.
    let cpu_start = cpu_time();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut replaced = 0u64;
    for _ in 0..SECONDS {
        for k in 0..NODES {
            for (s, nodes) in live.iter_mut().enumerate() {
                if s % 3 == 0 {
                    tick.tick().await;
                }
                registry.register(&service(s, next), opts).await.expect("register the new node");
                registry.deregister(&service(s, nodes[k])).await.expect("deregister the old node");
                nodes[k] = next;
                next += 1;
                replaced += 1;
            }
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    stop.store(true, Ordering::Relaxed);
    reader.await.expect("no caller saw a service vanish");
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "storm: {replaced} nodes replaced ({} watch events) and {} lookups in {:.1} s, {:.1} % of one core",
        2 * replaced,
        lookups.load(Ordering::Relaxed),
        wall.as_secs_f64(),
        100.0 * share
    );
    assert!(share < 0.20, "the storm cost {:.1} % of one core", 100.0 * share);

    // Once the churn stops the cache holds exactly the nodes the registry holds.
    let deadline = Instant::now() + Duration::from_secs(1);
    for (s, nodes) in live.iter().enumerate() {
        let name = format!("storm-{s}");
        let want: BTreeSet<String> = nodes.iter().map(|n| format!("storm-{s}-{n}")).collect();
        assert_eq!(ids(&registry.get_service(&name).await.expect("registry")), want);
        loop {
            let got = ids(&cache.lookup(&name).await.expect("cache"));
            if got == want {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: cache {got:?}, registry {want:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // A dropped cache stops its watcher at once, though the registry lives on and is quiet.
    drop(cache);
    let deadline = Instant::now() + Duration::from_secs(1);
    while alive_tasks() > tasks_before {
        assert!(Instant::now() < deadline, "{} tasks left after the cache was dropped", alive_tasks() - tasks_before);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
