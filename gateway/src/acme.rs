//! Certificates from an ACME CA (Let's Encrypt by default) for the gateway's own TLS
//! listener, as the classic toolkit's `--enable_acme --acme_hosts` (its `autocert`
//! provider) — without its fixed `:443`: the challenge is answered on the listener the
//! gateway already has.
//!
//! [`Acme::start`] gives a rustls server configuration whose certificate resolver serves
//! the current certificate, or, to a client that offers only the `acme-tls/1` protocol
//! (the CA validating a tls-alpn-01 challenge, RFC 8737), the challenge certificate for the
//! name it asks for. A background task obtains the certificate (instant-acme; the CSR and
//! its P-256 key by rcgen), keeps the account and the certificate in a cache directory,
//! reuses a cached certificate that covers the hosts, and renews it when it is within 30
//! days of expiry, or within a third of its lifetime for shorter-lived ones. A failed
//! attempt is retried with a growing pause (10 s up to an hour); a certificate still valid
//! stays in service meanwhile.
//!
//! The listener must be reachable by the CA on port 443 of every host (or the port the CA
//! validates on, as a test CA's `tlsPort`). Hosts are DNS names; IP identifiers are not
//! supported.

use crate::tls::{certs_from_pem, key_from_pem, provider, TlsError, HTTP11};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Let's Encrypt's production directory, the default CA.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// The ALPN protocol of tls-alpn-01 validation (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The longest a certificate is renewed ahead of its expiry.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

const FIRST_RETRY: Duration = Duration::from_secs(10);
const LAST_RETRY: Duration = Duration::from_secs(3600);
/// The longest the renewal task sleeps before looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(12 * 3600);

/// What [`Acme::start`] needs.
#[derive(Clone, Debug)]
pub struct AcmeConfig {
    /// The names the certificate is for (`--acme_hosts`), DNS names.
    pub hosts: Vec<String>,
    /// The CA's ACME directory URL (`--acme_ca`), [`LETS_ENCRYPT`] by default.
    pub directory: String,
    /// Where the account and the certificates are kept (`--acme_cache_dir`), by default
    /// [`default_cache_dir`]; one subdirectory per CA.
    pub cache_dir: PathBuf,
    /// A PEM root the ACME client trusts for the CA's own HTTPS instead of the system's
    /// (`--acme_ca_root`: a test CA such as pebble).
    pub ca_root: Option<PathBuf>,
}

impl AcmeConfig {
    /// A configuration for `hosts` at Let's Encrypt, cached in [`default_cache_dir`].
    pub fn new(hosts: Vec<String>) -> Self {
        AcmeConfig {
            hosts,
            directory: LETS_ENCRYPT.into(),
            cache_dir: default_cache_dir().unwrap_or_else(|| PathBuf::from(".micro-acme")),
            ca_root: None,
        }
    }
}

/// `$XDG_CACHE_HOME/micro/acme`, else `$HOME/.cache/micro/acme`; `None` without either.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("micro").join("acme"))
}

/// The certificate in service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Its serial number, hex with colons (`01:a2:…`).
    pub serial: String,
    /// Its DNS names.
    pub names: Vec<String>,
    /// Valid from.
    pub not_before: SystemTime,
    /// Valid until.
    pub not_after: SystemTime,
    /// When it is renewed: [`renew_at`] of its validity.
    pub renew_at: SystemTime,
    /// Read from the cache (true) or issued by this process (false).
    pub cached: bool,
}

/// What the certificate task has done so far, as [`Acme::status`] reports it.
#[derive(Clone, Debug, Default)]
pub struct AcmeStatus {
    /// The certificate in service, if any yet.
    pub cert: Option<CertInfo>,
    /// Certificates this process obtained from the CA.
    pub issued: u64,
    /// The last failure to obtain one (cleared by a success).
    pub last_error: Option<String>,
}

/// When a certificate valid from `not_before` to `not_after` is renewed: 30 days before it
/// expires, or a third of its lifetime before if that is shorter.
pub fn renew_at(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    not_after - RENEW_BEFORE.min(lifetime / 3)
}

/// Serves the certificate in service, or a challenge certificate to a validating CA.
#[derive(Debug, Default)]
struct Resolver {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    /// tls-alpn-01 certificates by lower-case host name, while their challenge is pending.
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let name = hello.server_name()?.to_ascii_lowercase();
            let found = self.challenges.lock().unwrap_or_else(|p| p.into_inner()).get(&name).cloned();
            if found.is_none() {
                tracing::debug!(target: "micro::api", %name, "acme-tls/1 handshake with no challenge pending");
            }
            return found;
        }
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// ACME certificates for a gateway listener: the TLS configuration to serve with, and the
/// background task that obtains and renews them. Dropping it does not stop the task:
/// cancel the token given to [`Acme::start`].
pub struct Acme {
    config: Arc<ServerConfig>,
    status: watch::Receiver<AcmeStatus>,
}

