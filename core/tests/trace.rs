//! OpenTelemetry tracing (go-micro's `wrapper/trace/opentelemetry` shape): spans for handled
//! requests and calls, `Traceparent` carried in metadata, a Rust handler's calls continuing
//! its span without passing anything, and OTLP/HTTP protobuf export, received here by a
//! loopback HTTP server and decoded.

use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::wrapper::trace::{otlp, SpanContext, TraceConfig, Tracer, TRACEPARENT};
use micro::{CallOptions, Client, ClientOptions, Response, Server, ServerOptions};
use prost::Message as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A span as received: (name, kind, trace id, span id, parent span id, service.name).
type Got = (String, i32, Vec<u8>, Vec<u8>, Vec<u8>, String);

/// An OTLP/HTTP receiver on loopback: every span POSTed to /v1/traces, decoded.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Got>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        use http_body_util::BodyExt;
                        assert_eq!(req.uri().path(), "/v1/traces");
                        assert_eq!(req.headers()["content-type"], "application/x-protobuf");
                        let body = req.into_body().collect().await.expect("body").to_bytes();
                        let export = otlp::ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        for rs in export.resource_spans {
                            let service = rs
                                .resource
                                .iter()
                                .flat_map(|r| &r.attributes)
                                .find(|kv| kv.key == "service.name")
                                .and_then(|kv| kv.value.as_ref())
                                .map(|v| v.string_value.clone())
                                .unwrap_or_default();
                            for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                                let _ =
                                    tx.send((s.name, s.kind, s.trace_id, s.span_id, s.parent_span_id, service.clone()));
                            }
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::new(),
                        )))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    (url, rx)
}

fn options(name: &str) -> ServerOptions {
    let mut o = ServerOptions::new(name);
    o.address = "127.0.0.1:0".into();
    o.drain_timeout = Duration::from_secs(2);
    o
}

#[tokio::test]
async fn a_remote_trace_continues_through_a_handler_and_its_call() {
    let (url, mut spans) = receiver().await;
    let cfg = TraceConfig::new(url);
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());

    // back: answers, noting the Traceparent it was called with.
    let back_tracer = Tracer::start(&cfg, "back").expect("tracer");
    let back = Server::new(options("back"), Arc::clone(&reg));
    back.wrap(back_tracer.handler());
    let seen_by_back = Arc::new(Mutex::new(None::<String>));
    let seen = Arc::clone(&seen_by_back);
    back.handle("Back.Hello", move |req| {
        *seen.lock().unwrap() = req.header.get(TRACEPARENT).cloned();
        async move { Ok(Response::from(req.body)) }
    });
    back.start().await.expect("back starts");

    // front: calls back with default options (nothing passed on by hand).
    let front_tracer = Tracer::start(&cfg, "front").expect("tracer");
    let front_client = Client::new(Arc::clone(&reg), ClientOptions::default());
    front_client.wrap(front_tracer.call());
    let front = Server::new(options("front"), Arc::clone(&reg));
    front.wrap(front_tracer.handler());
    let seen_by_front = Arc::new(Mutex::new(None::<String>));
    let seen = Arc::clone(&seen_by_front);
    front.handle("Front.Hop", move |req| {
        *seen.lock().unwrap() = req.header.get(TRACEPARENT).cloned();
        let client = front_client.clone();
        async move {
            let opts = CallOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
            let reply = client.call("back", "Back.Hello", req.body, &opts).await?;
            Ok(Response::from(reply.body))
        }
    });
    front.start().await.expect("front starts");

    // A caller with no tracer of its own, in a trace that started elsewhere (go-micro).
    let remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let parent = SpanContext::parse(remote).expect("valid");
    let caller = Client::new(Arc::clone(&reg), ClientOptions::default());
    let mut opts = CallOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
    opts.metadata.insert("traceparent".into(), remote.into()); // any case is read
    let reply = caller.call("front", "Front.Hop", &b"hi"[..], &opts).await.expect("the chain answers");
    assert_eq!(&reply.body[..], b"hi");
    front_tracer.flush().await;
    back_tracer.flush().await;

    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(tokio::time::timeout(Duration::from_secs(30), spans.recv()).await.expect("3 spans").expect("open"));
    }
    let find = |name: &str, kind: i32| {
        got.iter()
            .find(|s| s.0 == name && s.1 == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}/{kind} in {got:?}"))
    };
    let front_server = find("front.Front.Hop", 2);
    let front_call = find("back.Back.Hello", 3);
    let back_server = find("back.Back.Hello", 2);
    for s in [&front_server, &front_call, &back_server] {
        assert_eq!(s.2, parent.trace_id.to_vec(), "one trace: {s:?}");
    }
    assert_eq!(front_server.4, parent.span_id.to_vec(), "front continues the remote span");
    assert_eq!(front_call.4, front_server.3, "front's call is a child of its handler's span");
    assert_eq!(back_server.4, front_call.3, "back's span is a child of front's call");
    assert_eq!((front_server.5.as_str(), front_call.5.as_str(), back_server.5.as_str()), ("front", "front", "back"));

    // Each handler saw its own server span's Traceparent (for metadata it passes on).
    let front_seen =
        SpanContext::parse(seen_by_front.lock().unwrap().as_deref().expect("front saw one")).expect("valid");
    assert_eq!(front_seen.span_id.to_vec(), front_server.3);
    let back_seen = SpanContext::parse(seen_by_back.lock().unwrap().as_deref().expect("back saw one")).expect("valid");
    assert_eq!(back_seen.span_id.to_vec(), back_server.3);

    // A trace the caller did not sample is carried on but not recorded.
    let unsampled = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-00";
    opts.metadata.insert("traceparent".into(), unsampled.into());
    caller.call("front", "Front.Hop", &b"again"[..], &opts).await.expect("answers");
    front_tracer.flush().await;
    back_tracer.flush().await;
    let carried = SpanContext::parse(seen_by_back.lock().unwrap().as_deref().expect("back saw one")).expect("valid");
    assert_eq!((carried.trace_id, carried.flags), (SpanContext::parse(unsampled).expect("valid").trace_id, 0));
    assert!(spans.try_recv().is_err(), "no span of an unsampled trace is exported");

    front.stop().await.expect("stops");
    back.stop().await.expect("stops");
}

