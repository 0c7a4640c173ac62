//! A call through the registry cache shares the cached answer instead of copying it, and a
//! server finds a request's handler without copying its endpoint's description: what a call
//! allocates does not grow with the size of the service it calls (its endpoints, nodes and
//! their metadata, as go-micro registers them) nor with the endpoint's request and response
//! shapes.
//!
//! This file's test binary counts every allocation (its own global allocator), so it holds
//! this one test only.

mod common;

use common::allocations::{greeter, ok, per_run, shape_of, widened, Counting};
use micro::registry::memory::Memory;
use micro::registry::{RegisterOptions, Registry};
use micro::{CallOptions, Client, ClientOptions};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 400;

/// Allocations per call of `service`'s `Greeter.Hello`, over [`CALLS`] calls one after another.
async fn per_call(client: &Client, service: &str) -> f64 {
    let body = serde_json::json!({ "name": "alloc" });
    per_run(CALLS, || async {
        let reply: serde_json::Value =
            client.call_json(service, "Greeter.Hello", &body, &CallOptions::default()).await.expect("call");
        assert_eq!(reply["message"], "Hello alloc");
    })
    .await
}

/// Allocations per call of the narrow service's raw `endpoint`, over [`CALLS`] calls one
/// after another.
async fn per_raw_call(client: &Client, endpoint: &str) -> f64 {
    common::allocations::per_raw_call(client, "narrow", endpoint, &CallOptions::default(), CALLS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_does_not_copy_the_service_it_looks_up() {
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(&registry, "narrow");
    // Two raw endpoints that answer alike: one undescribed, one with request and response
    // shapes of 4 × 4 × 4 fields.
    server.handle("Greeter.Plain", ok);
    server.handle_described("Greeter.Described", Some(shape_of("In", 4, 2)), Some(shape_of("Out", 4, 2)), ok);
    server.start().await.expect("server starts");

    // The same server registered again as a service the size of a real go-micro one.
    let wide = widened(&server.service().expect("registered"), "wide");
    registry.register(&wide, RegisterOptions::default()).await.expect("register");

    let client = Client::new(registry, ClientOptions::default());
    // Warm: the first calls look each service up, open the watch and the connections.
    per_call(&client, "narrow").await;
    per_call(&client, "wide").await;

    let narrow = per_call(&client, "narrow").await;
    let wide = per_call(&client, "wide").await;
    eprintln!("allocations a call: narrow service {narrow:.1}, wide service {wide:.1}");
    // Copying the wide service's answer was hundreds of allocations a call.
    assert!(
        wide - narrow < 3.0,
        "a call to the wide service allocated {wide:.1} times, to the narrow one {narrow:.1}: the lookup copies"
    );

    per_raw_call(&client, "Greeter.Plain").await;
    per_raw_call(&client, "Greeter.Described").await;
    let plain = per_raw_call(&client, "Greeter.Plain").await;
    let described = per_raw_call(&client, "Greeter.Described").await;
    eprintln!("allocations a call: undescribed endpoint {plain:.1}, described {described:.1}");
    // Copying the described endpoint's route was a hundred and more allocations a call.
    assert!(
        described - plain < 3.0,
        "a call to the described endpoint allocated {described:.1} times, to the plain one {plain:.1}: the route copies"
    );
    server.stop().await.expect("stop");
}
