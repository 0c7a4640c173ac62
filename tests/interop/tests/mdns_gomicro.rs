//! Our mDNS announcements and goodbyes reaching go-micro (v5.30.0, v4.11.0 and v6.10.0): a
//! go-micro `registry.Watcher` (`gm watch`) must see our node's `create` when it starts —
//! from the unsolicited announcement alone, since a watcher never queries — and its
//! `delete` when it stops gracefully (the TTL-0 goodbye); and go-micro's registry cache,
//! the view its selector uses, must drop a gracefully stopped node at once, not after its
//! one-minute TTL. Runs inside `scripts/netns.sh`.

use micro_interop::{go_bin, go_view, in_netns, unique, unix_ms, view_nodes, Proc, GO_VERSIONS};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// Our Rust twin of `gm serve`, built with this crate.
fn rust_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_rgreeter"))
}

/// A watch line `{"event":"watch","action":A,…}` about node `id`.
fn is_watch(v: &Value, action: &str, id: &str) -> bool {
    v["event"] == "watch"
        && v["action"] == action
        && v["service"]["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["id"] == id))
}

/// A view line whose node ids are exactly `ids`.
fn is_view(v: &Value, ids: &[&str]) -> bool {
    view_nodes(v)
        .is_some_and(|n| n.iter().map(String::as_str).collect::<BTreeSet<_>>() == ids.iter().copied().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_micro_watchers_see_our_announcements_and_goodbyes() {
    if !in_netns("go_micro_watchers_see_our_announcements_and_goodbyes") {
        return;
    }
    for gm in GO_VERSIONS {
        let name = unique("rust.watched", gm);
        // Only listens: this process never queries, so whatever it hears was sent unasked.
        let watch = Proc::spawn(&go_bin(gm), &["watch", "--service", &name]);
        assert_eq!(watch.ready()["service"], name.as_str(), "{gm}");
        let mut events = Vec::new();

        let started = unix_ms();
        let a = Proc::spawn(&rust_bin(), &["--name", &name]);
        let b = Proc::spawn(&rust_bin(), &["--name", &name]);
        let (a_ready, b_ready) = (a.ready(), b.ready());
        let (a_id, b_id) = (a_ready["id"].as_str().unwrap().to_string(), b_ready["id"].as_str().unwrap().to_string());

        // Announcements: go-micro's watcher reports both nodes, as go-micro decodes them.
        for (id, ready) in [(&a_id, &a_ready), (&b_id, &b_ready)] {
            let ev = watch
                .wait_line(&mut events, Duration::from_secs(10), |v| is_watch(v, "create", id))
                .unwrap_or_else(|| panic!("{gm}: go-micro's watcher never saw {id} announced: {events:?}"));
            let svc = &ev["service"];
            assert_eq!(svc["name"], name.as_str(), "{gm}: {ev}");
            assert_eq!(svc["version"], "latest", "{gm}: {ev}");
            let node = &svc["nodes"][0];
            assert_eq!(node["address"], ready["address"], "{gm}: {ev}");
            assert_eq!(node["metadata"]["protocol"], "mucp", "{gm}: {ev}");
            assert_eq!(node["metadata"]["registry"], "mdns", "{gm}: {ev}");
            let eps: Vec<&str> =
                svc["endpoints"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
            for ep in ["Greeter.Fail", "Greeter.Hello", "Greeter.Slow", "Greeter.Stream", "Greeter.Whoami"] {
                assert!(eps.contains(&ep), "{gm}: {ep} missing from the announced endpoints {eps:?}");
            }
            eprintln!(
                "{gm}: watcher saw {id} created {} ms after the node was started",
                ev["at_ms"].as_i64().unwrap() - started
            );
        }

        // go-micro's registry cache (what its client selects from) holds both nodes.
        let (view, mut views) = go_view(gm, &name, &[&a_id, &b_id], 100);

        // Graceful stop: the goodbye reaches the watcher and the cache drops the node now.
        let stopping = unix_ms();
        assert!(a.terminate().success(), "{gm}: rgreeter A did not stop cleanly");
        let ev = watch
            .wait_line(&mut events, Duration::from_secs(5), |v| is_watch(v, "delete", &a_id))
            .unwrap_or_else(|| panic!("{gm}: go-micro's watcher never saw {a_id}'s goodbye: {events:?}"));
        let gone = view
            .wait_line(&mut views, Duration::from_secs(5), |v| is_view(v, &[&b_id]))
            .unwrap_or_else(|| panic!("{gm}: go-micro's cache kept {a_id} after its goodbye: {views:?}"));
        eprintln!(
            "{gm}: after SIGTERM of A the watcher had its delete in {} ms, the cache dropped it in {} ms",
            ev["at_ms"].as_i64().unwrap() - stopping,
            gone["at_ms"].as_i64().unwrap() - stopping
        );
        assert!(
            !events.iter().any(|v| is_watch(v, "delete", &b_id)),
            "{gm}: B reported gone while running: {events:?}"
        );

        assert!(b.terminate().success(), "{gm}: rgreeter B did not stop cleanly");
        watch
            .wait_line(&mut events, Duration::from_secs(5), |v| is_watch(v, "delete", &b_id))
            .unwrap_or_else(|| panic!("{gm}: go-micro's watcher never saw {b_id}'s goodbye: {events:?}"));
        view.wait_line(&mut views, Duration::from_secs(5), |v| is_view(v, &[]))
            .unwrap_or_else(|| panic!("{gm}: go-micro's cache kept {b_id} after its goodbye: {views:?}"));

        assert!(watch.terminate().success(), "{gm}: watch did not exit cleanly on SIGTERM");
        assert!(view.terminate().success(), "{gm}: watch --cache-ms did not exit cleanly on SIGTERM");
    }
}
