//! The one plain HTTP/1.1 client of the library, for everything that speaks ordinary HTTP
//! rather than go-micro's message pipe: the http broker's deliveries to subscriber nodes,
//! etcd's JSON gateway and Consul's agent API (optionally over TLS: `https://` backends).
//!
//! Connections are hyper's HTTP/1.1 client connections, kept alive and pooled by address
//! (go-micro's publisher reuses connections through `net/http` the same way). A pooled
//! connection the peer closed while idle hands the request back unsent (hyper's
//! `try_send_request`), so it goes out again on the next connection: a request is never
//! sent twice. [`HttpClient::post`] and [`HttpClient::send`] read the whole answer before
//! the connection goes back to the pool; [`HttpClient::post_streaming`] (an etcd watch)
//! gives the body to the caller on a connection of its own, never pooled.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;

/// A response body still arriving, as hyper delivers it.
pub use hyper::body::Incoming;
/// Response headers, as hyper names them.
pub use hyper::HeaderMap;
/// A request method (`GET`, `PUT` …), as hyper names it.
pub use hyper::Method;
/// A response status (`200 OK`), as hyper names it.
pub use hyper::StatusCode;

type Sender = http1::SendRequest<Full<Bytes>>;

/// A keep-alive HTTP/1.1 client with a pool of idle connections per address.
pub struct HttpClient {
    idle: Mutex<HashMap<String, Vec<Sender>>>,
    idle_per_address: usize,
    /// When set, every connection is TLS with this configuration (`https`).
    tls: Option<Arc<ClientConfig>>,
}

/// A whole answer: status, headers and body.
#[derive(Debug)]
pub struct Response {
    /// The status line's code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpClient {
    /// A client keeping up to `idle_per_address` idle connections to each address.
    pub fn new(idle_per_address: usize) -> Self {
        HttpClient { idle: Mutex::default(), idle_per_address, tls: None }
    }

    /// A client like [`HttpClient::new`] whose connections are TLS (`https`), verified with
    /// `tls` (see [`crate::transport::tls`]); the server name is the address's host.
    pub fn with_tls(idle_per_address: usize, tls: Arc<ClientConfig>) -> Self {
        HttpClient { idle: Mutex::default(), idle_per_address, tls: Some(tls) }
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// POSTs `body` to `http://<address><path>` with `Host: <address>` and then `headers`
    /// in the order given, on a pooled connection or a new one; the status and the whole
    /// answer body, after which the connection is pooled again.
    pub async fn post(
        &self,
        address: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> std::io::Result<(StatusCode, Bytes)> {
        let rsp = self.send(Method::POST, address, path, headers, body).await?;
        Ok((rsp.status, rsp.body))
    }

    /// Sends `method <path>` to `address` like [`HttpClient::post`] does; the whole answer
    /// with its headers.
    pub async fn send(
        &self,
        method: Method,
        address: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> std::io::Result<Response> {
        let mut req = request(method, address, path, headers, body)?;
        while let Some(mut send) = self.take(address) {
            if send.ready().await.is_err() {
                continue;
            }
            match send.try_send_request(req).await {
                Ok(rsp) => return self.finish(address, send, rsp).await,
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(std::io::Error::other(e.into_error())),
                },
            }
        }
        let (mut send, ended) = self.connect(address).await?;
        let rsp = match send.send_request(req).await {
            Ok(rsp) => rsp,
            Err(e) => return Err(why_closed(e, ended).await),
        };
        self.finish(address, send, rsp).await
    }

    /// POSTs like [`HttpClient::post`] on a new connection and hands the body over as it
    /// arrives (a long-lived stream); the connection ends with the body.
    pub async fn post_streaming(
        &self,
        address: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> std::io::Result<(StatusCode, Incoming)> {
        let req = request(Method::POST, address, path, headers, body)?;
        let (mut send, ended) = self.connect(address).await?;
        let rsp = match send.send_request(req).await {
            Ok(rsp) => rsp,
            Err(e) => return Err(why_closed(e, ended).await),
        };
        Ok((rsp.status(), rsp.into_body()))
    }

    /// Reads the answer (so the connection can carry the next request) and pools it.
    async fn finish(&self, address: &str, send: Sender, rsp: hyper::Response<Incoming>) -> std::io::Result<Response> {
        let (parts, body) = rsp.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        self.put(address, send);
        Ok(Response { status: parts.status, headers: parts.headers, body })
    }

    /// A new connection to `address` (TLS when the client is), its driving task spawned; and
    /// how that connection ended, should it end with an error.
    async fn connect(&self, address: &str) -> std::io::Result<(Sender, Ended)> {
        let stream = TcpStream::connect(address).await?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(address, stream).await,
            Some(config) => {
                let name = crate::transport::tls::server_name(address)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.detail))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config)).connect(name, stream).await?;
                handshake(address, tls).await
            }
        }
    }

    fn take(&self, address: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(address)?;
        let found = std::iter::from_fn(|| list.pop()).find(|s| !s.is_closed());
        if list.is_empty() {
            idle.remove(address);
        }
        found
    }

    fn put(&self, address: &str, send: Sender) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(address.to_string()).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < self.idle_per_address {
            list.push(send);
        }
    }
}

