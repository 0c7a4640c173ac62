//! The server side of a websocket handshake over hyper, shared by the sidecar's `/broker`
//! subscribers and RPC streams ([`crate::handler::stream`]).

use crate::{error, full, Body};
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// A websocket on an upgraded HTTP connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Accepts a websocket request: the `101 Switching Protocols` to answer with, and the
/// upgrade to await once it is sent; or the 400 to answer, naming `id`.
pub(crate) fn accept(req: &mut Request<Body>, id: &str) -> Result<(Response<Body>, OnUpgrade), Response<Body>> {
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes())) else {
        return Err(error::json(StatusCode::BAD_REQUEST, id, "websocket request without Sec-WebSocket-Key"));
    };
    let Ok(accept) = HeaderValue::from_str(&key) else {
        return Err(error::json(StatusCode::BAD_REQUEST, id, "bad Sec-WebSocket-Key"));
    };
    let upgrade = hyper::upgrade::on(req);
    let mut rsp = Response::new(full(bytes::Bytes::new()));
    *rsp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    rsp.headers_mut().insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    rsp.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
    rsp.headers_mut().insert(SEC_WEBSOCKET_ACCEPT, accept);
    Ok((rsp, upgrade))
}

/// The server's socket once the upgrade is done, reading frames of at most `read_limit`
/// bytes; `None` (logged) when the client went away during the upgrade.
pub(crate) async fn open(upgrade: OnUpgrade, read_limit: usize) -> Option<Socket> {
    let upgraded = match upgrade.await {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!(target: "micro::proxy", error = %e, "websocket upgrade failed");
            return None;
        }
    };
    let config = WebSocketConfig::default().max_message_size(Some(read_limit)).max_frame_size(Some(read_limit));
    Some(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await)
}
