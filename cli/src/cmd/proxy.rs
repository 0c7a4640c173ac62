//! `micro proxy` (also `micro sidecar`): the mesh over plain HTTP for a program that cannot
//! link the library, composed from `micro_gateway::sidecar`.
//!
//! Listens on the global `--address` or `MICRO_PROXY_ADDRESS` (default `:8081`): `/[service]/[method]`,
//! `/rpc`, `/registry`, `/broker`, `/health`. With `--server_name` and `--server_address` it
//! registers the program beside it (its endpoints from `--server_endpoints` or
//! `--server_endpoints_file`), follows `--healthcheck_url`, and forwards the mesh's calls to
//! it; on Ctrl-C / SIGTERM it deregisters, then stops. TLS and ACME as `micro api`.
//!
//! `--protocol=mucp` makes it the transparent RPC proxy instead (go-micro v1.18's `micro
//! proxy`, `micro_gateway::sidecar::mucp`): go-micro RPC on the same address, registered as
//! `go.micro.proxy`, forwarding every call (go-micro clients send theirs with `MICRO_PROXY`).

use crate::cmd::listen::{self, listen_address, TlsArgs};
use crate::cmd::{Failure, Outcome};
use crate::session::{client_builder, Session};
use crate::Opts;
use clap::Args;
use micro_gateway::sidecar::neighbour::{self, Neighbour, NeighbourConfig};
use micro_gateway::sidecar::{Sidecar, SidecarOptions, DEFAULT_ADDRESS};
use micro_gateway::{cors::Cors, Gateway};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The command's name in messages.
const CMD: &str = "micro proxy";

/// `micro proxy`'s own flags, with the classic sidecar's names and variables.
#[derive(Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Namespace joined with the service a path names (also tried without it).
    #[arg(long, env = "MICRO_PROXY_NAMESPACE", default_value = "go.micro.srv")]
    pub namespace: String,
    /// Handler of the paths the sidecar's own routes do not take: rpc (the classic
    /// sidecar's), meta, api, http (alias proxy: reverse proxy to the service), event or web.
    #[arg(long, env = "MICRO_PROXY_HANDLER", default_value = "rpc")]
    pub handler: String,
    /// What the proxy speaks on its address: http (the sidecar's HTTP API) or mucp (go-micro
    /// RPC: a transparent proxy that forwards every call to the service it names).
    #[arg(long, env = "MICRO_PROXY_PROTOCOL", default_value = "http")]
    pub protocol: String,
    /// With --protocol=mucp: send every call to this service, or to this host:port, instead of
    /// the service it names (v1's --backend).
    #[arg(long, alias = "backend", env = "MICRO_PROXY_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Name of the program beside the sidecar, registered as a service (needs --server_address).
    #[arg(long = "server_name", env = "MICRO_SIDECAR_SERVER_NAME")]
    pub server_name: Option<String>,
    /// The program's HTTP address, host:port; calls to --server_name are POSTed there.
    #[arg(long = "server_address", env = "MICRO_SIDECAR_SERVER_ADDRESS")]
    pub server_address: Option<String>,
    /// The program's endpoints, comma-separated (Greeter.Hello → POST /greeter/hello).
    #[arg(long = "server_endpoints", env = "MICRO_SIDECAR_SERVER_ENDPOINTS", default_value = "")]
    pub server_endpoints: String,
    /// A JSON file with the program's endpoints: an array of names or of registry endpoints.
    #[arg(long = "server_endpoints_file", env = "MICRO_SIDECAR_SERVER_ENDPOINTS_FILE", value_name = "FILE")]
    pub server_endpoints_file: Option<PathBuf>,
    /// Version registered for the program.
    #[arg(long = "server_version", env = "MICRO_SIDECAR_SERVER_VERSION", default_value = "latest")]
    pub server_version: String,
    /// Where the sidecar listens for the mesh's calls to the program (its registered node).
    #[arg(long = "rpc_address", env = "MICRO_SIDECAR_RPC_ADDRESS", default_value = "0.0.0.0:0")]
    pub rpc_address: String,
    /// The program's health URL (http://…): polled; non-200 deregisters, 200 registers again.
    #[arg(long = "healthcheck_url", env = "MICRO_SIDECAR_HEALTHCHECK_URL")]
    pub healthcheck_url: Option<String>,
    /// How often the health URL is polled (Go duration).
    #[arg(long = "healthcheck_interval", env = "MICRO_SIDECAR_HEALTHCHECK_INTERVAL", default_value = "30s",
          value_parser = crate::parse_timeout)]
    pub healthcheck_interval: Duration,
    /// Registration TTL of the program's node.
    #[arg(long = "register_ttl", env = "MICRO_REGISTER_TTL", default_value = "90s", value_parser = crate::parse_timeout)]
    pub register_ttl: Duration,
    /// How often the program's node is registered again.
    #[arg(long = "register_interval", env = "MICRO_REGISTER_INTERVAL", default_value = "30s",
          value_parser = crate::parse_timeout)]
    pub register_interval: Duration,
    /// Longest a call forwarded to the program may take.
    #[arg(long = "server_timeout", env = "MICRO_SIDECAR_SERVER_TIMEOUT", default_value = "5s",
          value_parser = crate::parse_timeout)]
    pub server_timeout: Duration,
    /// Messages that may wait for one websocket subscriber before it is dropped as too slow.
    #[arg(long = "subscriber_queue", env = "MICRO_PROXY_SUBSCRIBER_QUEUE",
          default_value_t = micro_gateway::sidecar::broker::DEFAULT_QUEUE)]
    pub subscriber_queue: usize,
    /// Count requests and serve /stats and /metrics.
    #[arg(long = "enable_stats", env = "MICRO_ENABLE_STATS")]
    pub enable_stats: bool,
    /// Origins allowed by CORS, comma-separated (`*`: any; empty: no CORS headers).
    #[arg(long, env = "MICRO_PROXY_CORS", default_value = "*")]
    pub cors: String,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long = "max_body", env = "MICRO_PROXY_MAX_BODY", default_value_t = micro_gateway::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// RPC streams open at once over websockets (one more: 503 before the upgrade).
    #[arg(long = "max_streams", env = "MICRO_PROXY_MAX_STREAMS", default_value_t = micro_gateway::DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,
    /// TLS and ACME, as `micro api`.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The neighbour's configuration, when --server_name and --server_address are given.
