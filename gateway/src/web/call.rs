//! One call on behalf of a dashboard user: the form's `POST /_web/call` and the terminal's
//! `call` both come here, and go on as `POST /api/{service}/{endpoint}` into
//! [`Gateway::handle`] with the user's headers, so what the gateway enforces on its call path
//! applies to them too.

use crate::{error, full, Body, Gateway, GATEWAY_ID};
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

/// Calls `endpoint` of `service` with the JSON `request` through `gateway`, as the request
/// whose head is `head` (its headers, cookies and peer go along): the reply, or go-micro's
/// error JSON with its status; a 400 for a name that would change the path.
pub async fn call_as(
    gateway: &Gateway,
    head: &hyper::http::request::Parts,
    service: &str,
    endpoint: &str,
    request: Bytes,
) -> Response<Body> {
    let bad = |what: &str, v: &str| {
        error::json(
            StatusCode::BAD_REQUEST,
            GATEWAY_ID,
            format!("invalid {what} {v:?}: letters, digits and . - _ : only"),
        )
    };
    if !is_name(service) {
        return bad("service", service);
    }
    if !is_name(endpoint) {
        return bad("endpoint", endpoint);
    }
    let uri = format!("/api/{service}/{endpoint}");
    let mut inner = Request::new(full(request));
    *inner.method_mut() = Method::POST;
    *inner.uri_mut() = match uri.parse() {
        Ok(u) => u,
        Err(_) => return bad("service", service),
    };
    let headers = inner.headers_mut();
    for (name, value) in &head.headers {
        if name != CONTENT_LENGTH && name != CONTENT_TYPE {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(peer) = head.extensions.get::<crate::Peer>() {
        inner.extensions_mut().insert(*peer);
    }
    gateway.handle(inner).await
}

/// A service or endpoint name that can stand in a path segment as it is.
fn is_name(s: &str) -> bool {
    s.bytes().any(|b| b != b'.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

#[cfg(test)]
mod tests {
    use super::is_name;

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        assert!(is_name("go.micro.srv.greeter"));
        assert!(is_name("Greeter.Hello"));
        for bad in ["", "..", "a/b", "a?b", "a b", "..%2f", "a#b"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
