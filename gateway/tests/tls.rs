//! The gateway over TLS, in process on loopback with the memory registry: certificate files
//! (HTTPS, plain HTTP on the TLS port, mTLS), and ACME against a real ACME server —
//! Debian's `pebble`, which really validates the tls-alpn-01 challenge by connecting to the
//! gateway's listener (its `tlsPort` is set to the gateway's port). Pebble must be
//! installed (`scripts/test.d/56-gateway-tls.sh` installs it); without it the ACME tests
//! fail saying so.

use micro::registry::memory::Memory;
use micro_gateway::acme::{Acme, AcmeConfig, AcmeStatus};
use micro_gateway::{Gateway, Options};
use rcgen::{BasicConstraints, CertificateParams, CertifiedKey, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

// ---------- scaffolding ----------

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "micro-gw-tls-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn write(&self, name: &str, data: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, data).expect("write file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A gateway on the memory registry, serving `listener` until the token is cancelled.
async fn serve(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>) -> (SocketAddr, CancellationToken) {
    let registry: Arc<dyn micro::registry::Registry> = Arc::new(Memory::new());
    let client = micro::Client::builder().registry(registry.clone()).build().await.expect("client");
    let gateway = Gateway::new(client, registry, Options::default());
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(gateway.serve(listener, Some(tls), stop.clone()));
    (addr, stop)
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `roots`, presenting `identity` (chain, key) if given.
fn client_config(roots: &[CertificateDer<'static>], identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone()).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(pem_certs(chain), PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"))
            .expect("client auth"),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().expect("PEM certificates")
}

/// What one HTTPS GET saw.
#[derive(Debug)]
struct Got {
    status: u16,
    body: String,
    alpn: Option<Vec<u8>>,
    leaf: CertificateDer<'static>,
}

/// `GET path` over TLS to `addr`, checking the certificate against `name`; any failure
/// (handshake, refusal, short answer) is the error.
async fn https_get(addr: SocketAddr, name: &str, path: &str, config: Arc<rustls::ClientConfig>) -> Result<Got, String> {
    let work = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw).await.map_err(|e| format!("read: {e}"))?;
        let (_, conn) = tls.get_ref();
        let leaf = conn.peer_certificates().and_then(|c| c.first()).cloned().ok_or("no server certificate")?;
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.trim_end().to_string()).unwrap_or_default();
        Ok(Got { status, body, alpn, leaf })
    };
    tokio::time::timeout(Duration::from_secs(10), work).await.map_err(|_| "timed out".to_string())?
}

/// A CA made by rcgen, and leaves it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (server) or a client certificate (no names needed).
    fn leaf(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> CertifiedKey {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("client"));
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("leaf");
        CertifiedKey { cert, key_pair: key }
    }
}

// ---------- TLS from files ----------

