//! Classic `micro web`'s reverse proxy (spec W4, W5, §2.3): `/[name]/…` is served by
//! `<namespace>.<name>` (a plain dot join, no version folding), the first segment taken off
//! the path (`/hello/a/b` → `/a/b`, `/hello` → `/`), `X-Micro-Web-Base-Path: /hello` set so
//! the app can write its own links, websockets included. The forwarding itself — node
//! picked by the selector, hop-by-hop headers, `X-Forwarded-*`, streaming, the websocket
//! splice — is the web handler's ([`crate::handler::http`]).
//!
//! Differences from the classic, on purpose: an unknown app is a 404 (a registered app with
//! no node a 503) with go-micro's error JSON naming the service tried, where the classic
//! answered an empty 502 (or 500 `invalid host` for a websocket).

use crate::{error, handler, Body, Shared, GATEWAY_ID};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode, Uri};

/// The header that tells an app the path it is served under.
pub const BASE_PATH_HEADER: &str = "x-micro-web-base-path";

/// `(app name, the path to forward)` for `path`, when its first segment is an app name
/// (`[a-zA-Z0-9]` first, then letters, digits and `-`).
pub fn route(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix('/')?;
    let (name, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let ok = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| (name, if tail.is_empty() { "/".to_string() } else { tail.to_string() }))
}

/// Proxies `req` to the app its path names under `namespace`.
pub(crate) async fn serve(s: &Shared, namespace: &str, mut req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let Some((name, forwarded)) = route(&path) else {
        return error::json(
            StatusCode::NOT_FOUND,
            GATEWAY_ID,
            format!("no web app: path {path} names none (its first segment is the app, served by {namespace}.<app>)"),
        );
    };
    let service = if namespace.is_empty() { name.to_string() } else { format!("{namespace}.{name}") };
    let target = match req.uri().query() {
        Some(q) => format!("{forwarded}?{q}"),
        None => forwarded,
    };
    match target.parse::<Uri>() {
        Ok(u) => *req.uri_mut() = u,
        Err(e) => return error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, format!("request target: {e}")),
    }
    if let Ok(v) = HeaderValue::from_str(&format!("/{name}")) {
        req.headers_mut().insert(BASE_PATH_HEADER, v);
    }
    handler::http::web_named(s, req, &[service]).await
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn first_segment_is_the_app_and_comes_off_the_path() {
        assert_eq!(route("/hello/a/b"), Some(("hello", "/a/b".to_string())));
        assert_eq!(route("/hello"), Some(("hello", "/".to_string())));
        assert_eq!(route("/hello/"), Some(("hello", "/".to_string())));
        assert_eq!(route("/foo-bar/x"), Some(("foo-bar", "/x".to_string())));
        assert_eq!(route("/"), None);
        assert_eq!(route("/-x/"), None);
        assert_eq!(route("/a.b/"), None);
        assert_eq!(route("/_web/x"), None);
    }
}
