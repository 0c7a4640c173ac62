//! The dashboard of `micro web` and `micro server` (spec §1.2, go-micro v5's `micro server`):
//! HTML pages and the JSON behind them, in front of a [`Gateway`], usable by any Rust program.
//!
//! [`Dashboard::handle`] takes its own paths first and hands everything else on:
//!
//! - pages (`GET`, one HTML shell whose script draws the page named by the path; assets in
//!   the binary, [`assets`]): `/` services, `/registry` the live registry (`?service=NAME`: a
//!   service's versions, nodes, endpoints and a call form per endpoint), `/client` a call
//!   form, `/api` every service and endpoint documented, `/terminal` CLI commands;
//!   `/registry` with `Content-Type` or `Accept: application/json` answers the classic
//!   `{"services":[…]}` instead (W7, W8), and in `micro server` a `GET /` that does not
//!   accept HTML is the gateway's JSON listing;
//! - under `/_web/`: the script and style, `services` (JSON), `events` (server-sent events
//!   from the registry watch, [`events`]), `call` and `cli` (POST, [`console`]);
//! - `/rpc`, `/stats`, `/metrics`, `/health`: the gateway's;
//! - everything else: with a web namespace ([`DashboardOptions::web_namespace`], `micro web`)
//!   the reverse proxy `/[name]/…` → `<namespace>.<name>` ([`proxy`]); without (`micro
//!   server`) the gateway, which serves `/api/…` and `/{service}/{endpoint}` calls.
//!
//! Every call the dashboard makes for a user (a form, `call` in the terminal) is a request
//! handed to [`Gateway::handle`] as `POST /api/{service}/{endpoint}`, with the user's
//! headers: whatever the gateway enforces on its call path applies to the dashboard too.

pub mod assets;
pub mod call;
pub mod console;
pub mod events;
pub mod proxy;

use crate::{auth, error, handler, Body, Gateway, GATEWAY_ID};
use bytes::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use micro::registry::Service;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// `micro web`'s default namespace: `/hello/` is served by `go.micro.web.hello`.
pub const DEFAULT_WEB_NAMESPACE: &str = "go.micro.web";

/// The prefix of the dashboard's own JSON, events and assets; a service name never starts
/// with `_`, so it shadows no proxied app and no gateway route.
pub const PREFIX: &str = "/_web/";

/// How the dashboard behaves.
#[derive(Clone, Debug)]
pub struct DashboardOptions {
    /// The pages' title: `Micro Web` (`micro web`) or `Micro Server`.
    pub title: String,
    /// `Some(namespace)`: reverse-proxy `/[name]/…` to `<namespace>.<name>` (classic `micro
    /// web`); `None`: paths the dashboard does not own go to the gateway (`micro server`).
    pub web_namespace: Option<String>,
}

impl DashboardOptions {
    /// `micro web`'s: title `Micro Web`, the proxy on [`DEFAULT_WEB_NAMESPACE`].
    pub fn web() -> Self {
        DashboardOptions { title: "Micro Web".into(), web_namespace: Some(DEFAULT_WEB_NAMESPACE.into()) }
    }

    /// `micro server`'s: title `Micro Server`, no proxy (the gateway serves the rest).
    pub fn server() -> Self {
        DashboardOptions { title: "Micro Server".into(), web_namespace: None }
    }
}

impl Default for DashboardOptions {
    fn default() -> Self {
        Self::web()
    }
}

/// The dashboard in front of a gateway: cheap to clone.
#[derive(Clone)]
pub struct Dashboard {
    gateway: Gateway,
    opts: Arc<DashboardOptions>,
}

/// What `/_web/services` answers: the dashboard's settings and every service.
#[derive(Serialize)]
struct Listing<'a> {
    title: &'a str,
    /// The proxy's namespace, `null` without the proxy.
    namespace: Option<&'a str>,
    /// Whether `/stats` is served.
    stats: bool,
    /// Every version of every service, as the registry has them.
    services: Vec<Service>,
}

/// The classic `/registry` JSON: `{"services":[…]}`.
#[derive(Serialize)]
struct Services {
    services: Vec<Service>,
}

