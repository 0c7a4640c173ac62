//! Codecs keyed by content type: go-micro's `codec` package.
//!
//! Bodies stay bytes: for `application/json`, `application/protobuf` and
//! `application/octet-stream` the body passes through untouched (the caller's JSON or
//! protobuf library encodes it). The legacy envelopes — JSON-RPC ([`jsonrpc`]) and proto-RPC
//! ([`protorpc`]), used by go-micro for nodes without `protocol=mucp` — wrap and unwrap
//! around those bytes, through [`envelope`], the one place client and server do so.
//! `json` holds the helpers that make our JSON byte-identical to Go's `encoding/json`.
//! Content types match exactly, as in go-micro: `application/json; charset=utf-8` is not
//! `application/json`.

pub mod envelope;
pub(crate) mod json;
pub mod jsonrpc;
pub mod protorpc;

/// `application/json`: go-micro's client default.
pub const JSON: &str = "application/json";
/// `application/protobuf`: the server's default when a request names none.
pub const PROTOBUF: &str = "application/protobuf";
/// `application/octet-stream`: raw bytes.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// `application/json-rpc`: the legacy JSON-RPC 1.0 envelope.
pub const JSON_RPC: &str = "application/json-rpc";
/// `application/proto-rpc`: the legacy netstring envelope.
pub const PROTO_RPC: &str = "application/proto-rpc";

/// How a body of a given content type is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The body is the message itself (json, protobuf, octet-stream).
    Plain,
    /// The JSON-RPC envelope around a JSON message.
    JsonRpc,
    /// The proto-RPC netstrings around a protobuf message.
    ProtoRpc,
}

/// The framing for `content_type`, or `None` when go-micro has no codec for it.
pub fn framing(content_type: &str) -> Option<Framing> {
    match content_type {
        JSON | PROTOBUF | OCTET_STREAM | "application/proto" | "application/grpc+json" | "application/grpc+proto" => {
            Some(Framing::Plain)
        }
        JSON_RPC => Some(Framing::JsonRpc),
        PROTO_RPC => Some(Framing::ProtoRpc),
        _ => None,
    }
}

/// The legacy content type a go-micro client uses for a node without `protocol` metadata.
pub fn legacy_content_type(content_type: &str) -> &str {
    match content_type {
        JSON => JSON_RPC,
        PROTOBUF => PROTO_RPC,
        other => other,
    }
}

/// The plain content type inside a legacy envelope.
pub fn inner_content_type(content_type: &str) -> &str {
    match content_type {
        JSON_RPC => JSON,
        PROTO_RPC => PROTOBUF,
        other => other,
    }
}

/// Why a legacy envelope could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The JSON-RPC envelope is not valid.
    #[error("bad JSON-RPC envelope: {0}")]
    JsonRpc(String),
    /// The proto-RPC netstrings are not valid.
    #[error("bad proto-RPC frame: {0}")]
    ProtoRpc(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_exactly() {
        assert_eq!(framing("application/json"), Some(Framing::Plain));
        assert_eq!(framing("application/json; charset=utf-8"), None);
        assert_eq!(framing("Application/JSON"), None);
        assert_eq!(framing(JSON_RPC), Some(Framing::JsonRpc));
        assert_eq!(legacy_content_type(JSON), JSON_RPC);
        assert_eq!(inner_content_type(PROTO_RPC), PROTOBUF);
    }
}
