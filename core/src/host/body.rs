//! Body rules every host follows: which content types carry JSON, which carry text, and
//! which stay bytes — one table, so a Python handler and a Node handler given the same
//! request see the same kind of value.
//!
//! | content type (media type, case-insensitive, parameters ignored) | kind |
//! |---|---|
//! | `application/json`, `application/json-rpc`, `text/json`, anything ending in `+json` | [`BodyKind::Json`] |
//! | any other `text/*` | [`BodyKind::Text`] (UTF-8) |
//! | anything else (`application/protobuf`, `application/octet-stream`, none) | [`BodyKind::Bytes`] |
//!
//! `application/json-rpc` is JSON to a host: the library unwraps go-micro's legacy envelope
//! before a host sees the body. The codecs themselves ([`crate::codec`]) match content types
//! exactly, as go-micro does; these rules are only how a host turns bytes into a value.
//!
//! A body that says JSON and does not parse is the sender's mistake: a request body is a
//! 400 (the caller sent it), a reply body a 500 (the service answered it) — see
//! [`invalid_json`].

use crate::error::Error;

/// How a host decodes a body of a given content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// Parsed as JSON into the host's values (an empty body is the host's "nothing").
    Json,
    /// Decoded as UTF-8 text.
    Text,
    /// Left as bytes.
    Bytes,
}

impl BodyKind {
    /// The kind's name as hosts see it: `json`, `text` or `bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyKind::Json => "json",
            BodyKind::Text => "text",
            BodyKind::Bytes => "bytes",
        }
    }
}

/// Which side of a call a body came from: decides the status of a body that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A request (or stream message, or event) a handler received: the caller sent it.
    Request,
    /// A reply a client received: the service answered it.
    Reply,
}

/// The media type of `content_type`: before any `;`, trimmed, lower-cased.
pub fn media_type(content_type: &str) -> String {
    essence(content_type).to_ascii_lowercase()
}

/// `content_type` before any `;`, trimmed, its case as given.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// The kind of body `content_type` carries (see the module's table). Asked of every request
/// and reply a host handles, so it compares without the lower-cased copy [`media_type`] makes.
pub fn kind(content_type: &str) -> BodyKind {
    let mt = essence(content_type).as_bytes();
    let is = |name: &str| mt.eq_ignore_ascii_case(name.as_bytes());
    let starts = |head: &[u8]| mt.len() >= head.len() && mt[..head.len()].eq_ignore_ascii_case(head);
    let ends = |tail: &[u8]| mt.len() >= tail.len() && mt[mt.len() - tail.len()..].eq_ignore_ascii_case(tail);
    if is(crate::codec::JSON) || is(crate::codec::JSON_RPC) || is("text/json") || ends(b"+json") {
        BodyKind::Json
    } else if starts(b"text/") {
        BodyKind::Text
    } else {
        BodyKind::Bytes
    }
}

/// Whether `content_type` carries JSON.
pub fn is_json(content_type: &str) -> bool {
    kind(content_type) == BodyKind::Json
}

/// The error for a body that says JSON (`content_type`) and does not parse (`why`): 400 on
/// the request side, 500 on the reply side, with `id` naming the host that found it.
pub fn invalid_json(id: &str, side: Side, content_type: &str, why: &str) -> Error {
    match side {
        Side::Request => Error::bad_request(id, format!("request body is not valid JSON ({content_type}): {why}")),
        Side::Reply => Error::internal(id, format!("reply body is not valid JSON ({content_type}): {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        for (ct, want) in [
            ("application/json", BodyKind::Json),
            ("Application/JSON; charset=utf-8", BodyKind::Json),
            ("application/json-rpc", BodyKind::Json),
            ("text/json", BodyKind::Json),
            ("application/problem+json", BodyKind::Json),
            ("application/Problem+JSON ; q=1", BodyKind::Json),
            ("TEXT/Plain", BodyKind::Text),
            ("  text/json  ", BodyKind::Json),
            ("+json", BodyKind::Json),
            ("text/", BodyKind::Text),
            ("json", BodyKind::Bytes),
            ("tex", BodyKind::Bytes),
            ("application/jsön", BodyKind::Bytes),
            ("application/jsonx", BodyKind::Bytes),
            ("text/plain", BodyKind::Text),
            ("text/html; charset=utf-8", BodyKind::Text),
            ("application/protobuf", BodyKind::Bytes),
            ("application/octet-stream", BodyKind::Bytes),
            ("", BodyKind::Bytes),
        ] {
            assert_eq!(kind(ct), want, "{ct:?}");
        }
    }

    #[test]
    fn invalid_json_status_by_side() {
        assert_eq!(invalid_json("micro.python", Side::Request, "application/json", "eof").code, 400);
        let e = invalid_json("micro.node", Side::Reply, "application/json", "eof");
        assert_eq!(e.code, 500);
        assert!(e.detail.contains("reply body"), "{}", e.detail);
    }
}
