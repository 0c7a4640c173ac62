//! The server side of the transport: a bound listener and the connections it accepts.
//!
//! [`Listener::bind`] binds with a deep backlog; [`Listener::accept`] hands out TCP
//! connections (an accept error is logged and retried, never returned: a full file table
//! must not end a server); [`Accepted::open`] runs the TLS handshake, when the listener has
//! a configuration, on the connection's own task, and splits the connection into a
//! [`MessageReader`] and a [`Socket`]. The RPC server and the http broker both listen here,
//! so what bounds a peer's hold on a server is written once: the connection cap
//! ([`Limits::max_connections`]: a semaphore permit travels with each connection's socket;
//! past the cap a connection is accepted and closed at once, logged once per burst), the
//! header timeout (which also bounds the TLS handshake and a new connection's first byte),
//! and, in the reader, the idle and body timeouts.

use super::http::MessageReader;
use super::socket::Socket;
use super::{BoxRead, BoxWrite, Limits, TransportError};
use crate::error::Error;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bound TCP listener, plain or TLS, with the limits its connections are read under.
pub struct Listener {
    tcp: TcpListener,
    local: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    /// One permit per open connection: [`Limits::max_connections`], clamped to the
    /// process's open-file limit.
    slots: Arc<Semaphore>,
    /// Connections refused in the current burst (0: not refusing).
    refused: AtomicUsize,
}

/// A TCP connection just accepted: no byte read yet, no handshake done.
pub struct Accepted {
    stream: TcpStream,
    local: SocketAddr,
    remote: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    permit: OwnedSemaphorePermit,
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
        let cap = connection_cap(limits.max_connections);
        if cap < limits.max_connections {
            tracing::info!(
                address = %local,
                configured = limits.max_connections,
                cap,
                "connection cap lowered to 3/4 of the open-file limit (raise `ulimit -n` for more)"
            );
        }
        Ok(Listener {
            tcp,
            local,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            limits,
            slots: Arc::new(Semaphore::new(cap)),
            refused: AtomicUsize::new(0),
        })
    }

    /// How many more connections this listener would hold now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection. Accept errors (a full file table, a connection reset before it
    /// was taken) are logged and retried after a short pause, never returned. Past
    /// [`Limits::max_connections`] a connection is closed as soon as it is accepted (the
    /// peer sees its connection closed, the backlog does not fill up); the first refusal
    /// of a burst is logged as a warning, the burst's count when a slot frees again.
    pub async fn accept(&self) -> Accepted {
        loop {
            let (stream, remote) = accept_tcp(&self.tcp).await;
            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                if self.refused.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        address = %self.local,
                        limit = self.limits.max_connections,
                        %remote,
                        "connection limit reached: closing new connections (MICRO_SERVER_MAX_CONNECTIONS)"
                    );
                }
                drop(stream);
                continue;
            };
            let refused = self.refused.swap(0, Ordering::Relaxed);
            if refused > 0 {
                tracing::warn!(address = %self.local, refused, "connection limit burst over");
            }
            let _ = stream.set_nodelay(true);
            return Accepted { stream, local: self.local, remote, tls: self.tls.clone(), limits: self.limits, permit };
        }
    }
}

/// The next connection on a plain tokio listener. An accept error (a full file table, a
/// connection reset before it was taken) is logged and retried after a short pause, never
/// returned: a loop that retried at once would spin a core while the table stays full.
/// [`Listener::accept`] and every helper endpoint (metrics, a health check, a gateway)
/// accept through it.
pub async fn accept_tcp(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
                tracing::warn!(%address, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
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
        let mut reader = MessageReader::new(r, self.limits);
        // A new connection's first message must start within the header timeout (Go's
        // ReadHeaderTimeout runs from the accept); the serving loop sets the idle time after.
        reader.set_first_byte_timeout(Some(self.limits.header_timeout));
        Ok(Connection { reader, socket: Socket::with_permit(w, self.permit, self.limits), local, remote: self.remote })
    }
}

/// The connection cap: `configured`, but at most three quarters of the soft open-file
/// limit (read from `/proc/self/limits`; kept as configured where that cannot be read),
/// so the cap is reached before the file table is full.
fn connection_cap(configured: usize) -> usize {
    let configured = configured.max(1);
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else { return configured };
    let soft = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    match soft {
        Some(n) => configured.min((n / 4 * 3).max(1)),
        None => configured,
    }
}

/// The error for an address that cannot be listened on, from `id`, its detail `what`
/// followed by the reason: a 400 for an address that can never work (not `host:port`, a
/// port over 65535), a 409 for one another socket holds, a 500 for the rest (a name that
/// does not resolve now may resolve later; a port below 1024 needs a privilege).
pub(crate) fn cannot_listen(id: &str, what: &str, e: &std::io::Error) -> Error {
    let detail = format!("{what}: {e}");
    match e.kind() {
        std::io::ErrorKind::InvalidInput => Error::bad_request(id, detail),
        std::io::ErrorKind::AddrInUse => Error::conflict(id, detail),
        _ => Error::internal(id, detail),
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn bind_code(address: &str) -> i32 {
        match Listener::bind(address, None, Limits::default()).await {
            Ok(_) => 0,
            Err(e) => cannot_listen("test", &format!("cannot listen on {address}"), &e).code,
        }
    }

    #[tokio::test]
    async fn an_address_that_can_never_work_is_a_bad_request_and_a_taken_one_a_conflict() {
        assert_eq!(bind_code("127.0.0.1:99999").await, 400);
        assert_eq!(bind_code("127.0.0.1").await, 400);
        assert_eq!(bind_code("127.0.0.1:x").await, 400);
        let held = Listener::bind("127.0.0.1:0", None, Limits::default()).await.expect("bind a free port");
        assert_eq!(bind_code(&held.local_addr().to_string()).await, 409);
        assert_eq!(bind_code("127.0.0.1:0").await, 0);
    }
}
