//! One accepted connection: read messages, route them, write replies.
//!
//! Unary calls are answered in order on the reading task (go-micro clients keep one call
//! in flight per connection). A message carrying `Micro-Stream` belongs to a stream: the
//! first one with a new id starts the stream handler in its own task (its body is go-micro's
//! placeholder and is discarded), later ones are queued to it, and `Micro-Error: EOS` ends
//! its input. Handler panics become 500 errors; the `Timeout` header bounds a handler.
//! The transport's [`Listener`] accepts and handshakes; replies go out through the
//! connection's [`Socket`], which stream handlers share.
//!
//! Bounds on a peer: the first message must start within the header timeout, later ones
//! within the idle timeout while nothing is in flight (no bound while a stream is open:
//! its handler decides); streams are capped per connection and per server (a 503 on the
//! refused stream); a body over the size limit gets a 413 naming size and limit, then the
//! write side is closed and the rest of the body read and dropped for a moment, so the peer
//! reads the answer rather than a reset.

use super::router::{Kind, Request, Response};
use super::state::ServerState;
use super::stream::ServerStream;
use crate::codec::envelope::{self, Unwrapped};
use crate::codec::{self, Framing};
use crate::error::{Error, SERVER_ID};
use crate::transport::listener::{Accepted, Connection, Listener};
use crate::transport::socket::Socket;
use crate::transport::{get_header, Header, Message, TransportError};
use bytes::Bytes;
use futures::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub(crate) async fn accept_loop(server: Arc<ServerState>, listener: Listener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let rx = shutdown.clone();
                server.tracker.spawn(serve(Arc::clone(&server), accepted, rx));
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Resolves once the handler of any of these streams has finished (never, for none).
async fn any_finished(streams: &HashMap<String, StreamEntry>) {
    if streams.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(streams.values().map(|tx| Box::pin(tx.closed()))).await;
}

/// The queue into an open stream's handler.
type StreamEntry = mpsc::Sender<crate::error::Result<Message>>;

async fn serve(server: Arc<ServerState>, accepted: Accepted, shutdown: watch::Receiver<bool>) {
    let remote = accepted.remote();
    match accepted.open().await {
        Ok(conn) => serve_connection(server, conn, shutdown).await,
        Err(e) => tracing::debug!(%remote, error = %e, "tls handshake failed"),
    }
}

/// Serves one open connection until the peer closes it, it fails, or the server stops.
pub(crate) async fn serve_connection(server: Arc<ServerState>, conn: Connection, mut shutdown: watch::Receiver<bool>) {
    let (local, remote) = (conn.local.to_string(), conn.remote.to_string());
    let socket = Arc::new(conn.socket);
    let mut reader = conn.reader;
    let mut streams: HashMap<String, StreamEntry> = HashMap::new();
    if *shutdown.borrow() {
        return;
    }
    let idle_timeout = reader.limits().idle_timeout;
    // The server dropped without `stop` ends its connections too.
    let mut server_gone = false;
    let mut first = true;
    loop {
        // A stream whose handler has finished (its EOS is sent) keeps nothing open: a
        // client that never closes it must not hold the drain for its whole timeout.
        streams.retain(|_, tx| !tx.is_closed());
        if !first {
            reader.set_first_byte_timeout(streams.is_empty().then_some(idle_timeout));
        }
        let idle = streams.is_empty() && !reader.has_buffered();
        let stopping = server_gone || *shutdown.borrow_and_update();
        if idle && stopping {
            break;
        }
        let next = tokio::select! {
            biased;
            r = reader.read_request() => r,
            changed = shutdown.changed(), if !stopping => {
                server_gone = changed.is_err();
                continue;
            }
            _ = any_finished(&streams) => continue,
        };
        first = false;
        let msg = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                if reject(&server, &socket, &e).await {
                    socket.shutdown().await;
                    let linger = reader.limits().header_timeout;
                    reader.discard(linger).await;
                }
                break;
            }
        };
        if let Some(id) = msg.get("Micro-Stream").map(str::to_string) {
            on_stream_message(&server, &socket, &mut streams, id, msg, &local, &remote).await;
            continue;
        }
        let close = msg.get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = unary(&server, msg, &local, &remote).await;
        if let Err(e) = socket.send(&reply).await {
            tracing::debug!(error = %e, "reply not written");
            break;
        }
        if close {
            break;
        }
    }
    for (_, tx) in streams.drain() {
        let _ = tx.try_send(Err(Error::internal(SERVER_ID, "unexpected EOF")));
    }
}

