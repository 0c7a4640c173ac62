//! The live registry view's feed: server-sent events from a registry watch.
//!
//! Each `GET /_web/events` opens its own watch on every service. The stream says `event:
//! ready` once the watch is open (an event that happens after it is seen), then one `event:
//! registry` per change, `data: {"action":"create|update|delete","service":{…}}` with the
//! service carrying only the node(s) concerned, as go-micro's watcher gives it. A comment
//! line every 15 s keeps proxies from closing an idle stream. The watch ends when the
//! client goes away (the body is dropped).

use crate::{error, Body, BoxError, GATEWAY_ID};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use micro::registry::{Action, Registry};
use serde::Serialize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often an idle stream gets a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One change, as the page reads it.
#[derive(Serialize)]
struct Change<'a> {
    action: &'static str,
    service: &'a micro::registry::Service,
}

/// A response body fed by a channel: each message one chunk, the end when the sender goes.
struct Feed {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for Feed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// One server-sent event.
fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

fn action(a: &Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// The event stream of `registry`'s changes (see the module docs); a 503 when the watch
/// cannot open.
pub async fn stream(registry: Arc<dyn Registry>) -> Response<Body> {
    let mut watcher = match registry.watch(None).await {
        Ok(w) => w,
        Err(e) => {
            return error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry watch: {}", e.detail))
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if tx.send(event("ready", "{}")).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(KEEP_ALIVE);
        tick.tick().await;
        loop {
            let chunk = tokio::select! {
                _ = tx.closed() => return,
                _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
                next = watcher.next() => match next {
                    Some(ev) => {
                        let data = serde_json::to_string(&Change { action: action(&ev.action), service: &ev.service })
                            .unwrap_or_default();
                        event("registry", &data)
                    }
                    None => {
                        let _ = tx.send(event("end", "{\"detail\":\"the registry stopped\"}")).await;
                        return;
                    }
                },
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut rsp = Response::new(Feed { rx }.boxed());
    rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    rsp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    rsp
}
