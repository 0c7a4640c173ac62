//! The meta handler (the default): go-micro v5's forms first, then the classic toolkit's.
//!
//! - `POST /{service}/{Handler.Method}` (a second segment with a `.`) and `Micro-Endpoint:
//!   Handler.Method` on `/{service}`: the service as named (the namespaced name tried too);
//! - `GET /{service}`: describes the service (v5's `micro api`);
//! - anything else: the classic rules (§2.1) into an RPC call, any HTTP verb.
//!
//! An endpoint whose registry metadata says `handler=api` (or `http`, `proxy`, `web`,
//! `event`) is served by that handler instead of the rpc one, in every form above.

use super::{api, endpoint_handler, event, http, resolve, resolve_with, route_names, rpc, HandlerKind};
use crate::{listing, resolver, Body, Shared};
use hyper::{Method, Request, Response};

fn header_endpoint<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get("micro-endpoint")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Serves one request with the meta rules.
pub(crate) async fn serve(s: &Shared, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments = resolver::clean_segments(&path);
    let explicit = match (segments.as_slice(), header_endpoint(&req)) {
        ([service, ..], Some(endpoint)) => Some((service.to_string(), endpoint)),
        ([service, endpoint], None) if endpoint.contains('.') => Some((service.to_string(), endpoint.to_string())),
        _ => None,
    };
    if let Some((service, endpoint)) = explicit {
        return named_call(s, req, &service, &endpoint).await;
    }
    if let ([service], true) = (segments.as_slice(), req.method() == Method::GET) {
        return describe(s, service).await;
    }
    let Some(route) = super::route_of(s, &req, super::api_rules) else {
        return listing::list(s).await;
    };
    let (names, why) = route_names(&route, &path);
    dispatch(s, req, &names, &why, &route.method).await
}

/// Calls the first registered of `names` at `endpoint` with the handler the endpoint's
/// registry metadata names (`handler=api`, `http`/`proxy`, `web`, `event`), the rpc handler
/// when it names none.
async fn dispatch(s: &Shared, req: Request<Body>, names: &[String], why: &str, endpoint: &str) -> Response<Body> {
    let (service, versions) = match resolve_with(s, names, why).await {
        Ok(found) => found,
        Err(rsp) => return rsp,
    };
    match endpoint_handler(&versions, endpoint) {
        Some(HandlerKind::Api) => api::call_service(s, req, &service, endpoint).await,
        Some(HandlerKind::Http) => http::proxy(s, req).await,
        Some(HandlerKind::Web) => http::web(s, req).await,
        Some(HandlerKind::Event) => event::serve(s, req).await,
        Some(HandlerKind::Meta | HandlerKind::Rpc) | None => rpc::call_service(s, req, &service, endpoint).await,
    }
}

/// Describes `service`, found as named or under the namespace.
async fn describe(s: &Shared, service: &str) -> Response<Body> {
    let names = names_for(s, service);
    match resolve(s, &names, &format!("path /{service}")).await {
        Ok(found) => listing::describe(s, &found).await,
        Err(rsp) => rsp,
    }
}

fn names_for(s: &Shared, service: &str) -> Vec<String> {
    let namespaced = resolver::with_namespace(&s.opts.namespace, service);
    if namespaced == service {
        vec![service.to_string()]
    } else {
        vec![service.to_string(), namespaced]
    }
}

async fn named_call(s: &Shared, req: Request<Body>, service: &str, endpoint: &str) -> Response<Body> {
    let names = names_for(s, service);
    dispatch(s, req, &names, &format!("service {service}"), endpoint).await
}

/// go-micro v5's gateway form `/api/{service}/{endpoint}` (or `/api/{service}` with
/// `Micro-Endpoint`; without an endpoint it describes the service). `rest` is the path after
/// `/api/`.
pub(crate) async fn v5_call(s: &Shared, req: Request<Body>, rest: &str) -> Response<Body> {
    let (service, endpoint) = match rest.split_once('/') {
        Some((svc, ep)) => (svc.to_string(), Some(ep.replace('/', "."))),
        None => (rest.to_string(), None),
    };
    match endpoint.or_else(|| header_endpoint(&req)) {
        Some(ep) if !service.is_empty() => named_call(s, req, &service, &ep).await,
        _ if service.is_empty() => listing::list(s).await,
        _ => describe(s, &service).await,
    }
}
