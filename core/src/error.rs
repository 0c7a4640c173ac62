//! go-micro's error value, `errors.Error` on the wire.
//!
//! Every failure that leaves the library — to a Go peer, to C, Python or Node — is one of
//! these: `{id, code, detail, status}`, serialised exactly as go-micro does (all keys
//! omitted when empty, `<>&` escaped), so nothing is lost crossing a language boundary.

use crate::codec::json::escape_html;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A go-micro error: `{"id":…,"code":…,"detail":…,"status":…}`.
///
/// `code` is HTTP-like (400, 404, 408, 500 …) and `status` is the matching reason phrase.
/// The JSON form travels in the `Micro-Error` header of an RPC reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// Who raised it: usually a service name or `go.micro.client`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// HTTP-like status code; 0 when the peer sent plain text.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: i32,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The reason phrase of `code` (`Bad Request`, `Request Timeout` …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
}

fn is_zero(c: &i32) -> bool {
    *c == 0
}

/// Shorthand for results whose error is a go-micro [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The id the client uses for its own failures, as go-micro does.
pub const CLIENT_ID: &str = "go.micro.client";
/// The id of transport failures raised by the client.
pub const TRANSPORT_ID: &str = "go.micro.client.transport";
/// The id of codec failures raised by the client.
pub const CODEC_ID: &str = "go.micro.client.codec";
/// The id of failures raised by our server before a handler runs.
pub const SERVER_ID: &str = "go.micro.server";

impl Error {
    /// An error with every field given; `status` is derived from `code`.
    pub fn new(id: impl Into<String>, detail: impl Into<String>, code: i32) -> Self {
        Error { id: id.into(), code, detail: detail.into(), status: status_text(code).to_string() }
    }

    /// 400 Bad Request.
    pub fn bad_request(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 400)
    }
    /// 401 Unauthorized.
    pub fn unauthorized(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 401)
    }
    /// 403 Forbidden.
    pub fn forbidden(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 403)
    }
    /// 404 Not Found.
    pub fn not_found(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 404)
    }
    /// 405 Method Not Allowed.
    pub fn method_not_allowed(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 405)
    }
    /// 408 Request Timeout; go-micro clients retry only on this code.
    pub fn timeout(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 408)
    }
    /// 409 Conflict.
    pub fn conflict(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 409)
    }
    /// 413 Payload Too Large: a message over the configured size limit.
    pub fn too_large(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 413)
    }
    /// 500 Internal Server Error.
    pub fn internal(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(id, detail, 500)
    }

    /// Parses a `Micro-Error` header value the way go-micro's `errors.Parse` does: JSON
    /// becomes the struct; anything else becomes `detail` with code 0.
    pub fn parse(text: &str) -> Self {
        match serde_json::from_str::<Error>(text) {
            Ok(e) if !(e.id.is_empty() && e.code == 0 && e.detail.is_empty()) => e,
            _ => Error { detail: text.to_string(), ..Default::default() },
        }
    }

    /// A `Micro-Error` a client received, as go-micro's client reports it: JSON as
    /// [`Error::parse`] reads it; a plain-text error (a go-micro server's `rpc: …`, or any
    /// handler that returned a non-go-micro error) becomes a 500 with id `go.micro.client`
    /// and the text as its detail, never the empty id and code 0 of `errors.Parse`.
    pub fn from_reply(text: &str) -> Self {
        let e = Self::parse(text);
        if e.id.is_empty() && e.code == 0 {
            return Self::internal(CLIENT_ID, e.detail);
        }
        e
    }

    /// The JSON go-micro writes into `Micro-Error` (compact, `<>&` escaped like Go).
    pub fn to_json(&self) -> String {
        escape_html(&serde_json::to_string(self).unwrap_or_default())
    }

    /// True for 408, the only code go-micro's default retry policy retries.
    pub fn is_timeout(&self) -> bool {
        self.code == 408
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl std::error::Error for Error {}

/// Go's `http.StatusText(code)`: the reason phrase go-micro's `errors.New` puts in
/// `status`, for every code Go names (1xx–5xx, 62 in all, e.g. 418 → `I'm a teapot`,
/// 413 → `Request Entity Too Large`); `""` for any other code, as in Go.
///
/// Written from Go's documented `net/http` status table; the interop suite compares it
/// with go-micro v5.30.0 and v4.11.0 for every code from 0 to 999.
pub fn status_text(code: i32) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",

        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",

        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",

        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",

        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",

        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_go() {
        let e = Error::bad_request("greeter", "name required");
        assert_eq!(e.to_json(), r#"{"id":"greeter","code":400,"detail":"name required","status":"Bad Request"}"#);
    }

    #[test]
    fn parse_json_and_plain_text() {
        let e = Error::parse(r#"{"id":"x","code":408,"detail":"slow","status":"Request Timeout"}"#);
        assert!(e.is_timeout());
        assert_eq!(e.id, "x");
        let p = Error::parse("rpc: can't find service Foo");
        assert_eq!(p.code, 0);
        assert_eq!(p.detail, "rpc: can't find service Foo");
        let r = Error::from_reply("rpc: can't find service Foo");
        assert_eq!((r.id.as_str(), r.code, r.detail.as_str()), (CLIENT_ID, 500, "rpc: can't find service Foo"));
        assert_eq!(Error::from_reply(r#"{"id":"x","code":404,"detail":"gone"}"#).code, 404);
    }

    #[test]
    fn status_text_covers_go_s_whole_table() {
        let named: Vec<i32> = (0..1000).filter(|c| !status_text(*c).is_empty()).collect();
        assert_eq!(named.len(), 62, "Go names 62 codes: {named:?}");
        assert!(named.iter().all(|c| (100..600).contains(c)));
        for (code, text) in [
            (103, "Early Hints"),
            (226, "IM Used"),
            (308, "Permanent Redirect"),
            (413, "Request Entity Too Large"),
            (418, "I'm a teapot"),
            (451, "Unavailable For Legal Reasons"),
            (511, "Network Authentication Required"),
        ] {
            assert_eq!(status_text(code), text, "{code}");
        }
        // Codes Go leaves unnamed get no status, and so no "status" key in the JSON.
        for code in [0, 306, 420, 427, 509, 600, 999, -1] {
            assert_eq!(status_text(code), "", "{code}");
        }
        let e = Error::new("svc", "short and stout", 418);
        assert_eq!(e.to_json(), r#"{"id":"svc","code":418,"detail":"short and stout","status":"I'm a teapot"}"#);
        assert_eq!(Error::new("svc", "x", 599).to_json(), r#"{"id":"svc","code":599,"detail":"x"}"#);
    }

    #[test]
    fn html_is_escaped_like_go() {
        let e = Error::new("a", "<b>&", 500);
        assert!(e.to_json().contains(r#""detail":"\u003cb\u003e\u0026""#));
        assert_eq!(Error::parse(&e.to_json()).detail, "<b>&");
    }
}
