//! The handlers a gateway serves paths with (`--handler`), and what they share: reading a
//! body within the limit, request headers as call metadata, finding which of a route's
//! candidate names is registered.
//!
//! - [`meta`] (default): go-micro v5's forms, else the classic path rules into [`rpc`];
//! - [`rpc`]: the path names a service and method; JSON (or protobuf) body, GET query as JSON;
//! - [`api`]: the whole HTTP request as go-micro's `api.Request`, the reply an `api.Response`;
//! - [`http`]: reverse proxy to the service's node (`http`/`proxy`), and `web` with websockets;
//! - [`event`]: the request published as an `api.Event` on a topic the path names.

pub mod api;
pub mod event;
pub mod http;
pub mod meta;
pub mod rpc;
pub mod stream;

use crate::{error, resolver, Body, Peer, Shared, GATEWAY_ID};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, CONTENT_LENGTH};
use hyper::{Request, Response, StatusCode};
use micro::registry::{Metadata, Service};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Which handler serves the paths no fixed route takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    /// go-micro v5's forms, then the classic rules into an RPC call (the default).
    Meta,
    /// Path → service and method; body → request.
    Rpc,
    /// The request as `api.Request`.
    Api,
    /// Reverse proxy to the service (`http`, alias `proxy`).
    Http,
    /// Publish as `api.Event`.
    Event,
    /// Reverse proxy with websockets.
    Web,
}

impl FromStr for HandlerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "meta" => HandlerKind::Meta,
            "rpc" => HandlerKind::Rpc,
            "api" => HandlerKind::Api,
            "http" | "proxy" => HandlerKind::Http,
            "event" => HandlerKind::Event,
            "web" => HandlerKind::Web,
            other => {
                return Err(format!("unknown handler {other:?}: use meta, rpc, api, http (or proxy), event or web"))
            }
        })
    }
}

impl HandlerKind {
    /// The handler's name, as `--handler` takes it.
    pub fn name(self) -> &'static str {
        match self {
            HandlerKind::Meta => "meta",
            HandlerKind::Rpc => "rpc",
            HandlerKind::Api => "api",
            HandlerKind::Http => "http",
            HandlerKind::Event => "event",
            HandlerKind::Web => "web",
        }
    }
}

/// Whether the request may call `service` at `endpoint` (always, without auth), or the
/// 401/403 to answer: the caller the gateway authenticated on the way in (an
/// [`crate::auth::account::Account`] in the request's extensions) is checked against the
/// rules ([`crate::auth::Guard::permit`]); without one, the headers' token is
/// ([`crate::auth::Guard::authorize`]).
pub(crate) fn authorize(
    s: &Shared,
    headers: &HeaderMap,
    extensions: &hyper::http::Extensions,
    service: &str,
    endpoint: &str,
) -> Result<(), Response<Body>> {
    let Some(guard) = &s.opts.auth else { return Ok(()) };
    let checked = match extensions.get::<crate::auth::account::Account>() {
        Some(acc) => guard.permit(acc, service, endpoint),
        None => guard.authorize(headers, service, endpoint).map(|_| ()),
    };
    checked.map_err(|e| error::with_body(error::status_of(&e), e.to_json()))
}

/// Serves `req` with the configured handler.
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    match s.opts.handler {
        HandlerKind::Meta => meta::serve(s, req).await,
        HandlerKind::Rpc => rpc::serve(s, req).await,
        HandlerKind::Api => api::serve(s, req).await,
        HandlerKind::Http => http::proxy(s, req).await,
        HandlerKind::Web => http::web(s, req).await,
        HandlerKind::Event => event::serve(s, req).await,
    }
}

