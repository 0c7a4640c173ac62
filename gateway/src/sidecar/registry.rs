//! `/registry`: the mesh's registry over HTTP, as the classic sidecar served it (spec P7),
//! bodies in go-micro's registry JSON (`{"name","version","metadata","endpoints","nodes"}`).
//!
//! - `GET /registry` → a JSON array of every service;
//! - `GET /registry?service=NAME` → a JSON array of its versions, or 404;
//! - `POST /registry[?ttl=10s]` with a service → register it (200, empty body);
//! - `DELETE /registry` with a service → deregister its nodes (200, empty body).
//!
//! - `GET /registry[?service=NAME]` upgraded to a websocket: the registry's watch, every
//!   change (of NAME, or of every service) one text frame of go-micro's `registry.Result`
//!   JSON, `{"Action":"create","Service":{…}}`; pings every 54 s, and a client that does not
//!   read for 10 s is dropped.
//!
//! Errors are go-micro's error JSON (the classic sidecar wrote plain text): a body that is not
//! a service is a 400 that quotes serde's complaint.

use super::SIDECAR_ID;
use crate::handler::{lookup, read_body};
use crate::{error, full, Body, Shared};
use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use micro::registry::{Action, RegisterOptions, Service};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Serves one `/registry` request.
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    let query = req.uri().query().unwrap_or_default().to_string();
    let param =
        |key: &str| form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    if req.method() == Method::GET && crate::handler::http::is_websocket(req.headers()) {
        return watch(s, req, param("service").filter(|n| !n.is_empty())).await;
    }
    match *req.method() {
        Method::GET | Method::HEAD => match param("service").filter(|n| !n.is_empty()) {
            None => match s.registry.list_services().await {
                Ok(list) => json(&list),
                Err(e) => registry_error(&e),
            },
            Some(name) => match lookup(s, &name).await {
                Ok(v) if !v.is_empty() => json(&*v),
                Ok(_) => error::json(StatusCode::NOT_FOUND, SIDECAR_ID, format!("Service not found: {name}")),
                Err(e) if e.code == 404 => {
                    error::json(StatusCode::NOT_FOUND, SIDECAR_ID, format!("Service not found: {name}"))
                }
                Err(e) => registry_error(&e),
            },
        },
        Method::POST | Method::DELETE => {
            let register = req.method() == Method::POST;
            let ttl = match param("ttl").map(|t| micro::config::parse_duration(&t).ok_or(t)) {
                None => RegisterOptions::default().ttl,
                Some(Ok(d)) => d,
                Some(Err(t)) => {
                    return error::json(
                        StatusCode::BAD_REQUEST,
                        SIDECAR_ID,
                        format!("ttl {t:?} is not a duration: use e.g. 10s, 1m"),
                    )
                }
            };
            let (_, body) = match read_body(s, req).await {
                Ok(b) => b,
                Err(rsp) => return rsp,
            };
            let svc = match parse_service(&body) {
                Ok(svc) => svc,
                Err(why) => return error::json(StatusCode::BAD_REQUEST, SIDECAR_ID, why),
            };
            let done = if register {
                s.registry.register(&svc, RegisterOptions { ttl }).await
            } else {
                s.registry.deregister(&svc).await
            };
            match done {
                Ok(()) => {
                    tracing::info!(target: "micro::proxy", service = %svc.name, nodes = svc.nodes.len(), register, "registry changed");
                    Response::new(full(bytes::Bytes::new()))
                }
                Err(e) => registry_error(&e),
            }
        }
        _ => error::method_not_allowed("GET, POST, DELETE"),
    }
}

/// go-micro's `registry.Result` on the wire: its Go struct has no JSON tags, hence the
/// capitalised keys.
#[derive(Debug, Serialize, Deserialize)]
pub struct WatchResult {
    /// `create`, `update` or `delete`.
    #[serde(rename = "Action")]
    pub action: String,
    /// The service, with the node(s) the change concerns.
    #[serde(rename = "Service")]
    pub service: Service,
}

/// go-micro's name of an action.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// The action go-micro names `name`.
pub fn parse_action(name: &str) -> Option<Action> {
    match name {
        "create" => Some(Action::Create),
        "update" => Some(Action::Update),
        "delete" => Some(Action::Delete),
        _ => None,
    }
}

