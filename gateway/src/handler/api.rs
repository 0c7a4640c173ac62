//! The api handler (`--handler=api`, and the meta handler for an endpoint whose registry
//! metadata says `handler=api`): the whole HTTP request as go-micro's `go.api.Request`, sent
//! as `application/protobuf` to the service and method the classic rules give (spec §2.1,
//! §2.6, A13, A14); the reply read as a `go.api.Response`.
//!
//! The request is filled as go-micro's `requestToProto` fills it — `method`, `path`, `url`
//! (path and query as received), `get` (the query), `post` (a url-encoded form body, for
//! POST, PUT and PATCH), `body` (the raw body for every other content type), `header` (every
//! request header, canonical names, plus `Host`; a missing or unreadable `Content-Type`
//! becomes `text/plain; charset=UTF-8`) — with two of its defects fixed:
//!
//! - `X-Forwarded-For` is the client's chain with the peer appended (go-micro's header copy
//!   overwrote it, so the peer only showed when the client sent none);
//! - a body that is not UTF-8 (a multipart upload, an image) goes base64-encoded, the header
//!   map saying `Content-Transfer-Encoding: base64` ([`goapi::body_text`]); go-micro put it in
//!   the proto `string` as it was and Go's encoder refused the whole request with a 500.
//!
//! The reply: `statusCode` 0 is 200 (one outside 200–999 is answered as 500), each value of
//! each header pair is added under the pair's `key`, `Content-Type` is `application/json`
//! unless the service set one, and the body is written as it is. A reply in JSON (a service
//! that answered with the JSON codec) is read too. Errors as the rpc handler's
//! ([`crate::error::from_call`]).

use super::{forwarded_for, metadata, read_body, resolve, route_names, timeout};
use crate::goapi::{self, Pairs};
use crate::{error, Body, Peer, Shared, GATEWAY_ID};
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use micro::{codec, CallOptions};
use prost::Message;

/// The content type a request without a readable one is given (go-micro's default).
const DEFAULT_TYPE: &str = "text/plain; charset=UTF-8";

/// Serves one request with the api handler: the classic rules name the service and method.
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let Some(route) = super::route_of(s, &req, super::api_rules) else {
        return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, "no service: the path is empty");
    };
    let (names, why) = route_names(&route, &path);
    match resolve(s, &names, &why).await {
        Ok(service) => call_service(s, req, &service, &route.method).await,
        Err(rsp) => rsp,
    }
}

/// Calls `service` (found already) at `method` with the request as a `go.api.Request`.
pub(crate) async fn call_service(s: &Shared, req: Request<Body>, service: &str, method: &str) -> Response<Body> {
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), service, method) {
        return rsp;
    }
    let (parts, body) = match read_body(s, req).await {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    let request = to_proto(&parts, &body);
    let budget = timeout(s, &parts.headers);
    let opts = CallOptions {
        content_type: Some(codec::PROTOBUF.to_string()),
        timeout: Some(budget),
        request_timeout: Some(budget),
        metadata: metadata(&parts.headers),
        ..Default::default()
    };
    let what = format!("{service}.{method}");
    match s.client.call(service, method, request.encode_to_vec(), &opts).await {
        Ok(reply) => match from_reply(&reply.body, &reply.content_type) {
            Ok(rsp) => to_http(rsp),
            Err(why) => error::json(
                StatusCode::BAD_GATEWAY,
                GATEWAY_ID,
                format!("the reply of {what} is not a go.api Response: {why}"),
            ),
        },
        Err(e) => error::from_call(&e, &what),
    }
}

/// Whether `ct` is a media type go's `mime.ParseMediaType` would take (`type/subtype`).
fn readable_type(ct: &str) -> bool {
    let media = micro::host::body::media_type(ct);
    matches!(media.split_once('/'), Some((t, sub)) if !t.is_empty() && !sub.is_empty())
}

/// The `go.api.Request` for a request (see the module docs).
pub(crate) fn to_proto(parts: &Parts, body: &[u8]) -> goapi::Request {
    let headers = &parts.headers;
    let mut header: Pairs = goapi::header_pairs(headers);
    let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let ct = if readable_type(ct) {
        ct.to_string()
    } else {
        goapi::set(&mut header, "Content-Type", DEFAULT_TYPE.into());
        DEFAULT_TYPE.to_string()
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    goapi::set(&mut header, "Host", host);
    if let Some(chain) = forwarded_for(headers, parts.extensions.get::<Peer>()) {
        goapi::set(&mut header, "X-Forwarded-For", chain);
    }
    let form = micro::host::body::media_type(&ct) == "application/x-www-form-urlencoded";
    let mut post = Pairs::new();
    let mut text = String::new();
    if form {
        if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
            post = goapi::form_pairs(body);
        }
    } else {
        let (t, encoded) = goapi::body_text(body);
        text = t;
        if encoded {
            goapi::set(&mut header, goapi::BODY_ENCODING, "base64".into());
        }
    }
    let url = parts.uri.path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| parts.uri.path().into());
    goapi::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        header,
        get: goapi::form_pairs(parts.uri.query().unwrap_or_default().as_bytes()),
        post,
        body: text,
        url,
    }
}