impl Acme {
    /// Checks `cfg`, installs a cached certificate that covers the hosts (if any), and
    /// starts the task that obtains one (at once when none is cached) and renews it, until
    /// `shutdown` is cancelled. Needs a tokio runtime. Serve
    /// [`server_config`](Self::server_config) on the listener the CA validates.
    pub fn start(cfg: AcmeConfig, shutdown: CancellationToken) -> Result<Acme, TlsError> {
        let hosts = check_hosts(&cfg.hosts)?;
        if let Some(root) = &cfg.ca_root {
            std::fs::metadata(root)
                .map_err(|e| TlsError(format!("cannot read the ACME CA root {}: {e}", root.display())))?;
        }
        let dir = cfg.cache_dir.join(sanitize(&cfg.directory));
        std::fs::create_dir_all(&dir)
            .map_err(|e| TlsError(format!("cannot create the ACME cache directory {}: {e}", dir.display())))?;
        let resolver = Arc::new(Resolver::default());
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("protocol versions: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![HTTP11.to_vec(), ACME_TLS_ALPN.to_vec()];
        let task = Task {
            cert_base: dir.join(sanitize(&hosts.join(","))),
            dir,
            hosts,
            directory: cfg.directory,
            ca_root: cfg.ca_root,
            resolver,
        };
        let mut status = AcmeStatus::default();
        match task.load_cached() {
            Ok(Some((key, info))) => {
                tracing::info!(target: "micro::api", serial = %info.serial, "ACME: using the cached certificate");
                task.install(key);
                status.cert = Some(info);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(target: "micro::api", error = %e, "ACME: cached certificate not usable"),
        }
        let (tx, rx) = watch::channel(status);
        tokio::spawn(task.run(tx, shutdown));
        Ok(Acme { config: Arc::new(config), status: rx })
    }

    /// The TLS configuration for the gateway's listener.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// What the certificate task has done so far.
    pub fn status(&self) -> AcmeStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change of [`status`](Self::status).
    pub fn watch(&self) -> watch::Receiver<AcmeStatus> {
        self.status.clone()
    }
}

/// Lower-cased DNS names; an IP literal or a malformed name is refused.
fn check_hosts(hosts: &[String]) -> Result<Vec<String>, TlsError> {
    let hosts: Vec<String> = hosts.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
    if hosts.is_empty() {
        return Err(TlsError("ACME needs at least one host name (--acme_hosts)".into()));
    }
    for h in &hosts {
        if h.parse::<std::net::IpAddr>().is_ok() {
            return Err(TlsError(format!("ACME host {h}: IP addresses are not supported, give a DNS name")));
        }
        DnsName::try_from(h.as_str()).map_err(|_| TlsError(format!("ACME host {h:?} is not a DNS name")))?;
    }
    Ok(hosts)
}

/// A string as a file name: letters, digits, `.` and `-` kept, the rest `_`.
fn sanitize(s: &str) -> String {
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

fn unix(secs: i64) -> SystemTime {
    match u64::try_from(secs) {
        Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
        Err(_) => UNIX_EPOCH,
    }
}

/// The serial, names and validity of a leaf certificate.
pub fn describe(leaf: &CertificateDer<'_>) -> Result<CertInfo, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError(format!("certificate not readable: {e}")))?;
    let names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let not_before = unix(cert.validity().not_before.timestamp());
    let not_after = unix(cert.validity().not_after.timestamp());
    Ok(CertInfo {
        serial: cert.raw_serial_as_string(),
        names,
        not_before,
        not_after,
        renew_at: renew_at(not_before, not_after),
        cached: false,
    })
}

fn certified_key(chain: Vec<CertificateDer<'static>>, key: &PrivateKeyDer<'_>) -> Result<Arc<CertifiedKey>, TlsError> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| TlsError(format!("private key not usable: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// Writes `data` to `path` by way of a temporary file, readable by the owner only.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    std::io::Write::write_all(&mut f, data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// The certificate task: owns the cache directory of one CA and one set of hosts.
struct Task {
    dir: PathBuf,
    /// `<dir>/<hosts>`: `.crt` (the PEM chain) and `.key` (its PEM key) beside it.
    cert_base: PathBuf,
    hosts: Vec<String>,
    directory: String,
    ca_root: Option<PathBuf>,
    resolver: Arc<Resolver>,
}

impl Task {
    fn install(&self, key: Arc<CertifiedKey>) {
        *self.resolver.current.write().unwrap_or_else(|p| p.into_inner()) = Some(key);
    }

    /// The cached certificate, if there is one that covers the hosts and has not expired.
    fn load_cached(&self) -> Result<Option<(Arc<CertifiedKey>, CertInfo)>, TlsError> {
        let (crt, key) = (self.cert_base.with_extension("crt"), self.cert_base.with_extension("key"));
        let (Ok(chain_pem), Ok(key_pem)) = (std::fs::read(&crt), std::fs::read(&key)) else {
            return Ok(None);
        };
        let chain = certs_from_pem(&chain_pem, &crt.display().to_string())?;
        let mut info = describe(&chain[0])?;
        info.cached = true;
        if let Some(h) = self.hosts.iter().find(|h| !info.names.contains(h)) {
            return Err(TlsError(format!("{} does not name {h}", crt.display())));
        }
        if info.not_after <= SystemTime::now() {
            return Err(TlsError(format!("{} has expired", crt.display())));
        }
        let key = certified_key(chain, &key_from_pem(&key_pem, &key.display().to_string())?)?;
        Ok(Some((key, info)))
    }

    async fn run(self, status: watch::Sender<AcmeStatus>, shutdown: CancellationToken) {
        let mut retry = FIRST_RETRY;
        loop {
            let due = status.borrow().cert.as_ref().map(|c| c.renew_at);
            let wait = due.map_or(Duration::ZERO, |at| at.duration_since(SystemTime::now()).unwrap_or_default());
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait.min(MAX_SLEEP)) => continue,
                }
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.obtain() => r,
            };
            match result {
                Ok((key, info)) => {
                    tracing::info!(target: "micro::api", serial = %info.serial, hosts = ?self.hosts, "ACME: certificate issued");
                    self.install(key);
                    retry = FIRST_RETRY;
                    status.send_modify(|s| {
                        s.cert = Some(info);
                        s.issued += 1;
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "micro::api", error = %e, retry_in_s = retry.as_secs(), "ACME: no certificate");
                    status.send_modify(|s| s.last_error = Some(e.0.clone()));
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    }

    /// The account of the cache, or a new one (then cached).
    async fn account(&self) -> Result<Account, TlsError> {
        let builder = || match &self.ca_root {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        };
        let acme = |what: &str, e: instant_acme::Error| TlsError(format!("ACME {what}: {e}"));
        let path = self.dir.join("account.json");
        if let Ok(bytes) = std::fs::read(&path) {
            match serde_json::from_slice::<AccountCredentials>(&bytes) {
                Ok(creds) => {
                    return builder()
                        .map_err(|e| acme("client", e))?
                        .from_credentials(creds)
                        .await
                        .map_err(|e| acme("account", e));
                }
                Err(e) => {
                    tracing::warn!(target: "micro::api", file = %path.display(), error = %e, "ACME: cached account not readable, making a new one")
                }
            }
        }
        let new = NewAccount { contact: &[], terms_of_service_agreed: true, only_return_existing: false };
        let (account, creds) = builder()
            .map_err(|e| acme("client", e))?
            .create(&new, self.directory.clone(), None)
            .await
            .map_err(|e| acme(&format!("account at {}", self.directory), e))?;
        let json = serde_json::to_vec(&creds).map_err(|e| TlsError(format!("ACME account: {e}")))?;
        write_private(&path, &json)
            .map_err(|e| TlsError(format!("cannot write the ACME account {}: {e}", path.display())))?;
        Ok(account)
    }

    /// One order: challenges answered on the listener, the certificate fetched and cached.
    async fn obtain(&self) -> Result<(Arc<CertifiedKey>, CertInfo), TlsError> {
        let account = self.account().await?;
        let result = self.order(&account).await;
        self.resolver.challenges.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let (chain_pem, key_pem) = result?;
        let chain = certs_from_pem(chain_pem.as_bytes(), "the issued certificate")?;
        let info = describe(&chain[0])?;
        let key = certified_key(chain, &key_from_pem(key_pem.as_bytes(), "the certificate's key")?)?;
        let (crt, keyf) = (self.cert_base.with_extension("crt"), self.cert_base.with_extension("key"));
        // Key first: a crash between the two leaves a new key beside an old chain, which
        // fails to load and so is replaced, never an old key beside a new chain.
        for (path, data) in [(&keyf, &key_pem), (&crt, &chain_pem)] {
            if let Err(e) = write_private(path, data.as_bytes()) {
                tracing::warn!(target: "micro::api", file = %path.display(), error = %e, "ACME: certificate not cached");
            }
        }
        Ok((key, info))
    }

    async fn order(&self, account: &Account) -> Result<(String, String), TlsError> {
        let acme = |what: &str, e: instant_acme::Error| TlsError(format!("ACME {what}: {e}"));
        let ids: Vec<Identifier> = self.hosts.iter().map(|h| Identifier::Dns(h.clone())).collect();
        let mut order = account.new_order(&NewOrder::new(&ids)).await.map_err(|e| acme("new order", e))?;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| acme("authorization", e))?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(TlsError(format!("ACME authorization is {other:?}"))),
            }
            let mut challenge = authz
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| TlsError("the ACME CA offers no tls-alpn-01 challenge".into()))?;
            let host = challenge.identifier().to_string().to_ascii_lowercase();
            let key_auth = challenge.key_authorization();
            let cert = challenge_cert(&host, key_auth.digest().as_ref())?;
            self.resolver.challenges.lock().unwrap_or_else(|p| p.into_inner()).insert(host, cert);
            challenge.set_ready().await.map_err(|e| acme("challenge", e))?;
        }
        let patient =
            RetryPolicy::new().initial_delay(Duration::from_millis(500)).backoff(1.5).timeout(Duration::from_secs(120));
        let status = order.poll_ready(&patient).await.map_err(|e| acme("order", e))?;
        if status != OrderStatus::Ready {
            return Err(TlsError(format!("ACME order is {status:?}: {}", failures(&mut order).await)));
        }
        let key_pem = order.finalize().await.map_err(|e| acme("finalize", e))?;
        let chain_pem = order.poll_certificate(&patient).await.map_err(|e| acme("certificate", e))?;
        Ok((chain_pem, key_pem))
    }
}

/// What the CA said about the challenges of a failed order.
async fn failures(order: &mut instant_acme::Order) -> String {
    let mut out = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for c in &authz.challenges {
            if let Some(e) = &c.error {
                out.push(format!("{}: {e}", authz.identifier()));
            }
        }
    }
    if out.is_empty() {
        "no reason given".into()
    } else {
        out.join("; ")
    }
}

/// The tls-alpn-01 certificate for `host`: self-signed, naming only `host`, with the
/// critical acmeIdentifier extension holding the key authorization's SHA-256.
fn challenge_cert(host: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, TlsError> {
    let bad = |e: rcgen::Error| TlsError(format!("tls-alpn-01 certificate for {host}: {e}"));
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()]).map_err(bad)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(bad)?;
    let cert = params.self_signed(&key).map_err(bad)?;
    let der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| TlsError(format!("tls-alpn-01 key: {e}")))?;
    certified_key(vec![cert.der().clone()], &der)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn renewal_is_30_days_ahead_or_a_third_of_a_short_lifetime() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // Let's Encrypt's 90 days: renewed at day 60.
        assert_eq!(renew_at(t0, t0 + 90 * DAY), t0 + 60 * DAY);
        // A year: 30 days ahead.
        assert_eq!(renew_at(t0, t0 + 365 * DAY), t0 + 335 * DAY);
        // Six days: two days ahead.
        assert_eq!(renew_at(t0, t0 + 6 * DAY), t0 + 4 * DAY);
        // Nonsense validity: renewed at once.
        assert_eq!(renew_at(t0 + DAY, t0), t0);
    }

    #[test]
    fn hosts_are_dns_names() {
        assert_eq!(check_hosts(&["Example.COM ".into(), "".into()]), Ok(vec!["example.com".to_string()]));
        assert!(check_hosts(&[]).is_err());
        assert!(check_hosts(&["127.0.0.1".into()]).expect_err("ip").0.contains("IP addresses"));
        assert!(check_hosts(&["a b".into()]).expect_err("bad").0.contains("not a DNS name"));
    }

    #[test]
    fn cache_names_are_file_names() {
        assert_eq!(sanitize("https://localhost:14000/dir"), "localhost_14000_dir");
        assert_eq!(sanitize(LETS_ENCRYPT), "acme-v02.api.letsencrypt.org_directory");
        assert_eq!(sanitize("a.example,b.example"), "a.example_b.example");
    }

    #[test]
    fn challenge_certs_carry_the_acme_identifier() {
        let ck = challenge_cert("gw.example", &[7u8; 32]).expect("cert");
        let (_, cert) = x509_parser::parse_x509_certificate(ck.cert[0].as_ref()).expect("parse");
        let ext =
            cert.extensions().iter().find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31").expect("acmeIdentifier");
        assert!(ext.critical);
        assert_eq!(&ext.value[2..], &[7u8; 32]);
        assert_eq!(describe(&ck.cert[0]).expect("describe").names, vec!["gw.example".to_string()]);
    }
}
