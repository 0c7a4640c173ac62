//! mDNS registry over real sockets: two registries in one process find each other.
//!
//! Runs only inside a private network namespace with multicast on loopback (mDNS must never
//! leave through a real interface):
//!
//! ```sh
//! unshare -n bash -c 'ip link set lo up; ip link set lo multicast on; \
//!   ip route add 224.0.0.0/4 dev lo; MICRO_NETNS=1 cargo test -p micro --test mdns'
//! ```

use micro::registry::mdns::{Mdns, Options};
use micro::registry::{Action, Endpoint, Event, Metadata, Node, RegisterOptions, Registry, Service, Value, Watcher};
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};

fn in_namespace() -> bool {
    if std::env::var("MICRO_NETNS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipping: mDNS tests run only in a private network namespace (set MICRO_NETNS=1 there)");
    false
}

fn service(name: &str, nodes: &[(&str, &str)]) -> Service {
    let mut md = Metadata::new();
    md.insert("protocol".into(), "mucp".into());
    md.insert("transport".into(), "http".into());
    Service {
        name: name.into(),
        version: "latest".into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value {
                name: "Request".into(),
                kind: "Request".into(),
                values: vec![Value::leaf("name", "string")],
            }),
            response: Some(Value::leaf("Response", "Response")),
            metadata: Metadata::new(),
        }],
        nodes: nodes
            .iter()
            .map(|(id, addr)| Node { id: id.to_string(), address: addr.to_string(), metadata: md.clone() })
            .collect(),
        ..Default::default()
    }
}

async fn registry() -> Mdns {
    Mdns::new(Options { timeout: Duration::from_millis(200), ..Default::default() }).await.unwrap()
}

/// The next event matching `pred`, within 5 s.
async fn next_matching(w: &mut Watcher, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, w.next()).await {
            Ok(Some(e)) if pred(&e) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("watcher ended"),
            Err(_) => panic!("no matching event within 5 s"),
        }
    }
}

