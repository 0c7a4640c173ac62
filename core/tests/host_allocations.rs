//! A call served through a host's inbox (how a Python, Node or C handler is served) allocates
//! a bounded few times more than the same call served by a Rust handler: the inbox's own
//! per-request costs are counted, not timed.
//!
//! This file's test binary counts every allocation (its own global allocator), so it holds
//! this one test only.

mod common;

use common::allocations::{greeter, ok, per_raw_call, Counting, OK_REPLY};
use micro::host::{Inbox, Incoming};
use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::server::Response;
use micro::{CallOptions, Client, ClientOptions};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 400;

/// Allocations per call of `endpoint` at `address`, over [`CALLS`] calls one after another.
async fn per_call(client: &Client, address: &str, endpoint: &str) -> f64 {
    let opts = CallOptions { address: vec![address.to_string()], ..CallOptions::default() };
    per_raw_call(client, "host", endpoint, &opts, CALLS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_served_call_allocates_little_more_than_a_rust_served_one() {
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(&registry, "host");
    server.handle("Rust.Plain", ok);
    let inbox = Inbox::new("host", 64);
    inbox.serve(&server, "Host.Plain", false).expect("serve");
    // The host: a thread of its own that pulls batches and answers each call.
    let host = {
        let inbox = Arc::clone(&inbox);
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || loop {
            let batch = rt.block_on(inbox.pull(64));
            if batch.is_empty() {
                return;
            }
            for item in batch {
                if let Incoming::Call { answer, .. } = item {
                    answer.respond(Response::from(OK_REPLY.to_vec()));
                }
            }
        })
    };
    server.start().await.expect("server starts");
    let address = server.bound().expect("bound").to_string();
    let client = Client::new(registry, ClientOptions::default());
    per_call(&client, &address, "Rust.Plain").await;
    per_call(&client, &address, "Host.Plain").await;
    let rust = per_call(&client, &address, "Rust.Plain").await;
    let hosted = per_call(&client, &address, "Host.Plain").await;
    eprintln!("allocations a call: Rust-served {rust:.1}, host-served {hosted:.1}");
    // The inbox's own: the answer's channel, the endpoint's name (for the 500 of an answer
    // dropped unanswered), a batch's `Vec` shared by the calls it carries.
    assert!(
        hosted - rust < 4.0,
        "a host-served call allocated {hosted:.1} times, a Rust-served one {rust:.1}: the inbox's hand-off grew"
    );
    server.stop().await.expect("stop");
    inbox.close();
    host.join().expect("host thread");
}