/// Answers unreadable input before closing: an oversized body or head gets a go-micro 413
/// the caller can read (id: the service), naming the size and the limit; bytes that are
/// not HTTP get a plain 400. True when an answer was sent (the peer may still be writing).
async fn reject(server: &ServerState, socket: &Socket, e: &TransportError) -> bool {
    let detail = match e {
        TransportError::BodyTooLarge { size, limit, at_least } => {
            crate::transport::oversize_detail("request body", *size, *limit, *at_least)
        }
        TransportError::HeaderTooLarge { .. } => e.to_string(),
        TransportError::Malformed(_) => {
            let _ = socket.send_status(400, "Bad Request", "text/plain", true, e.to_string().as_bytes()).await;
            return true;
        }
        _ => {
            tracing::debug!(error = %e, "connection ended");
            return false;
        }
    };
    tracing::debug!(error = %detail, "refusing an oversized message");
    let err = Error::too_large(server.opts.name.clone(), detail);
    let mut header = Header::new();
    header.insert("Micro-Error".into(), err.to_json());
    header.insert("Connection".into(), "close".into());
    socket.send(&Message { header, body: Bytes::new() }).await.is_ok()
}

fn endpoint_of(msg: &Message) -> Option<String> {
    ["Micro-Endpoint", "Micro-Method", "X-Micro-Endpoint", "X-Micro-Method"]
        .iter()
        .find_map(|k| msg.get(k))
        .map(str::to_string)
}

fn service_of(msg: &Message) -> String {
    msg.get("Micro-Service").or_else(|| msg.get("X-Micro-Service")).unwrap_or_default().to_string()
}

/// go-micro's protocol detection (spec §4.3): the legacy envelopes are used when none of
/// the routing headers is present, or `Micro-Target` is.
fn is_legacy(msg: &Message) -> bool {
    let has = |[k, x]: [&str; 2]| msg.get(k).is_some() || msg.get(x).is_some();
    if has(["Micro-Protocol", "X-Micro-Protocol"]) {
        return false;
    }
    has(["Micro-Target", "X-Micro-Target"])
        || !(has(["Micro-Service", "X-Micro-Service"])
            || has(["Micro-Method", "X-Micro-Method"])
            || has(["Micro-Endpoint", "X-Micro-Endpoint"]))
}

fn error_reply(err: &Error) -> Message {
    let mut header = Header::new();
    header.insert("Micro-Error".into(), err.to_json());
    Message { header, body: Bytes::new() }
}

fn timeout_of(header: &Header) -> Option<Duration> {
    get_header(header, "Timeout")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map(Duration::from_nanos)
}

async fn unary(server: &Arc<ServerState>, msg: Message, local: &str, remote: &str) -> Message {
    let mut content_type = msg.get("Content-Type").unwrap_or(codec::PROTOBUF).to_string();
    if let Some(topic) = msg.get("Micro-Topic").map(str::to_string) {
        return match server.dispatch_event(&topic, msg.header.clone(), msg.body.clone()).await {
            Some(Ok(())) => Message::default(),
            Some(Err(e)) => error_reply(&e),
            None => error_reply(&Error::not_found(
                SERVER_ID,
                format!("{} has no subscriber for topic {topic:?}", server.opts.name),
            )),
        };
    }
    // Legacy clients put the envelope type in Content-Type; plain JSON/protobuf without
    // routing headers is legacy too.
    let framing = match codec::framing(&content_type) {
        Some(Framing::Plain) if is_legacy(&msg) => match content_type.as_str() {
            codec::JSON => Framing::JsonRpc,
            _ => Framing::ProtoRpc,
        },
        Some(f) => f,
        None => {
            let mut header = Header::new();
            header.insert("Content-Type".into(), "text/plain".into());
            return Message { header, body: Bytes::from(format!("unsupported Content-Type: {content_type}")) };
        }
    };
    let mut request = match envelope::unwrap_request(framing, &msg.body) {
        Ok(r) => r,
        Err(e) => return error_reply(&Error::bad_request(SERVER_ID, e.to_string())),
    };
    let endpoint = match framing {
        Framing::Plain => endpoint_of(&msg).unwrap_or_default(),
        _ => request.endpoint.clone(),
    };
    if let Some(inside) = envelope::inner_content_type(framing) {
        content_type = inside.into();
    }
    let body = std::mem::take(&mut request.body);
    let result = dispatch(server, msg, endpoint, content_type.clone(), body, local, remote).await;
    server.counters.record(result.is_err());
    match (framing, result) {
        (Framing::Plain, Ok(rsp)) => {
            let mut header = Header::new();
            if !rsp.body.is_empty() {
                header.insert("Content-Type".into(), rsp.content_type.unwrap_or(content_type));
            }
            Message { header, body: rsp.body }
        }
        (Framing::Plain, Err(e)) => error_reply(&e),
        (legacy, result) => legacy_reply(legacy, &request, result),
    }
}

