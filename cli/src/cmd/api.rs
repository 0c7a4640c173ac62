//! `micro api`: the HTTP gateway into the mesh, composed from the `micro-gateway` crate.
//!
//! Listens on `--api_address` (`MICRO_API_ADDRESS`, default `:8080`, as the classic
//! toolkit; the global `--address` works too, as go-micro v5's `micro api --address`), calls
//! through a client on the registry of `--registry`, and stops on Ctrl-C / SIGTERM: the
//! listener closes at once and requests in flight finish.
//!
//! HTTPS with the TLS and ACME flags it shares with `micro web` and `micro server`
//! ([`crate::cmd::listen`]).

use crate::cmd::listen::{self, AuthArgs, TlsArgs};
use crate::cmd::{Failure, Outcome};
use crate::session::Session;
use crate::Opts;
use clap::Args;
use micro_gateway::{cors::Cors, Gateway, HandlerKind, Options};
use tokio_util::sync::CancellationToken;

/// The command's name in messages.
const CMD: &str = "micro api";

/// `micro api`'s own flags, with the classic toolkit's names and variables.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Listen address, host:port (`:8080` listens on every interface).
    #[arg(long = "api_address", env = "MICRO_API_ADDRESS", default_value = ":8080")]
    pub listen: String,
    /// Handler for paths no fixed route takes: meta (default), rpc, api, http (proxy), event, web.
    #[arg(long, env = "MICRO_API_HANDLER", default_value = "meta")]
    pub handler: String,
    /// How a request names its service: micro (the classic path rules, default), host
    /// (the Host header), path (the first segment) or grpc (/pkg.Service/Method → pkg); the
    /// last three call the HTTP verb, for the http and web handlers.
    #[arg(long, env = "MICRO_API_RESOLVER", default_value = "micro")]
    pub resolver: String,
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
    /// RPC streams open at once over websockets (one more: 503 before the upgrade).
    #[arg(long = "max_streams", env = "MICRO_API_MAX_STREAMS", default_value_t = micro_gateway::DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,
    /// TLS and ACME.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Who may call what.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Runs the gateway until Ctrl-C / SIGTERM.
pub async fn run(args: &ApiArgs, opts: &Opts, sess: &Session) -> Outcome {
    let handler: HandlerKind = args.handler.parse().map_err(Failure::Usage)?;
    let resolver: micro_gateway::resolver::ResolverKind = args.resolver.parse().map_err(Failure::Usage)?;
    let security = args.tls.security(CMD)?;
    let auth = args.auth.guard(CMD, "none")?;
    let auth_note = listen::auth_note(&auth);
    let (client, registry) = listen::mesh(opts, sess).await?;
    let gw_opts = Options {
        auth,
        namespace: args.namespace.clone(),
        handler,
        resolver,
        enable_rpc: args.enable_rpc,
        max_body: args.max_body,
        max_streams: args.max_streams,
        request_timeout: opts.client_request_timeout,
        cors: Cors::from_list(&args.cors),
        stats: args.enable_stats,
    };
    let (listener, bound) = listen::bind(CMD, opts.address.as_deref().unwrap_or(&args.listen)).await?;
    let gateway = Gateway::new(client, registry, gw_opts);
    let stop = CancellationToken::new();
    let secured = listen::secure(CMD, security, &args.tls, &stop)?;
    println!(
        "micro api listening on {}://{bound} (handler {}, namespace {}, registry {}{}{})",
        secured.scheme,
        handler.name(),
        args.namespace,
        sess.registry_name,
        secured.what,
        auth_note
    );
    listen::until_signal(CMD, gateway.serve(listener, secured.tls, stop.clone()), stop).await
}
