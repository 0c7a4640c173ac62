//! `micro api`'s TLS flags through the built binary, on loopback with the memory registry
//! (no mDNS): usage errors (exit 2) for TLS without its files and ACME without hosts, and
//! HTTPS served from files given by flags or by `MICRO_*` variables, with mTLS. ACME itself
//! is tested against pebble in gateway/tests/tls.rs. `micro web` and `micro server` share
//! these flags, and are checked here too.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn micro() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_micro"));
    c.env_remove("MICRO_REGISTRY").env_remove("MICRO_ENABLE_TLS").env_remove("MICRO_ENABLE_ACME");
    c
}

/// `micro ARGS…` with `env` → (exit code, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = micro().args(args).envs(env.iter().copied()).stdin(Stdio::null()).output().expect("run micro");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("$ micro {} -> {:?}\n{err}", args.join(" "), out.status.code());
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn tls_without_files_and_acme_without_hosts_are_usage_errors() {
    let (code, err) = run(&["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--enable_tls"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("TLS certificate and key files not specified"), "{err}");
    let (code, err) = run(
        &["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--tls_cert_file", "/nonexistent.pem"],
        &[("MICRO_ENABLE_TLS", "true")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("TLS certificate and key files not specified"), "{err}");
    let (code, err) = run(
        &["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--enable_tls"],
        &[("MICRO_TLS_CERT_FILE", "/nonexistent/c.pem"), ("MICRO_TLS_KEY_FILE", "/nonexistent/k.pem")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the TLS certificate file /nonexistent/c.pem"), "{err}");
    let (code, err) = run(&["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--enable_acme"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--enable_acme needs --acme_hosts"), "{err}");
    let (code, err) = run(
        &["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--acme_hosts", "127.0.0.1"],
        &[("MICRO_ENABLE_ACME", "true")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("IP addresses are not supported"), "{err}");
    let (code, err) = run(
        &[
            "--registry",
            "memory",
            "api",
            "--api_address",
            "127.0.0.1:0",
            "--enable_acme",
            "--acme_hosts",
            "a.example",
            "--acme_provider",
            "certmagic",
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("certmagic\" is not supported"), "{err}");
}

/// A background `micro api`, killed on drop; its listening address read from its first line.
struct Api(Child, String);

impl Api {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Api {
        Self::start_as("api", "--api_address", args, env)
    }

    /// `micro --registry memory CMD ADDRESS_FLAG 127.0.0.1:0 ARGS…` (api, web or server).
    fn start_as(cmd: &str, address_flag: &str, args: &[&str], env: &[(&str, &str)]) -> Api {
        let mut all = vec!["--registry", "memory", cmd, address_flag, "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = micro()
            .args(&all)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start micro");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        let addr = line
            .split("https://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no https address in {line:?}"))
            .to_string();
        Api(child, addr)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Files {
    dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    (p.self_signed(&key).expect("ca"), key)
}

fn leaf(ca: &(rcgen::Certificate, rcgen::KeyPair), name: &str, client: bool) -> (String, String) {
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    p.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, &ca.0, &ca.1).expect("leaf");
    (cert.pem(), key.serialize_pem())
}

/// `GET /health` over TLS (blocking rustls), presenting `identity` if given.
fn get_health(addr: &str, ca_pem: &str, identity: Option<&(String, String)>) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?,
                PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
    };
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    tls.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
fn https_from_files_by_flags_and_by_variables_with_mtls() {
    let dir = std::env::temp_dir().join(format!("micro-api-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let files = Files { dir };
    let write = |name: &str, data: &str| {
        let p = files.dir.join(name);
        std::fs::write(&p, data).expect("write");
        p.to_string_lossy().into_owned()
    };
    let server_ca = ca("server CA");
    let (cert, key) = leaf(&server_ca, "localhost", false);
    let (cert, key) = (write("cert.pem", &cert), write("key.pem", &key));
    let server_ca_pem = server_ca.0.pem();

    let api = Api::start(&["--enable_tls", "--tls_cert_file", &cert, "--tls_key_file", &key], &[]);
    let answer = get_health(&api.1, &server_ca_pem, None).expect("HTTPS /health");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.contains(r#"{"status":"ok"}"#), "{answer}");
    drop(api);

    let client_ca = ca("client CA");
    let clients = write("clients.pem", &client_ca.0.pem());
    let api = Api::start(
        &[],
        &[
            ("MICRO_ENABLE_TLS", "true"),
            ("MICRO_TLS_CERT_FILE", &cert),
            ("MICRO_TLS_KEY_FILE", &key),
            ("MICRO_TLS_CLIENT_CA_FILE", &clients),
        ],
    );
    let refused = get_health(&api.1, &server_ca_pem, None);
    assert!(refused.is_err(), "served without a client certificate: {refused:?}");
    let identity = leaf(&client_ca, "client.example", true);
    let answer = get_health(&api.1, &server_ca_pem, Some(&identity)).expect("HTTPS /health with a client certificate");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

/// `micro web` and `micro server` take `micro api`'s TLS flags (one shared set): the same
/// usage errors under their own names, and HTTPS from certificate files.
#[test]
fn web_and_server_share_the_tls_flags() {
    for (cmd, flag) in [("web", "--web_address"), ("server", "--server_address")] {
        let (code, err) = run(&["--registry", "memory", cmd, flag, "127.0.0.1:0", "--enable_tls"], &[]);
        assert_eq!(code, 2, "{cmd}");
        assert!(err.contains(&format!("micro {cmd}: TLS certificate and key files not specified")), "{err}");
        let (code, err) = run(&["--registry", "memory", cmd, flag, "127.0.0.1:0", "--enable_acme"], &[]);
        assert_eq!(code, 2, "{cmd}");
        assert!(err.contains("--enable_acme needs --acme_hosts"), "{err}");
    }
    let dir = std::env::temp_dir().join(format!("micro-web-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let files = Files { dir };
    let write = |name: &str, data: &str| {
        let p = files.dir.join(name);
        std::fs::write(&p, data).expect("write");
        p.to_string_lossy().into_owned()
    };
    let server_ca = ca("server CA");
    let (cert, key) = leaf(&server_ca, "localhost", false);
    let (cert, key) = (write("cert.pem", &cert), write("key.pem", &key));
    for (cmd, flag) in [("web", "--web_address"), ("server", "--server_address")] {
        // `micro server` signs callers in by default; /health is open either way, and the
        // test keeps its auth store out of the user's home.
        let srv = Api::start_as(
            cmd,
            flag,
            &["--enable_tls", "--tls_cert_file", &cert, "--tls_key_file", &key, "--auth", "none"],
            &[],
        );
        let answer = get_health(&srv.1, &server_ca.0.pem(), None).expect("HTTPS /health");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{cmd}: {answer}");
    }
}
