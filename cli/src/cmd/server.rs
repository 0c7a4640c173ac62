//! `micro server`: the dashboard and the api gateway on one listener, as go-micro v5's
//! `micro server` (dashboard + gateway), composed from `micro_gateway::web` and the gateway.
//!
//! Listens on `--server_address` (`MICRO_SERVER_ADDRESS`, default `:8080`; the global
//! `--address` works too). The dashboard owns its pages (`/` for a browser, `/registry`,
//! `/client`, `/api`, `/terminal`, `/_web/…`); everything else is the gateway with its
//! defaults (meta handler, `/api/{service}/{endpoint}`, `/{service}/{endpoint}`, `/rpc` on).
//! TLS and ACME with the flags `micro api` has ([`crate::cmd::listen`]).

use crate::cmd::listen::{self, AuthArgs, TlsArgs};
use crate::cmd::Outcome;
use crate::session::Session;
use crate::Opts;
use clap::Args;
use micro_gateway::web::{Dashboard, DashboardOptions};
use micro_gateway::{cors::Cors, Gateway, Options};
use tokio_util::sync::CancellationToken;

/// The command's name in messages.
const CMD: &str = "micro server";

/// `micro server`'s own flags.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Listen address, host:port (`:8080` listens on every interface).
    #[arg(long = "server_address", env = "MICRO_SERVER_ADDRESS", default_value = ":8080")]
    pub listen: String,
    /// Namespace joined with the service an api path names (also tried without it).
    #[arg(long, env = "MICRO_API_NAMESPACE", default_value = "go.micro.api")]
    pub namespace: String,
    /// Count requests and serve /stats and /metrics (and a Stats link on the pages).
    #[arg(long = "enable_stats", env = "MICRO_ENABLE_STATS")]
    pub enable_stats: bool,
    /// Origins allowed by CORS on the gateway's routes, comma-separated (`*`: any; empty: none).
    #[arg(long, env = "MICRO_API_CORS", default_value = "*")]
    pub cors: String,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long = "max_body", env = "MICRO_API_MAX_BODY", default_value_t = micro_gateway::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// TLS and ACME.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Who may call what.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Runs the dashboard and gateway until Ctrl-C / SIGTERM.
pub async fn run(args: &ServerArgs, opts: &Opts, sess: &Session) -> Outcome {
    let security = args.tls.security(CMD)?;
    let auth = args.auth.guard(CMD, "jwt")?;
    let auth_note = listen::auth_note(&auth);
    let (client, registry) = listen::mesh(opts, sess).await?;
    let gw_opts = Options {
        auth,
        namespace: args.namespace.clone(),
        enable_rpc: true,
        max_body: args.max_body,
        max_streams: micro_gateway::DEFAULT_MAX_STREAMS,
        request_timeout: opts.client_request_timeout,
        cors: Cors::from_list(&args.cors),
        stats: args.enable_stats,
        ..Options::default()
    };
    let dashboard = Dashboard::new(Gateway::new(client, registry, gw_opts), DashboardOptions::server());
    let (listener, bound) = listen::bind(CMD, opts.address.as_deref().unwrap_or(&args.listen)).await?;
    let stop = CancellationToken::new();
    let secured = listen::secure(CMD, security, &args.tls, &stop)?;
    println!(
        "micro server listening on {}://{bound} (dashboard and api gateway, namespace {}, registry {}{}{})",
        secured.scheme, args.namespace, sess.registry_name, secured.what, auth_note
    );
    listen::until_signal(CMD, dashboard.serve(listener, secured.tls, stop.clone()), stop).await
}
