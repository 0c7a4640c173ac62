//! CORS on every route, preflight included — what the classic toolkit's users asked for
//! since 2015 (its v1.x answered CORS on `/` only; spec §5.3).
//!
//! An allow-list of origins (`--cors`, `MICRO_API_CORS`: comma-separated, `*` for any);
//! allowed methods and headers as the classic toolkit sent them. A request whose `Origin`
//! is not allowed gets no CORS headers (the browser then refuses it), and a preflight from
//! it is a 403.

use crate::{full, Body};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

/// Methods a preflight allows.
pub const ALLOW_METHODS: &str = "POST, PATCH, GET, OPTIONS, PUT, DELETE";
/// Headers a preflight allows.
pub const ALLOW_HEADERS: &str =
    "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Micro-Endpoint, Timeout";

/// Which origins may call the gateway from a browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Default for Cors {
    /// Any origin (`*`), as the classic toolkit's `/` answered.
    fn default() -> Self {
        Cors { origins: vec!["*".into()] }
    }
}

impl Cors {
    /// From a comma-separated allow-list (`*` for any); `None` when it names nothing.
    pub fn from_list(list: &str) -> Option<Self> {
        let origins: Vec<String> =
            list.split(',').map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
        (!origins.is_empty()).then_some(Cors { origins })
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, when allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match origin {
            Some(o) if o.to_str().is_ok_and(|o| self.allows(o)) => Some(o.clone()),
            Some(_) => None,
            None if self.origins.iter().any(|o| o == "*") => Some(HeaderValue::from_static("*")),
            None => None,
        }
    }

    /// Adds the CORS headers to an answer for a request from `origin`.
    pub fn decorate(&self, origin: Option<&HeaderValue>, rsp: &mut Response<Body>) {
        if let Some(v) = self.allow_origin(origin) {
            let h = rsp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }

    /// The answer to a preflight: 204 when the origin is allowed, else 403.
    pub fn preflight<B>(&self, origin: Option<&HeaderValue>, _req: &Request<B>) -> Response<Body> {
        let mut rsp = Response::new(full(bytes::Bytes::new()));
        if self.allow_origin(origin).is_some() {
            *rsp.status_mut() = StatusCode::NO_CONTENT;
            rsp.headers_mut().insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        } else {
            *rsp.status_mut() = StatusCode::FORBIDDEN;
        }
        rsp
    }
}

/// Whether `req` is a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`).
pub fn is_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_list_allows_only_its_origins() {
        let c = Cors::from_list("http://a.example, https://b.example/").expect("list");
        let a = HeaderValue::from_static("http://a.example");
        let b = HeaderValue::from_static("https://b.example");
        let x = HeaderValue::from_static("http://evil.example");
        assert!(c.allow_origin(Some(&a)).is_some() && c.allow_origin(Some(&b)).is_some());
        assert!(c.allow_origin(Some(&x)).is_none() && c.allow_origin(None).is_none());
        let any = Cors::default();
        assert_eq!(any.allow_origin(Some(&x)), Some(x.clone()));
        assert_eq!(any.allow_origin(None), Some(HeaderValue::from_static("*")));
        assert!(Cors::from_list(" , ").is_none());
    }
}
