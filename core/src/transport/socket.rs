//! The write half of an accepted connection.
//!
//! A [`Socket`] is what a server answers through: the reading task writes unary replies,
//! stream handlers write their messages from their own tasks, so writes are serialised by
//! a lock and each message goes out whole, as one `write_all` of one encoded buffer (the
//! buffer is kept and reused, so a reply costs no allocation once the connection is warm).
//! It is made by [`super::listener::Accepted::open`], beside the connection's
//! [`super::http::MessageReader`].

use super::http::{encode_response, encode_status};
use super::{BoxWrite, Message, TransportError};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// The write half of one accepted connection, shared by every task that answers on it.
pub struct Socket {
    /// The write half and the buffer each message is encoded into.
    out: Mutex<(BoxWrite, Vec<u8>)>,
}

impl Socket {
    /// A socket over the write half `io`.
    pub fn new(io: BoxWrite) -> Self {
        Socket { out: Mutex::new((io, Vec::with_capacity(1024))) }
    }

    /// Sends one go-micro message as an `HTTP/1.1 200 OK` response.
    pub async fn send(&self, msg: &Message) -> Result<(), TransportError> {
        let mut guard = self.out.lock().await;
        let (io, buf) = &mut *guard;
        buf.clear();
        encode_response(msg, buf)?;
        io.write_all(buf).await?;
        Ok(())
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
        io.write_all(buf).await?;
        Ok(())
    }
}
