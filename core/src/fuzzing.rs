//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not a stable API).
//!
//! Each takes untrusted bytes the way they arrive from the network and runs them through
//! the decoder that reads them in production. Errors are expected; a panic, a hang or an
//! unbounded allocation is a bug.

use crate::transport::{http::MessageReader, Limits};
use std::sync::OnceLock;

/// An mDNS datagram through the querier's read path (parse, assemble, decode TXT).
pub fn mdns_datagram(bytes: &[u8]) {
    crate::registry::mdns::fuzz_datagram(bytes);
}

/// TXT strings (split at NUL bytes) through go-micro's `hex(zlib(JSON))` decoder.
pub fn mdns_txt(bytes: &[u8]) {
    crate::registry::mdns::fuzz_txt(bytes);
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a fuzzing runtime"))
}

/// A byte stream through the HTTP transport's reader, as the server (`request`) or the
/// client (`!request`) reads it: every message it frames, until an error or the end.
pub fn http_stream(bytes: &[u8], request: bool) {
    let limits = Limits { max_body: 64 * 1024, max_header_bytes: 8 * 1024, ..Limits::default() };
    runtime().block_on(async {
        let mut reader = MessageReader::new(bytes, limits);
        for _ in 0..64 {
            let next = if request { reader.read_request().await } else { reader.read_response().await };
            match next {
                Ok(Some(msg)) => assert!(msg.body.len() <= 64 * 1024, "body over the limit got through"),
                Ok(None) | Err(_) => break,
            }
        }
    });
}

/// A body through the legacy codecs: json-rpc request and response, proto-rpc frame.
pub fn codecs(bytes: &[u8]) {
    let _ = crate::codec::jsonrpc::decode_request(bytes);
    let _ = crate::codec::jsonrpc::decode_response(bytes);
    let _ = crate::codec::protorpc::decode(bytes);
}

/// An http broker delivery body (go-micro's JSON envelope).
pub fn broker_envelope(bytes: &[u8]) {
    let _ = crate::broker::decode_envelope(bytes);
}

/// A line from a NATS server, as the client's read loop parses it.
pub fn nats_line(bytes: &[u8]) {
    let line = String::from_utf8_lossy(bytes);
    if let Ok(crate::transport::nats_client::ServerOp::Msg { len, .. }) =
        crate::transport::nats_client::ServerOp::parse(&line, 1 << 20)
    {
        assert!(len <= 1 << 20, "a MSG over the limit got through");
    }
}

/// Registry JSON (a service as go-micro's registries store it).
pub fn registry_json(bytes: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<crate::registry::Service>(bytes) {
        let again = serde_json::to_vec(&s).expect("a parsed service serializes");
        let back: crate::registry::Service = serde_json::from_slice(&again).expect("our own JSON parses");
        assert_eq!(back, s, "registry JSON does not round-trip");
    }
}

/// An etcd v3 gateway answer: a range reply's kvs grouped into services, and a watch
/// stream split into lines and mapped to registry events.
pub fn etcd_replies(bytes: &[u8]) {
    crate::registry::etcd::fuzz_replies(bytes);
}

/// One connection's bytes into the http broker's listener (a subscriber on topic `fuzz`,
/// node id `fuzz-1`): request parsing, the `id` query, the envelope, the answers.
pub fn broker_listener(bytes: &[u8]) {
    runtime().block_on(crate::broker::http::fuzz_deliveries(bytes.to_vec()));
}

/// One connection's bytes into a server with a unary echo (`Greeter.Hello`) and a stream
/// echo (`Greeter.Stream`): go-micro's stream demultiplexing by `Micro-Stream` id, EOS,
/// interleaved unary calls. Every handler it starts must end and free its stream slot.
pub fn server_stream(bytes: &[u8]) {
    static SERVER: OnceLock<crate::server::Server> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let mut opts = crate::server::ServerOptions::new("fuzz.server");
        opts.limits = Limits { max_body: 64 * 1024, max_header_bytes: 8 * 1024, ..Limits::default() };
        opts.max_conn_streams = 4;
        opts.max_streams = 8;
        let server = crate::server::Server::new(opts, std::sync::Arc::new(crate::registry::memory::Memory::new()));
        server.handle("Greeter.Hello", |req: crate::server::Request| async move { Ok(req.body.into()) });
        server.handle_stream("Greeter.Stream", |_req, mut stream: crate::server::ServerStream| async move {
            while let Some(msg) = stream.recv().await {
                stream.send(msg?).await?;
            }
            Ok(())
        });
        server
    });
    runtime().block_on(server.fuzz_connection(bytes.to_vec()));
}
