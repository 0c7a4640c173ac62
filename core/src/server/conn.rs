//! One accepted connection: read messages, route them, write replies.
//!
//! Unary calls are answered in order on the reading task (go-micro clients keep one call
//! in flight per connection). A message carrying `Micro-Stream` belongs to a stream: the
//! first one with a new id starts the stream handler in its own task (its body is go-micro's
//! placeholder and is discarded), later ones are queued to it, and `Micro-Error: EOS` ends
//! its input. Handler panics become 500 errors; the `Timeout` header bounds a handler.

use super::router::{Kind, Request, Response};
use super::stream::ServerStream;
use super::Inner;
use crate::codec::{self, jsonrpc, protorpc, Framing};
use crate::error::{Error, SERVER_ID};
use crate::transport::http::{encode_response, MessageReader};
use crate::transport::{get_header, Header, Message, TransportError};
use crate::transport::{BoxRead, BoxWrite};
use bytes::Bytes;
use futures::FutureExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Mutex};

/// The write half of a connection, shared by the unary path and stream handlers.
pub(crate) struct ConnWriter {
    inner: Mutex<(BoxWrite, Vec<u8>)>,
}

impl ConnWriter {
    pub async fn write(&self, msg: &Message) -> Result<(), TransportError> {
        let mut guard = self.inner.lock().await;
        let (w, buf) = &mut *guard;
        buf.clear();
        encode_response(msg, buf)?;
        w.write_all(buf).await?;
        Ok(())
    }

    async fn write_raw(&self, bytes: &[u8]) {
        let mut guard = self.inner.lock().await;
        let _ = guard.0.write_all(bytes).await;
    }
}

pub(crate) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let inner2 = Arc::clone(&inner);
                    let rx = shutdown.clone();
                    inner.tracker.spawn(serve(inner2, stream, remote, rx));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Resolves once the handler of any of these streams has finished (never, for none).
async fn any_finished(streams: &HashMap<String, mpsc::Sender<crate::error::Result<Message>>>) {
    if streams.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(streams.values().map(|tx| Box::pin(tx.closed()))).await;
}

