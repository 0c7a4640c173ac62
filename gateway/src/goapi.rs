//! go-micro's `go.api` messages (`api/proto/api.proto`, unchanged from v1.18 to v4.11): the
//! HTTP request the api handler sends ([`Request`]), the reply it expects ([`Response`]) and
//! what the event handler publishes ([`Event`]). Written by hand with `prost`'s derive, the
//! field numbers exactly those of api.proto; maps are `BTreeMap`s so one request always
//! encodes to the same bytes.
//!
//! Also here: how both handlers fill them from an HTTP request — header, query and form maps
//! of [`Pair`]s in Go's canonical header form, and [`body_text`], the one rule for a body
//! that is not UTF-8 (a proto `string` must be).

use base64::Engine;
use hyper::header::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A header, query or form field and its values (`go.api.Pair`).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
pub struct Pair {
    /// The name (canonical header form for headers, as given for query and form fields).
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub key: String,
    /// Every value, in the order received.
    #[prost(string, repeated, tag = "2")]
    #[serde(default)]
    pub values: Vec<String>,
}

/// A map of [`Pair`]s by name, as go.api's `map<string, Pair>`.
pub type Pairs = BTreeMap<String, Pair>;

/// An HTTP request as RPC (`go.api.Request`).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
pub struct Request {
    /// The HTTP verb.
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub method: String,
    /// The URL path.
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub path: String,
    /// Request headers plus `Host` and `X-Forwarded-For`.
    #[prost(btree_map = "string, message", tag = "3")]
    #[serde(default)]
    pub header: Pairs,
    /// The query string's fields.
    #[prost(btree_map = "string, message", tag = "4")]
    #[serde(default)]
    pub get: Pairs,
    /// A url-encoded form body's fields.
    #[prost(btree_map = "string, message", tag = "5")]
    #[serde(default)]
    pub post: Pairs,
    /// The raw body (empty for a url-encoded form); see [`body_text`].
    #[prost(string, tag = "6")]
    #[serde(default)]
    pub body: String,
    /// The request URI as received: path and `?query`, no scheme or host.
    #[prost(string, tag = "7")]
    #[serde(default)]
    pub url: String,
}

/// An HTTP response as RPC (`go.api.Response`): what an api-handler endpoint returns.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
pub struct Response {
    /// The HTTP status; 0 means 200.
    #[prost(int32, tag = "1")]
    #[serde(default, rename = "statusCode")]
    pub status_code: i32,
    /// Headers: each of a pair's values is added under the pair's `key` (the map key is not
    /// used, as in go-micro).
    #[prost(btree_map = "string, message", tag = "2")]
    #[serde(default)]
    pub header: Pairs,
    /// The body, written as it is.
    #[prost(string, tag = "3")]
    #[serde(default)]
    pub body: String,
}

/// An HTTP request published as an event (`go.api.Event`).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
pub struct Event {
    /// The event name the path gives (e.g. `login`).
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    /// `<topic>-<name>-<uuid v4>`.
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub id: String,
    /// Unix seconds.
    #[prost(int64, tag = "3")]
    #[serde(default)]
    pub timestamp: i64,
    /// The request headers.
    #[prost(btree_map = "string, message", tag = "4")]
    #[serde(default)]
    pub header: Pairs,
    /// The body, or for a GET the JSON of the query (`{"a":["1"]}`); see [`body_text`].
    #[prost(string, tag = "5")]
    #[serde(default)]
    pub data: String,
}

/// The header a request or event carries when its body had to be base64-encoded.
pub const BODY_ENCODING: &str = "Content-Transfer-Encoding";

/// A body as go.api's `string` field: the text when it is UTF-8, else its base64 (standard
/// alphabet, padded) and `true`, and the caller marks the message with
/// `Content-Transfer-Encoding: base64` ([`BODY_ENCODING`]).
///
/// go.api's body is a proto3 `string`, which must be UTF-8: the classic toolkit put binary
/// bodies (a multipart upload, an image) in it as they were, so Go's proto encoder refused
/// the whole request (`contains invalid UTF-8`, micro issue #243) and the gateway answered
/// 500. Here such a body reaches the handler, which decodes it when the header says so; a
/// text body is untouched.
pub fn body_text(body: &[u8]) -> (String, bool) {
    match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    }
}

/// Adds `value` under `key` (values keep their order).
pub fn add(pairs: &mut Pairs, key: &str, value: String) {
    pairs
        .entry(key.to_string())
        .or_insert_with(|| Pair { key: key.to_string(), values: Vec::new() })
        .values
        .push(value);
}

/// Sets `key` to the one `value`.
pub fn set(pairs: &mut Pairs, key: &str, value: String) {
    pairs.insert(key.to_string(), Pair { key: key.to_string(), values: vec![value] });
}

/// `x-user-id` → `X-User-Id`, Go's canonical header form.
pub(crate) fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        upper = c == '-';
    }
    out
}

