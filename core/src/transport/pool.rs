//! Client connections: dialling, and a pool of idle keep-alive connections per address.
//!
//! Like go-micro's pool, one unary call is outstanding per connection and a connection goes
//! back to the pool after a call that left it clean. Unlike go-micro's, connections are
//! keyed by the address they were dialled with, so reuse works for any registered address.
//!
//! A connection dialled on a thread's own runtime ([`super::local`]) is kept apart, under
//! that runtime's id, and only handed back to it: its socket's readiness is only seen while
//! that runtime runs.

use super::http::{encode_request, MessageReader};
use super::local::{self, Home};
use super::{BoxRead, BoxWrite, Limits, Message, TransportError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// One client connection to a go-micro-speaking server.
pub struct Conn {
    /// Lists the socket among its thread runtime's ([`local::Watches`]) while it lives.
    /// First, so it is dropped before the socket closes: a watcher never sees the socket's
    /// number listed once it is closed.
    watched: Option<local::Watched>,
    address: String,
    reader: MessageReader<BoxRead>,
    writer: BoxWrite,
    created: Instant,
    reused: bool,
    scratch: Vec<u8>,
    /// The thread runtime it was dialled on; `None` for the shared runtime.
    home: Option<Home>,
}

impl Conn {
    /// Dials `address` (`host:port`) within `timeout`, over TLS when `tls` is given (the
    /// handshake counts against the same timeout).
    pub async fn dial(
        address: &str,
        timeout: Duration,
        limits: Limits,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, TransportError> {
        let timed_out = || {
            TransportError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("dial {address}: no connection within {timeout:?}"),
            ))
        };
        let connect = async {
            let stream = TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            #[cfg(unix)]
            let watched = local::Watched::new(std::os::fd::AsRawFd::as_raw_fd(&stream));
            #[cfg(not(unix))]
            let watched = None;
            let halves: (BoxRead, BoxWrite) = match tls {
                None => {
                    let (r, w) = stream.into_split();
                    (Box::new(r), Box::new(w))
                }
                Some(config) => {
                    let name = super::tls::server_name(address)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.detail))?;
                    let tls = tokio_rustls::TlsConnector::from(Arc::clone(config)).connect(name, stream).await?;
                    let (r, w) = tokio::io::split(tls);
                    (Box::new(r), Box::new(w))
                }
            };
            Ok::<_, TransportError>((halves, watched))
        };
        let ((r, w), watched) = tokio::time::timeout(timeout, connect).await.map_err(|_| timed_out())??;
        Ok(Conn {
            address: address.to_string(),
            reader: MessageReader::new(r, limits),
            writer: w,
            created: Instant::now(),
            reused: false,
            scratch: Vec::with_capacity(1024),
            home: local::current(),
            watched,
        })
    }

    /// Notes, for a host watching its thread runtime's sockets, whether it sits in a pool.
    fn set_pooled(&self, pooled: bool) {
        if let Some(w) = &self.watched {
            w.set_pooled(pooled);
        }
    }

    /// The address this connection was dialled with.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// True when this connection came out of the pool rather than a fresh dial.
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Sends one message as an HTTP request.
    pub async fn send(&mut self, msg: &Message) -> Result<(), TransportError> {
        self.scratch.clear();
        encode_request(&self.address, msg, &mut self.scratch)?;
        self.writer.write_all(&self.scratch).await?;
        Ok(())
    }

    /// Receives one message; a clean close between messages is `UnexpectedEof` here,
    /// because the caller is waiting for a reply.
    pub async fn recv(&mut self) -> Result<Message, TransportError> {
        self.reader.read_response().await?.ok_or(TransportError::UnexpectedEof)
    }

    /// Splits the connection for a stream: a sender and a receiver used from two tasks.
    pub fn split(self) -> (ConnSender, ConnReceiver) {
        (
            ConnSender {
                address: self.address,
                writer: self.writer,
                scratch: self.scratch,
                max_body: self.reader.limits().max_body,
            },
            ConnReceiver { _watched: self.watched, reader: self.reader },
        )
    }
}

/// The sending half of a split connection.
pub struct ConnSender {
    address: String,
    writer: BoxWrite,
    scratch: Vec<u8>,
    max_body: usize,
}

impl ConnSender {
    /// The largest body this connection sends ([`Limits::max_body`]).
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Sends one message as an HTTP request.
    pub async fn send(&mut self, msg: &Message) -> Result<(), TransportError> {
        self.scratch.clear();
        encode_request(&self.address, msg, &mut self.scratch)?;
        self.writer.write_all(&self.scratch).await?;
        Ok(())
    }

    /// Closes the write side.
    pub async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}

/// The receiving half of a split connection.
pub struct ConnReceiver {
    /// The connection's listing among its thread runtime's sockets, if any (first: dropped
    /// before the socket closes).
    _watched: Option<local::Watched>,
    reader: MessageReader<BoxRead>,
}

impl ConnReceiver {
    /// Receives one message; `None` when the peer closed between messages.
    pub async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        self.reader.read_response().await
    }
}

/// Idle connections keyed by address, then by the runtime they belong to (0: the shared
/// one; otherwise a thread runtime's [`Home::id`]).
pub struct Pool {
    idle: Mutex<HashMap<String, HashMap<u64, Vec<Conn>>>>,
    max_idle: usize,
    ttl: Duration,
}

impl Pool {
    /// A pool keeping up to `max_idle` idle connections per address (and runtime), each for
    /// at most `ttl` after it was dialled (go-micro: 100 and one minute).
    pub fn new(max_idle: usize, ttl: Duration) -> Self {
        Pool { idle: Mutex::new(HashMap::new()), max_idle, ttl }
    }

    /// An idle connection to `address` that belongs to the runtime running now, if one is
    /// young enough.
    pub fn take(&self, address: &str) -> Option<Conn> {
        let runtime = local::current_id().unwrap_or(0);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(address)?.get_mut(&runtime)?;
        while let Some(mut conn) = list.pop() {
            if conn.created.elapsed() < self.ttl && !conn.reader.has_buffered() {
                conn.reused = true;
                conn.set_pooled(false);
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose last call completed cleanly.
    pub fn put(&self, conn: Conn) {
        if conn.created.elapsed() >= self.ttl || conn.home.as_ref().is_some_and(|h| !h.is_alive()) {
            return;
        }
        let runtime = conn.home.as_ref().map_or(0, Home::id);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if !idle.get(&conn.address).is_some_and(|by_runtime| by_runtime.contains_key(&runtime)) {
            // A new key: a good moment to let go of what exited threads left behind.
            for by_runtime in idle.values_mut() {
                by_runtime.retain(|_, list| list.first().is_some_and(|c| c.home.as_ref().map_or(true, Home::is_alive)));
            }
            idle.retain(|_, by_runtime| !by_runtime.is_empty());
        }
        let list = idle.entry(conn.address.clone()).or_default().entry(runtime).or_default();
        if list.len() < self.max_idle {
            conn.set_pooled(true);
            list.push(conn);
        }
    }

    /// Drops every idle connection to `address`, whichever runtime it belongs to.
    pub fn forget(&self, address: &str) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.remove(address);
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new(100, Duration::from_secs(60))
    }
}