/// The `go.api.Response` in a reply: JSON when its content type says so, else protobuf.
fn from_reply(body: &Bytes, content_type: &str) -> Result<goapi::Response, String> {
    let media = micro::host::body::media_type(content_type);
    if media == codec::JSON || media.ends_with("+json") {
        return serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"));
    }
    goapi::Response::decode(&body[..]).map_err(|e| format!("protobuf: {e}"))
}

/// Headers a reply may not set: hyper frames the body itself.
fn reserved(name: &HeaderName) -> bool {
    name == hyper::header::CONTENT_LENGTH || super::is_hop_by_hop(name.as_str())
}

/// The HTTP answer for a `go.api.Response` (see the module docs).
pub(crate) fn to_http(rsp: goapi::Response) -> Response<Body> {
    let status = match rsp.status_code {
        0 => StatusCode::OK,
        code => u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|s| s.as_u16() >= 200)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let mut out = Response::new(crate::full(Bytes::from(rsp.body)));
    *out.status_mut() = status;
    let headers = out.headers_mut();
    for pair in rsp.header.into_values() {
        let Ok(name) = HeaderName::from_bytes(pair.key.as_bytes()) else {
            tracing::debug!(key = %pair.key, "api reply header with an invalid name dropped");
            continue;
        };
        if reserved(&name) {
            continue;
        }
        for v in pair.values {
            match HeaderValue::from_str(&v) {
                Ok(value) => {
                    headers.append(name.clone(), value);
                }
                Err(_) => tracing::debug!(key = %pair.key, "api reply header with an invalid value dropped"),
            }
        }
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, error::JSON);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(()).expect("request");
        req.extensions_mut().insert(Peer { addr: "10.0.0.9:5555".parse().expect("addr"), tls: false });
        req.into_parts().0
    }

    #[test]
    fn a_get_is_filled_as_go_micro_fills_it() {
        let p = parts("GET", "/echo/echo/call?a=1&a=2", &[("host", "gw:8080"), ("user-agent", "curl/8")]);
        let r = to_proto(&p, b"");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.url.as_str()),
            ("GET", "/echo/echo/call", "/echo/echo/call?a=1&a=2")
        );
        assert_eq!(r.get["a"].values, ["1", "2"]);
        assert_eq!(r.header["Host"].values, ["gw:8080"]);
        assert_eq!(r.header["User-Agent"].values, ["curl/8"]);
        assert_eq!(r.header["Content-Type"].values, [DEFAULT_TYPE]);
        assert_eq!(r.header["X-Forwarded-For"].values, ["10.0.0.9"]);
        assert!(r.post.is_empty() && r.body.is_empty());
    }

    #[test]
    fn forwarded_for_is_appended_not_overwritten() {
        let p = parts("GET", "/a/b", &[("x-forwarded-for", "1.1.1.1, 2.2.2.2"), ("x-forwarded-for", "3.3.3.3")]);
        assert_eq!(to_proto(&p, b"").header["X-Forwarded-For"].values, ["1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9"]);
    }

    #[test]
    fn forms_go_in_post_and_other_bodies_in_body() {
        let p = parts("POST", "/a/b", &[("content-type", "application/x-www-form-urlencoded")]);
        let r = to_proto(&p, b"name=x&n=1");
        assert_eq!((r.post["name"].values.as_slice(), r.body.as_str()), (&["x".to_string()][..], ""));
        let p = parts("POST", "/a/b", &[("content-type", "application/json")]);
        let r = to_proto(&p, b"{\"a\":1}");
        assert_eq!(r.body, "{\"a\":1}");
        assert!(!r.header.contains_key(goapi::BODY_ENCODING));
    }

    #[test]
    fn binary_bodies_are_base64_and_say_so() {
        let p = parts("POST", "/a/b", &[("content-type", "image/png")]);
        let r = to_proto(&p, &[0x89, b'P', b'N', b'G', 0xff]);
        assert_eq!(r.body, "iVBOR/8=");
        assert_eq!(r.header[goapi::BODY_ENCODING].values, ["base64"]);
        // and the whole request encodes (go-micro's encoder refused it).
        assert!(goapi::Request::decode(&r.encode_to_vec()[..]).is_ok());
    }

    #[tokio::test]
    async fn replies_become_http() {
        let mut rsp = goapi::Response { status_code: 201, body: "{\"ok\":true}".into(), ..Default::default() };
        goapi::set(&mut rsp.header, "X-Fx", "1".into());
        goapi::add(&mut rsp.header, "X-Fx", "2".into());
        goapi::set(&mut rsp.header, "Content-Length", "999".into());
        let out = to_http(rsp);
        assert_eq!(out.status(), StatusCode::CREATED);
        assert_eq!(out.headers().get_all("x-fx").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(out.headers()[CONTENT_TYPE], "application/json");
        assert!(out.headers().get(hyper::header::CONTENT_LENGTH).is_none());
        let body = out.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"{\"ok\":true}");
        assert_eq!(to_http(goapi::Response::default()).status(), StatusCode::OK);
        let odd = goapi::Response { status_code: 42, ..Default::default() };
        assert_eq!(to_http(odd).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn json_replies_are_read_too() {
        let r = from_reply(&Bytes::from_static(br#"{"statusCode":202,"body":"x"}"#), "application/json").expect("json");
        assert_eq!((r.status_code, r.body.as_str()), (202, "x"));
        assert!(from_reply(&Bytes::from_static(b"\xff\xff"), "application/protobuf").is_err());
    }
}
