//! The legacy JSON-RPC 1.0 envelope (`application/json-rpc`).
//!
//! Request: `{"params":[<req>],"id":"<id>","method":"<Endpoint>"}`; response:
//! `{"id":"<id>","result":<rsp or null>,"error":<null or "text">}`, each followed by `\n`.
//! The id is a JSON string, as go-micro writes it.

use super::CodecError;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A decoded JSON-RPC request.
#[derive(Debug)]
pub struct RpcRequest {
    /// `Service.Method`.
    pub method: String,
    /// The request id, as text.
    pub id: String,
    /// The first parameter: the request message, as JSON bytes.
    pub params: Bytes,
}

#[derive(Deserialize)]
struct WireRequest<'a> {
    #[serde(default)]
    method: String,
    #[serde(borrow, default)]
    params: Vec<&'a RawValue>,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireResponse<'a> {
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

fn id_text(id: Option<serde_json::Value>) -> String {
    match id {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// Wraps a JSON request body (empty means `null`).
pub fn encode_request(method: &str, id: &str, body: &[u8]) -> Result<Bytes, CodecError> {
    let params = json_or_null(body)?;
    Ok(Bytes::from(format!(
        "{{\"params\":[{params}],\"id\":{},\"method\":{}}}\n",
        json_string(id),
        json_string(method)
    )))
}

/// Unwraps a JSON-RPC request.
pub fn decode_request(body: &[u8]) -> Result<RpcRequest, CodecError> {
    let wire: WireRequest<'_> = serde_json::from_slice(body).map_err(|e| CodecError::JsonRpc(e.to_string()))?;
    let params = wire.params.first().map(|p| Bytes::copy_from_slice(p.get().as_bytes())).unwrap_or_default();
    Ok(RpcRequest { method: wire.method, id: id_text(wire.id), params })
}

/// Wraps a reply: a JSON result, or an error text.
pub fn encode_response(id: &str, result: Option<&[u8]>, error: Option<&str>) -> Result<Bytes, CodecError> {
    let result = match result {
        Some(r) => json_or_null(r)?,
        None => "null".to_string(),
    };
    let error = error.map(json_string).unwrap_or_else(|| "null".to_string());
    Ok(Bytes::from(format!("{{\"id\":{},\"result\":{result},\"error\":{error}}}\n", json_string(id))))
}

/// Unwraps a reply into its result bytes, or the error text it carries.
pub fn decode_response(body: &[u8]) -> Result<Result<Bytes, String>, CodecError> {
    let wire: WireResponse<'_> = serde_json::from_slice(body).map_err(|e| CodecError::JsonRpc(e.to_string()))?;
    match wire.error {
        Some(serde_json::Value::Null) | None => {
            Ok(Ok(wire.result.map(|r| Bytes::copy_from_slice(r.get().as_bytes())).unwrap_or_default()))
        }
        Some(serde_json::Value::String(s)) => Ok(Err(s)),
        Some(other) => Ok(Err(other.to_string())),
    }
}

fn json_or_null(body: &[u8]) -> Result<String, CodecError> {
    let text = std::str::from_utf8(body).map_err(|_| CodecError::JsonRpc("body is not UTF-8".into()))?.trim();
    if text.is_empty() {
        return Ok("null".into());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| CodecError::JsonRpc(format!("body is not JSON: {e}")))?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_bytes() {
        let req = encode_request("Greeter.Hello", "0", b"{\"name\":\"Alice\"}\n").unwrap();
        assert_eq!(&req[..], b"{\"params\":[{\"name\":\"Alice\"}],\"id\":\"0\",\"method\":\"Greeter.Hello\"}\n");
        let back = decode_request(&req).unwrap();
        assert_eq!(
            (back.method.as_str(), back.id.as_str(), &back.params[..]),
            ("Greeter.Hello", "0", &b"{\"name\":\"Alice\"}"[..])
        );
        let rsp = encode_response("0", Some(b"{\"message\":\"Hello Alice\"}"), None).unwrap();
        assert_eq!(&rsp[..], b"{\"id\":\"0\",\"result\":{\"message\":\"Hello Alice\"},\"error\":null}\n");
        assert_eq!(&decode_response(&rsp).unwrap().unwrap()[..], b"{\"message\":\"Hello Alice\"}");
        let err = encode_response("1", None, Some("boom")).unwrap();
        assert_eq!(decode_response(&err).unwrap().unwrap_err(), "boom");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_request(b"{not json").is_err());
        assert!(encode_request("A.B", "1", b"{bad").is_err());
        assert!(decode_response(b"\"text\"").is_err());
    }
}
