//! The legacy envelopes as one operation per direction: what the client and the server do
//! with a body for a [`Framing`], whichever envelope it is.
//!
//! go-micro wraps the message in JSON-RPC ([`super::jsonrpc`]) or proto-RPC
//! ([`super::protorpc`]) for a node without `protocol=mucp` metadata, and a server answers
//! such a request in the same envelope (spec §4.3). The client wraps requests and unwraps
//! replies here; the server unwraps requests and wraps replies here. [`Framing::Plain`]
//! passes the body through untouched (a `Bytes` clone, no copy), so the mucp path pays
//! nothing for the envelopes.

use super::{jsonrpc, protorpc, CodecError, Framing};
use bytes::Bytes;

/// A request taken out of its envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unwrapped {
    /// `Service.Method`, as the envelope names it (empty for [`Framing::Plain`]: the
    /// endpoint travels in headers there).
    pub endpoint: String,
    /// The request id, as text (JSON-RPC's `id`, proto-RPC's `seq`), echoed in the reply.
    pub id: String,
    /// The message inside.
    pub body: Bytes,
}

/// The content type of the message inside an envelope of `framing` (`application/json`
/// inside JSON-RPC, `application/protobuf` inside proto-RPC); `None` for `Plain`.
pub fn inner_content_type(framing: Framing) -> Option<&'static str> {
    match framing {
        Framing::Plain => None,
        Framing::JsonRpc => Some(super::JSON),
        Framing::ProtoRpc => Some(super::PROTOBUF),
    }
}

/// The content type of an envelope of `framing` (`application/json-rpc`,
/// `application/proto-rpc`); `None` for `Plain`.
pub fn envelope_content_type(framing: Framing) -> Option<&'static str> {
    match framing {
        Framing::Plain => None,
        Framing::JsonRpc => Some(super::JSON_RPC),
        Framing::ProtoRpc => Some(super::PROTO_RPC),
    }
}

/// Client side: wraps a request `body` for `endpoint` with request id `id` (a proto-RPC
/// `seq` that is not a number is 0, as go-micro parses it).
pub fn wrap_request(framing: Framing, endpoint: &str, id: &str, body: &Bytes) -> Result<Bytes, CodecError> {
    match framing {
        Framing::Plain => Ok(body.clone()),
        Framing::JsonRpc => jsonrpc::encode_request(endpoint, id, body),
        Framing::ProtoRpc => Ok(protorpc::encode(
            &protorpc::RpcHeader {
                service_method: endpoint.into(),
                seq: id.parse().unwrap_or(0),
                error: String::new(),
            },
            body,
        )),
    }
}

/// Server side: takes a request out of its envelope.
pub fn unwrap_request(framing: Framing, body: &Bytes) -> Result<Unwrapped, CodecError> {
    match framing {
        Framing::Plain => Ok(Unwrapped { body: body.clone(), ..Unwrapped::default() }),
        Framing::JsonRpc => {
            let r = jsonrpc::decode_request(body)?;
            Ok(Unwrapped { endpoint: r.method, id: r.id, body: r.params })
        }
        Framing::ProtoRpc => {
            let (h, body) = protorpc::decode(body)?;
            Ok(Unwrapped { endpoint: h.service_method, id: h.seq.to_string(), body })
        }
    }
}

/// Server side: wraps the answer to `request` — the handler's body, or the text of its
/// error (go-micro's error JSON), which the envelope carries in its own error field.
pub fn wrap_response(framing: Framing, request: &Unwrapped, answer: Result<&Bytes, &str>) -> Result<Bytes, CodecError> {
    match framing {
        Framing::Plain => Ok(answer.cloned().unwrap_or_default()),
        Framing::JsonRpc => match answer {
            Ok(body) => jsonrpc::encode_response(&request.id, Some(body), None),
            Err(text) => jsonrpc::encode_response(&request.id, None, Some(text)),
        },
        Framing::ProtoRpc => {
            let mut h = protorpc::RpcHeader {
                service_method: request.endpoint.clone(),
                seq: request.id.parse().unwrap_or(0),
                error: String::new(),
            };
            Ok(match answer {
                Ok(body) => protorpc::encode(&h, body),
                Err(text) => {
                    h.error = text.to_string();
                    protorpc::encode(&h, &[])
                }
            })
        }
    }
}

/// Client side: takes a reply out of its envelope: the body, or the error text the
/// envelope carries.
pub fn unwrap_response(framing: Framing, body: Bytes) -> Result<Result<Bytes, String>, CodecError> {
    match framing {
        Framing::Plain => Ok(Ok(body)),
        Framing::JsonRpc => jsonrpc::decode_response(&body),
        Framing::ProtoRpc => {
            let (h, body) = protorpc::decode(&body)?;
            Ok(if h.error.is_empty() { Ok(body) } else { Err(h.error) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_in_both_envelopes() {
        let body = Bytes::from_static(b"{\"name\":\"Alice\"}");
        for framing in [Framing::JsonRpc, Framing::ProtoRpc] {
            let wire = wrap_request(framing, "Greeter.Hello", "7", &body).unwrap();
            let req = unwrap_request(framing, &wire).unwrap();
            assert_eq!((req.endpoint.as_str(), req.id.as_str(), &req.body), ("Greeter.Hello", "7", &body));
            let ok = wrap_response(framing, &req, Ok(&body)).unwrap();
            assert_eq!(unwrap_response(framing, ok).unwrap(), Ok(body.clone()));
            let err = wrap_response(framing, &req, Err("boom")).unwrap();
            assert_eq!(unwrap_response(framing, err).unwrap(), Err("boom".to_string()));
        }
    }

    #[test]
    fn json_rpc_bytes_are_go_micros() {
        let wire = wrap_request(Framing::JsonRpc, "Greeter.Hello", "0", &Bytes::from_static(b"{\"a\":1}\n")).unwrap();
        assert_eq!(&wire[..], b"{\"params\":[{\"a\":1}],\"id\":\"0\",\"method\":\"Greeter.Hello\"}\n");
        let req = Unwrapped { endpoint: "Greeter.Hello".into(), id: "0".into(), body: Bytes::new() };
        let rsp = wrap_response(Framing::JsonRpc, &req, Err("{\"code\":500}")).unwrap();
        assert_eq!(&rsp[..], b"{\"id\":\"0\",\"result\":null,\"error\":\"{\\\"code\\\":500}\"}\n");
    }

    #[test]
    fn plain_passes_through() {
        let body = Bytes::from_static(b"raw");
        assert_eq!(wrap_request(Framing::Plain, "A.B", "1", &body).unwrap(), body);
        assert_eq!(unwrap_request(Framing::Plain, &body).unwrap().body, body);
        assert_eq!(unwrap_response(Framing::Plain, body.clone()).unwrap(), Ok(body));
    }
}