fn neighbour_config(args: &ProxyArgs) -> Result<Option<NeighbourConfig>, Failure> {
    let (name, address) = match (&args.server_name, &args.server_address) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(Failure::Usage("micro proxy: Require server address: --server_address".into())),
        (None, Some(_)) => return Err(Failure::Usage("micro proxy: Require server name: --server_name".into())),
        (Some(n), Some(a)) => (n.clone(), a.clone()),
    };
    let mut cfg = NeighbourConfig::new(name, address);
    cfg.version = args.server_version.clone();
    cfg.endpoints = neighbour::endpoints_from_list(&args.server_endpoints);
    if let Some(path) = &args.server_endpoints_file {
        let more = neighbour::endpoints_from_file(path).map_err(|e| Failure::Usage(format!("micro proxy: {e}")))?;
        cfg.endpoints.extend(more);
    }
    cfg.healthcheck_url = args.healthcheck_url.clone().filter(|u| !u.is_empty());
    cfg.health_interval = args.healthcheck_interval;
    cfg.rpc_address = args.rpc_address.clone();
    cfg.register_ttl = args.register_ttl;
    cfg.register_interval = args.register_interval;
    cfg.call_timeout = args.server_timeout;
    Ok(Some(cfg))
}

/// Runs the sidecar until Ctrl-C / SIGTERM.
pub async fn run(args: &ProxyArgs, opts: &Opts, sess: &Session) -> Outcome {
    match args.protocol.trim().to_ascii_lowercase().as_str() {
        "" | "http" => {}
        "mucp" | "rpc" => return run_mucp(args, opts, sess).await,
        other => return Err(Failure::Usage(format!("micro proxy: unknown --protocol {other:?}: use http or mucp"))),
    }
    let security = args.tls.security(CMD)?;
    let neighbour_cfg = neighbour_config(args)?;
    let registry = sess.mesh_registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let client = client_builder(opts)
        .registry(registry.clone())
        .broker_url(url)
        .build()
        .await
        .map_err(|e| Failure::Usage(e.detail))?;
    let mut sc_opts = SidecarOptions { subscriber_queue: args.subscriber_queue, ..Default::default() };
    sc_opts.gateway.handler = args.handler.parse().map_err(Failure::Usage)?;
    sc_opts.gateway.namespace = args.namespace.clone();
    sc_opts.gateway.max_body = args.max_body;
    sc_opts.gateway.max_streams = args.max_streams;
    sc_opts.gateway.request_timeout = opts.client_request_timeout;
    sc_opts.gateway.cors = Cors::from_list(&args.cors);
    sc_opts.gateway.stats = args.enable_stats;
    let listen = listen_address(opts.address.as_deref().or(opts.proxy_address.as_deref()).unwrap_or(DEFAULT_ADDRESS));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::Failed(format!("micro proxy: cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?;
    let neighbour = match neighbour_cfg {
        Some(cfg) => Some(
            Neighbour::start(cfg, registry.clone()).await.map_err(|e| Failure::Failed(format!("micro proxy: {e}")))?,
        ),
        None => None,
    };
    let gateway = Gateway::new(client, registry, sc_opts.gateway.clone());
    let sidecar = Sidecar::new(gateway, &sc_opts, neighbour.as_ref().map(Neighbour::health));
    let stop = CancellationToken::new();
    let secured = listen::secure(CMD, security, &args.tls, &stop)?;
    let (scheme, tls, what) = (secured.scheme, secured.tls, secured.what);
    let registered = match &neighbour {
        Some(n) => format!(
            ", registers {} as {} at {}",
            n.service().name,
            n.id(),
            n.service().nodes.first().map(|x| x.address.as_str()).unwrap_or("")
        ),
        None => String::new(),
    };
    println!(
        "micro proxy listening on {scheme}://{bound} (handler {}, namespace {}, registry {}{what}{registered})",
        sc_opts.gateway.handler.name(),
        args.namespace,
        sess.registry_name
    );
    let serving = tokio::spawn(sidecar.serve(listener, tls, stop.clone()));
    micro::wait_for_signal().await;
    // Deregister first, so the mesh stops calling before the listener goes.
    if let Some(n) = neighbour {
        if let Err(e) = n.stop().await {
            eprintln!("micro proxy: deregistering the neighbour: {e}");
        }
    }
    stop.cancel();
    match serving.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Failed(format!("micro proxy: {e}"))),
        Err(e) => Err(Failure::Failed(format!("micro proxy: {e}"))),
    }
}