impl Dashboard {
    /// A dashboard that calls, lists and proxies through `gateway`.
    pub fn new(gateway: Gateway, opts: DashboardOptions) -> Self {
        Dashboard { gateway, opts: Arc::new(opts) }
    }

    /// The gateway behind the dashboard.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The options the dashboard runs with.
    pub fn options(&self) -> &DashboardOptions {
        &self.opts
    }

    /// Answers one request (its body boxed with [`crate::boxed`]): never fails, every
    /// failure is an HTTP answer.
    pub async fn handle(&self, mut req: Request<Body>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let get = req.method() == Method::GET || req.method() == Method::HEAD;
        if let Some(guard) = &self.gateway.shared.opts.auth {
            // With auth, the gateway serves /auth/ and health; every page, listing, event
            // stream, form call and proxied app needs a signed-in caller (a browser is sent
            // to the sign-in page), and calls are then checked against the caller's scopes.
            let open = matches!(path.as_str(), "/health" | "/health/live" | "/health/ready" | "/favicon.ico");
            if open || auth::pages::is_auth_path(&path) {
                return self.gateway.handle(req).await;
            }
            match auth::pages::require_login(guard, &req) {
                Ok(account) => {
                    req.extensions_mut().insert(account);
                }
                Err(rsp) => return rsp,
            }
        }
        if let Some(rest) = path.strip_prefix(PREFIX) {
            return self.own(req, rest).await;
        }
        match path.as_str() {
            "/rpc" | "/rpc/" | "/stats" | "/metrics" | "/health" | "/health/live" | "/health/ready"
            | "/favicon.ico" => return self.gateway.handle(req).await,
            "/registry" | "/registry/" if get && wants_json(&req) => return self.registry_json(&req).await,
            "/" if get && self.opts.web_namespace.is_none() && !accepts_html(&req) => {
                return self.gateway.handle(req).await
            }
            "/" | "/registry" | "/registry/" | "/client" | "/terminal" | "/api" | "/api/" if get => {
                return assets::page(&self.opts.title)
            }
            _ => {}
        }
        match &self.opts.web_namespace {
            Some(ns) => {
                // The gateway's own credentials are not the proxied app's business.
                auth::strip_credentials(req.headers_mut());
                let started = Instant::now();
                let rsp = proxy::serve(&self.gateway.shared, ns, req).await;
                if let Some(stats) = &self.gateway.shared.stats {
                    stats.record(rsp.status().as_u16(), started.elapsed());
                }
                tracing::info!(target: "micro::web", %path, status = rsp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "proxied");
                rsp
            }
            None => self.gateway.handle(req).await,
        }
    }

    /// The paths under [`PREFIX`].
    async fn own(&self, req: Request<Body>, rest: &str) -> Response<Body> {
        match (req.method(), rest) {
            (&Method::GET | &Method::HEAD, "app.js" | "style.css") => assets::file(rest),
            (&Method::GET, "services") => self.listing().await,
            (&Method::GET, "events") => events::stream(self.gateway.shared.registry.clone()).await,
            (&Method::POST, "call") => self.call(req).await,
            (&Method::POST, "cli") => console::serve(&self.gateway, req).await,
            (_, "app.js" | "style.css" | "services" | "events") => error::method_not_allowed("GET"),
            (_, "call" | "cli") => error::method_not_allowed("POST"),
            _ => error::json(StatusCode::NOT_FOUND, GATEWAY_ID, format!("not found: {PREFIX}{rest}")),
        }
    }

    /// Every version of every service, sorted by name then version.
    pub async fn services(&self) -> micro::Result<Vec<Service>> {
        let s = &self.gateway.shared;
        let mut names: Vec<String> = s.registry.list_services().await?.into_iter().map(|svc| svc.name).collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            match handler::lookup(s, &name).await {
                Ok(versions) => {
                    let mut versions = Arc::unwrap_or_clone(versions);
                    versions.sort_by(|a, b| a.version.cmp(&b.version));
                    out.extend(versions.into_iter().filter(|v| !v.nodes.is_empty()));
                }
                // Gone between the listing and the lookup.
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn listing(&self) -> Response<Body> {
        match self.services().await {
            Ok(services) => {
                let l = Listing {
                    title: &self.opts.title,
                    namespace: self.opts.web_namespace.as_deref(),
                    stats: self.gateway.shared.stats.is_some(),
                    services,
                };
                error::with_body(StatusCode::OK, serde_json::to_vec(&l).unwrap_or_default())
            }
            Err(e) => error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail)),
        }
    }

