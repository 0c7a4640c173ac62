//! The http/proxy and web handlers: reverse proxy to a node of the service the path names
//! (spec §2.2, A15, A16). Not written yet: answer 501.

use crate::{error, Body, Shared, GATEWAY_ID};
use hyper::{Request, Response, StatusCode};

/// Serves one request with the http (proxy) handler.
pub(crate) async fn proxy(_s: &Shared, _req: Request<Body>) -> Response<Body> {
    error::json(StatusCode::NOT_IMPLEMENTED, GATEWAY_ID, "the http handler is not available yet")
}

/// Serves one request with the web handler (proxy plus websockets).
pub(crate) async fn web(_s: &Shared, _req: Request<Body>) -> Response<Body> {
    error::json(StatusCode::NOT_IMPLEMENTED, GATEWAY_ID, "the web handler is not available yet")
}