/// Polls `get_service` until `pred` holds, for up to 5 s.
async fn poll_get(r: &Mdns, name: &str, pred: impl Fn(&[Service]) -> bool) -> Vec<Service> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = r.get_service(name).await.unwrap();
        if pred(&got) || Instant::now() > deadline {
            return got;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn register_on_one_registry_is_seen_by_another_then_deregister_removes_it() {
    if !in_namespace() {
        return;
    }
    let a = registry().await;
    let b = registry().await;
    let mut w = b.watch(Some("greeter")).await.unwrap();
    let mut all = b.watch(None).await.unwrap();

    let svc = service("greeter", &[("greeter-1", "127.0.0.1:40123")]);
    a.register(&svc, RegisterOptions::default()).await.unwrap();
    a.register(&svc, RegisterOptions::default()).await.unwrap(); // idempotent

    let created = next_matching(&mut w, |e| e.action == Action::Create).await;
    assert_eq!(created.service.name, "greeter");
    assert_eq!(created.service.version, "latest");
    assert_eq!(created.service.nodes.len(), 1);
    assert_eq!(created.service.nodes[0].id, "greeter-1");
    assert_eq!(created.service.nodes[0].address, "127.0.0.1:40123");
    assert_eq!(created.service.endpoints, svc.endpoints);
    next_matching(&mut all, |e| e.service.name == "greeter").await;

    let got = poll_get(&b, "greeter", |s| !s.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].version, "latest");
    assert_eq!(got[0].endpoints, svc.endpoints);
    assert_eq!(got[0].nodes, svc.nodes);

    // The registering side finds its own node too.
    assert_eq!(a.get_service("greeter").await.unwrap()[0].nodes, svc.nodes);

    let listed = b.list_services().await.unwrap();
    assert!(listed.iter().any(|s| s.name == "greeter"), "{listed:?}");

    a.deregister(&svc).await.unwrap();
    let deleted = next_matching(&mut w, |e| e.action == Action::Delete).await;
    assert_eq!(deleted.service.nodes[0].id, "greeter-1");
    let got = poll_get(&b, "greeter", |s| s.is_empty()).await;
    assert!(got.is_empty(), "{got:?}");
    let listed = b.list_services().await.unwrap();
    assert!(!listed.iter().any(|s| s.name == "greeter"), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn several_nodes_and_versions_are_grouped_and_drop_says_goodbye() {
    if !in_namespace() {
        return;
    }
    let a = registry().await;
    let b = registry().await;
    let mut w = b.watch(Some("multi")).await.unwrap();
    let v1 = service("multi", &[("multi-1", "127.0.0.1:1001"), ("multi-2", "127.0.0.2:1002")]);
    let mut v2 = service("multi", &[("multi-3", "[::1]:1003")]);
    v2.version = "v2".into();
    a.register(&v1, RegisterOptions::default()).await.unwrap();
    a.register(&v2, RegisterOptions::default()).await.unwrap();

    let got = poll_get(&b, "multi", |s| s.iter().map(|s| s.nodes.len()).sum::<usize>() == 3).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let latest = got.iter().find(|s| s.version == "latest").unwrap();
    let mut ids: Vec<_> = latest.nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["multi-1", "multi-2"]);
    let two = got.iter().find(|s| s.version == "v2").unwrap();
    assert_eq!(two.nodes[0].address, "[::1]:1003");

    drop(a);
    let mut gone = Vec::new();
    while gone.len() < 3 {
        let e = next_matching(&mut w, |e| e.action == Action::Delete).await;
        let id = e.service.nodes[0].id.clone();
        if !gone.contains(&id) {
            gone.push(id);
        }
    }
    let got = poll_get(&b, "multi", |s| s.is_empty()).await;
    assert!(got.is_empty(), "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_registrations_get_clear_errors_and_close_is_final() {
    if !in_namespace() {
        return;
    }
    let a = registry().await;
    let err = a.register(&service("bad", &[("bad-1", "localhost:80")]), RegisterOptions::default()).await.unwrap_err();
    assert!(err.detail.contains("not an IP literal"), "{err}");
    assert_eq!(err.id, "go.micro.registry");
    let long = "a-service-name-long-enough-to-overflow";
    let id = format!("{long}-5f1c7e3a-0b7e-4c41-9d8e-2a6f3b9c1d20");
    let err = a.register(&service(long, &[(&id, "127.0.0.1:80")]), RegisterOptions::default()).await.unwrap_err();
    assert!(err.detail.contains("63-byte"), "{err}");
    assert!(a.get_service("nobody").await.unwrap().is_empty());

    let mut w = a.watch(None).await.unwrap();
    a.close().await;
    assert!(w.next().await.is_none(), "watchers end on close");
    assert!(a.get_service("x").await.is_err());
}

/// go-micro #2072 ("message too long"): a service with 200 endpoints (its TXT payload far
/// over one 1,500-byte frame) is still found, whole, by another registry.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_200_endpoints_is_discoverable_whole() {
    if !in_namespace() {
        return;
    }
    let a = registry().await;
    let b = registry().await;
    let mut svc = service("big", &[("big-1", "127.0.0.1:40200")]);
    svc.endpoints = (0..200)
        .map(|i| {
            let mut md = Metadata::new();
            md.insert("stream".into(), (i % 2 == 0).to_string());
            // Distinct, hard-to-compress text per endpoint, as real descriptions are.
            md.insert("id".into(), uuid::Uuid::new_v4().to_string());
            Endpoint {
                name: format!("Catalog{}.Method{i}", i / 10),
                request: Some(Value {
                    name: format!("Request{i}"),
                    kind: format!("Request{i}"),
                    values: vec![Value::leaf("name", "string"), Value::leaf(format!("field_{i}"), "int64")],
                }),
                response: Some(Value::leaf(format!("Response{i}"), format!("Response{i}"))),
                metadata: md,
            }
        })
        .collect();
    a.register(&svc, RegisterOptions::default()).await.unwrap();
    let got = poll_get(&b, "big", |s| !s.is_empty()).await;
    assert_eq!(got.len(), 1, "the 200-endpoint service was not found");
    assert_eq!(got[0].endpoints.len(), 200);
    assert_eq!(got[0].endpoints, svc.endpoints);
    assert_eq!(got[0].nodes, svc.nodes);
    a.deregister(&svc).await.unwrap();
}

/// One process holding many services (issue 18's registry of 200 services × 3 nodes, here
/// 100 × 2) is listed whole, twice in a row, and each of its services is found with all its
/// nodes. A listing is one packet per service (go-micro's querier reads one a packet): when
/// the responder's per-source limit counted packets, the first listing stopped at 64
/// services and the next one, straight after, at a handful.
#[tokio::test(flavor = "multi_thread")]
async fn a_process_with_many_services_is_listed_whole_and_each_found() {
    if !in_namespace() {
        return;
    }
    const SERVICES: usize = 100;
    let quiet = Options { announce: false, ..Default::default() };
    let a = Mdns::new(quiet).await.unwrap();
    let names: Vec<String> = (0..SERVICES).map(|i| format!("many{}-{i}", std::process::id())).collect();
    for (i, name) in names.iter().enumerate() {
        let (n1, n2) = (format!("{name}-a"), format!("{name}-b"));
        let (p1, p2) = (format!("127.0.0.1:{}", 41000 + 2 * i), format!("127.0.0.1:{}", 41001 + 2 * i));
        a.register(&service(name, &[(&n1, &p1), (&n2, &p2)]), RegisterOptions::default()).await.unwrap();
    }
    let b = registry().await;
    for round in 1..=2 {
        let listed: std::collections::HashSet<String> =
            b.list_services().await.unwrap().into_iter().map(|s| s.name).collect();
        let missing: Vec<&String> = names.iter().filter(|n| !listed.contains(*n)).collect();
        assert!(missing.is_empty(), "listing {round}: {} of {SERVICES} services missing", missing.len());
    }
    for chunk in names.chunks(10).take(3) {
        let found = futures::future::join_all(chunk.iter().map(|n| b.get_service(n))).await;
        for (name, got) in chunk.iter().zip(found) {
            let nodes: usize = got.unwrap().iter().map(|s| s.nodes.len()).sum();
            assert_eq!(nodes, 2, "{name}: {nodes} of its 2 nodes found");
        }
    }
    a.close().await;
}

/// A question lost on the way (a responder's receive buffer full, a lossy Wi-Fi hop) is
/// asked again within the window: a stand-in responder that ignores the first question and
/// answers the second is found. It answers with an announcement a real registry multicast.
#[tokio::test(flavor = "multi_thread")]
async fn a_question_nobody_answered_is_asked_again_within_the_window() {
    use hickory_proto::op::{Message, MessageType};
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
    if !in_namespace() {
        return;
    }
    let wire = {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5353)).into()).unwrap();
        s.join_multicast_v4(&Ipv4Addr::new(224, 0, 0, 251), &Ipv4Addr::LOCALHOST).unwrap();
        s.set_nonblocking(true).unwrap();
        tokio::net::UdpSocket::from_std(s.into()).unwrap()
    };
    let about = |m: &Message, kind: MessageType| {
        m.message_type() == kind
            && (m.queries().iter().any(|q| q.name().to_string().starts_with("lossy.micro"))
                || m.answers().iter().any(|r| r.name().to_string().contains("lossy-1") && r.ttl() > 0))
    };
    let mut buf = vec![0u8; 65_536];

    // A real registry's announcement of lossy-1, kept; then that registry is gone.
    let a = registry().await;
    a.register(&service("lossy", &[("lossy-1", "127.0.0.1:4100")]), RegisterOptions::default()).await.unwrap();
    let announcement = loop {
        let (n, _) = timeout(Duration::from_secs(5), wire.recv_from(&mut buf)).await.unwrap().unwrap();
        if Message::from_vec(&buf[..n]).is_ok_and(|m| about(&m, MessageType::Response)) {
            break buf[..n].to_vec();
        }
    };
    a.close().await;

    let b = registry().await;
    let lookup = tokio::spawn(async move { b.get_service("lossy").await });
    let mut questions = 0;
    while questions < 2 {
        let (n, from) = timeout(Duration::from_secs(5), wire.recv_from(&mut buf))
            .await
            .expect("the unanswered question was not asked again within 5 s")
            .unwrap();
        if Message::from_vec(&buf[..n]).is_ok_and(|m| about(&m, MessageType::Query)) {
            questions += 1;
            if questions == 2 {
                wire.send_to(&announcement, from).await.unwrap();
            }
        }
    }
    let found = lookup.await.unwrap().unwrap();
    assert!(found.iter().flat_map(|s| &s.nodes).any(|n| n.id == "lossy-1"), "after a lost question: {found:?}");
}