/// Whether `e`, from a request of an [`HttpClient`], means the peer could not be reached or
/// went away (nothing listening, a reset, a timeout, no route): what a later try may cure.
/// `false` for a peer that was reached and refused: a TLS certificate it does not trust, a
/// TLS server dialled in the clear, an answer that is not HTTP.
pub fn is_unreachable(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    if let Some(h) = e.get_ref().and_then(|inner| inner.downcast_ref::<hyper::Error>()) {
        return h.is_closed() || h.is_incomplete_message() || h.is_canceled() || h.is_timeout();
    }
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | TimedOut
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | BrokenPipe
            | UnexpectedEof
    )
}

/// `<method> <path>` with `Host` first, then the caller's headers.
fn request(
    method: Method,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> std::io::Result<hyper::Request<Full<Bytes>>> {
    let mut builder = hyper::Request::builder().method(method).uri(path).header(hyper::header::HOST, address);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body)).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// The error a connection's driving task ended with, once it has ended.
type Ended = tokio::sync::oneshot::Receiver<hyper::Error>;

/// HTTP/1.1 over `io`, the connection's driving task spawned.
async fn handshake<T>(address: &str, io: T) -> std::io::Result<(Sender, Ended)>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http1::handshake(TokioIo::new(io)).await.map_err(std::io::Error::other)?;
    let address = address.to_string();
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::trace!(%address, error = %e, "http client: connection ended");
            let _ = ended_tx.send(e);
        }
    });
    Ok((send, ended))
}

/// The error of a first request that a new connection did not carry. When the connection
/// ended with bad data (with TLS 1.3 a server refuses a client's certificate, or its missing
/// one, only after the handshake, with an alert), that is the reason, found in the request's
/// error or in the connection's: reached and refused, not [`is_unreachable`]. Otherwise the
/// request's own error.
async fn why_closed(e: hyper::Error, ended: Ended) -> std::io::Error {
    if let Some(refused) = refusal(&e) {
        return refused;
    }
    if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
        if let Ok(Ok(conn)) = tokio::time::timeout(std::time::Duration::from_millis(500), ended).await {
            if let Some(refused) = refusal(&conn) {
                return refused;
            }
        }
    }
    std::io::Error::other(e)
}

/// The bad data (a TLS alert, not HTTP) somewhere in `e`'s chain of causes, as an error.
fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<std::io::Error> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return Some(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the peer refused: {io}")));
            }
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::listener::Listener;
    use crate::transport::{Limits, Message};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A listener that answers `200 OK` to every request, closing each connection after
    /// `per_conn` requests; it counts connections and requests.
    async fn counting_server(per_conn: usize) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = Listener::bind("127.0.0.1:0", None, Limits::default()).await.unwrap();
        let address = listener.local_addr().to_string();
        let (conns, reqs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, r) = (Arc::clone(&conns), Arc::clone(&reqs));
        tokio::spawn(async move {
            loop {
                let accepted = listener.accept().await;
                c.fetch_add(1, Ordering::SeqCst);
                let r = Arc::clone(&r);
                tokio::spawn(async move {
                    let mut conn = accepted.open().await.unwrap();
                    for _ in 0..per_conn {
                        let Ok(Some((line, msg))) = conn.reader.read_routed_request().await else { return };
                        assert_eq!((line.target.as_str(), &msg.body[..]), ("/p", &b"x"[..]));
                        r.fetch_add(1, Ordering::SeqCst);
                        conn.socket.send(&Message::default()).await.unwrap();
                    }
                });
            }
        });
        (address, conns, reqs)
    }

    #[tokio::test]
    async fn requests_reuse_one_kept_alive_connection() {
        let (address, conns, reqs) = counting_server(usize::MAX).await;
        let client = HttpClient::new(4);
        for _ in 0..5 {
            let (status, body) = client.post(&address, "/p", &[], Bytes::from_static(b"x")).await.unwrap();
            assert_eq!((status, body.len()), (StatusCode::OK, 0));
        }
        assert_eq!((conns.load(Ordering::SeqCst), reqs.load(Ordering::SeqCst)), (1, 5));
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced_and_nothing_is_sent_twice() {
        let (address, conns, reqs) = counting_server(1).await;
        let client = HttpClient::new(4);
        for _ in 0..3 {
            client.post(&address, "/p", &[], Bytes::from_static(b"x")).await.unwrap();
            // Let the server's close reach the pooled connection.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!((conns.load(Ordering::SeqCst), reqs.load(Ordering::SeqCst)), (3, 3));
    }
}
