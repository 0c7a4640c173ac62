//! How an input reaches its chat service: the service's Web API at a base URL (`https://`,
//! or `http://` for a stand-in on loopback) through the library's HTTP client, and the
//! websocket the service hands out (`wss://`, or `ws://`) through tokio-tungstenite. TLS is
//! rustls with the platform's trust store (rustls-platform-verifier), made on first use, so
//! a plain-text stand-in never needs one.

use bytes::Bytes;
use micro::transport::http_client::{HttpClient, StatusCode};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

/// How long one Web API request (connect, send, whole answer) may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(15);

/// How long opening a websocket (connect, TLS, upgrade) may take.
const WEBSOCKET_TIMEOUT: Duration = Duration::from_secs(15);

/// The process's TLS client configuration, verified against the platform's roots.
fn tls() -> Result<Arc<ClientConfig>, String> {
    static TLS: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        use rustls_platform_verifier::ConfigVerifierExt;
        ClientConfig::with_platform_verifier()
            .map(Arc::new)
            .map_err(|e| format!("cannot set up TLS with the platform's certificates: {e}"))
    })
    .clone()
}

/// Where a URL points: TLS or not, `host:port`, host, and the path with its query.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    address: String,
    host: String,
    path: String,
}

/// Splits `url`, whose scheme must be `plain` or `secure` (`http`/`https`, `ws`/`wss`).
fn target(url: &str, plain: &str, secure: &str) -> Result<Target, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some(s) if s == secure => true,
        Some(s) if s == plain => false,
        _ => return Err(format!("{url:?} is not a {secure}:// or {plain}:// URL")),
    };
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("{url:?} names no host"))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    Ok(Target { tls, address, host, path })
}

/// A chat service's Web API: methods are POSTed to `<base URL><method>`.
pub struct Api {
    target: Target,
    http: HttpClient,
}

impl Api {
    /// The API at `base` (`https://slack.com/api/`; a missing trailing `/` is added).
    pub fn new(base: &str) -> Result<Api, String> {
        let mut target = target(base, "http", "https")?;
        if let Some(q) = target.path.find('?') {
            target.path.truncate(q);
        }
        if !target.path.ends_with('/') {
            target.path.push('/');
        }
        let http = if target.tls { HttpClient::with_tls(2, tls()?) } else { HttpClient::new(2) };
        Ok(Api { target, http })
    }

    /// The URL of `method`, for messages.
    pub fn url(&self, method: &str) -> String {
        let scheme = if self.target.tls { "https" } else { "http" };
        format!("{scheme}://{}{}{method}", self.target.address, self.target.path)
    }

    /// POSTs `body` to `method` with `headers`: the status, a `Retry-After` in seconds if
    /// the answer had one, and the body.
    pub async fn post(
        &self,
        method: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(StatusCode, Option<u64>, Bytes), String> {
        let path = format!("{}{method}", self.target.path);
        let send = self.http.send(hyper::Method::POST, &self.target.address, &path, headers, body);
        let rsp = tokio::time::timeout(API_TIMEOUT, send)
            .await
            .map_err(|_| format!("no answer from {} within {API_TIMEOUT:?}", self.url(method)))?
            .map_err(|e| format!("{}: {e}", self.url(method)))?;
        let retry_after =
            rsp.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        Ok((rsp.status, retry_after, rsp.body))
    }
}

/// A byte stream a websocket runs over: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open websocket.
pub type WebSocket = WebSocketStream<Box<dyn Io>>;

/// Opens the websocket at `url` (`wss://…`, or `ws://…`).
pub async fn websocket(url: &str) -> Result<WebSocket, String> {
    let t = target(url, "ws", "wss")?;
    let open = async {
        let tcp = TcpStream::connect(&t.address).await.map_err(|e| format!("cannot connect to {}: {e}", t.address))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if t.tls {
            let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("{:?}: {e}", t.host))?;
            let tls = tokio_rustls::TlsConnector::from(tls()?)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", t.address))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async(url, io)
            .await
            .map_err(|e| format!("websocket handshake with {}: {e}", t.address))?;
        Ok(ws)
    };
    tokio::time::timeout(WEBSOCKET_TIMEOUT, open)
        .await
        .map_err(|_| format!("the websocket at {} did not open within {WEBSOCKET_TIMEOUT:?}", t.address))?
}

#[cfg(test)]
mod tests {
    use super::{target, Api, Target};

    #[test]
    fn urls_split_into_address_and_path() {
        let t = target("wss://wss-primary.slack.com/link/?ticket=a&app_id=b", "ws", "wss").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                address: "wss-primary.slack.com:443".into(),
                host: "wss-primary.slack.com".into(),
                path: "/link/?ticket=a&app_id=b".into()
            }
        );
        let t = target("ws://127.0.0.1:9000/x", "ws", "wss").unwrap();
        assert_eq!((t.tls, t.address.as_str(), t.path.as_str()), (false, "127.0.0.1:9000", "/x"));
        let t = target("http://[::1]:8/api", "http", "https").unwrap();
        assert_eq!((t.address.as_str(), t.host.as_str()), ("[::1]:8", "::1"));
        assert!(target("ftp://x/", "http", "https").unwrap_err().contains("not a https:// or http:// URL"));
        assert!(target("slack.com/api", "http", "https").is_err());
    }

    #[test]
    fn api_methods_go_under_the_base_path() {
        let api = Api::new("http://127.0.0.1:8080/api").unwrap();
        assert_eq!(api.url("auth.test"), "http://127.0.0.1:8080/api/auth.test");
        let api = Api::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(api.url("chat.postMessage"), "http://127.0.0.1:8080/chat.postMessage");
    }
}
