//! Answers the gateway writes itself, and how a call's error becomes an HTTP answer.
//!
//! The classic toolkit's mapping (spec §2.9), with its defects fixed: a backend's go-micro
//! error with code N is HTTP N with the error JSON as the body and `Content-Type:
//! application/json` (the classic served it as `text/plain`); an error with no code (a
//! plain string from a Go handler) is a 500 that says so; our client's own failures are
//! told apart from the backend's — it ran out of time (504), no node answered (503), no
//! such service (404), the reply could not be read (502). go-micro v5's own `micro api`
//! answers all of these as 500 with the error escaped inside `{"error": "..."}`.

use crate::{full, Body, GATEWAY_ID};
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::{Response, StatusCode};
use micro::error::{CLIENT_ID, CODEC_ID, TRANSPORT_ID};
use micro::Error;

/// `Content-Type: application/json`.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A response with go-micro's error JSON for `status`, from `id`.
pub fn json(status: StatusCode, id: &str, detail: impl Into<String>) -> Response<Body> {
    let e = Error::new(id, detail, i32::from(status.as_u16()));
    with_body(status, e.to_json())
}

/// A JSON response with `status` and `body`.
pub fn with_body(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response<Body> {
    let mut rsp = Response::new(full(body.into()));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(CONTENT_TYPE, JSON);
    rsp
}

/// A 301 to the cleaned path (the query kept), as Go's mux answers unclean paths.
pub fn redirect(path: &str, query: Option<&str>) -> Response<Body> {
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut rsp = Response::new(full(bytes::Bytes::new()));
    *rsp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&target) {
        rsp.headers_mut().insert(LOCATION, v);
    }
    rsp
}

/// A 404 for a route that is not served.
pub fn not_found_page() -> Response<Body> {
    json(StatusCode::NOT_FOUND, GATEWAY_ID, "not found")
}

/// A 413 naming the limit.
pub fn too_large(limit: usize) -> Response<Body> {
    json(
        StatusCode::PAYLOAD_TOO_LARGE,
        GATEWAY_ID,
        format!("request body is over the gateway's limit of {limit} bytes"),
    )
}

/// A 405 listing what is allowed.
pub fn method_not_allowed(allowed: &str) -> Response<Body> {
    let mut rsp = json(StatusCode::METHOD_NOT_ALLOWED, GATEWAY_ID, format!("method not allowed: use {allowed}"));
    if let Ok(v) = HeaderValue::from_str(allowed) {
        rsp.headers_mut().insert(hyper::header::ALLOW, v);
    }
    rsp
}

/// Whether `e` is a backend's plain-text error: go-micro's server answers some failures
/// (an unknown handler, a handler's `errors.New`) with text, which our client reports as
/// go-micro's own does, a 500 from `go.micro.client` with the text as its detail. The
/// client's own 500s say `EOF` or name the selection that failed.
fn plain_text_reply(e: &Error) -> bool {
    e.id == CLIENT_ID && e.code == 500 && e.detail != "EOF" && !e.detail.starts_with("error selecting ")
}

/// Whether `e` came from our own client (not from the backend).
fn local(e: &Error) -> bool {
    (e.id == CLIENT_ID && !plain_text_reply(e)) || e.id == TRANSPORT_ID || e.id == CODEC_ID
}

/// The HTTP status for a call's error (see the module docs).
pub fn status_of(e: &Error) -> StatusCode {
    if local(e) {
        return match e.code {
            408 => StatusCode::GATEWAY_TIMEOUT,
            404 => StatusCode::NOT_FOUND,
            400 => StatusCode::BAD_REQUEST,
            413 => StatusCode::PAYLOAD_TOO_LARGE,
            _ if e.id == CODEC_ID => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
    }
    u16::try_from(e.code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.as_u16() >= 200)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The answer for a call that failed with `e`, `what` naming the call (`service.Method`).
pub fn from_call(e: &Error, what: &str) -> Response<Body> {
    let status = status_of(e);
    if local(e) {
        // Our client's words, with the status the gateway answers.
        return json(status, GATEWAY_ID, format!("{what}: {}", e.detail));
    }
    if e.code == 0 || plain_text_reply(e) {
        return json(StatusCode::INTERNAL_SERVER_ERROR, GATEWAY_ID, format!("error during request: {}", e.detail));
    }
    with_body(status, e.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_codes_pass_through_and_local_failures_are_named() {
        assert_eq!(status_of(&Error::bad_request("go.micro.srv.greeter", "bad name")), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(&Error::new("greeter", "x", 409)), StatusCode::CONFLICT);
        assert_eq!(status_of(&Error::timeout(CLIENT_ID, "late")), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of(&Error::internal(TRANSPORT_ID, "dial: refused")), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of(&Error::not_found(CLIENT_ID, "service x: not found")), StatusCode::NOT_FOUND);
        // A go-micro server's plain-text error, as the client reports it (Error::from_reply).
        let plain = Error::from_reply("rpc: can't find service Debug");
        assert_eq!(status_of(&plain), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(&Error::internal(CLIENT_ID, "EOF")), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of(&Error::new("greeter", "boom", 0)), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(&Error::new("greeter", "odd", 1234)), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(&Error::new("greeter", "odd", 42)), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
