//! `micro api`: the HTTP gateway into the mesh, composed from the `micro-gateway` crate.
//!
//! Listens on `--api_address` (`MICRO_API_ADDRESS`, default `:8080`, as the classic
//! toolkit; the global `--address` works too, as go-micro v5's `micro api --address`), calls
//! through a client on the registry of `--registry`, and stops on Ctrl-C / SIGTERM: the
//! listener closes at once and requests in flight finish.
//!
//! HTTPS with `--enable_tls` and certificate files (mTLS with `--tls_client_ca_file`), or
//! with `--enable_acme` and a certificate from an ACME CA, obtained and renewed on this
//! listener by tls-alpn-01 (`micro_gateway::acme`); ACME wins when both are given.

use crate::cmd::{Failure, Outcome};
use crate::session::{client_builder, Session};
use crate::Opts;
use clap::Args;
use micro_gateway::acme::{Acme, AcmeConfig};
use micro_gateway::{cors::Cors, Gateway, HandlerKind, Options};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Serve HTTPS with the certificate of --tls_cert_file and --tls_key_file.
    #[arg(long = "enable_tls", env = "MICRO_ENABLE_TLS")]
    pub enable_tls: bool,
    /// PEM certificate chain (leaf first) for --enable_tls.
    #[arg(long = "tls_cert_file", env = "MICRO_TLS_CERT_FILE", value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls_cert_file.
    #[arg(long = "tls_key_file", env = "MICRO_TLS_KEY_FILE", value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: clients must present a certificate one of them issued (mTLS).
    #[arg(long = "tls_client_ca_file", env = "MICRO_TLS_CLIENT_CA_FILE", value_name = "FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Serve HTTPS with a certificate from an ACME CA for --acme_hosts, the tls-alpn-01
    /// challenge answered on this listener (wins over --enable_tls).
    #[arg(long = "enable_acme", env = "MICRO_ENABLE_ACME")]
    pub enable_acme: bool,
    /// Host names of the ACME certificate, comma-separated.
    #[arg(long = "acme_hosts", env = "MICRO_ACME_HOSTS", value_name = "HOSTS", default_value = "")]
    pub acme_hosts: String,
    /// ACME provider: autocert (the ACME CA of --acme_ca); the classic's certmagic is not supported.
    #[arg(long = "acme_provider", env = "MICRO_ACME_PROVIDER", default_value = "autocert")]
    pub acme_provider: String,
    /// The ACME CA's directory URL.
    #[arg(long = "acme_ca", env = "MICRO_ACME_CA", value_name = "URL", default_value = micro_gateway::acme::LETS_ENCRYPT)]
    pub acme_ca: String,
    /// Where the ACME account and certificates are kept (default: the user's cache, micro/acme).
    #[arg(long = "acme_cache_dir", env = "MICRO_ACME_CACHE_DIR", value_name = "DIR")]
    pub acme_cache_dir: Option<PathBuf>,
    /// PEM root certificate the ACME client trusts for the CA's HTTPS (a test CA's).
    #[arg(long = "acme_ca_root", env = "MICRO_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,
}

/// How the listener is secured, from the TLS and ACME flags.
pub(crate) enum Security {
    Plain,
    Files(Arc<micro::transport::tls::ServerConfig>),
    Acme(AcmeConfig),
}

