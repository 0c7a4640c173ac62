//! The write half of an accepted connection.
//!
//! A [`Socket`] is what a server answers through: the reading task writes unary replies,
//! stream handlers write their messages from their own tasks, so writes are serialised by
//! a lock and each message goes out whole, as one `write_all` of one encoded buffer (the
//! buffer is kept and reused, so a reply costs no allocation once the connection is warm).
//! It is made by [`super::listener::Accepted::open`], beside the connection's
//! [`super::http::MessageReader`].

use super::http::{encode_response, encode_status};
use super::{BoxWrite, Limits, Message, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, OwnedSemaphorePermit};

/// The write half of one accepted connection, shared by every task that answers on it.
pub struct Socket {
    /// The write half and the buffer each message is encoded into.
    out: Mutex<(BoxWrite, Vec<u8>)>,
    /// The listener's connection slot, given back when the last holder (the serving loop
    /// or a stream handler) drops the socket.
    _permit: Option<OwnedSemaphorePermit>,
    /// The listener's limits: a message must be written within the same allowance as a
    /// body is read ([`Limits::body_allowance`]), so a peer that never reads its answers
    /// cannot hold a connection (or a stream handler) forever.
    limits: Option<Limits>,
}

impl Socket {
    /// A socket over the write half `io`.
    pub fn new(io: BoxWrite) -> Self {
        Socket { out: Mutex::new((io, Vec::with_capacity(1024))), _permit: None, limits: None }
    }

    /// A socket holding one of its listener's connection slots.
    pub(crate) fn with_permit(io: BoxWrite, permit: OwnedSemaphorePermit, limits: Limits) -> Self {
        Socket { out: Mutex::new((io, Vec::with_capacity(1024))), _permit: Some(permit), limits: Some(limits) }
    }

    async fn write(&self, io: &mut BoxWrite, buf: &[u8]) -> Result<(), TransportError> {
        match &self.limits {
            None => io.write_all(buf).await?,
            Some(limits) => {
                let allowed = limits.body_allowance(buf.len());
                match tokio::time::timeout(allowed, io.write_all(buf)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(TransportError::WriteTimeout { allowed, size: buf.len() }),
                }
            }
        }
        Ok(())
    }

    /// Closes the write side (a TCP FIN, after TLS's close_notify): the peer reads the
    /// answers already sent, then end of stream.
    pub async fn shutdown(&self) {
        let mut guard = self.out.lock().await;
        let _ = guard.0.shutdown().await;
    }

    /// Sends one go-micro message as an `HTTP/1.1 200 OK` response.
    pub async fn send(&self, msg: &Message) -> Result<(), TransportError> {
        let mut guard = self.out.lock().await;
        let (io, buf) = &mut *guard;
        buf.clear();
        encode_response(msg, buf)?;
        self.write(io, buf).await
    }

    /// Sends a plain HTTP answer with another status (see [`encode_status`]): a refusal of
    /// input that is not a go-micro message, or a status of a plain HTTP listener.
    pub async fn send_status(
        &self,
        code: u16,
        reason: &str,
        content_type: &str,
        close: bool,
        body: &[u8],
    ) -> Result<(), TransportError> {
        let mut guard = self.out.lock().await;
        let (io, buf) = &mut *guard;
        buf.clear();
        encode_status(code, reason, content_type, close, body, buf);
        self.write(io, buf).await
    }
}
