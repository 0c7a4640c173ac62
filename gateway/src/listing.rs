//! What the gateway says about the mesh itself: `GET /` lists services and their endpoints,
//! `GET /{service}` (and `/micro/registry/{service}`) describes one, `/health` answers for
//! the gateway. The bodies are go-micro v5.30.0's `micro api`, byte for byte (Go's JSON
//! encoder: map keys sorted, a trailing newline), so a client written against it reads ours.

use crate::{error, Shared, GATEWAY_ID};
use hyper::{Response, StatusCode};
use micro::registry::Metadata;
use serde::Serialize;

/// `{"status":"ok"}`.
pub fn health() -> Response<crate::Body> {
    error::with_body(StatusCode::OK, "{\"status\":\"ok\"}\n")
}

#[derive(Serialize)]
struct Listed {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    endpoints: Vec<String>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec());
    out.push(b'\n');
    out
}

/// Every service, sorted by name, with the endpoints of its first registration.
pub(crate) async fn list(s: &Shared) -> Response<crate::Body> {
    let services = match s.registry.list_services().await {
        Ok(v) => v,
        Err(e) => return error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail)),
    };
    let mut names: Vec<String> = services.into_iter().map(|svc| svc.name).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let endpoints = match s.registry.get_service(&name).await {
            Ok(full) => {
                full.into_iter().next().map(|f| f.endpoints.into_iter().map(|e| e.name).collect()).unwrap_or_default()
            }
            Err(_) => Vec::new(),
        };
        out.push(Listed { name, endpoints });
    }
    // Go encodes an empty (nil) list as null.
    let body = if out.is_empty() { b"null\n".to_vec() } else { encode(&out) };
    error::with_body(StatusCode::OK, body)
}

#[derive(Serialize)]
struct DescribedEndpoint {
    name: String,
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    metadata: Metadata,
}

/// `GET /{service}`'s body: go-micro's `map[string]any`, keys in sorted order.
#[derive(Serialize)]
struct Described {
    endpoints: Option<Vec<DescribedEndpoint>>,
    name: String,
    nodes: usize,
    version: String,
}

/// One service: name, version, endpoints (with metadata) and how many nodes it has; a 404
/// when the registry does not know it.
pub(crate) async fn describe(s: &Shared, name: &str) -> Response<crate::Body> {
    let found = match s.registry.get_service(name).await {
        Ok(v) => v,
        Err(e) if e.code == 404 => Vec::new(),
        Err(e) => return error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail)),
    };
    let Some(svc) = found.into_iter().next() else {
        return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, format!("service not found: {name}"));
    };
    let endpoints: Vec<DescribedEndpoint> =
        svc.endpoints.into_iter().map(|e| DescribedEndpoint { name: e.name, metadata: e.metadata }).collect();
    // A struct, not a JSON map: each endpoint keeps Go's struct order (name, then metadata)
    // while the outer keys come in the sorted order Go gives its map.
    let m = Described {
        endpoints: (!endpoints.is_empty()).then_some(endpoints),
        name: svc.name,
        nodes: svc.nodes.len(),
        version: svc.version,
    };
    error::with_body(StatusCode::OK, encode(&m))
}
