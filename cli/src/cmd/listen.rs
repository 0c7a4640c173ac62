//! What `micro api`, `micro web` and `micro server` share: the TLS and ACME flags (the same
//! names and variables on each), the checked choice they make, the listener, the client of
//! the mesh, the ready line and the run until Ctrl-C / SIGTERM.
//!
//! HTTPS with `--enable_tls` and certificate files (mTLS with `--tls_client_ca_file`), or
//! with `--enable_acme` and a certificate from an ACME CA, obtained and renewed on the
//! listener by tls-alpn-01 (`micro_gateway::acme`); ACME wins when both are given.

use crate::cmd::{Failure, Outcome};
use crate::session::{client_builder, Session};
use crate::Opts;
use clap::Args;
use micro::registry::Registry;
use micro_gateway::acme::{Acme, AcmeConfig};
use micro_gateway::auth::{Guard, GuardOptions};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The TLS and ACME flags, with the classic toolkit's names and variables.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
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

/// Who may call what: the auth flags of `micro api`, `micro web` and `micro server`, with
/// go-micro's flag name (`--auth`, `MICRO_AUTH`).
#[derive(Args, Debug, Clone)]
pub struct AuthArgs {
    /// Who may call what: `jwt` (also `--auth` alone) requires a signed-in caller or a token
    /// on every call and page and serves /auth/ (sign-in, users, tokens, rules); `none` lets
    /// anyone call. Default: `jwt` for `micro server` (go-micro v5's authenticated gateway),
    /// `none` for `micro api` and `micro web`. The first admin's password comes from
    /// MICRO_ADMIN_PASSWORD, else it is generated and printed once.
    #[arg(long, env = "MICRO_AUTH", value_name = "NAME", num_args = 0..=1, default_missing_value = "jwt")]
    pub auth: Option<String>,
    /// Where accounts, tokens, rules and the signing key are kept (default: the user's
    /// config dir, micro/auth).
    #[arg(long = "auth_dir", env = "MICRO_AUTH_DIR", value_name = "DIR")]
    pub auth_dir: Option<PathBuf>,
}

impl AuthArgs {
    /// The guard the flags ask for (`default` when `--auth` is not given), opened: on first
    /// start the admin account is created. `cmd` names the command in messages.
    pub fn guard(&self, cmd: &str, default: &str) -> Result<Option<Arc<Guard>>, Failure> {
        let choice = self.auth.as_deref().unwrap_or(default).trim().to_ascii_lowercase();
        match choice.as_str() {
            "" | "none" | "noop" | "false" => Ok(None),
            "jwt" | "true" => {
                let opts =
                    GuardOptions::from_env(self.auth_dir.clone()).map_err(|e| Failure::Usage(format!("{cmd}: {e}")))?;
                let guard = Guard::open(opts).map_err(|e| Failure::Failed(format!("{cmd}: auth: {e}")))?;
                Ok(Some(Arc::new(guard)))
            }
            other => Err(Failure::Usage(format!("{cmd}: unknown --auth {other:?}: use jwt or none"))),
        }
    }
}

/// The ready line's note on auth: where the store is, or nothing when auth is off.
pub fn auth_note(guard: &Option<Arc<Guard>>) -> String {
    match guard {
        Some(g) => format!(", auth on (store {})", g.dir().display()),
        None => String::new(),
    }
}

/// How the listener is secured, from the TLS and ACME flags.
pub enum Security {
    /// Plain HTTP.
    Plain,
    /// TLS with certificate files.
    Files(Arc<micro::transport::tls::ServerConfig>),
    /// TLS with an ACME certificate.
    Acme(AcmeConfig),
}

