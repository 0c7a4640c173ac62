//! TLS for the HTTP transport, as go-micro's `transport.Secure(true)` / `TLSConfig`: HTTP/1.1
//! over TLS (1.2+, ALPN `http/1.1`), on every connection of a client or server that turns
//! it on. Like go-micro, a server with no certificate makes a self-signed one (ECDSA P-256,
//! SANs = its addresses); unlike go-micro's client, ours is told what to trust — a CA
//! bundle — or explicitly told to trust anything (`insecure`, for development against
//! go-micro's self-signed servers).
//!
//! rustls with the `ring` provider, so the library needs no system OpenSSL.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

const ID: &str = "go.micro.transport";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn bad(what: &str, e: impl std::fmt::Display) -> Error {
    Error::bad_request(ID, format!("tls: {what}: {e}"))
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(bad("certificate PEM", "no CERTIFICATE block"));
    }
    Ok(certs)
}

fn with_alpn_server(mut c: ServerConfig) -> Arc<ServerConfig> {
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// A server configuration from a PEM certificate chain and its PEM private key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    server_config_checking_clients(cert_pem, key_pem, None)
}

/// A server configuration from a PEM certificate chain and its PEM private key that, with
/// `client_ca_pem`, requires every client to present a certificate chain signed by one of
/// those certificates (mutual TLS, Go's `tls.RequireAndVerifyClientCert`); a client without
/// one fails the handshake.
pub fn server_config_checking_clients(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("private key PEM", e))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = Arc::new(roots(ca, "client CA certificate")?);
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| bad("client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(certs(cert_pem)?, key).map_err(|e| bad("certificate and key", e))?;
    Ok(with_alpn_server(config))
}

fn roots(ca_pem: &[u8], what: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c).map_err(|e| bad(what, e))?;
    }
    Ok(roots)
}

/// A self-signed certificate for `hosts` (IP literals or DNS names), as go-micro makes one
/// for a secure server without a configuration: the server configuration and the
/// certificate's PEM (hand it to clients as their CA).
pub fn self_signed(hosts: &[String]) -> Result<(Arc<ServerConfig>, String)> {
    self_signed_checking_clients(hosts, None)
}

/// [`self_signed`], requiring client certificates signed by `client_ca_pem` when given (see
/// [`server_config_checking_clients`]).
pub fn self_signed_checking_clients(
    hosts: &[String],
    client_ca_pem: Option<&[u8]>,
) -> Result<(Arc<ServerConfig>, String)> {
    let hosts: Vec<String> = if hosts.is_empty() { vec!["localhost".into()] } else { hosts.to_vec() };
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(hosts).map_err(|e| bad("self-signed certificate", e))?;
    let cert_pem = cert.pem();
    let config =
        server_config_checking_clients(cert_pem.as_bytes(), key_pair.serialize_pem().as_bytes(), client_ca_pem)?;
    Ok((config, cert_pem))
}

/// This host's names for a self-signed certificate: `localhost` and every interface address
/// (go-micro uses all interface IPs).
pub fn local_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        let ip = iface.ip().to_string();
        if !names.contains(&ip) {
            names.push(ip);
        }
    }
    names
}