const PING_EVERY: Duration = Duration::from_secs(54);
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// The registry's watch over a websocket; the registry's refusal is answered before the upgrade.
async fn watch(s: &Shared, mut req: Request<Body>, service: Option<String>) -> Response<Body> {
    let mut watcher = match s.registry.watch(service.as_deref()).await {
        Ok(w) => w,
        Err(e) => return registry_error(&e),
    };
    let (rsp, upgrade) = match crate::ws::accept(&mut req, SIDECAR_ID) {
        Ok(accepted) => accepted,
        Err(rsp) => return rsp,
    };
    tokio::spawn(async move {
        let Some(ws) = crate::ws::open(upgrade, super::broker::READ_LIMIT).await else { return };
        let what = service.as_deref().unwrap_or("every service").to_string();
        tracing::info!(target: "micro::proxy", watch = %what, "registry watcher open");
        let (mut sink, mut source) = ws.split();
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let end = loop {
            tokio::select! {
                ev = watcher.next() => {
                    let Some(ev) = ev else { break "the registry ended the watch" };
                    let result = WatchResult { action: action_name(ev.action).into(), service: ev.service };
                    let text = serde_json::to_string(&result).unwrap_or_default();
                    match tokio::time::timeout(WRITE_DEADLINE, sink.send(Frame::text(text))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break "the socket failed",
                        Err(_) => break "the client did not read",
                    }
                }
                _ = ping.tick() => {
                    if !matches!(tokio::time::timeout(WRITE_DEADLINE, sink.send(Frame::Ping(Vec::new().into()))).await, Ok(Ok(()))) {
                        break "the client did not take a ping";
                    }
                }
                frame = source.next() => match frame {
                    None | Some(Ok(Frame::Close(_))) | Some(Err(_)) => break "the client closed",
                    Some(Ok(_)) => {}
                },
            }
        };
        tracing::info!(target: "micro::proxy", watch = %what, end, "registry watcher closed");
        let _ = tokio::time::timeout(Duration::from_millis(100), sink.send(Frame::Close(None))).await;
    });
    rsp
}

/// A service from a request body: JSON with a name and at least one node that has an id and
/// an address; otherwise what is missing.
pub fn parse_service(body: &[u8]) -> Result<Service, String> {
    let svc: Service = serde_json::from_slice(body).map_err(|e| format!("the body is not a service's JSON: {e}"))?;
    if svc.name.trim().is_empty() {
        return Err("the service has no name".into());
    }
    if svc.nodes.is_empty() {
        return Err(format!("service {} has no nodes", svc.name));
    }
    if let Some(n) = svc.nodes.iter().find(|n| n.id.is_empty() || n.address.is_empty()) {
        return Err(format!("a node of {} has no id or no address (id {:?}, address {:?})", svc.name, n.id, n.address));
    }
    Ok(svc)
}

fn json<T: serde::Serialize>(v: &T) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"[]".to_vec());
    let mut rsp = Response::new(full(body));
    rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rsp
}

fn registry_error(e: &micro::Error) -> Response<Body> {
    let status = if e.code == 400 { StatusCode::BAD_REQUEST } else { StatusCode::SERVICE_UNAVAILABLE };
    error::json(status, SIDECAR_ID, format!("registry: {}", e.detail))
}

#[cfg(test)]
mod tests {
    use super::parse_service;

    #[test]
    fn a_service_needs_a_name_and_addressed_nodes() {
        assert!(parse_service(b"not json").unwrap_err().contains("not a service's JSON"));
        assert!(parse_service(br#"{"nodes":[{"id":"a","address":"b"}]}"#).unwrap_err().contains("no name"));
        assert!(parse_service(br#"{"name":"x"}"#).unwrap_err().contains("no nodes"));
        assert!(parse_service(br#"{"name":"x","nodes":[{"id":"x-1"}]}"#).unwrap_err().contains("no address"));
        let svc = parse_service(br#"{"name":"x","nodes":[{"id":"x-1","address":"127.0.0.1:1"}]}"#).unwrap();
        assert_eq!(svc.nodes[0].id, "x-1");
    }
}
