//! What the integration tests share: what the reliability tests count in their own process
//! (memory, open files and runtime tasks: Linux `/proc`, tokio's runtime metrics), the first
//! steps of the "started before its registry" tests, and a real `nats-server` ([`nats`]).

#![allow(dead_code)] // each test binary uses its own part

pub mod allocations;
pub mod nats;

/// A loopback port nothing listens on right now (something else may take it before the
/// caller binds it: the harnesses that start servers on it start them again on a new one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Tasks alive on the current tokio runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// #16 item 5's first half, the same for every registry: a service on `registry`, whose
/// backend is not up yet, is started with one endpoint (`Early.Ping`). The start succeeds,
/// the service is not registered, and a caller that knows its address is answered.
pub async fn start_before_the_registry(
    name: &str,
    registry: std::sync::Arc<dyn micro::registry::Registry>,
) -> micro::Service {
    use micro::{CallOptions, Client};
    let svc = micro::Service::builder(name)
        .address("127.0.0.1:0")
        .registry(registry)
        .register_ttl(std::time::Duration::from_secs(10))
        .register_interval(std::time::Duration::from_secs(2))
        .build()
        .await
        .expect("service");
    svc.server().handle("Early.Ping", |_| async { Ok(micro::Response::from(b"pong".to_vec())) });
    svc.start().await.expect("an unreachable registry at start is not a failure");
    assert!(!svc.server().is_registered());
    let direct =
        CallOptions { address: vec![svc.server().bound().expect("serving").to_string()], ..Default::default() };
    let r = Client::with_cache(None, Default::default())
        .call(name, "Early.Ping", "{}", &direct)
        .await
        .expect("a direct call");
    assert_eq!(&r.body[..], b"pong");
    svc
}

/// #16 item 5's second half: once the registry holds the node, the service says it is
/// registered. The registrar marks it after the registry's reply, which a loaded machine
/// can delay past the moment another client already sees the node: waited for, not
/// sampled (up to 30 s).
pub async fn registered(svc: &micro::Service) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !svc.server().is_registered() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node is in the registry, but the service never said it was registered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
