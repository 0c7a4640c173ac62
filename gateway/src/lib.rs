//! # micro-gateway
//!
//! HTTP into a go-micro mesh: what `micro api` (and, built on it, `micro web` and
//! `micro proxy`) are made of, as a library any Rust program can embed.
//!
//! A request flows through [`Gateway::handle`]: CORS preflight ([`cors`]), the fixed routes
//! (`/health`, `/`, `/{service}`, `/rpc`, `/stats`, `/metrics`, go-micro v5's `/api/...` and
//! `/micro/registry`), then the handler chosen by [`Options::handler`] ([`handler`]) — by
//! default the meta handler, which takes go-micro v5's forms (`POST /{service}/{Handler.Method}`,
//! the `Micro-Endpoint` header) and otherwise the classic toolkit's path rules
//! ([`resolver`]) into an RPC call. Backend errors become their HTTP status with go-micro's
//! error JSON ([`error`]); a path that names no service is a 404 that says what was tried.
//!
//! ```no_run
//! # async fn demo() -> micro::Result<()> {
//! let client = micro::Client::builder().build().await?;
//! let registry = client.cache().expect("a client with a registry").inner().clone();
//! let gateway = micro_gateway::Gateway::new(client, registry, micro_gateway::Options::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.expect("bind");
//! gateway.serve(listener, None, Default::default()).await.expect("serve");
//! # Ok(()) }
//! ```
//!
//! [`web::Dashboard`] puts the dashboard of `micro web` and `micro server` (pages, live
//! registry, call forms, terminal, and classic `micro web`'s reverse proxy) in front of a
//! gateway.
#![warn(missing_docs)]
// Handlers return `Result<_, Response<Body>>`: the error is the HTTP answer to give, made
// once per failed request; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

pub mod acme;
pub mod auth;
pub mod cors;
pub mod error;
pub mod goapi;
pub mod handler;
pub mod listing;
pub mod qson;
pub mod resolver;
mod serve;
pub mod sidecar;
pub mod stats;
pub mod tls;
pub mod web;
pub mod ws;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use micro::registry::Registry;
use micro::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use handler::HandlerKind;

/// The error type of response bodies (a proxied body can fail mid-way).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the gateway writes.
pub type Body = BoxBody<Bytes, BoxError>;

/// A request or response body of hyper's as the gateway's [`Body`].
pub fn boxed(body: hyper::body::Incoming) -> Body {
    body.map_err(|e| Box::new(e) as BoxError).boxed()
}

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The id of errors the gateway itself answers (not a backend's).
pub const GATEWAY_ID: &str = "go.micro.api";

/// The largest request body read by default: go-micro's message limit (4 MiB).
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// RPC streams open at once over websockets by default; each holds a stream to a service.
pub const DEFAULT_MAX_STREAMS: usize = 1024;

/// How the gateway behaves; every field has the classic toolkit's default.
#[derive(Clone, Debug)]
pub struct Options {
    /// Joined with the name a path gives (`--namespace`, `MICRO_API_NAMESPACE`); default
    /// `go.micro.api`. A name not registered under it is tried without it.
    pub namespace: String,
    /// Which handler serves the paths no fixed route takes (`--handler`); default meta.
    pub handler: HandlerKind,
    /// How a request names its service (`--resolver`); default the classic rules.
    pub resolver: resolver::ResolverKind,
    /// Serve the `/rpc` endpoint (`--enable_rpc`); off by default as in micro v1.9+, and then
    /// `/rpc` answers 404 saying how to turn it on.
    pub enable_rpc: bool,
    /// Largest request body read, in bytes; larger is a 413 that names the limit.
    pub max_body: usize,
    /// RPC streams open at once over websockets (`--max_streams`); one more is a 503 that
    /// names the limit, answered before the upgrade.
    pub max_streams: usize,
    /// Budget of one call through the gateway (`--client_request_timeout`); a request
    /// header `Timeout: <seconds>` may shorten it. Past it the answer is a 504.
    pub request_timeout: Duration,
    /// CORS on every route (preflight included); `None`: no CORS headers.
    pub cors: Option<cors::Cors>,
    /// Count requests for `/stats` and `/metrics` (`--enable_stats`).
    pub stats: bool,
    /// Who may call what (`--auth`): every call (api, rpc, `/rpc`, http, web, event) needs a
    /// token whose scopes the rules accept, the listings a signed-in caller, and `/auth/`
    /// serves the sign-in, users, tokens and rules pages. `None`: anyone may call anything.
    pub auth: Option<Arc<auth::Guard>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "go.micro.api".into(),
            handler: HandlerKind::Meta,
            resolver: resolver::ResolverKind::Micro,
            enable_rpc: false,
            max_body: DEFAULT_MAX_BODY,
            max_streams: DEFAULT_MAX_STREAMS,
            request_timeout: Duration::from_secs(5),
            cors: Some(cors::Cors::default()),
            stats: false,
            auth: None,
        }
    }
}

