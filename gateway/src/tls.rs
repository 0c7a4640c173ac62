//! TLS for the gateway's listener from certificate files, as the classic toolkit's
//! `--enable_tls --tls_cert_file --tls_key_file [--tls_client_ca_file]`: a rustls server
//! configuration (the `ring` provider, as core's transport TLS) that [`Gateway::serve`]
//! takes. With a client CA every client must present a certificate that CA issued (mTLS).
//!
//! ALPN offers `http/1.1` only: the gateway speaks HTTP/1.1 (the classic offered `h2` too).
//! Certificates from an ACME CA instead of files are [`crate::acme`]'s.
//!
//! [`Gateway::serve`]: crate::Gateway::serve

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// Why a TLS configuration could not be made; the text names the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// The ALPN protocol the gateway serves.
pub const HTTP11: &[u8] = b"http/1.1";

/// The crypto provider of every configuration here (and of core's transport TLS).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM bundle (one or more `CERTIFICATE` blocks); `what` names it in
/// errors.
pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{what}: not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{what}: no CERTIFICATE block in it")));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1); `what` names it in errors.
pub fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError(format!("{what}: not a PEM private key: {e}")))
}

/// A server configuration from a PEM certificate chain and its PEM private key; with
/// `client_ca_pem`, clients must present a certificate issued by one of its certificates.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_named(cert_pem, key_pem, client_ca_pem, ("certificate", "private key", "client CA"))
}

fn server_config_named(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
    (cert_name, key_name, ca_name): (&str, &str, &str),
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs_from_pem(cert_pem, cert_name)?;
    let key = key_from_pem(key_pem, key_name)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("protocol versions: {e}")))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for c in certs_from_pem(pem, ca_name)? {
                roots.add(c).map_err(|e| TlsError(format!("{ca_name}: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError(format!("{ca_name}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("{cert_name} and {key_name} do not go together: {e}")))?;
    config.alpn_protocols = vec![HTTP11.to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read the {what} {}: {e}", path.display())))
}

/// A server configuration from files: `--tls_cert_file` (a PEM chain, leaf first),
/// `--tls_key_file` (its PEM key) and, for mTLS, `--tls_client_ca_file` (PEM CAs).
pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_name = format!("TLS certificate file {}", cert.display());
    let key_name = format!("TLS key file {}", key.display());
    let ca_name = client_ca.map(|p| format!("TLS client CA file {}", p.display())).unwrap_or_default();
    let ca = match client_ca {
        Some(p) => Some(read(p, "TLS client CA file")?),
        None => None,
    };
    server_config_named(
        &read(cert, "TLS certificate file")?,
        &read(key, "TLS key file")?,
        ca.as_deref(),
        (&cert_name, &key_name, &ca_name),
    )
}

/// What a plain-HTTP request to the TLS port is answered (as Go's net/http answers it),
/// instead of a TLS alert the client would misread.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The TLS handshake of one connection; `None` when the client spoke plain HTTP (its first
/// byte an ASCII letter, where TLS starts with a handshake record, 0x16): it is answered
/// 400 and closed.
pub(crate) async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: tokio::net::TcpStream,
) -> std::io::Result<Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0].is_ascii_alphabetic() {
        use tokio::io::AsyncWriteExt;
        stream.write_all(PLAIN_HTTP_ANSWER).await?;
        stream.shutdown().await?;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    #[test]
    fn a_cert_and_its_key_make_a_config_with_http11_alpn() {
        let (cert, key) = self_signed();
        let c = server_config(cert.as_bytes(), key.as_bytes(), None).expect("config");
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let with_ca = server_config(cert.as_bytes(), key.as_bytes(), Some(cert.as_bytes())).expect("mtls config");
        assert_eq!(with_ca.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let e = server_config(b"junk", key.as_bytes(), None).expect_err("not a cert");
        assert!(e.0.contains("certificate: no CERTIFICATE block"), "{e}");
        let e = server_config(cert.as_bytes(), b"junk", None).expect_err("not a key");
        assert!(e.0.contains("private key: not a PEM private key"), "{e}");
        let e = server_config(cert.as_bytes(), other_key.as_bytes(), None).expect_err("mismatch");
        assert!(e.0.contains("do not go together"), "{e}");
        let e = server_config(cert.as_bytes(), key.as_bytes(), Some(b"junk")).expect_err("bad CA");
        assert!(e.0.contains("client CA: no CERTIFICATE block"), "{e}");
        let e =
            from_files(Path::new("/nonexistent/c.pem"), Path::new("/nonexistent/k.pem"), None).expect_err("missing");
        assert!(e.0.starts_with("cannot read the TLS certificate file /nonexistent/c.pem"), "{e}");
    }
}
