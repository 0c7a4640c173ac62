//! The rpc handler: the path names a service and method (classic rules, [`crate::resolver`]),
//! the body is the request — JSON, or protobuf and raw bytes as they are — and the reply's
//! body is the answer. Also the `/rpc` endpoint (`--enable_rpc`): service, endpoint and
//! request named in a JSON or form body (spec §2.5).
//!
//! Bodies (spec A10, with one fix): JSON content types go as JSON; protobuf and
//! octet-stream go as they are, with their content type; a url-encoded form goes as the JSON
//! of its fields unless its body is JSON already (what `curl -d '{...}'` sends); anything
//! else, or none, goes as JSON. A GET (or HEAD) sends its query string as JSON (§2.8); an
//! empty body is `{}`.

use super::{metadata, read_body, resolve, route_names, timeout};
use crate::{error, qson, Body, Shared, GATEWAY_ID};
use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use micro::codec;
use micro::CallOptions;

/// The rpc handler (`--handler=rpc`): GET and POST only (a 405 otherwise, after routing).
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let Some(route) = super::route_of(s, &req, super::api_rules) else {
        return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, "no service: the path is empty");
    };
    if req.method() != Method::GET && req.method() != Method::POST {
        return error::method_not_allowed("GET, POST");
    }
    let (names, why) = route_names(&route, &path);
    call(s, req, &names, &why, &route.method).await
}

/// The content type a request body goes with, or `None` for "as JSON".
fn forwarded_type(content_type: &str) -> Option<&'static str> {
    match micro::host::body::media_type(content_type).as_str() {
        "application/protobuf"
        | "application/proto"
        | "application/grpc"
        | "application/grpc+proto"
        | "application/proto-rpc" => Some(codec::PROTOBUF),
        "application/octet-stream" => Some(codec::OCTET_STREAM),
        _ => None,
    }
}

/// The request body to send for `req` and its content type, or the 400 to answer.
fn request_body(
    method: &Method,
    query: Option<&str>,
    content_type: &str,
    body: Bytes,
) -> Result<(Bytes, &'static str), Response<Body>> {
    let bad = |e: qson::QsonError| error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, format!("query: {e}"));
    if *method == Method::GET || *method == Method::HEAD {
        let json = qson::to_json(query.unwrap_or("")).map_err(bad)?;
        return Ok((Bytes::from(json.to_string()), codec::JSON));
    }
    if let Some(ct) = forwarded_type(content_type) {
        return Ok((body, ct));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Bytes::from_static(b"{}"), codec::JSON));
    }
    let form = micro::host::body::media_type(content_type) == "application/x-www-form-urlencoded";
    if form && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        let text = std::str::from_utf8(&body)
            .map_err(|_| error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, "form body is not UTF-8"))?;
        let json = qson::to_json(text).map_err(bad)?;
        return Ok((Bytes::from(json.to_string()), codec::JSON));
    }
    Ok((body, codec::JSON))
}

/// Calls the first registered of `names` with the request's body; answers with the reply or
/// the error's status.
pub(crate) async fn call(s: &Shared, req: Request<Body>, names: &[String], why: &str, method: &str) -> Response<Body> {
    match resolve(s, names, why).await {
        Ok(service) => call_service(s, req, &service, method).await,
        Err(rsp) => rsp,
    }
}