/// The flags' TLS choice, checked: ACME wins over TLS files; --enable_tls without its
/// files is a usage error (the classic printed a line and exited 0 serving nothing).
pub(crate) fn security(args: &ApiArgs) -> Result<Security, Failure> {
    if args.enable_acme {
        if args.acme_provider != "autocert" {
            return Err(Failure::Usage(format!(
                "micro api: --acme_provider {:?} is not supported: use autocert (the CA of --acme_ca)",
                args.acme_provider
            )));
        }
        let hosts: Vec<String> =
            args.acme_hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect();
        if hosts.is_empty() {
            return Err(Failure::Usage(
                "micro api: --enable_acme needs --acme_hosts (MICRO_ACME_HOSTS), the host names of the certificate"
                    .into(),
            ));
        }
        let cache_dir = match (args.acme_cache_dir.clone(), micro_gateway::acme::default_cache_dir()) {
            (Some(d), _) | (None, Some(d)) => d,
            (None, None) => {
                return Err(Failure::Usage(
                    "micro api: no cache directory for ACME (neither XDG_CACHE_HOME nor HOME is set): give --acme_cache_dir".into(),
                ))
            }
        };
        return Ok(Security::Acme(AcmeConfig {
            hosts,
            directory: args.acme_ca.clone(),
            cache_dir,
            ca_root: args.acme_ca_root.clone(),
        }));
    }
    if !args.enable_tls {
        return Ok(Security::Plain);
    }
    let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
        return Err(Failure::Usage(
            "micro api: TLS certificate and key files not specified: --enable_tls needs --tls_cert_file and --tls_key_file (MICRO_TLS_CERT_FILE, MICRO_TLS_KEY_FILE)".into(),
        ));
    };
    let config = micro_gateway::tls::from_files(cert, key, args.tls_client_ca_file.as_deref())
        .map_err(|e| Failure::Usage(format!("micro api: {e}")))?;
    Ok(Security::Files(config))
}

/// `:8080` → `0.0.0.0:8080`; anything else as given.
pub(crate) fn listen_address(a: &str) -> String {
    match a.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => a.to_string(),
    }
}

/// Prints what the ACME task does: the certificate in service (cached or issued) and
/// failures to obtain one (retried by the task).
pub(crate) async fn report_acme(acme: Acme) {
    let mut rx = acme.watch();
    let mut seen: (Option<String>, Option<String>) = (None, None);
    loop {
        let now = {
            let s = rx.borrow_and_update();
            (s.cert.as_ref().map(describe_cert), s.last_error.clone())
        };
        if now.0 != seen.0 {
            if let Some(c) = &now.0 {
                println!("micro api: {c}");
            }
        }
        if now.1 != seen.1 {
            if let Some(e) = &now.1 {
                eprintln!("micro api: no certificate yet (retrying): {e}");
            }
        }
        seen = now;
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn describe_cert(c: &micro_gateway::acme::CertInfo) -> String {
    let days = |t: std::time::SystemTime| {
        t.duration_since(std::time::SystemTime::now()).map(|d| d.as_secs_f64() / 86400.0).unwrap_or(0.0)
    };
    format!(
        "{} ACME certificate for {} (serial {}): expires in {:.1} days, renewed in {:.1}",
        if c.cached { "cached" } else { "issued" },
        c.names.join(","),
        c.serial,
        days(c.not_after),
        days(c.renew_at)
    )
}

/// Runs the gateway until Ctrl-C / SIGTERM.
pub async fn run(args: &ApiArgs, opts: &Opts, sess: &Session) -> Outcome {
    let handler: HandlerKind = args.handler.parse().map_err(Failure::Usage)?;
    let resolver: micro_gateway::resolver::ResolverKind = args.resolver.parse().map_err(Failure::Usage)?;
    let security = security(args)?;
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
        resolver,
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
    let stop = CancellationToken::new();
    let (scheme, tls, what) = match security {
        Security::Plain => ("http", None, String::new()),
        Security::Files(c) => {
            let mtls = if args.tls_client_ca_file.is_some() { ", client certificates required" } else { "" };
            ("https", Some(c), format!(", TLS{mtls}"))
        }
        Security::Acme(cfg) => {
            let what = format!(", ACME certificate for {} from {}", cfg.hosts.join(","), cfg.directory);
            let acme = Acme::start(cfg, stop.clone()).map_err(|e| Failure::Usage(format!("micro api: {e}")))?;
            let config = acme.server_config();
            tokio::spawn(report_acme(acme));
            ("https", Some(config), what)
        }
    };
    println!(
        "micro api listening on {scheme}://{bound} (handler {}, namespace {}, registry {}{what})",
        handler.name(),
        args.namespace,
        sess.registry_name
    );
    let serving = tokio::spawn(gateway.serve(listener, tls, stop.clone()));
    micro::wait_for_signal().await;
    stop.cancel();
    match serving.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Failed(format!("micro api: {e}"))),
        Err(e) => Err(Failure::Failed(format!("micro api: {e}"))),
    }
}
