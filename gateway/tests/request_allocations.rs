//! A request through the gateway shares the registry cache's answer for its service instead
//! of copying it: what a request allocates does not grow with the size of the service (its
//! endpoints, nodes and their metadata, as go-micro registers them).
//!
//! This file's test binary counts every allocation (its own global allocator), so it holds
//! this one test only.

#[path = "../../core/tests/common/allocations.rs"]
mod allocations;

use allocations::{greeter, per_run, widened, Counting};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use micro::registry::memory::Memory;
use micro::registry::{RegisterOptions, Registry};
use micro_gateway::{Gateway, Options};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: u64 = 300;

type HttpClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// Allocations per request of `POST /{path}/Greeter.Hello` through the gateway, over
/// [`REQUESTS`] requests one after another on a kept-alive connection.
async fn per_request(http: &HttpClient, gw: SocketAddr, path: &str) -> f64 {
    per_run(REQUESTS, || async {
        let req = Request::post(format!("http://{gw}/{path}/Greeter.Hello"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"name":"alloc"}"#)))
            .expect("request");
        let rsp = http.request(req).await.expect("response");
        let status = rsp.status();
        let body = rsp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert!(body.starts_with(br#"{"message":"Hello alloc"}"#), "{}", String::from_utf8_lossy(&body));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_does_not_copy_the_service_it_looks_up() {
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = greeter(&registry, "go.micro.api.narrow");
    server.start().await.expect("server starts");

    // The same server registered again as a service the size of a real go-micro one.
    let wide = widened(&server.service().expect("registered"), "go.micro.api.wide");
    registry.register(&wide, RegisterOptions::default()).await.expect("register");

    let client =
        micro::Client::builder().registry(Arc::clone(&registry)).without_broker().build().await.expect("client");
    let gw = Gateway::new(client, registry, Options::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(gw.serve(listener, None, stop.clone()));
    let http: HttpClient = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();

    // Warm: the first requests look each service up, open the watch and the connections.
    per_request(&http, addr, "narrow").await;
    per_request(&http, addr, "wide").await;

    let narrow = per_request(&http, addr, "narrow").await;
    let wide = per_request(&http, addr, "wide").await;
    eprintln!("allocations a request: narrow service {narrow:.1}, wide service {wide:.1}");
    // Copying the wide service's answer was hundreds of allocations a request.
    assert!(
        wide - narrow < 5.0,
        "a request to the wide service allocated {wide:.1} times, to the narrow one {narrow:.1}: the lookup copies"
    );
    stop.cancel();
    server.stop().await.expect("stop");
}