    /// `/registry` as JSON (W7), or one service's versions with `?service=NAME` (W8: 404
    /// when the registry has none).
    async fn registry_json(&self, req: &Request<Body>) -> Response<Body> {
        let wanted = req
            .uri()
            .query()
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "service").map(|(_, v)| v.into_owned())
            })
            .filter(|v| !v.is_empty());
        let services = match wanted {
            Some(name) => match handler::lookup(&self.gateway.shared, &name).await {
                Ok(v) if !v.is_empty() => Arc::unwrap_or_clone(v),
                Ok(_) => return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, format!("service not found: {name}")),
                Err(e) if e.code == 404 => {
                    return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, format!("service not found: {name}"))
                }
                Err(e) => {
                    return error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail))
                }
            },
            None => match self.services().await {
                Ok(v) => v,
                Err(e) => {
                    return error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail))
                }
            },
        };
        error::with_body(StatusCode::OK, serde_json::to_vec(&Services { services }).unwrap_or_default())
    }

    /// `POST /_web/call` with `{"service", "endpoint", "request"}` (`request` a JSON value
    /// or a string of JSON, default `{}`): the gateway's answer to `POST
    /// /api/{service}/{endpoint}` with the caller's headers — the reply, or go-micro's
    /// error JSON with its status.
    async fn call(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = match handler::read_body(&self.gateway.shared, req).await {
            Ok(p) => p,
            Err(rsp) => return rsp,
        };
        let form: CallForm = match serde_json::from_slice(&body) {
            Ok(f) => f,
            Err(e) => {
                return error::json(
                    StatusCode::BAD_REQUEST,
                    GATEWAY_ID,
                    format!("the call must be JSON {{\"service\", \"endpoint\", \"request\"}}: {e}"),
                )
            }
        };
        let request = match form.request {
            None | Some(serde_json::Value::Null) => Bytes::from_static(b"{}"),
            Some(serde_json::Value::String(text)) => Bytes::from(text),
            Some(v) => Bytes::from(v.to_string()),
        };
        self.call_as(&parts, &form.service, &form.endpoint, request).await
    }

    /// Calls `endpoint` of `service` with the JSON `request` through the gateway, as the
    /// request whose head is `head` (its headers, cookies and peer go along): see [`call`].
    pub async fn call_as(
        &self,
        head: &hyper::http::request::Parts,
        service: &str,
        endpoint: &str,
        request: Bytes,
    ) -> Response<Body> {
        call::call_as(&self.gateway, head, service, endpoint, request).await
    }

    /// Serves HTTP/1.1 on `listener` (TLS when `tls` is given) until `shutdown` is
    /// cancelled, as [`Gateway::serve`] does.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<()> {
        crate::serve::run(self, listener, tls, shutdown).await
    }
}

impl crate::serve::Handle for Dashboard {
    fn handle(&self, req: Request<Body>) -> impl std::future::Future<Output = Response<Body>> + Send {
        Dashboard::handle(self, req)
    }
}

/// The body of `POST /_web/call`.
#[derive(serde::Deserialize)]
struct CallForm {
    service: String,
    endpoint: String,
    #[serde(default)]
    request: Option<serde_json::Value>,
}

fn header_has<B>(req: &Request<B>, name: hyper::header::HeaderName, needle: &str) -> bool {
    req.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains(needle))
}

/// `Content-Type` or `Accept` names JSON (the classic asked with `Content-Type`).
fn wants_json<B>(req: &Request<B>) -> bool {
    header_has(req, CONTENT_TYPE, "application/json") || header_has(req, ACCEPT, "application/json")
}

/// The client takes HTML (a browser's navigation).
fn accepts_html<B>(req: &Request<B>) -> bool {
    header_has(req, ACCEPT, "text/html")
}
