//! Counting allocations, and a service the size of a real go-micro one: what the tests that
//! show a call or a request does not copy its service share (core's `call_allocations` and
//! `host_allocations`, the gateway's `request_allocations`, which includes this file by path).
//!
//! A test binary that counts declares [`Counting`] its global allocator and holds that one
//! test only, since every thread's allocations are counted.

use micro::registry::{Endpoint, Node, Registry, Service, Value};
use micro::server::Response;
use micro::{CallOptions, Client, Request, Server, ServerOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The system allocator, counting allocations in every thread (the runtime's workers run
/// parts of each call).
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Allocations so far, in every thread.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

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

/// Allocations per run of `op`, over `runs` runs one after another.
pub async fn per_run<F, Fut>(runs: u64, mut op: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let before = allocations();
    for _ in 0..runs {
        op().await;
    }
    (allocations() - before) as f64 / runs as f64
}

/// What the raw test endpoints answer ([`ok`]).
pub const OK_REPLY: &[u8] = b"{\"ok\":true}\n";

/// A raw endpoint's handler answering [`OK_REPLY`] to any request.
#[allow(dead_code)] // the gateway's test calls only `Greeter.Hello`
pub async fn ok(_req: Request) -> micro::Result<Response> {
    Ok(Response::from(OK_REPLY.to_vec()))
}

/// Allocations per call of `service`'s raw `endpoint` (answered by [`ok`]) with the body
/// `{}`, over `runs` calls one after another.
#[allow(dead_code)] // the gateway's test counts requests, not calls
pub async fn per_raw_call(client: &Client, service: &str, endpoint: &str, opts: &CallOptions, runs: u64) -> f64 {
    per_run(runs, || async {
        let reply = client.call(service, endpoint, &b"{}"[..], opts).await.expect("call");
        assert_eq!(&reply.body[..], OK_REPLY);
    })
    .await
}

/// A server registered as `name` on loopback whose JSON `Greeter.Hello` answers
/// `{"message": "Hello <name>"}`, not yet started.
pub fn greeter(registry: &Arc<dyn Registry>, name: &str) -> Server {
    let mut opts = ServerOptions::new(name);
    opts.address = "127.0.0.1:0".into();
    let server = Server::new(opts, Arc::clone(registry));
    server.handle_json("Greeter.Hello", |req: serde_json::Value, _| async move {
        Ok(serde_json::json!({ "message": format!("Hello {}", req["name"].as_str().unwrap_or_default()) }))
    });
    server
}

/// A field tree as go-micro describes a request or response type, `fields` wide and `depth`
/// levels below the top.
pub fn shape_of(name: &str, fields: usize, depth: usize) -> Value {
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

/// `registered` (a server's own registration) again under `name`, the size of a real
/// go-micro service: 60 more endpoints with their request and response shapes, and its node
/// three times (ids of their own, the same address) with go-micro's node metadata.
pub fn widened(registered: &Service, name: &str) -> Service {
    let mut wide = registered.clone();
    wide.name = name.into();
    let node = registered.nodes[0].clone();
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
        request: Some(shape_of("In", 4, 0)),
        response: Some(shape_of("Out", 4, 0)),
        metadata: [("description".to_string(), format!("method {i}"))].into(),
    }));
    wide
}
