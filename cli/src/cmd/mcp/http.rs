//! `micro mcp serve --mcp_address HOST:PORT`: the MCP server over HTTP.
//!
//! - `POST /mcp`: MCP's Streamable HTTP transport in its JSON mode — the body is one
//!   JSON-RPC message, the reply one JSON object (a notification gets 202 and no body);
//!   no server-sent events are offered (`GET /mcp` is 405, as the transport allows);
//! - `GET /mcp/tools` and `POST /mcp/call` (`{"tool": …, "input": {…}}` →
//!   `{"result": <reply>}`): go-micro v5 gateway/mcp's HTTP routes, for agents set up
//!   for it;
//! - `GET /health`: `{"status":"ok"}`.
//!
//! With --auth every route but /health needs `Authorization: Bearer <token>` (a 401 with
//! go-micro's error JSON otherwise); tools are listed and called as that token may.

use super::{call, Caller, Server, Tool};
use crate::cmd::{Failure, Outcome};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};
use std::convert::Infallible;
use std::sync::Arc;

/// The largest request body taken.
const MAX_BODY: usize = 4 << 20;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(body.into()));
    *rsp.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        rsp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    rsp
}

fn json_reply(status: StatusCode, v: &Json) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string())
}

fn text(status: StatusCode, t: &str) -> Response<Full<Bytes>> {
    reply(status, "text/plain; charset=utf-8", t.to_string())
}

/// Answers one HTTP request.
async fn handle(server: Arc<Server>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let caller = server.caller(micro_gateway::auth::token_of(req.headers()).as_deref());
    if let (Caller::Refused(e), false) = (&caller, path == "/health") {
        let mut rsp = reply(StatusCode::UNAUTHORIZED, "application/json", e.to_string());
        rsp.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
        return rsp;
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return text(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body: {e}")),
    };
    match (method, path.as_str()) {
        (Method::POST, "/mcp") => {
            let line = String::from_utf8_lossy(&body);
            match server.line(&line, &caller).await {
                Some(r) => json_reply(StatusCode::OK, &r),
                None => reply(StatusCode::ACCEPTED, "application/json", Bytes::new()),
            }
        }
        (_, "/mcp") => text(StatusCode::METHOD_NOT_ALLOWED, "POST JSON-RPC messages to /mcp (no event stream here)"),
        (Method::GET, "/mcp/tools") => match super::discover(&server.sess).await {
            Ok(tools) => {
                let list: Vec<Json> =
                    tools.values().filter(|t| server.permit(&caller, t).is_ok()).map(Tool::to_json).collect();
                *server.tools.lock().await = tools;
                json_reply(StatusCode::OK, &json!({"tools": list}))
            }
            Err(f) => text(StatusCode::INTERNAL_SERVER_ERROR, f.text()),
        },
        (Method::POST, "/mcp/call") => {
            let Ok(req) = serde_json::from_slice::<Json>(&body) else {
                return text(StatusCode::BAD_REQUEST, "body: {\"tool\": NAME, \"input\": {…}}");
            };
            let Some(name) = req["tool"].as_str() else {
                return text(StatusCode::BAD_REQUEST, "body: {\"tool\": NAME, \"input\": {…}}");
            };
            let tool = match server.find(name).await {
                Ok(Some(t)) => t,
                Ok(None) => return text(StatusCode::NOT_FOUND, "Tool not found"),
                Err(f) => return text(StatusCode::INTERNAL_SERVER_ERROR, f.text()),
            };
            if let Err(e) = server.permit(&caller, &tool) {
                return reply(StatusCode::FORBIDDEN, "application/json", e.to_string());
            }
            let input = if req["input"].is_null() { json!({}) } else { req["input"].clone() };
            match call(&tool, &input, &server.opts, &server.sess).await {
                Ok(t) => {
                    let result = serde_json::from_str::<Json>(&t).unwrap_or(Json::String(t));
                    json_reply(StatusCode::OK, &json!({"result": result}))
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("RPC call failed: {e}")),
            }
        }
        (Method::GET, "/health") => json_reply(StatusCode::OK, &json!({"status": "ok"})),
        _ => text(StatusCode::NOT_FOUND, "not found: POST /mcp, GET /mcp/tools, POST /mcp/call, GET /health"),
    }
}

/// Serves HTTP on `address` until Ctrl-C / SIGTERM.
pub async fn serve(address: &str, server: Arc<Server>) -> Outcome {
    let address = match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| Failure::Failed(format!("micro mcp: cannot listen on {address}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?;
    println!("micro mcp listening on http://{bound}/mcp (registry {})", server.sess.registry_name);
    let signal = micro::wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => return Ok(()),
            (stream, _) = micro::transport::listener::accept_tcp(&listener) => {
                let server = server.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(handle(server, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
}