/// A reply in the request's envelope, with `Micro-Error` beside it when the call failed.
fn legacy_reply(framing: Framing, request: &Unwrapped, result: crate::error::Result<Response>) -> Message {
    let error = result.as_ref().err().map(Error::to_json);
    let answer = match &result {
        Ok(rsp) => Ok(&rsp.body),
        Err(_) => Err(error.as_deref().unwrap_or_default()),
    };
    let body = match envelope::wrap_response(framing, request, answer) {
        Ok(body) => body,
        Err(e) => return error_reply(&Error::internal(SERVER_ID, format!("Unable to encode body: {e}"))),
    };
    let mut header = Header::new();
    header.insert("Content-Type".into(), envelope::envelope_content_type(framing).unwrap_or_default().into());
    if let Some(e) = error {
        header.insert("Micro-Error".into(), e);
    }
    Message { header, body }
}

fn request_of(
    msg: Message,
    timeout: Option<Duration>,
    endpoint: String,
    content_type: String,
    body: Bytes,
    local: &str,
    remote: &str,
) -> Request {
    let (service, deadline) = (service_of(&msg), timeout.map(|t| std::time::Instant::now() + t));
    // The request's own headers become the handler's: moved, not copied.
    let mut header = msg.header;
    header.insert("Local".into(), local.to_string());
    header.insert("Remote".into(), remote.to_string());
    Request { service, endpoint, content_type, header, body, deadline }
}

async fn dispatch(
    server: &Arc<ServerState>,
    msg: Message,
    endpoint: String,
    content_type: String,
    body: Bytes,
    local: &str,
    remote: &str,
) -> crate::error::Result<Response> {
    if endpoint == "Debug.Health" && server.router.lookup(&endpoint, false).is_err() {
        // Answered as go-micro v4.0–v4.7 did, without advertising it.
        let body: &'static str = if content_type == codec::JSON { "{\"status\":\"ok\"}\n" } else { "\n\x02ok" };
        return Ok(Response::from(body));
    }
    if endpoint == "Debug.Stats" && server.router.lookup(&endpoint, false).is_err() {
        // go-micro's debug handler's Stats, served without being advertised, as Health is.
        let stats = server.counters.snapshot();
        let body = if content_type == codec::JSON {
            format!("{}\n", stats.to_json()).into_bytes()
        } else {
            stats.to_protobuf()
        };
        return Ok(Response::from(body));
    }
    let kind = server.router.lookup(&endpoint, false).map_err(|e| Error::not_found(SERVER_ID, e.detail(&endpoint)))?;
    let Kind::Unary(handler) = kind else {
        return Err(Error::bad_request(
            SERVER_ID,
            format!("{endpoint} is a stream endpoint: open a stream to call it"),
        ));
    };
    let timeout = timeout_of(&msg.header);
    let req = request_of(msg, timeout, endpoint.clone(), content_type, body, local, remote);
    let fut = async {
        // Waiting for a slot counts against the caller's timeout, like the handler itself.
        // (The semaphore is never closed, so `acquire` cannot fail.)
        let _slot = match &server.slots {
            Some(slots) => slots.acquire().await.ok(),
            None => None,
        };
        // The chain is built inside the guarded future, so a wrapper that panics while it
        // is called (not only while it runs) is that call's 500 too.
        let chain = server.handler_chain();
        AssertUnwindSafe(async move { super::wrap::run_handler(chain, handler, req).await }).catch_unwind().await
    };
    // The caller's deadline counts from here; a deadline past the clock's range is none.
    let deadline = timeout.and_then(|t| Some((tokio::time::Instant::now().checked_add(t)?, t)));
    let mut fut = std::pin::pin!(fut);
    // A handler that answers in its first poll (most Rust handlers) sets no timer; one that
    // waits (a host's, an awaiting one) keeps the runtime's timer armed first, so that
    // setting its timer does not wake the runtime (`crate::timer`).
    let first = futures::poll!(fut.as_mut());
    let outcome = match (first, deadline) {
        (Poll::Ready(r), _) => r,
        (Poll::Pending, None) => fut.await,
        (Poll::Pending, Some((at, t))) => {
            crate::timer::keep_armed(&tokio::runtime::Handle::current());
            match tokio::time::timeout_at(at, fut).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(Error::timeout(
                        server.router.service().to_string(),
                        format!("{endpoint} on node {} did not finish within the caller's timeout of {t:?}", server.id),
                    ))
                }
            }
        }
    };
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        tracing::error!(endpoint = %endpoint, panic = %what, "handler panicked");
        Err(Error::internal(
            server.router.service().to_string(),
            format!("{endpoint} failed: handler panicked: {what}"),
        ))
    })
}