impl TlsArgs {
    /// The flags' TLS choice, checked (`cmd` names the command in messages): ACME wins over
    /// TLS files; --enable_tls without its files is a usage error (the classic printed a
    /// line and exited 0 serving nothing).
    pub fn security(&self, cmd: &str) -> Result<Security, Failure> {
        if self.enable_acme {
            if self.acme_provider != "autocert" {
                return Err(Failure::Usage(format!(
                    "{cmd}: --acme_provider {:?} is not supported: use autocert (the CA of --acme_ca)",
                    self.acme_provider
                )));
            }
            let hosts: Vec<String> =
                self.acme_hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect();
            if hosts.is_empty() {
                return Err(Failure::Usage(format!(
                    "{cmd}: --enable_acme needs --acme_hosts (MICRO_ACME_HOSTS), the host names of the certificate"
                )));
            }
            let cache_dir = match (self.acme_cache_dir.clone(), micro_gateway::acme::default_cache_dir()) {
                (Some(d), _) | (None, Some(d)) => d,
                (None, None) => {
                    return Err(Failure::Usage(format!(
                        "{cmd}: no cache directory for ACME (neither XDG_CACHE_HOME nor HOME is set): give --acme_cache_dir"
                    )))
                }
            };
            return Ok(Security::Acme(AcmeConfig {
                hosts,
                directory: self.acme_ca.clone(),
                cache_dir,
                ca_root: self.acme_ca_root.clone(),
            }));
        }
        if !self.enable_tls {
            return Ok(Security::Plain);
        }
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Err(Failure::Usage(format!(
                "{cmd}: TLS certificate and key files not specified: --enable_tls needs --tls_cert_file and --tls_key_file (MICRO_TLS_CERT_FILE, MICRO_TLS_KEY_FILE)"
            )));
        };
        let config = micro_gateway::tls::from_files(cert, key, self.tls_client_ca_file.as_deref())
            .map_err(|e| Failure::Usage(format!("{cmd}: {e}")))?;
        Ok(Security::Files(config))
    }
}

/// `:8080` → `0.0.0.0:8080`; anything else as given.
pub fn listen_address(a: &str) -> String {
    match a.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => a.to_string(),
    }
}

/// The registry of the session and a client on it (with the broker of the flags).
pub async fn mesh(opts: &Opts, sess: &Session) -> Result<(micro::Client, Arc<dyn Registry>), Failure> {
    let registry = sess.registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let client = client_builder(opts)
        .registry(registry.clone())
        .broker_url(url)
        .build()
        .await
        .map_err(|e| Failure::Usage(e.detail))?;
    Ok((client, registry))
}

/// A listener bound on `address` (`:port` for every interface), and where it is bound.
pub async fn bind(cmd: &str, address: &str) -> Result<(tokio::net::TcpListener, SocketAddr), Failure> {
    let listen = listen_address(address);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::Failed(format!("{cmd}: cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?;
    Ok((listener, bound))
}

/// What a secured listener needs: its scheme, the rustls config, and words for the ready
/// line (`, TLS`, `, ACME certificate for …`). Starts the ACME task (stopped by `stop`).
pub struct Secured {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The TLS config, `None` for plain HTTP.
    pub tls: Option<Arc<micro::transport::tls::ServerConfig>>,
    /// Said on the ready line.
    pub what: String,
}

/// Puts `security` in force for `cmd` (see [`Secured`]).
pub fn secure(
    cmd: &'static str,
    security: Security,
    tls: &TlsArgs,
    stop: &CancellationToken,
) -> Result<Secured, Failure> {
    Ok(match security {
        Security::Plain => Secured { scheme: "http", tls: None, what: String::new() },
        Security::Files(c) => {
            let mtls = if tls.tls_client_ca_file.is_some() { ", client certificates required" } else { "" };
            Secured { scheme: "https", tls: Some(c), what: format!(", TLS{mtls}") }
        }
        Security::Acme(cfg) => {
            let what = format!(", ACME certificate for {} from {}", cfg.hosts.join(","), cfg.directory);
            let acme = Acme::start(cfg, stop.clone()).map_err(|e| Failure::Usage(format!("{cmd}: {e}")))?;
            let config = acme.server_config();
            tokio::spawn(report_acme(cmd, acme));
            Secured { scheme: "https", tls: Some(config), what }
        }
    })
}

/// Runs `serving` until Ctrl-C / SIGTERM, then cancels `stop` and waits for it to finish.
pub async fn until_signal<F>(cmd: &str, serving: F, stop: CancellationToken) -> Outcome
where
    F: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let serving = tokio::spawn(serving);
    micro::wait_for_signal().await;
    stop.cancel();
    match serving.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Failed(format!("{cmd}: {e}"))),
        Err(e) => Err(Failure::Failed(format!("{cmd}: {e}"))),
    }
}

/// Prints what the ACME task does: the certificate in service (cached or issued) and
/// failures to obtain one (retried by the task).
async fn report_acme(cmd: &'static str, acme: Acme) {
    let mut rx = acme.watch();
    let mut seen: (Option<String>, Option<String>) = (None, None);
    loop {
        let now = {
            let s = rx.borrow_and_update();
            (s.cert.as_ref().map(describe_cert), s.last_error.clone())
        };
        if now.0 != seen.0 {
            if let Some(c) = &now.0 {
                println!("{cmd}: {c}");
            }
        }
        if now.1 != seen.1 {
            if let Some(e) = &now.1 {
                eprintln!("{cmd}: no certificate yet (retrying): {e}");
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
