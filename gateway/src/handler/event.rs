//! The event handler (`--handler=event`, usually with `--namespace=go.micro.evt`): every
//! request is published as go-micro's `go.api.Event` on the topic the path names (spec §2.7,
//! A17, [`crate::resolver::event_route`]), through the client's broker, as
//! `application/protobuf` — go-micro's event handler published with the client's default
//! codec, protobuf in the classic toolkit.
//!
//! The event: `name` from the path, `id` `<topic>-<name>-<uuid v4>`, `timestamp` in Unix
//! seconds, `header` the request headers as pairs, `data` the body — or for a GET the JSON of
//! the query with array values (`?a=1` → `{"a":["1"]}`). A body that is not UTF-8 goes
//! base64-encoded with `Content-Transfer-Encoding: base64` among the headers
//! ([`crate::goapi::body_text`]). The request headers also travel as the message's metadata.
//!
//! Answers: 200 with no body once the broker took the message; a publish that fails is a 500
//! (413 for a message over the broker's limit) with go-micro's error JSON — the classic
//! toolkit wrote the error as plain text.

use super::{metadata, read_body};
use crate::goapi::{self, Pairs};
use crate::{error, full, resolver, Body, Shared, GATEWAY_ID};
use bytes::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use micro::{codec, PublishOptions};
use prost::Message;
use std::collections::BTreeMap;

/// Serves one request with the event handler.
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    let (topic, name) = resolver::event_route(&s.opts.namespace, req.uri().path());
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), &topic, &name) {
        return rsp;
    }
    let (parts, body) = match read_body(s, req).await {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    let mut header = goapi::header_pairs(&parts.headers);
    let data = if parts.method == Method::GET {
        query_json(parts.uri.query().unwrap_or_default())
    } else {
        let (text, encoded) = goapi::body_text(&body);
        if encoded {
            goapi::set(&mut header, goapi::BODY_ENCODING, "base64".into());
        }
        text
    };
    let event = goapi::Event {
        id: format!("{topic}-{name}-{}", uuid::Uuid::new_v4()),
        name,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default(),
        header,
        data,
    };
    let opts = PublishOptions { content_type: Some(codec::PROTOBUF.into()), metadata: metadata(&parts.headers) };
    match s.client.publish(&topic, event.encode_to_vec(), &opts).await {
        Ok(()) => Response::new(full(Bytes::new())),
        Err(e) => {
            let status = if e.code == 413 { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::INTERNAL_SERVER_ERROR };
            error::json(status, GATEWAY_ID, format!("publishing to {topic}: {}", e.detail))
        }
    }
}

/// A query as Go's `json.Marshal(url.Values)`: keys sorted, every value an array of strings.
fn query_json(query: &str) -> String {
    let pairs: Pairs = goapi::form_pairs(query.as_bytes());
    let values: BTreeMap<String, Vec<String>> = pairs.into_iter().map(|(k, p)| (k, p.values)).collect();
    serde_json::to_string(&values).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_json_with_array_values() {
        assert_eq!(query_json("a=1&b=x&a=2"), r#"{"a":["1","2"],"b":["x"]}"#);
        assert_eq!(query_json(""), "{}");
    }
}
