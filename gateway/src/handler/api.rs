//! The api handler (`--handler=api`): the whole HTTP request as go-micro's `api.Request`,
//! the reply read as an `api.Response` (spec §2.6). Not written yet: answers 501.

use crate::{error, Body, Shared, GATEWAY_ID};
use hyper::{Request, Response, StatusCode};

/// Serves one request with the api handler.
pub(crate) async fn serve(_s: &Shared, _req: Request<Body>) -> Response<Body> {
    error::json(StatusCode::NOT_IMPLEMENTED, GATEWAY_ID, "the api handler is not available yet")
}
