//! RPC streams over a websocket, as the classic API's rpc handler served them: a websocket
//! request on a service's path (the rpc and meta handlers' rules), or on
//! `/rpc?service=S&endpoint=E` (the sidecar's, and `micro stream --proxy_address`), opens a
//! bidirectional stream to the service.
//!
//! - Each text or binary frame the client sends is one message to the service, with the
//!   request's `Content-Type` (JSON when it has none); each message the service sends is one
//!   frame back: text when it is UTF-8, else binary.
//! - An empty text frame (never a JSON message) ends the client's sending side, go-micro's
//!   `CloseSend`: the replies still come until the service ends the stream. A close frame
//!   from the client ends the whole stream at once (after one, a websocket server may send
//!   nothing more).
//! - The service's end of stream closes the socket normally (1000); a failure closes it
//!   with 1011 and the go-micro error's JSON as the reason (its detail cut to fit the 123
//!   bytes a close frame holds).
//!
//! A service that cannot be reached is answered before the upgrade, as an HTTP error; so is
//! a stream past [`crate::Options::max_streams`] open at once (a 503 naming the limit).

use super::metadata;
use crate::{error, Body, Shared};
use futures_util::{SinkExt, StreamExt};
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response};
use micro::{codec, CallOptions, Error};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Largest frame a client may send: the gateway's body limit.
fn read_limit(s: &Shared) -> usize {
    s.opts.max_body.max(1)
}

/// A write to the client may block this long before the stream is dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Opens a stream to `service`'s `endpoint` and answers the websocket request with it.
pub(crate) async fn serve(s: &Shared, mut req: Request<Body>, service: &str, endpoint: &str) -> Response<Body> {
    let what = format!("{service}.{endpoint}");
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(micro::host::body::media_type)
        .filter(|ct| !ct.is_empty())
        .unwrap_or_else(|| codec::JSON.to_string());
    let opts =
        CallOptions { content_type: Some(content_type), metadata: metadata(req.headers()), ..Default::default() };
    let Ok(permit) = std::sync::Arc::clone(&s.streams).try_acquire_owned() else {
        let detail = format!("too many streams open: {} at once (--max_streams)", s.opts.max_streams);
        return error::from_call(&Error::new(crate::GATEWAY_ID, detail, 503), &what);
    };
    let stream = match s.client.stream(service, endpoint, &opts).await {
        Ok(stream) => stream,
        Err(e) => return error::from_call(&e, &what),
    };
    let (rsp, upgrade) = match crate::ws::accept(&mut req, crate::GATEWAY_ID) {
        Ok(accepted) => accepted,
        Err(rsp) => return rsp,
    };
    let limit = read_limit(s);
    tokio::spawn(async move {
        let _permit = permit; // held while the stream is open
        let Some(ws) = crate::ws::open(upgrade, limit).await else { return };
        tracing::debug!(target: "micro::gateway", stream = %what, "websocket stream open");
        let end = pump(ws, stream).await;
        tracing::debug!(target: "micro::gateway", stream = %what, end = %end, "websocket stream closed");
    });
    rsp
}

/// Carries frames both ways until the service ends the stream or either side fails; how
/// it ended.
async fn pump(ws: crate::ws::Socket, stream: micro::client::ClientStream) -> String {
    let (mut sink, mut source) = ws.split();
    let (mut tx, mut rx) = stream.split();
    let mut client_open = true;
    let close = loop {
        tokio::select! {
            frame = source.next(), if client_open => {
                let sent = match frame {
                    Some(Ok(Frame::Text(t))) if t.is_empty() => {
                        client_open = false;
                        tx.close_send().await
                    }
                    Some(Ok(Frame::Text(t))) => tx.send(bytes::Bytes::from(t.as_bytes().to_vec())).await,
                    Some(Ok(Frame::Binary(b))) => tx.send(b).await,
                    Some(Ok(Frame::Close(_))) | None => return "the client closed the socket".to_string(),
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => return format!("the client's socket failed: {e}"),
                };
                if let Err(e) = sent {
                    break Some(e);
                }
            }
            reply = rx.recv() => match reply {
                Ok(Some(body)) => {
                    let frame = match std::str::from_utf8(&body) {
                        Ok(text) => Frame::text(text.to_string()),
                        Err(_) => Frame::Binary(body),
                    };
                    match tokio::time::timeout(WRITE_DEADLINE, sink.send(frame)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return format!("writing to the client failed: {e}"),
                        Err(_) => return format!("the client did not read for {WRITE_DEADLINE:?}"),
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            },
        }
    };
    let (frame, end) = match close {
        None => (CloseFrame { code: CloseCode::Normal, reason: "".into() }, "end of stream".to_string()),
        Some(e) => (CloseFrame { code: CloseCode::Error, reason: close_reason(&e).into() }, e.to_string()),
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), sink.send(Frame::Close(Some(frame)))).await;
    end
}

/// The go-micro error as JSON, its detail cut (on a character boundary) until the whole
/// fits the 123 bytes of a close frame's reason.
pub fn close_reason(e: &Error) -> String {
    let mut e = e.clone();
    loop {
        let json = e.to_json();
        if json.len() <= 123 || e.detail.is_empty() {
            return json.chars().take(123).collect::<String>();
        }
        // Cut what is over (escapes make JSON bytes outnumber the detail's: hence the loop).
        let target = e.detail.len().saturating_sub(json.len() - 123);
        let cut = e.detail.char_indices().map(|(i, c)| i + c.len_utf8()).take_while(|end| *end <= target).last();
        e.detail.truncate(cut.unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_fits_a_close_frame_and_stays_json() {
        let short = Error::new("svc", "boom", 500);
        assert_eq!(close_reason(&short), short.to_json());
        let long = Error::new("svc", "é".repeat(300), 500);
        let reason = close_reason(&long);
        assert!(reason.len() <= 123, "{} bytes", reason.len());
        let back: Error = serde_json::from_str(&reason).expect("still JSON");
        assert_eq!((back.id.as_str(), back.code), ("svc", 500));
        assert!(!back.detail.is_empty());
    }
}