/// Where a request came from: [`Gateway::serve`] puts one in every request's extensions
/// (a request handed to [`Gateway::handle`] without it has no known peer, and so no
/// `X-Forwarded-For` of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: std::net::SocketAddr,
    /// Whether the connection is TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) opts: Options,
    pub(crate) stats: Option<Arc<stats::Stats>>,
    /// The HTTP client the http and web handlers proxy with (pooled connections).
    pub(crate) upstream: handler::http::Upstream,
    /// One permit per RPC stream open over a websocket ([`Options::max_streams`]).
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
}

/// The gateway: cheap to clone, one per listener or shared by several.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway that calls through `client` and lists and looks up services in `registry`
    /// (the client's own registry, usually).
    pub fn new(client: Client, registry: Arc<dyn Registry>, opts: Options) -> Self {
        let stats = opts.stats.then(|| Arc::new(stats::Stats::new()));
        let upstream = handler::http::Upstream::new();
        let streams = Arc::new(tokio::sync::Semaphore::new(opts.max_streams.min(tokio::sync::Semaphore::MAX_PERMITS)));
        Gateway { shared: Arc::new(Shared { client, registry, opts, stats, upstream, streams }) }
    }

    /// The options the gateway runs with.
    pub fn options(&self) -> &Options {
        &self.shared.opts
    }

    /// Answers one request (its body boxed with [`boxed`]): never fails, every failure is an
    /// HTTP answer.
    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let started = Instant::now();
        let origin = req.headers().get(hyper::header::ORIGIN).cloned();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        // A slow request's arrival (here) and its answer (below), with the client's trace
        // lines between them (attempt, exchange, round trip), say where it waited.
        tracing::debug!(target: "micro::api", %method, %path, "request in");
        let mut rsp = match (&self.shared.opts.cors, cors::is_preflight(&req)) {
            (Some(c), true) => c.preflight(origin.as_ref(), &req),
            _ => self.route(req).await,
        };
        if let Some(c) = &self.shared.opts.cors {
            c.decorate(origin.as_ref(), &mut rsp);
        }
        let status = rsp.status();
        // The stats page's own polling is not traffic.
        if let (Some(stats), false) = (&self.shared.stats, path == "/stats" || path == "/metrics") {
            stats.record(status.as_u16(), started.elapsed());
        }
        tracing::info!(target: "micro::api", %method, %path, status = status.as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
        rsp
    }

    async fn route(&self, mut req: Request<Body>) -> Response<Body> {
        let s = &self.shared;
        let path = req.uri().path();
        if !resolver::is_clean(path) {
            return error::redirect(&resolver::cleaned(path), req.uri().query());
        }
        if let Some(guard) = &s.opts.auth {
            if auth::pages::is_auth_path(path) {
                return auth::pages::serve(guard, req).await;
            }
            // Every route but health needs a caller (before any name is resolved, so that
            // nobody learns which services exist without one); the handlers then check the
            // caller's scopes against the service and endpoint they resolve.
            let open = matches!(path, "/health" | "/health/live" | "/health/ready" | "/favicon.ico");
            if !open {
                match auth::pages::require_login(guard, &req) {
                    Ok(acc) => {
                        req.extensions_mut().insert(acc);
                        auth::strip_credentials(req.headers_mut());
                    }
                    Err(rsp) => return rsp,
                }
            }
        }
        let path = req.uri().path();
        match path {
            "/health" | "/health/live" | "/health/ready" => return listing::health(),
            "/favicon.ico" => return Response::new(full(Bytes::new())),
            "/stats" | "/metrics" if s.stats.is_some() => {
                return s.stats.as_ref().map(|st| st.page(&req)).unwrap_or_else(error::not_found_page)
            }
            "/rpc" | "/rpc/" => {
                return if s.opts.enable_rpc {
                    handler::rpc::endpoint(s, req).await
                } else {
                    error::json(
                        StatusCode::NOT_FOUND,
                        GATEWAY_ID,
                        "the /rpc endpoint is off: start the gateway with --enable_rpc (MICRO_API_ENABLE_RPC=true)",
                    )
                };
            }
            "/" | "" if req.method() == Method::GET || req.method() == Method::HEAD => return listing::list(s).await,
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("/micro/registry") {
            return match rest.trim_matches('/') {
                "" => listing::list(s).await,
                name => listing::describe(s, name).await,
            };
        }
        if let Some(rest) = path.strip_prefix("/api/") {
            let rest = rest.trim_end_matches('/').to_string();
            return handler::meta::v5_call(s, req, &rest).await;
        }
        handler::serve(s, req).await
    }

    /// Serves HTTP/1.1 on `listener` (TLS when `tls` is given) until `shutdown` is
    /// cancelled; then stops accepting and lets requests in flight finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<()> {
        serve::run(self, listener, tls, shutdown).await
    }
}