/// `--protocol=mucp`: the transparent RPC proxy, until Ctrl-C / SIGTERM.
async fn run_mucp(args: &ProxyArgs, opts: &Opts, sess: &Session) -> Outcome {
    use micro_gateway::sidecar::mucp::{self, Target};
    if args.server_name.is_some() || args.server_address.is_some() {
        return Err(Failure::Usage(
            "micro proxy: --server_name/--server_address belong to the HTTP sidecar, not --protocol=mucp".into(),
        ));
    }
    let registry = sess.mesh_registry().await?;
    let client = client_builder(opts).registry(registry.clone()).build().await.map_err(|e| Failure::Usage(e.detail))?;
    let listen = listen_address(opts.address.as_deref().or(opts.proxy_address.as_deref()).unwrap_or(DEFAULT_ADDRESS));
    let svc = micro::Service::builder(mucp::SERVICE)
        .address(listen.clone())
        .registry(registry)
        .build()
        .await
        .map_err(|e| Failure::Usage(format!("micro proxy: {}", e.detail)))?;
    let target = Target::parse(args.endpoint.as_deref());
    mucp::forward(svc.server(), client, target.clone());
    svc.start().await.map_err(|e| Failure::Failed(format!("micro proxy: cannot start on {listen}: {}", e.detail)))?;
    let to = match &target {
        Target::Route => "the service each call names".to_string(),
        Target::Service(s) => format!("service {s}"),
        Target::Address(a) => format!("the node at {a}"),
    };
    let bound = svc.server().bound().map(|a| a.to_string()).unwrap_or(listen);
    println!(
        "micro proxy (mucp) listening on {bound} as {}, registry {}: every call goes to {to}",
        mucp::SERVICE,
        sess.registry_name
    );
    micro::wait_for_signal().await;
    svc.stop().await.map_err(|e| Failure::Failed(format!("micro proxy: stopping: {}", e.detail)))
}