#[tokio::test]
async fn tls_files_serve_https_and_plain_http_gets_a_clean_400() {
    let dir = TempDir::new("files");
    let ca = Ca::new("test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let cert = dir.write("cert.pem", &leaf.cert.pem());
    let key = dir.write("key.pem", &leaf.key_pair.serialize_pem());
    let config = micro_gateway::tls::from_files(&cert, &key, None).expect("TLS config");
    let (addr, stop) = serve(bind().await, config).await;
    let trusting = client_config(&pem_certs(&ca.pem()), None);

    let got = https_get(addr, "localhost", "/health", trusting.clone()).await.expect("HTTPS /health");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, r#"{"status":"ok"}"#);
    assert_eq!(got.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(got.leaf, *leaf.cert.der());

    // Plain HTTP to the TLS port: a 400 that says why, then the connection closes.
    let mut plain = tokio::net::TcpStream::connect(addr).await.expect("connect");
    plain.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), plain.read_to_string(&mut answer))
        .await
        .expect("closed in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{answer:?}");
    assert!(answer.ends_with("Client sent an HTTP request to an HTTPS server.\n"), "{answer:?}");

    // A client that does not trust the certificate is refused by itself; garbage is dropped.
    let stranger = client_config(&pem_certs(&Ca::new("other CA").pem()), None);
    let e = https_get(addr, "localhost", "/health", stranger).await.expect_err("untrusted");
    assert!(e.starts_with("handshake:"), "{e}");
    let mut junk = tokio::net::TcpStream::connect(addr).await.expect("connect");
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]).await.expect("write");
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut sink)).await.expect("closed in time");

    // The gateway keeps serving, by IP name too.
    let again = https_get(addr, "127.0.0.1", "/health", trusting).await.expect("HTTPS after the bad clients");
    assert_eq!(again.status, 200);
    stop.cancel();
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_given_ca() {
    let dir = TempDir::new("mtls");
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let leaf = server_ca.leaf(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let cert = dir.write("cert.pem", &leaf.cert.pem());
    let key = dir.write("key.pem", &leaf.key_pair.serialize_pem());
    let cas = dir.write("clients.pem", &client_ca.pem());
    let config = micro_gateway::tls::from_files(&cert, &key, Some(&cas)).expect("mTLS config");
    let (addr, stop) = serve(bind().await, config).await;
    let roots = pem_certs(&server_ca.pem());

    let e = https_get(addr, "localhost", "/health", client_config(&roots, None)).await.expect_err("no client cert");
    assert!(e.contains("CertificateRequired") || e.contains("HandshakeFailure") || e.contains("handshake"), "{e}");

    let ours = client_ca.leaf(&["client.example"], ExtendedKeyUsagePurpose::ClientAuth);
    let (chain, key_pem) = (ours.cert.pem(), ours.key_pair.serialize_pem());
    let got = https_get(addr, "localhost", "/health", client_config(&roots, Some((&chain, &key_pem))))
        .await
        .expect("served with a client certificate from the CA");
    assert_eq!((got.status, got.body.as_str()), (200, r#"{"status":"ok"}"#));

    let foreign = Ca::new("someone else").leaf(&["client.example"], ExtendedKeyUsagePurpose::ClientAuth);
    let (chain, key_pem) = (foreign.cert.pem(), foreign.key_pair.serialize_pem());
    let e = https_get(addr, "localhost", "/health", client_config(&roots, Some((&chain, &key_pem))))
        .await
        .expect_err("client certificate from another CA");
    assert!(e.contains("UnknownCA") || e.contains("BadCertificate") || e.contains("alert"), "{e}");
    stop.cancel();
    drop(dir);
}

// ---------- ACME with pebble ----------

/// A pebble ACME server on loopback, killed on drop. Its HTTPS certificate is ours (Debian
/// ships none); it validates tls-alpn-01 on `tls_port`.
struct Pebble {
    child: Child,
    dir: TempDir,
    /// The directory URL.
    url: String,
    management: SocketAddr,
    /// Our CA of pebble's own HTTPS (the ACME client's `--acme_ca_root`).
    https_root: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Pebble {
    /// Starts pebble with its validation port `tls_port` and, if given, a certificate
    /// lifetime in seconds.
    fn start(tls_port: u16, validity: Option<u64>) -> Pebble {
        let bin = std::env::var_os("PEBBLE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("pebble"));
        let dir = TempDir::new("pebble");
        let ca = Ca::new("pebble HTTPS test CA");
        let leaf = ca.leaf(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let https_root = dir.write("https-ca.pem", &ca.pem());
        let cert = dir.write("cert.pem", &leaf.cert.pem());
        let key = dir.write("key.pem", &leaf.key_pair.serialize_pem());
        let (listen, management) = (free_port(), free_port());
        let mut conf = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert, "privateKey": key,
            "httpPort": free_port(), "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        if let Some(v) = validity {
            conf["pebble"]["certificateValidityPeriod"] = v.into();
        }
        let config = dir.write("pebble.json", &conf.to_string());
        let log = std::fs::File::create(dir.0.join("pebble.log")).expect("log");
        let child = Command::new(&bin)
            .arg("-config")
            .arg(&config)
            // The challenge must really be validated, by connecting to the gateway.
            .env_remove("PEBBLE_VA_ALWAYS_VALID")
            .env_remove("PEBBLE_VA_NOSLEEP")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run pebble ({}): {e} — install Debian's pebble", bin.display()));
        let mut p = Pebble {
            child,
            dir,
            url: format!("https://127.0.0.1:{listen}/dir"),
            management: SocketAddr::from(([127, 0, 0, 1], management)),
            https_root,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !p.log().contains("ACME directory available") {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("pebble exited ({status}):\n{}", p.log());
            }
            assert!(Instant::now() < deadline, "pebble did not start:\n{}", p.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("pebble.log")).unwrap_or_default()
    }

    /// Orders pebble has taken.
    fn orders(&self) -> usize {
        self.log().matches("Added order").count()
    }

    /// Pebble's issuing root (regenerated on every start), from its management API.
    async fn issuing_root(&self) -> CertificateDer<'static> {
        let trust = client_config(&pem_certs(&std::fs::read_to_string(&self.https_root).expect("root")), None);
        let got = https_get(self.management, "localhost", "/roots/0", trust).await.expect("GET /roots/0");
        assert_eq!(got.status, 200, "{got:?}");
        // The body may be chunked; take the PEM block out of it.
        let start = got.body.find("-----BEGIN").expect("PEM in /roots/0");
        let end = got.body.find("-----END CERTIFICATE-----").expect("PEM end") + "-----END CERTIFICATE-----".len();
        pem_certs(&got.body[start..end]).remove(0)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- pebble log ---\n{}", self.log());
        }
    }
}

fn acme_config(pebble: &Pebble, cache: &Path) -> AcmeConfig {
    AcmeConfig {
        hosts: vec!["localhost".into()],
        directory: pebble.url.clone(),
        cache_dir: cache.to_path_buf(),
        ca_root: Some(pebble.https_root.clone()),
    }
}

/// Waits until `pred` holds of the ACME status; the last error is in the panic, and every
/// failure seen on the way is printed (a success clears `last_error`, so a retried attempt
/// would leave no trace otherwise).
async fn wait_status(acme: &Acme, within: Duration, pred: impl Fn(&AcmeStatus) -> bool) -> AcmeStatus {
    let mut rx = acme.watch();
    let mut seen: Option<String> = None;
    let found = tokio::time::timeout(
        within,
        rx.wait_for(|s| {
            if s.last_error.is_some() && s.last_error != seen {
                seen = s.last_error.clone();
                eprintln!("ACME attempt failed (retried): {}", seen.as_deref().unwrap_or_default());
            }
            pred(s)
        }),
    )
    .await;
    match found {
        Ok(Ok(s)) => s.clone(),
        _ => panic!("ACME did not get there in {within:?}: {:?}", acme.status()),
    }
}

fn serial_of(der: &CertificateDer<'_>) -> String {
    micro_gateway::acme::describe(der).expect("describe").serial
}

#[tokio::test]
async fn acme_with_pebble_issues_then_a_restart_reuses_the_cached_certificate() {
    let listener = bind().await;
    let port = listener.local_addr().expect("addr").port();
    let pebble = Pebble::start(port, None);
    let cache = TempDir::new("acme-cache");

    let stop = CancellationToken::new();
    let acme = Acme::start(acme_config(&pebble, &cache.0), stop.clone()).expect("ACME");
    assert!(acme.status().cert.is_none(), "nothing cached yet");
    let (addr, serving) = serve(listener, acme.server_config()).await;
    let status = wait_status(&acme, Duration::from_secs(120), |s| s.cert.is_some()).await;
    let cert = status.cert.expect("certificate");
    assert_eq!((cert.cached, status.issued), (false, 1));
    assert_eq!(cert.names, vec!["localhost".to_string()]);
    assert!(pebble.log().contains("set VALID by completed challenge"), "pebble validated the challenge");
    assert_eq!(pebble.orders(), 1);

    // An HTTPS client trusting only pebble's issuing root reaches /health.
    let trust = client_config(&[pebble.issuing_root().await], None);
    let got = https_get(addr, "localhost", "/health", trust.clone()).await.expect("HTTPS with the ACME certificate");
    assert_eq!((got.status, got.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(serial_of(&got.leaf), cert.serial);
    let files: Vec<String> = std::fs::read_dir(cache.0.join(format!(
        "127.0.0.1_{}_dir",
        pebble.url.trim_start_matches("https://127.0.0.1:").trim_end_matches("/dir")
    )))
    .expect("cache dir per CA")
    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
    .collect();
    for f in ["account.json", "localhost.crt", "localhost.key"] {
        assert!(files.contains(&f.to_string()), "{f} cached: {files:?}");
    }
    stop.cancel();
    serving.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A restart: the cached certificate at once, no new order.
    let stop = CancellationToken::new();
    let acme = Acme::start(acme_config(&pebble, &cache.0), stop.clone()).expect("ACME again");
    let again = acme.status();
    let cached = again.cert.clone().expect("the cached certificate, at once");
    assert!(cached.cached);
    assert_eq!(cached.serial, cert.serial);
    let (addr, serving) = serve(bind().await, acme.server_config()).await;
    let got = https_get(addr, "localhost", "/health", trust).await.expect("HTTPS with the cached certificate");
    assert_eq!(got.status, 200);
    assert_eq!(serial_of(&got.leaf), cert.serial);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pebble.orders(), 1, "no new order on restart");
    assert_eq!(acme.status().issued, 0);
    stop.cancel();
    serving.cancel();
}

#[tokio::test]
async fn acme_renews_a_short_lived_certificate_in_the_background() {
    let listener = bind().await;
    let port = listener.local_addr().expect("addr").port();
    // 90 s certificates: renewed a third of their lifetime ahead, 60 s after issue.
    let pebble = Pebble::start(port, Some(90));
    let cache = TempDir::new("acme-renew");
    let stop = CancellationToken::new();
    let acme = Acme::start(acme_config(&pebble, &cache.0), stop.clone()).expect("ACME");
    let (addr, serving) = serve(listener, acme.server_config()).await;
    let first = wait_status(&acme, Duration::from_secs(120), |s| s.cert.is_some()).await.cert.expect("cert");
    let lifetime = first.not_after.duration_since(first.not_before).expect("lifetime");
    let ahead = first.not_after.duration_since(first.renew_at).expect("ahead");
    assert!((ahead.as_secs_f64() - lifetime.as_secs_f64() / 3.0).abs() < 1.0, "{first:?}");

    let renewed = wait_status(&acme, Duration::from_secs(150), |s| s.issued >= 2).await.cert.expect("renewed");
    assert_ne!(renewed.serial, first.serial);
    assert!(renewed.not_after > first.not_after);
    // The orders are not counted: an attempt that fails is retried as a new order (pebble
    // rejects 5% of good nonces on purpose, and a loaded machine can outlast a poll's
    // patience; a CI run saw a third order, issued on the second's reused authorization).
    let trust = client_config(&[pebble.issuing_root().await], None);
    let got = https_get(addr, "localhost", "/health", trust).await.expect("HTTPS after renewal");
    assert_eq!(got.status, 200);
    assert_eq!(serial_of(&got.leaf), renewed.serial, "the renewed certificate is served without a restart");
    stop.cancel();
    serving.cancel();
}
