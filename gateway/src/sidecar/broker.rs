//! `/broker`: publish and subscribe over HTTP, as the classic sidecar's broker handler
//! (spec P9, P10), through the client's broker (go-micro's http broker by default).
//!
//! - `POST /broker?topic=T`: the body is published on T with the request's headers as the
//!   message's metadata and its `Content-Type` (`text/plain` when it has none); 200 empty.
//! - `GET /broker?topic=T[&queue=Q]` upgraded to a websocket: every message delivered on T (to
//!   queue group Q, if given) is one text frame, go-micro's envelope
//!   `{"Header":{…},"Body":"<base64>"}`; every text or binary frame the client sends is
//!   published on T. Pings every 54 s; frames from the client above 16 KiB end the socket.
//!
//! Memory per subscriber is bounded: deliveries wait in a queue of
//! [`super::SidecarOptions::subscriber_queue`] messages, and a write may take 10 s at most.
//! A client that does not read fills its TCP window, then the queue; it is then dropped
//! (unsubscribed, socket closed) and logged, and the broker's other subscribers never wait
//! for it.

use super::SIDECAR_ID;
use crate::handler::http::is_websocket;
use crate::handler::{metadata, read_body};
use crate::{error, full, Body, Shared};
use futures_util::{SinkExt, StreamExt};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use micro::broker::{Broker, SubscribeOptions};
use micro::PublishOptions;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

/// Messages that may wait for one websocket subscriber (the default).
pub const DEFAULT_QUEUE: usize = 256;

/// Largest frame a websocket client may send (the classic's read limit).
pub const READ_LIMIT: usize = 16 * 1024;

const PING_EVERY: Duration = Duration::from_secs(54);
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Serves one `/broker` request.
pub(crate) async fn serve(s: &Shared, req: Request<Body>, queue: usize) -> Response<Body> {
    let query = req.uri().query().unwrap_or_default().to_string();
    let param =
        |key: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    let Some(topic) = param("topic").filter(|t| !t.is_empty()) else {
        return error::json(StatusCode::BAD_REQUEST, SIDECAR_ID, "Topic not specified: add ?topic=NAME");
    };
    if let Err(e) = micro::host::check::topic(&topic, None) {
        return error::json(StatusCode::BAD_REQUEST, SIDECAR_ID, e.detail);
    }
    match *req.method() {
        Method::POST => publish(s, req, &topic).await,
        Method::GET if is_websocket(req.headers()) => subscribe(s, req, topic, param("queue"), queue),
        Method::GET => error::json(
            StatusCode::BAD_REQUEST,
            SIDECAR_ID,
            "subscribing needs a websocket: GET /broker?topic=T with Upgrade: websocket",
        ),
        _ => error::method_not_allowed("GET, POST"),
    }
}

/// The content type a message from this request goes with.
fn content_type(headers: &hyper::HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or("text/plain")
        .to_string()
}

/// The request's headers as message metadata, without those that describe the HTTP request.
fn message_metadata(headers: &hyper::HeaderMap) -> micro::registry::Metadata {
    let mut md = metadata(headers);
    for k in ["Content-Type", "Content-Length", "Host", "Sec-Websocket-Key", "Sec-Websocket-Version"] {
        md.remove(k);
    }
    md
}

