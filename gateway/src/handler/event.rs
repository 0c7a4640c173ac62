//! The event handler (`--handler=event`): the request published as go-micro's `api.Event`
//! on the topic the path names (spec §2.7). Not written yet: answers 501.

use crate::{error, Body, Shared, GATEWAY_ID};
use hyper::{Request, Response, StatusCode};

/// Serves one request with the event handler.
pub(crate) async fn serve(_s: &Shared, _req: Request<Body>) -> Response<Body> {
    error::json(StatusCode::NOT_IMPLEMENTED, GATEWAY_ID, "the event handler is not available yet")
}