/// Request headers as Go's `http.Header` holds them: canonical names, every value in order
/// (one per header line), `Host` left out (Go keeps it apart). A value that is not text is
/// read as Latin-1, as Go would pass its bytes on.
pub fn header_pairs(headers: &HeaderMap) -> Pairs {
    let mut pairs = Pairs::new();
    for (name, value) in headers {
        if name == hyper::header::HOST {
            continue;
        }
        let text = match value.to_str() {
            Ok(s) => s.to_string(),
            Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        add(&mut pairs, &canonical(name.as_str()), text);
    }
    pairs
}

/// A query string or url-encoded form as pairs (`a=1&a=2` → `a: ["1","2"]`).
pub fn form_pairs(input: &[u8]) -> Pairs {
    let mut pairs = Pairs::new();
    for (k, v) in form_urlencoded::parse(input) {
        add(&mut pairs, &k, v.into_owned());
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A small request. Its bytes below were checked against go-micro v4.11.0's own
    /// `go-micro.dev/v4/api/proto` in a Go program: `proto.Unmarshal` into `api.Request`
    /// gave back every field, and Go's deterministic `proto.Marshal` of the same request
    /// gave these bytes exactly (as for the Response and Event of the next test).
    fn small() -> Request {
        let mut r = Request {
            method: "GET".into(),
            path: "/echo/echo/call".into(),
            url: "/echo/echo/call?a=1".into(),
            ..Default::default()
        };
        set(&mut r.header, "Host", "h:1".into());
        set(&mut r.get, "a", "1".into());
        r.body = "x".into();
        r
    }

    #[test]
    fn a_small_request_has_go_apis_bytes() {
        let bytes = small().encode_to_vec();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x0a, 3, b'G', b'E', b'T',                                   // 1 method
            0x12, 15, b'/', b'e', b'c', b'h', b'o', b'/', b'e', b'c', b'h', b'o', b'/', b'c', b'a', b'l', b'l', // 2 path
            0x1a, 19,                                                    // 3 header entry
              0x0a, 4, b'H', b'o', b's', b't',                           //   map key
              0x12, 11,                                                  //   map value: Pair
                0x0a, 4, b'H', b'o', b's', b't',                         //     1 key
                0x12, 3, b'h', b':', b'1',                               //     2 values
            0x22, 11,                                                    // 4 get entry
              0x0a, 1, b'a',
              0x12, 6,
                0x0a, 1, b'a',
                0x12, 1, b'1',
            0x32, 1, b'x',                                               // 6 body
            0x3a, 19, b'/', b'e', b'c', b'h', b'o', b'/', b'e', b'c', b'h', b'o', b'/', b'c', b'a', b'l', b'l', b'?', b'a', b'=', b'1', // 7 url
        ];
        assert_eq!(bytes, want);
        assert_eq!(Request::decode(&bytes[..]).expect("decodes"), small());
    }

    #[test]
    fn response_and_event_use_api_protos_numbers() {
        let mut rsp = Response { status_code: 201, body: "{}".into(), ..Default::default() };
        set(&mut rsp.header, "X-Fx", "1".into());
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x08, 0xc9, 0x01,                                            // 1 statusCode 201
            0x12, 17, 0x0a, 4, b'X', b'-', b'F', b'x', 0x12, 9, 0x0a, 4, b'X', b'-', b'F', b'x', 0x12, 1, b'1', // 2 header
            0x1a, 2, b'{', b'}',                                         // 3 body
        ];
        assert_eq!(rsp.encode_to_vec(), want);
        let ev = Event { name: "n".into(), id: "i".into(), timestamp: 2, data: "d".into(), ..Default::default() };
        assert_eq!(ev.encode_to_vec(), [0x0a, 1, b'n', 0x12, 1, b'i', 0x18, 2, 0x2a, 1, b'd']);
        let json: Response =
            serde_json::from_str(r#"{"statusCode":201,"header":{"X-Fx":{"key":"X-Fx","values":["1"]}},"body":"{}"}"#)
                .expect("go.api JSON");
        assert_eq!(json, rsp);
    }

    #[test]
    fn binary_bodies_go_as_base64() {
        assert_eq!(body_text(b"hello"), ("hello".to_string(), false));
        assert_eq!(body_text(&[0xff, 0x00, 0x41]), ("/wBB".to_string(), true));
    }

    #[test]
    fn headers_and_forms_become_pairs() {
        let mut h = HeaderMap::new();
        h.append("x-user-id", "a".parse().expect("value"));
        h.append("x-user-id", "b".parse().expect("value"));
        h.append("host", "gw:8080".parse().expect("value"));
        let p = header_pairs(&h);
        assert_eq!(p.keys().collect::<Vec<_>>(), ["X-User-Id"]);
        assert_eq!(p["X-User-Id"].values, ["a", "b"]);
        let f = form_pairs(b"a=1&a=2&b=%20x");
        assert_eq!(f["a"].values, ["1", "2"]);
        assert_eq!(f["b"].values, [" x"]);
    }
}