async fn publish(s: &Shared, req: Request<Body>, topic: &str) -> Response<Body> {
    let ct = content_type(req.headers());
    let (parts, body) = match read_body(s, req).await {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    let opts = PublishOptions { content_type: Some(ct), metadata: message_metadata(&parts.headers) };
    match s.client.publish(topic, body, &opts).await {
        Ok(()) => Response::new(full(bytes::Bytes::new())),
        Err(e) => error::from_call(&e, &format!("publish to {topic}")),
    }
}

fn subscribe(s: &Shared, mut req: Request<Body>, topic: String, group: Option<String>, queue: usize) -> Response<Body> {
    let Some(broker) = s.client.broker() else {
        return error::json(StatusCode::SERVICE_UNAVAILABLE, SIDECAR_ID, "the sidecar has no broker");
    };
    let (rsp, upgrade) = match crate::ws::accept(&mut req, SIDECAR_ID) {
        Ok(accepted) => accepted,
        Err(rsp) => return rsp,
    };
    let ct = content_type(req.headers());
    let md = message_metadata(req.headers());
    let client = s.client.clone();
    tokio::spawn(async move {
        let Some(ws) = crate::ws::open(upgrade, READ_LIMIT).await else { return };
        let publish = PublishOptions { content_type: Some(ct), metadata: md };
        session(ws, broker, client, topic, group, queue, publish).await;
    });
    rsp
}

/// Why a subscriber's socket ended.
enum End {
    Closed,
    TooSlow,
    Failed(String),
}

async fn session<S>(
    ws: WebSocketStream<S>,
    broker: Arc<dyn Broker>,
    client: micro::Client,
    topic: String,
    group: Option<String>,
    queue: usize,
    publish: PublishOptions,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(queue);
    let (slow_tx, mut slow_rx) = mpsc::channel::<()>(1);
    let handler = micro::broker::handler(move |ev: micro::broker::Event| {
        let (tx, slow) = (tx.clone(), slow_tx.clone());
        async move {
            if tx.try_send(micro::broker::encode_envelope(&ev.message)).is_err() {
                // Full (or gone): this subscriber is dropped; nobody else waits for it.
                let _ = slow.try_send(());
            }
            Ok(())
        }
    });
    let opts = SubscribeOptions { queue: group.clone() };
    if let Err(e) = broker.connect().await {
        tracing::warn!(target: "micro::proxy", %topic, error = %e, "websocket subscriber: broker unavailable");
        return;
    }
    let sub = match broker.subscribe(&topic, opts, handler).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(target: "micro::proxy", %topic, error = %e, "websocket subscriber: subscribe failed");
            let (mut sink, _) = ws.split();
            let _ = sink.send(Frame::Close(None)).await;
            return;
        }
    };
    tracing::info!(target: "micro::proxy", %topic, queue = group.as_deref().unwrap_or(""), "websocket subscriber open");
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let end = loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break End::Closed };
                let text = String::from_utf8_lossy(&msg).into_owned();
                // A blocked write loses to the queue filling up behind it.
                tokio::select! {
                    sent = tokio::time::timeout(WRITE_DEADLINE, sink.send(Frame::text(text))) => match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break End::Failed(e.to_string()),
                        Err(_) => break End::TooSlow,
                    },
                    _ = slow_rx.recv() => break End::TooSlow,
                }
            }
            _ = slow_rx.recv() => break End::TooSlow,
            _ = ping.tick() => {
                if tokio::time::timeout(WRITE_DEADLINE, sink.send(Frame::Ping(Vec::new().into()))).await.is_err() {
                    break End::TooSlow;
                }
            }
            frame = stream.next() => match frame {
                None | Some(Ok(Frame::Close(_))) => break End::Closed,
                Some(Err(e)) => break End::Failed(e.to_string()),
                Some(Ok(Frame::Text(t))) => send_on(&client, &topic, bytes::Bytes::from(t.as_bytes().to_vec()), &publish).await,
                Some(Ok(Frame::Binary(b))) => send_on(&client, &topic, b, &publish).await,
                Some(Ok(_)) => {}
            },
        }
    };
    match end {
        End::Closed => tracing::info!(target: "micro::proxy", %topic, "websocket subscriber closed"),
        End::TooSlow => tracing::warn!(
            target: "micro::proxy",
            %topic,
            queue,
            "websocket subscriber dropped: it does not read its messages ({queue} waiting or a write blocked for {WRITE_DEADLINE:?})"
        ),
        End::Failed(e) => tracing::info!(target: "micro::proxy", %topic, error = %e, "websocket subscriber ended"),
    }
    if let Err(e) = sub.unsubscribe().await {
        tracing::warn!(target: "micro::proxy", %topic, error = %e, "unsubscribe failed");
    }
    // A slow client may never take the close frame: do not wait for it.
    let _ = tokio::time::timeout(Duration::from_millis(100), sink.send(Frame::Close(None))).await;
}

/// Publishes a frame a websocket client sent.
async fn send_on(client: &micro::Client, topic: &str, body: bytes::Bytes, opts: &PublishOptions) {
    if let Err(e) = client.publish(topic, body, opts).await {
        tracing::warn!(target: "micro::proxy", %topic, error = %e, "publishing a websocket frame failed");
    }
}
