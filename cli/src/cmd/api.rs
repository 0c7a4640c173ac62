//! `micro api`: the HTTP gateway into the mesh, composed from the `micro-gateway` crate.
//!
//! Listens on `--api_address` (`MICRO_API_ADDRESS`, default `:8080`, as the classic
//! toolkit; the global `--address` works too, as go-micro v5's `micro api --address`), calls
//! through a client on the registry of `--registry`, and stops on Ctrl-C / SIGTERM: the
//! listener closes at once and requests in flight finish.

use crate::cmd::{Failure, Outcome};
use crate::session::{client_builder, Session};
use crate::Opts;
use clap::Args;
use micro_gateway::{cors::Cors, Gateway, HandlerKind, Options};
use tokio_util::sync::CancellationToken;

/// `micro api`'s own flags, with the classic toolkit's names and variables.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Listen address, host:port (`:8080` listens on every interface).
    #[arg(long = "api_address", env = "MICRO_API_ADDRESS", default_value = ":8080")]
    pub listen: String,
    /// Handler for paths no fixed route takes: meta (default), rpc, api, http (proxy), event, web.
    #[arg(long, env = "MICRO_API_HANDLER", default_value = "meta")]
    pub handler: String,
    /// Namespace joined with the service a path names (also tried without it).
    #[arg(long, env = "MICRO_API_NAMESPACE", default_value = "go.micro.api")]
    pub namespace: String,
    /// Serve the /rpc endpoint (service, endpoint and request in the body).
    #[arg(long = "enable_rpc", env = "MICRO_API_ENABLE_RPC")]
    pub enable_rpc: bool,
    /// Count requests and serve /stats and /metrics.
    #[arg(long = "enable_stats", env = "MICRO_ENABLE_STATS")]
    pub enable_stats: bool,
    /// Origins allowed by CORS, comma-separated (`*`: any; empty: no CORS headers).
    #[arg(long, env = "MICRO_API_CORS", default_value = "*")]
    pub cors: String,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long = "max_body", env = "MICRO_API_MAX_BODY", default_value_t = micro_gateway::DEFAULT_MAX_BODY)]
    pub max_body: usize,
}

/// `:8080` → `0.0.0.0:8080`; anything else as given.
fn listen_address(a: &str) -> String {
    match a.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => a.to_string(),
    }
}

/// Runs the gateway until Ctrl-C / SIGTERM.
pub async fn run(args: &ApiArgs, opts: &Opts, sess: &Session) -> Outcome {
    let handler: HandlerKind = args.handler.parse().map_err(Failure::Usage)?;
    let registry = sess.registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let client = client_builder(opts)
        .registry(registry.clone())
        .broker_url(url)
        .build()
        .await
        .map_err(|e| Failure::Usage(e.detail))?;
    let gw_opts = Options {
        namespace: args.namespace.clone(),
        handler,
        enable_rpc: args.enable_rpc,
        max_body: args.max_body,
        request_timeout: opts.client_request_timeout,
        cors: Cors::from_list(&args.cors),
        stats: args.enable_stats,
    };
    let listen = listen_address(opts.address.as_deref().unwrap_or(&args.listen));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::Failed(format!("micro api: cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?;
    let gateway = Gateway::new(client, registry, gw_opts);
    println!(
        "micro api listening on http://{bound} (handler {}, namespace {}, registry {})",
        handler.name(),
        args.namespace,
        sess.registry_name
    );
    let stop = CancellationToken::new();
    let serving = tokio::spawn(gateway.serve(listener, None, stop.clone()));
    micro::wait_for_signal().await;
    stop.cancel();
    match serving.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Failed(format!("micro api: {e}"))),
        Err(e) => Err(Failure::Failed(format!("micro api: {e}"))),
    }
}