/// A client configuration that trusts the certificates in `ca_pem` (one or more PEM blocks).
pub fn client_config(ca_pem: &[u8]) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c).map_err(|e| bad("CA certificate", e))?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts `ca_pem` and presents the PEM certificate chain and
/// private key given (mutual TLS).
pub fn client_config_with_identity(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c).map_err(|e| bad("CA certificate", e))?;
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("client private key PEM", e))?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs(cert_pem)?, key)
        .map_err(|e| bad("client certificate and key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration from PEM files named by environment variables, as a registry's
/// own tools take them (etcdctl's `ETCDCTL_CACERT`, `ETCDCTL_CERT`, `ETCDCTL_KEY`; Consul's
/// `CONSUL_CACERT`, `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY`): `vars` are the CA's, the
/// certificate's and the key's. `None` when the CA variable is unset. Trusts the CA file, and
/// presents the certificate and key when both are set (one without the other is an error).
/// Errors are 400s with `id`, naming `who` (`etcd`, `consul`), the variable and the file.
pub fn client_config_from_env(
    id: &str,
    who: &str,
    vars: [&str; 3],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Arc<ClientConfig>>> {
    let [ca_var, cert_var, key_var] = vars;
    let Some(ca) = env(ca_var) else { return Ok(None) };
    let read = |var: &str, path: &str| {
        std::fs::read(path).map_err(|e| Error::bad_request(id, format!("{who}: {var} {path}: {e}")))
    };
    let ca_pem = read(ca_var, &ca)?;
    let config = match (env(cert_var), env(key_var)) {
        (Some(c), Some(k)) => client_config_with_identity(&ca_pem, &read(cert_var, &c)?, &read(key_var, &k)?),
        (None, None) => client_config(&ca_pem),
        _ => return Err(Error::bad_request(id, format!("{who}: set both {cert_var} and {key_var}, or neither"))),
    };
    config.map(Some).map_err(|e| Error::bad_request(id, format!("{who}: {}", e.detail)))
}

/// A client configuration that accepts any server certificate — what go-micro's
/// `InsecureSkipVerify` does. For development and for go-micro's self-signed servers only:
/// it gives encryption without authentication. Logs a warning once per configuration.
pub fn insecure_client_config() -> Result<Arc<ClientConfig>> {
    insecure_client_config_with_identity(None)
}

/// [`insecure_client_config`] that presents `identity` — a PEM certificate chain and its
/// PEM private key — to servers that ask for one (mutual TLS).
pub fn insecure_client_config_with_identity(identity: Option<(&[u8], &[u8])>) -> Result<Arc<ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    tracing::warn!("tls: server certificates are not verified (insecure client configuration)");
    let verifier = Arc::new(AcceptAny(provider()));
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("client private key PEM", e))?;
            builder.with_client_auth_cert(certs(cert_pem)?, key).map_err(|e| bad("client certificate and key", e))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The name a client checks the server's certificate against: the host part of
/// `host:port` (an IP literal or a DNS name).
pub(crate) fn server_name(address: &str) -> Result<ServerName<'static>> {
    let host = match address.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => address,
    };
    ServerName::try_from(host.to_string()).map_err(|e| bad(&format!("server name {host:?}"), e))
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls configuration types, so callers need not depend on rustls to name them.
pub use rustls::{ClientConfig, ServerConfig};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    const NAMES: [&str; 3] = ["X_CACERT", "X_CERT", "X_KEY"];

    #[test]
    fn files_named_by_environment_variables() {
        assert!(client_config_from_env("t", "reg", NAMES, vars(&[])).expect("no CA").is_none());

        let e = client_config_from_env("t", "reg", NAMES, vars(&[("X_CACERT", "/nonexistent/ca.pem")]))
            .expect_err("a CA file that is not there");
        assert_eq!(e.code, 400);
        assert!(e.detail.starts_with("reg: X_CACERT /nonexistent/ca.pem: "), "{}", e.detail);

        let dir = std::env::temp_dir().join(format!("micro-tls-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (_, cert_pem) = self_signed(&["localhost".to_string()]).expect("a certificate");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &cert_pem).expect("write");
        let ca = ca.to_string_lossy().to_string();
        assert!(client_config_from_env("t", "reg", NAMES, vars(&[("X_CACERT", &ca)])).expect("a CA").is_some());

        let e = client_config_from_env("t", "reg", NAMES, vars(&[("X_CACERT", &ca), ("X_CERT", &ca)]))
            .expect_err("a certificate without its key");
        assert_eq!(e.detail, "reg: set both X_CERT and X_KEY, or neither");

        let e = client_config_from_env("t", "reg", NAMES, vars(&[("X_CACERT", &ca), ("X_CERT", &ca), ("X_KEY", &ca)]))
            .expect_err("a certificate given as its own key");
        assert!(e.detail.starts_with("reg: tls: "), "{}", e.detail);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