/// The whole body, or the answer to give instead: a 413 naming the limit, a 400 when the
/// body could not be read.
pub(crate) async fn read_body(
    s: &Shared,
    req: Request<Body>,
) -> Result<(hyper::http::request::Parts, Bytes), Response<Body>> {
    let limit = s.opts.max_body;
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(error::too_large(limit));
    }
    let (parts, mut body) = req.into_parts();
    // By hand rather than http_body_util::Limited: its boxed error does not meet the
    // lifetime bounds of a spawned connection future.
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(error::too_large(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok((parts, buf.freeze()))
}

/// Request headers as call metadata (several values of one header joined with `,`, as
/// go-micro does); hop-by-hop headers stay behind.
pub(crate) fn metadata(headers: &HeaderMap) -> Metadata {
    let mut md = Metadata::new();
    for (name, value) in headers {
        if matches!(name.as_str(), "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade")
            || name.as_str().starts_with("proxy-")
        {
            continue;
        }
        let Ok(v) = value.to_str() else { continue };
        let key = crate::goapi::canonical(name.as_str());
        md.entry(key)
            .and_modify(|old: &mut String| {
                old.push(',');
                old.push_str(v);
            })
            .or_insert_with(|| v.to_string());
    }
    md
}

/// The budget of a call: the request's `Timeout: <seconds>` header when it parses, else the
/// gateway's.
pub(crate) fn timeout(s: &Shared, headers: &HeaderMap) -> Duration {
    headers
        .get("timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(s.opts.request_timeout)
}

/// The first of `names` the registry knows (with at least one node), or the 404 that says
/// what was tried.
pub(crate) async fn resolve(s: &Shared, names: &[String], why: &str) -> Result<String, Response<Body>> {
    resolve_with(s, names, why).await.map(|(name, _)| name)
}

/// All versions of `name` as the registry (through the client's cache) has them: the
/// cache's answer shared, not copied, as every request through the gateway looks its
/// service up.
pub(crate) async fn lookup(s: &Shared, name: &str) -> micro::Result<Arc<Vec<Service>>> {
    match s.client.cache() {
        Some(cache) => cache.lookup_shared(name).await,
        None => s.registry.get_service(name).await.map(Arc::new),
    }
}

/// [`resolve`], and the versions of the service found (its endpoints and nodes).
pub(crate) async fn resolve_with(
    s: &Shared,
    names: &[String],
    why: &str,
) -> Result<(String, Arc<Vec<Service>>), Response<Body>> {
    for name in names {
        match lookup(s, name).await {
            Ok(v) if v.iter().any(|svc| !svc.nodes.is_empty()) => return Ok((name.clone(), v)),
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => {
                return Err(error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail)))
            }
        }
    }
    Err(error::json(
        StatusCode::NOT_FOUND,
        GATEWAY_ID,
        format!("service not found: {why} names {}, and the registry has none of them", names.join(" or ")),
    ))
}

/// The handler an endpoint's registry metadata asks for (`handler=api`, …), if any version
/// of the service declares `endpoint` with one that parses.
pub(crate) fn endpoint_handler(versions: &[Service], endpoint: &str) -> Option<HandlerKind> {
    versions
        .iter()
        .flat_map(|v| v.endpoints.iter())
        .filter(|e| e.name == endpoint)
        .find_map(|e| e.metadata.get("handler").and_then(|h| h.parse().ok()))
}

/// Headers that describe one HTTP hop (RFC 9110 §7.6.1), never passed on by a proxy.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// `X-Forwarded-For` with the peer appended to what the client sent (every value, in
/// order, joined with `, `): the classic toolkit overwrote the client's chain instead. Without
/// a known peer, the client's chain as it is; `None` when there is neither.
pub(crate) fn forwarded_for(headers: &HeaderMap, peer: Option<&Peer>) -> Option<String> {
    let mut chain: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(p) = peer {
        chain.push(p.addr.ip().to_string());
    }
    (!chain.is_empty()).then(|| chain.join(", "))
}

/// The candidate names for a classic route, and the words that explain them in a 404.
pub(crate) fn route_names(route: &resolver::Route, path: &str) -> (Vec<String>, String) {
    (resolver::candidates(route), format!("path {path} (method {})", route.method))
}

/// The route of `req` with the classic rules `micro` gives (api or proxy rules), or with the
/// configured other resolver (host, path, grpc).
pub(crate) fn route_of<B>(
    s: &Shared,
    req: &Request<B>,
    micro: fn(&str, &str, &str) -> Option<resolver::Route>,
) -> Option<resolver::Route> {
    let (path, verb) = (req.uri().path(), req.method().as_str());
    match s.opts.resolver {
        resolver::ResolverKind::Micro => micro(&s.opts.namespace, path, verb),
        kind => {
            let host = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()).or(req.uri().host());
            resolver::named_route(kind, &s.opts.namespace, host, path, verb)
        }
    }
}

/// [`resolver::api_route`] in the shape [`route_of`] takes.
pub(crate) fn api_rules(namespace: &str, path: &str, _verb: &str) -> Option<resolver::Route> {
    resolver::api_route(namespace, path)
}