async fn on_stream_message(
    server: &Arc<ServerState>,
    socket: &Arc<Socket>,
    streams: &mut HashMap<String, StreamEntry>,
    id: String,
    msg: Message,
    local: &str,
    remote: &str,
) {
    let eos = msg.get("Micro-Error") == Some("EOS");
    if let Some(tx) = streams.get(&id) {
        if eos || tx.send(Ok(msg)).await.is_err() {
            streams.remove(&id);
        }
        return;
    }
    if eos {
        return; // a stray EOS for a finished stream: nothing to do.
    }
    let endpoint = endpoint_of(&msg).unwrap_or_default();
    let content_type = msg.get("Content-Type").unwrap_or(codec::PROTOBUF).to_string();
    let mut reply_header = Header::new();
    reply_header.insert("Content-Type".into(), content_type.clone());
    for k in ["Micro-Service", "Micro-Method", "Micro-Endpoint", "Micro-Stream"] {
        if let Some(v) = msg.get(k) {
            reply_header.insert(k.into(), v.to_string());
        }
    }
    let handler = match server.router.lookup(&endpoint, true) {
        Ok(kind) => match kind {
            Kind::Stream(h) => h,
            Kind::Unary(_) => {
                let e = Error::bad_request(SERVER_ID, format!("{endpoint} is not a stream endpoint"));
                let mut header = reply_header.clone();
                header.insert("Micro-Error".into(), e.to_json());
                let _ = socket.send(&Message { header, body: Bytes::new() }).await;
                return;
            }
        },
        Err(e) => {
            let err = Error::not_found(SERVER_ID, e.detail(&endpoint));
            let mut header = reply_header.clone();
            header.insert("Micro-Error".into(), err.to_json());
            let _ = socket.send(&Message { header, body: Bytes::new() }).await;
            return;
        }
    };
    let refuse = |detail: String| {
        let err = Error::new(server.opts.name.clone(), detail, 503);
        let mut header = reply_header.clone();
        header.insert("Micro-Error".into(), err.to_json());
        Message { header, body: Bytes::new() }
    };
    if streams.len() >= server.opts.max_conn_streams {
        let limit = server.opts.max_conn_streams;
        let msg = refuse(format!("{limit} streams already open on this connection (MICRO_SERVER_MAX_CONN_STREAMS)"));
        let _ = socket.send(&msg).await;
        return;
    }
    let Ok(slot) = Arc::clone(&server.stream_slots).try_acquire_owned() else {
        let limit = server.opts.max_streams;
        tracing::warn!(limit, %endpoint, "stream limit reached: refusing a stream (MICRO_SERVER_MAX_STREAMS)");
        let msg = refuse(format!("{limit} streams already open on this server (MICRO_SERVER_MAX_STREAMS)"));
        let _ = socket.send(&msg).await;
        return;
    };
    let (tx, rx) = mpsc::channel(64);
    streams.insert(id, tx);
    let timeout = timeout_of(&msg.header);
    let req = request_of(msg, timeout, endpoint.clone(), content_type, Bytes::new(), local, remote);
    let stream = ServerStream::new(Arc::clone(socket), reply_header, rx);
    let sender = stream.sender();
    let service = server.router.service().to_string();
    server.tracker.spawn(async move {
        let _slot = slot;
        let outcome = AssertUnwindSafe(handler(req, stream)).catch_unwind().await;
        let result =
            outcome.unwrap_or_else(|_| Err(Error::internal(service, format!("{endpoint} failed: handler panicked"))));
        let text = match result {
            Ok(()) => "EOS".to_string(),
            Err(e) => e.to_json(),
        };
        if let Err(e) = sender.send_error(&text).await {
            tracing::debug!(error = %e, "stream end not delivered");
        }
    });
}