/// Calls `service` (found already) with the request's body.
pub(crate) async fn call_service(s: &Shared, req: Request<Body>, service: &str, method: &str) -> Response<Body> {
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), service, method) {
        return rsp;
    }
    if super::http::is_websocket(req.headers()) {
        return super::stream::serve(s, req, service, method).await;
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let verb = req.method().clone();
    let query = req.uri().query().map(str::to_string);
    let (parts, body) = match read_body(s, req).await {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    let (body, ct) = match request_body(&verb, query.as_deref(), &content_type, body) {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    invoke(s, service, method, body, ct, &parts.headers, None).await
}

/// One call, answered as HTTP.
async fn invoke(
    s: &Shared,
    service: &str,
    method: &str,
    body: Bytes,
    content_type: &str,
    headers: &hyper::HeaderMap,
    address: Option<String>,
) -> Response<Body> {
    let budget = timeout(s, headers);
    let opts = CallOptions {
        address: address.into_iter().collect(),
        content_type: Some(content_type.to_string()),
        timeout: Some(budget),
        request_timeout: Some(budget),
        metadata: metadata(headers),
        ..Default::default()
    };
    match s.client.call(service, method, body, &opts).await {
        Ok(reply) => {
            let mut rsp = Response::new(crate::full(reply.body));
            let ct = if reply.content_type.is_empty() { codec::JSON.to_string() } else { reply.content_type };
            rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(&ct).unwrap_or(error::JSON));
            rsp
        }
        Err(e) => error::from_call(&e, &format!("{service}.{method}")),
    }
}

/// The fields of a `/rpc` request.
#[derive(Default)]
struct RpcRequest {
    service: String,
    endpoint: String,
    address: Option<String>,
    request: Option<String>,
}

fn bad_rpc(detail: impl Into<String>) -> Response<Body> {
    error::json(StatusCode::BAD_REQUEST, "go.micro.rpc", detail)
}

/// The `/rpc` endpoint: POST only; JSON (`{"service","endpoint"|"method","request","address"}`,
/// keys in any case, `request` a JSON value or a string of JSON) or a form.
pub(crate) async fn endpoint(s: &Shared, req: Request<Body>) -> Response<Body> {
    if req.method() == Method::GET && super::http::is_websocket(req.headers()) {
        return stream_endpoint(s, req).await;
    }
    if req.method() != Method::POST {
        return error::method_not_allowed("POST");
    }
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let (parts, body) = match read_body(s, req).await {
        Ok(b) => b,
        Err(rsp) => return rsp,
    };
    let mut r = RpcRequest::default();
    if micro::host::body::media_type(&content_type) == codec::JSON {
        let v: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad_rpc(format!("request body is not JSON: {e}")),
        };
        let Some(obj) = v.as_object() else { return bad_rpc("request body must be a JSON object") };
        let mut method = String::new();
        for (k, v) in obj {
            let text = || v.as_str().map(str::to_string).unwrap_or_default();
            match k.to_ascii_lowercase().as_str() {
                "service" => r.service = text(),
                "endpoint" => r.endpoint = text(),
                "method" => method = text(),
                "address" => r.address = Some(text()).filter(|a| !a.is_empty()),
                "request" => r.request = Some(if let Some(t) = v.as_str() { t.to_string() } else { v.to_string() }),
                _ => {}
            }
        }
        if r.endpoint.is_empty() {
            r.endpoint = method;
        }
    } else {
        let mut method = String::new();
        let form = std::str::from_utf8(&body).unwrap_or_default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(form.as_bytes())) {
            match k.as_ref() {
                "service" => r.service = v.into_owned(),
                "endpoint" => r.endpoint = v.into_owned(),
                "method" => method = v.into_owned(),
                "address" => r.address = Some(v.into_owned()).filter(|a| !a.is_empty()),
                "request" => r.request = Some(v.into_owned()),
                _ => {}
            }
        }
        if r.endpoint.is_empty() {
            r.endpoint = method;
        }
    }
    if r.service.is_empty() {
        return bad_rpc("invalid service: name one with \"service\"");
    }
    if r.endpoint.is_empty() {
        return bad_rpc("invalid endpoint: name one with \"endpoint\" (or \"method\")");
    }
    if let Err(rsp) = super::authorize(s, &parts.headers, &parts.extensions, &r.service, &r.endpoint) {
        return with_json_type(rsp);
    }
    let request = r.request.unwrap_or_default();
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&request) {
        return bad_rpc(format!("error decoding request string: {e}"));
    }
    let rsp = invoke(s, &r.service, &r.endpoint, Bytes::from(request), codec::JSON, &parts.headers, r.address).await;
    with_json_type(rsp)
}

/// `GET /rpc?service=S&endpoint=E` (or `method=E`) upgraded to a websocket: a stream
/// ([`super::stream`]).
async fn stream_endpoint(s: &Shared, req: Request<Body>) -> Response<Body> {
    let query = req.uri().query().unwrap_or_default().to_string();
    let param = |key: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(service) = param("service") else {
        return bad_rpc("invalid service: name one with ?service=NAME");
    };
    let Some(endpoint) = param("endpoint").or_else(|| param("method")) else {
        return bad_rpc("invalid endpoint: name one with ?endpoint=Service.Method");
    };
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), &service, &endpoint) {
        return with_json_type(rsp);
    }
    super::stream::serve(s, req, &service, &endpoint).await
}

/// `/rpc` always answers `application/json`.
fn with_json_type(mut rsp: Response<Body>) -> Response<Body> {
    rsp.headers_mut().insert(CONTENT_TYPE, error::JSON);
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_go_as_json_unless_they_are_protobuf_or_bytes() {
        let post = Method::POST;
        let (b, ct) =
            request_body(&post, None, "application/json; charset=utf-8", Bytes::from_static(b"{\"a\":1}")).unwrap();
        assert_eq!((&b[..], ct), (&b"{\"a\":1}"[..], codec::JSON));
        let (_, ct) = request_body(&post, None, "application/grpc+proto", Bytes::from_static(b"\x0a\x01x")).unwrap();
        assert_eq!(ct, codec::PROTOBUF);
        let (b, ct) =
            request_body(&post, None, "application/x-www-form-urlencoded", Bytes::from_static(b"{\"name\":\"x\"}"))
                .unwrap();
        assert_eq!((&b[..], ct), (&b"{\"name\":\"x\"}"[..], codec::JSON));
        let (b, _) =
            request_body(&post, None, "application/x-www-form-urlencoded", Bytes::from_static(b"name=x&n=1")).unwrap();
        assert_eq!(&b[..], b"{\"n\":1,\"name\":\"x\"}");
        let (b, _) = request_body(&post, None, "", Bytes::new()).unwrap();
        assert_eq!(&b[..], b"{}");
        let (b, _) = request_body(&Method::GET, Some("name=q"), "", Bytes::new()).unwrap();
        assert_eq!(&b[..], b"{\"name\":\"q\"}");
        assert!(request_body(&Method::GET, Some("name"), "", Bytes::new()).is_err());
    }
}
