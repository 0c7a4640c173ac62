//! A call through the registry cache shares the cached answer instead of copying it, and a
//! server finds a request's handler without copying its endpoint's description: what a call
//! allocates does not grow with the size of the service it calls (its endpoints, nodes and
//! their metadata, as go-micro registers them) nor with the endpoint's request and response
//! shapes.
//!
//! This file's test binary counts every allocation (its own global allocator), so it holds
//! this one test only.

use micro::registry::memory::Memory;
use micro::registry::{Endpoint, Node, RegisterOptions, Registry, Value};
use micro::server::Response;
use micro::{CallOptions, Client, ClientOptions, Server, ServerOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The system allocator, counting allocations (in every thread: the runtime's workers run
/// parts of each call).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 400;

/// Allocations per call of `service`'s `Greeter.Hello`, over [`CALLS`] calls one after another.
async fn per_call(client: &Client, service: &str) -> f64 {
    let body = serde_json::json!({ "name": "alloc" });
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        let reply: serde_json::Value =
            client.call_json(service, "Greeter.Hello", &body, &CallOptions::default()).await.expect("call");
        assert_eq!(reply["message"], "Hello alloc");
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

/// Allocations per call of `endpoint` with a raw body, over [`CALLS`] calls one after another.
async fn per_raw_call(client: &Client, endpoint: &str) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        let reply = client.call("narrow", endpoint, &b"{}"[..], &CallOptions::default()).await.expect("call");
        assert_eq!(&reply.body[..], b"{\"ok\":true}\n");
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

/// A field tree as go-micro describes a request or response type, `fields` wide and `depth`
/// deep.
fn shape_of(name: &str, fields: usize, depth: usize) -> Value {
    Value {
        name: name.into(),
        kind: format!("{name}Request"),
        values: (0..fields)
            .map(|i| match depth {
                0 => Value { name: format!("field{i}"), kind: "string".into(), values: vec![] },
                _ => shape_of(&format!("field{i}"), fields, depth - 1),
            })
            .collect(),
    }
}

fn shape(name: &str) -> Value {
    shape_of(name, 4, 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_does_not_copy_the_service_it_looks_up() {
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let mut opts = ServerOptions::new("narrow");
    opts.address = "127.0.0.1:0".into();
    let server = Server::new(opts, Arc::clone(&registry));
    server.handle_json("Greeter.Hello", |req: serde_json::Value, _| async move {
        Ok(serde_json::json!({ "message": format!("Hello {}", req["name"].as_str().unwrap_or_default()) }))
    });
    // Two raw endpoints that answer alike: one undescribed, one with request and response
    // shapes of 4 × 4 × 4 fields.
    let ok = |_req| async { Ok(Response::from(b"{\"ok\":true}\n".to_vec())) };
    server.handle("Greeter.Plain", ok);
    server.handle_described("Greeter.Described", Some(shape_of("In", 4, 2)), Some(shape_of("Out", 4, 2)), ok);
    server.start().await.expect("server starts");

    // The same server registered again as a service the size of a real go-micro one: 60
    // endpoints with their request and response shapes, three nodes with go-micro's metadata.
    let mut wide = server.service().expect("registered");
    wide.name = "wide".into();
    let node = wide.nodes[0].clone();
    wide.nodes = (0..3)
        .map(|i| {
            let mut n = Node { id: format!("{}-{i}", node.id), ..node.clone() };
            for (k, v) in [("broker", "http"), ("registry", "memory"), ("server", "mucp"), ("transport", "http")] {
                n.metadata.insert(k.into(), v.into());
            }
            n
        })
        .collect();
    wide.endpoints.extend((0..60).map(|i| Endpoint {
        name: format!("Wide.Method{i}"),
        request: Some(shape("In")),
        response: Some(shape("Out")),
        metadata: [("description".to_string(), format!("method {i}"))].into(),
    }));
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
