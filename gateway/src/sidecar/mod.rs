//! # sidecar: `micro proxy` / `micro sidecar`
//!
//! The mesh over plain HTTP for a program that cannot link the library (a Ruby, PHP or shell
//! program; spec micro-toolkit.md §1.3). The sidecar is a [`Gateway`] with the classic
//! sidecar's defaults (the rpc handler, namespace `go.micro.srv`, `/rpc` on) and three routes
//! of its own in front of it:
//!
//! - `/registry` ([`registry`]): list, get, register and deregister with go-micro's registry JSON;
//! - `/broker` ([`broker`]): publish with `POST ?topic=`, subscribe over a websocket
//!   (`?topic=&queue=`), one go-micro message envelope per text frame;
//! - `/health`: the neighbour's health when the sidecar registers one, else the gateway's.
//!
//! Beside it, [`neighbour`] registers the program next door as a service whose node is the
//! sidecar's own RPC listener, keeps it registered while its health URL answers 200, and
//! [`forward`] turns each call the mesh makes to it into an HTTP POST to the program.
//! [`remote`] is the other side: a client of this HTTP API, for `micro --proxy_address`.
//!
//! Requests are served by the gateway's accept loop (TLS and ACME included) and counted by
//! its stats when they are on.

pub mod broker;
pub mod forward;
pub mod mucp;
pub mod neighbour;
pub mod registry;
pub mod remote;

use crate::{cors, error, Body, Gateway, Options};
use hyper::{Request, Response, StatusCode};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The classic sidecar's listen address (`--address`, `MICRO_PROXY_ADDRESS`).
pub const DEFAULT_ADDRESS: &str = ":8081";

/// The id of errors the sidecar itself answers.
pub const SIDECAR_ID: &str = "go.micro.sidecar";

/// How the sidecar behaves beyond the gateway's options.
#[derive(Clone, Debug)]
pub struct SidecarOptions {
    /// The gateway behind the sidecar's own routes; [`SidecarOptions::default`] gives the
    /// classic sidecar's: rpc handler, namespace `go.micro.srv`, `/rpc` on.
    pub gateway: Options,
    /// Messages waiting for one websocket subscriber before it is dropped as too slow.
    pub subscriber_queue: usize,
}

impl Default for SidecarOptions {
    fn default() -> Self {
        SidecarOptions {
            gateway: Options {
                namespace: "go.micro.srv".into(),
                handler: crate::HandlerKind::Rpc,
                enable_rpc: true,
                ..Options::default()
            },
            subscriber_queue: broker::DEFAULT_QUEUE,
        }
    }
}

/// The sidecar's HTTP API: cheap to clone.
#[derive(Clone)]
pub struct Sidecar {
    gateway: Gateway,
    subscriber_queue: usize,
    neighbour: Option<neighbour::HealthView>,
}

impl Sidecar {
    /// A sidecar over `gateway` (made with [`SidecarOptions::gateway`]); `neighbour`, when it
    /// registers one, answers `/health`.
    pub fn new(gateway: Gateway, opts: &SidecarOptions, neighbour: Option<neighbour::HealthView>) -> Self {
        Sidecar { gateway, subscriber_queue: opts.subscriber_queue.max(1), neighbour }
    }

    /// Answers one request: the sidecar's routes, else the gateway's (a JSON body that is
    /// not JSON is refused first, rather than handed to the service).
    pub async fn handle(&self, req: Request<Body>) -> Response<Body> {
        let path = req.uri().path();
        let own = path == "/registry" || path == "/broker" || (path == "/health" && self.neighbour.is_some());
        // Only handlers that decode the body as the call's request check that it is JSON.
        let decodes = matches!(self.gateway.shared.opts.handler, crate::HandlerKind::Rpc | crate::HandlerKind::Meta);
        let checked = decodes && claims_json(&req);
        if !own && !checked {
            return self.gateway.handle(req).await;
        }
        let started = Instant::now();
        let s = &self.gateway.shared;
        let origin = req.headers().get(hyper::header::ORIGIN).cloned();
        let (method, path) = (req.method().clone(), path.to_string());
        let mut rsp = match (&s.opts.cors, cors::is_preflight(&req)) {
            (Some(c), true) => c.preflight(origin.as_ref(), &req),
            _ => match path.as_str() {
                "/registry" => registry::serve(s, req).await,
                "/broker" => broker::serve(s, req, self.subscriber_queue).await,
                "/health" if own => self.health(),
                _ => match json_checked(s, req).await {
                    Ok(req) => return self.gateway.handle(req).await,
                    Err(rsp) => rsp,
                },
            },
        };
        if let Some(c) = &s.opts.cors {
            c.decorate(origin.as_ref(), &mut rsp);
        }
        let status = rsp.status();
        if let Some(stats) = &s.stats {
            stats.record(status.as_u16(), started.elapsed());
        }
        tracing::debug!(target: "micro::proxy", %method, %path, status = status.as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
        rsp
    }

    /// `/health` with a neighbour: 200 while its health URL answers 200, else 503 with why.
    fn health(&self) -> Response<Body> {
        match self.neighbour.as_ref().map(|n| n.current()) {
            Some(neighbour::Health::Unhealthy(why)) => {
                error::json(StatusCode::SERVICE_UNAVAILABLE, SIDECAR_ID, format!("neighbour unhealthy: {why}"))
            }
            _ => crate::listing::health(),
        }
    }

    /// Serves HTTP/1.1 (TLS when `tls` is given) on `listener` until `shutdown` is cancelled,
    /// with the gateway's accept loop.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<()> {
        crate::serve::run(self, listener, tls, shutdown).await
    }
}

/// A POST to a service path (not `/rpc`, which checks its own body) whose content type says JSON.
fn claims_json(req: &Request<Body>) -> bool {
    let ct = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    req.method() == hyper::Method::POST
        && !matches!(req.uri().path(), "/rpc" | "/rpc/")
        && micro::host::body::media_type(ct) == micro::codec::JSON
}

/// The request again with its body read, or a 400 when that body is not JSON.
async fn json_checked(s: &crate::Shared, req: Request<Body>) -> Result<Request<Body>, Response<Body>> {
    let (parts, body) = crate::handler::read_body(s, req).await?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(error::json(
                StatusCode::BAD_REQUEST,
                SIDECAR_ID,
                format!("the request body is not JSON (Content-Type says it is): {e}"),
            ));
        }
    }
    Ok(Request::from_parts(parts, crate::full(body)))
}

impl crate::serve::Handle for Sidecar {
    fn handle(&self, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        self.handle(req)
    }
}
