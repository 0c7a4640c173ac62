//! The server side of the transport: a bound listener and the connections it accepts.
//!
//! [`Listener::bind`] binds with a deep backlog; [`Listener::accept`] hands out TCP
//! connections (an accept error is logged and retried, never returned: a full file table
//! must not end a server); [`Accepted::open`] runs the TLS handshake, when the listener has
//! a configuration, on the connection's own task, and splits the connection into a
//! [`MessageReader`] and a [`Socket`]. The RPC server and the http broker both listen here,
//! so what bounds a peer's hold on a server — today the header timeout, which also bounds
//! the handshake; later idle and body timeouts and connection caps — is written once.

use super::http::MessageReader;
use super::socket::Socket;
use super::{BoxRead, BoxWrite, Limits, TransportError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// A bound TCP listener, plain or TLS, with the limits its connections are read under.
pub struct Listener {
    tcp: TcpListener,
    local: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
}

/// A TCP connection just accepted: no byte read yet, no handshake done.
pub struct Accepted {
    stream: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
}

/// An open connection: its reader, its write half and both ends' addresses.
pub struct Connection {
    /// Reads the peer's messages, under the listener's limits.
    pub reader: MessageReader<BoxRead>,
    /// Writes answers.
    pub socket: Socket,
    /// This end's address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
}

impl Listener {
    /// Binds `address` (`host:port`; port 0 picks a free one) with an accept backlog of
    /// 1024, not std's 128, so a burst of new connections from many callers is queued rather
    /// than refused. With `tls`, every accepted connection is TLS (go-micro's
    /// `transport.Secure`).
    pub async fn bind(
        address: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        limits: Limits,
    ) -> std::io::Result<Listener> {
        let tcp = bind_tcp(address).await?;
        let local = tcp.local_addr()?;
        Ok(Listener { tcp, local, tls: tls.map(tokio_rustls::TlsAcceptor::from), limits })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection. Accept errors (a full file table, a connection reset before it
    /// was taken) are logged and retried after a short pause, never returned.
    pub async fn accept(&self) -> Accepted {
        loop {
            match self.tcp.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    return Accepted { stream, local: self.local, remote, tls: self.tls.clone(), limits: self.limits };
                }
                Err(e) => {
                    tracing::warn!(address = %self.local, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl Accepted {
    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Opens the connection: the TLS handshake when the listener has a configuration
    /// (bounded like a request head, so a silent peer cannot hold a task), then the split
    /// into reader and socket.
    pub async fn open(self) -> Result<Connection, TransportError> {
        let local = self.stream.local_addr().unwrap_or(self.local);
        let (r, w): (BoxRead, BoxWrite) = match self.tls {
            None => {
                let (r, w) = self.stream.into_split();
                (Box::new(r), Box::new(w))
            }
            Some(acceptor) => {
                let limit = self.limits.header_timeout;
                let tls = match tokio::time::timeout(limit, acceptor.accept(self.stream)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(TransportError::HeaderTimeout(limit)),
                };
                let (r, w) = tokio::io::split(tls);
                (Box::new(r), Box::new(w))
            }
        };
        Ok(Connection {
            reader: MessageReader::new(r, self.limits),
            socket: Socket::new(w),
            local,
            remote: self.remote,
        })
    }
}

async fn bind_tcp(address: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")))
}
