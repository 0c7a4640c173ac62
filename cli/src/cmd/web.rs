//! `micro web`: the dashboard and classic `micro web`'s reverse proxy (spec §1.2), composed
//! from `micro_gateway::web`.
//!
//! Listens on `--web_address` (`MICRO_WEB_ADDRESS`, default `:8082`; the global `--address`
//! works too, as the classic's `micro web --address`); `/[name]/…` is served by
//! `<--namespace>.<name>` (default `go.micro.web`); `/rpc` is on, as in the classic (W11).
//! TLS and ACME with the flags `micro api` has ([`crate::cmd::listen`]). Stops on Ctrl-C /
//! SIGTERM: the listener closes at once and requests in flight finish.

use crate::cmd::listen::{self, AuthArgs, TlsArgs};
use crate::cmd::Outcome;
use crate::session::Session;
use crate::Opts;
use clap::Args;
use micro_gateway::web::{Dashboard, DashboardOptions, DEFAULT_WEB_NAMESPACE};
use micro_gateway::{Gateway, HandlerKind, Options};
use tokio_util::sync::CancellationToken;

/// The command's name in messages.
const CMD: &str = "micro web";

/// `micro web`'s own flags, with the classic toolkit's names and variables.
#[derive(Args, Debug, Clone)]
pub struct WebArgs {
    /// Listen address, host:port (`:8082` listens on every interface).
    #[arg(long = "web_address", env = "MICRO_WEB_ADDRESS", default_value = ":8082")]
    pub listen: String,
    /// Namespace of the web apps: `/hello/` is served by `<namespace>.hello`.
    #[arg(long, env = "MICRO_WEB_NAMESPACE", default_value = DEFAULT_WEB_NAMESPACE)]
    pub namespace: String,
    /// Count requests and serve /stats and /metrics (and a Stats link on the pages).
    #[arg(long = "enable_stats", env = "MICRO_ENABLE_STATS")]
    pub enable_stats: bool,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long = "max_body", env = "MICRO_WEB_MAX_BODY", default_value_t = micro_gateway::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// TLS and ACME.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Who may call what.
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Runs the dashboard and proxy until Ctrl-C / SIGTERM.
pub async fn run(args: &WebArgs, opts: &Opts, sess: &Session) -> Outcome {
    let security = args.tls.security(CMD)?;
    let auth = args.auth.guard(CMD, "none")?;
    let auth_note = listen::auth_note(&auth);
    let (client, registry) = listen::mesh(opts, sess).await?;
    let gw_opts = Options {
        auth,
        enable_rpc: true,
        max_body: args.max_body,
        max_streams: micro_gateway::DEFAULT_MAX_STREAMS,
        request_timeout: opts.client_request_timeout,
        // The pages call their own origin; CORS is for the api gateway.
        cors: None,
        stats: args.enable_stats,
        handler: HandlerKind::Meta,
        ..Options::default()
    };
    let dashboard = Dashboard::new(
        Gateway::new(client, registry, gw_opts),
        DashboardOptions { web_namespace: Some(args.namespace.clone()), ..DashboardOptions::web() },
    );
    let (listener, bound) = listen::bind(CMD, opts.address.as_deref().unwrap_or(&args.listen)).await?;
    let stop = CancellationToken::new();
    let secured = listen::secure(CMD, security, &args.tls, &stop)?;
    println!(
        "micro web listening on {}://{bound} (namespace {}, registry {}{}{})",
        secured.scheme, args.namespace, sess.registry_name, secured.what, auth_note
    );
    listen::until_signal(CMD, dashboard.serve(listener, secured.tls, stop.clone()), stop).await
}