async fn serve(inner: Arc<Inner>, stream: TcpStream, remote: SocketAddr, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let remote = remote.to_string();
    let (r, w): (BoxRead, BoxWrite) = match inner.opts.tls.clone() {
        None => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Some(config) => {
            // A handshake is bounded like a request head (slowloris).
            let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
            match tokio::time::timeout(inner.opts.limits.header_timeout, accept).await {
                Ok(Ok(tls)) => {
                    let (r, w) = tokio::io::split(tls);
                    (Box::new(r), Box::new(w))
                }
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "tls handshake timed out");
                    return;
                }
            }
        }
    };
    let writer = Arc::new(ConnWriter { inner: Mutex::new((w, Vec::with_capacity(1024))) });
    let mut reader = MessageReader::new(r, inner.opts.limits);
    let mut streams: HashMap<String, mpsc::Sender<crate::error::Result<Message>>> = HashMap::new();
    if *shutdown.borrow() {
        return;
    }
    // The server dropped without `stop` ends its connections too.
    let mut server_gone = false;
    loop {
        // A stream whose handler has finished (its EOS is sent) keeps nothing open: a
        // client that never closes it must not hold the drain for its whole timeout.
        streams.retain(|_, tx| !tx.is_closed());
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
            _ = any_finished(&streams), if stopping => continue,
        };
        let msg = match next {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                reject(&writer, &e).await;
                break;
            }
        };
        if let Some(id) = msg.get("Micro-Stream").map(str::to_string) {
            on_stream_message(&inner, &writer, &mut streams, id, msg, &local, &remote).await;
            continue;
        }
        let close = msg.get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = unary(&inner, msg, &local, &remote).await;
        if let Err(e) = writer.write(&reply).await {
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

/// Answers unreadable input before closing: an oversized body gets a go-micro 413 the
/// caller can read; bytes that are not HTTP get a plain 400.
async fn reject(writer: &ConnWriter, e: &TransportError) {
    match e {
        TransportError::BodyTooLarge { .. } | TransportError::HeaderTooLarge { .. } => {
            let err = Error::too_large(SERVER_ID, e.to_string());
            let mut header = Header::new();
            header.insert("Micro-Error".into(), err.to_json());
            header.insert("Connection".into(), "close".into());
            let _ = writer.write(&Message { header, body: Bytes::new() }).await;
        }
        TransportError::Malformed(_) => {
            let body = e.to_string();
            let raw = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            writer.write_raw(raw.as_bytes()).await;
        }
        _ => tracing::debug!(error = %e, "connection ended"),
    }
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
    let has = |k: &str| msg.get(k).is_some() || msg.get(&format!("X-{k}")).is_some();
    if has("Micro-Protocol") {
        return false;
    }
    has("Micro-Target") || !(has("Micro-Service") || has("Micro-Method") || has("Micro-Endpoint"))
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

async fn unary(inner: &Arc<Inner>, msg: Message, local: &str, remote: &str) -> Message {
    let mut content_type = msg.get("Content-Type").unwrap_or(codec::PROTOBUF).to_string();
    if let Some(topic) = msg.get("Micro-Topic").map(str::to_string) {
        return match inner.dispatch_event(&topic, msg.header.clone(), msg.body.clone()).await {
            Some(Ok(())) => Message::default(),
            Some(Err(e)) => error_reply(&e),
            None => error_reply(&Error::not_found(
                SERVER_ID,
                format!("{} has no subscriber for topic {topic:?}", inner.opts.name),
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
    let (endpoint, body, legacy_id) = match framing {
        Framing::Plain => (endpoint_of(&msg).unwrap_or_default(), msg.body.clone(), None),
        Framing::JsonRpc => match jsonrpc::decode_request(&msg.body) {
            Ok(r) => {
                content_type = codec::JSON.into();
                (r.method, r.params, Some(r.id))
            }
            Err(e) => return error_reply(&Error::bad_request(SERVER_ID, e.to_string())),
        },
        Framing::ProtoRpc => match protorpc::decode(&msg.body) {
            Ok((h, b)) => {
                content_type = codec::PROTOBUF.into();
                (h.service_method, b, Some(h.seq.to_string()))
            }
            Err(e) => return error_reply(&Error::bad_request(SERVER_ID, e.to_string())),
        },
    };
    let result = dispatch(inner, &msg, endpoint.clone(), content_type.clone(), body, local, remote).await;
    match (framing, result) {
        (Framing::Plain, Ok(rsp)) => {
            let mut header = Header::new();
            if !rsp.body.is_empty() {
                header.insert("Content-Type".into(), rsp.content_type.unwrap_or(content_type));
            }
            Message { header, body: rsp.body }
        }
        (Framing::Plain, Err(e)) => error_reply(&e),
        (Framing::JsonRpc, r) => {
            let id = legacy_id.unwrap_or_default();
            let (body, err) = match &r {
                Ok(rsp) => (jsonrpc::encode_response(&id, Some(&rsp.body), None), None),
                Err(e) => (jsonrpc::encode_response(&id, None, Some(&e.to_json())), Some(e)),
            };
            legacy_reply(codec::JSON_RPC, body.map_err(|e| e.to_string()), err)
        }
        (Framing::ProtoRpc, r) => {
            let seq = legacy_id.and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut h = protorpc::RpcHeader { service_method: endpoint, seq, error: String::new() };
            let (body, err) = match &r {
                Ok(rsp) => (protorpc::encode(&h, &rsp.body), None),
                Err(e) => {
                    h.error = e.to_json();
                    (protorpc::encode(&h, &[]), Some(e))
                }
            };
            legacy_reply(codec::PROTO_RPC, Ok(body), err)
        }
    }
}

fn legacy_reply(content_type: &str, body: Result<Bytes, String>, err: Option<&Error>) -> Message {
    let mut header = Header::new();
    header.insert("Content-Type".into(), content_type.into());
    if let Some(e) = err {
        header.insert("Micro-Error".into(), e.to_json());
    }
    match body {
        Ok(body) => Message { header, body },
        Err(e) => error_reply(&Error::internal(SERVER_ID, format!("Unable to encode body: {e}"))),
    }
}

fn request_of(
    msg: &Message,
    endpoint: String,
    content_type: String,
    body: Bytes,
    local: &str,
    remote: &str,
) -> Request {
    let mut header = msg.header.clone();
    header.insert("Local".into(), local.to_string());
    header.insert("Remote".into(), remote.to_string());
    let deadline = timeout_of(&msg.header).map(|t| std::time::Instant::now() + t);
    Request { service: service_of(msg), endpoint, content_type, header, body, deadline }
}

async fn dispatch(
    inner: &Arc<Inner>,
    msg: &Message,
    endpoint: String,
    content_type: String,
    body: Bytes,
    local: &str,
    remote: &str,
) -> crate::error::Result<Response> {
    if endpoint == "Debug.Health" && inner.router.lookup(&endpoint).is_err() {
        // Answered as go-micro v4.0–v4.7 did, without advertising it.
        let body: &'static str = if content_type == codec::JSON { "{\"status\":\"ok\"}\n" } else { "\n\x02ok" };
        return Ok(Response::from(body));
    }
    let route = inner.router.lookup(&endpoint).map_err(|e| Error::not_found(SERVER_ID, e.detail(&endpoint)))?;
    let Kind::Unary(handler) = route.kind else {
        return Err(Error::bad_request(
            SERVER_ID,
            format!("{endpoint} is a stream endpoint: open a stream to call it"),
        ));
    };
    let timeout = timeout_of(&msg.header);
    let req = request_of(msg, endpoint.clone(), content_type, body, local, remote);
    let fut = async {
        // Waiting for a slot counts against the caller's timeout, like the handler itself.
        // (The semaphore is never closed, so `acquire` cannot fail.)
        let _slot = match &inner.slots {
            Some(slots) => slots.acquire().await.ok(),
            None => None,
        };
        AssertUnwindSafe(handler(req)).catch_unwind().await
    };
    let outcome = match timeout {
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => {
                return Err(Error::timeout(
                    inner.router.service().to_string(),
                    format!("{endpoint} on node {} did not finish within the caller's timeout of {t:?}", inner.id),
                ))
            }
        },
        None => fut.await,
    };
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        tracing::error!(endpoint = %endpoint, panic = %what, "handler panicked");
        Err(Error::internal(inner.router.service().to_string(), format!("{endpoint} failed: handler panicked: {what}")))
    })
}

async fn on_stream_message(
    inner: &Arc<Inner>,
    writer: &Arc<ConnWriter>,
    streams: &mut HashMap<String, mpsc::Sender<crate::error::Result<Message>>>,
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
    let handler = match inner.router.lookup(&endpoint) {
        Ok(route) => match route.kind {
            Kind::Stream(h) => h,
            Kind::Unary(_) => {
                let e = Error::bad_request(SERVER_ID, format!("{endpoint} is not a stream endpoint"));
                let mut header = reply_header.clone();
                header.insert("Micro-Error".into(), e.to_json());
                let _ = writer.write(&Message { header, body: Bytes::new() }).await;
                return;
            }
        },
        Err(e) => {
            let err = Error::not_found(SERVER_ID, e.detail(&endpoint));
            let mut header = reply_header.clone();
            header.insert("Micro-Error".into(), err.to_json());
            let _ = writer.write(&Message { header, body: Bytes::new() }).await;
            return;
        }
    };
    let (tx, rx) = mpsc::channel(64);
    streams.insert(id, tx);
    let req = request_of(&msg, endpoint.clone(), content_type, Bytes::new(), local, remote);
    let stream = ServerStream::new(Arc::clone(writer), reply_header, rx);
    let sender = stream.sender();
    let service = inner.router.service().to_string();
    inner.tracker.spawn(async move {
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