#[tokio::test]
async fn an_unreachable_collector_loses_spans_not_calls() {
    // A port nothing listens on: export fails, logged; calls go on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1/traces", dead.local_addr().expect("addr"));
    drop(dead);
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let tracer = Tracer::start(&TraceConfig::new(url), "lonely").expect("tracer");
    let server = Server::new(options("lonely"), Arc::clone(&reg));
    server.wrap(tracer.handler());
    server.handle("L.Echo", |req| async move { Ok(Response::from(req.body)) });
    server.start().await.expect("starts");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    client.wrap(tracer.call());
    let opts = CallOptions { content_type: Some("application/octet-stream".into()), ..Default::default() };
    for _ in 0..3 {
        let reply = client.call("lonely", "L.Echo", &b"x"[..], &opts).await.expect("answers");
        assert_eq!(&reply.body[..], b"x");
    }
    tracer.flush().await; // returns: the failure is logged, not raised
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn a_publish_is_a_client_span_and_its_delivery_continues_it() {
    let (url, mut spans) = receiver().await;
    let cfg = TraceConfig::new(url);
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let broker: Arc<dyn micro::broker::Broker> = Arc::new(micro::broker::memory::Memory::new(1 << 20));

    // sub: a subscriber noting the Traceparent its message carried.
    let sub_tracer = Tracer::start(&cfg, "sub").expect("tracer");
    let sub = Server::new(options("sub"), Arc::clone(&reg));
    sub.set_broker(Arc::clone(&broker));
    sub.wrap_subscriber(sub_tracer.subscriber());
    let (delivered, mut got_one) = mpsc::unbounded_channel();
    sub.subscribe("trace.events", Default::default(), move |ev| {
        let _ = delivered.send(ev.message.header.get(TRACEPARENT).cloned());
        async { Ok(()) }
    });
    sub.start().await.expect("sub starts");

    // pub: a client publishing in a trace that started elsewhere (go-micro).
    let pub_tracer = Tracer::start(&cfg, "pub").expect("tracer");
    let client = Client::new(Arc::clone(&reg), ClientOptions::default());
    client.set_broker(Arc::clone(&broker));
    client.trace_publishes(pub_tracer.clone());
    let remote = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let parent = SpanContext::parse(remote).expect("valid");
    let mut opts = micro::client::PublishOptions::default();
    opts.metadata.insert("traceparent".into(), remote.into());
    client.publish("trace.events", &b"{}"[..], &opts).await.expect("published");
    let seen = tokio::time::timeout(Duration::from_secs(30), got_one.recv()).await.expect("delivered").expect("open");
    pub_tracer.flush().await;
    sub_tracer.flush().await;

    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(tokio::time::timeout(Duration::from_secs(30), spans.recv()).await.expect("2 spans").expect("open"));
    }
    let publish = got.iter().find(|s| s.0 == "Pub to trace.events").cloned().unwrap_or_else(|| panic!("{got:?}"));
    let delivery = got.iter().find(|s| s.0 == "Sub from trace.events").cloned().unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!((publish.1, delivery.1), (3, 2), "go-micro's kinds: client for Pub, server for Sub");
    assert_eq!((publish.2.clone(), delivery.2.clone()), (parent.trace_id.to_vec(), parent.trace_id.to_vec()));
    assert_eq!(publish.4, parent.span_id.to_vec(), "the publish continues the caller's span");
    assert_eq!(delivery.4, publish.3, "the delivery is a child of the publish");
    assert_eq!((publish.5.as_str(), delivery.5.as_str()), ("pub", "sub"));
    // The subscriber's handler sees its own span's Traceparent (for publishes or calls it makes).
    let seen = SpanContext::parse(seen.as_deref().expect("a Traceparent")).expect("valid");
    assert_eq!(seen.span_id.to_vec(), delivery.3);
    sub.stop().await.expect("stops");
}
