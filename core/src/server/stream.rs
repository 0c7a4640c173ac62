//! The server side of a bidirectional stream (go-micro spec §4.9).
//!
//! Messages from the client arrive through a channel fed by the connection's reader;
//! messages to the client are written straight to the connection's shared [`Socket`]. The
//! client's `EOS` ends the input ([`ServerStream::recv`] returns `None`); a lost connection
//! is an error from `recv`.

use crate::error::{Error, Result, SERVER_ID};
use crate::transport::socket::Socket;
use crate::transport::{Header, Message};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// One stream, as a handler sees it.
pub struct ServerStream {
    tx: StreamSender,
    rx: StreamReceiver,
}

/// The sending half of a stream; cloneable, usable from any task.
#[derive(Clone)]
pub struct StreamSender {
    socket: Arc<Socket>,
    header: Arc<Header>,
}

/// The receiving half of a stream.
pub struct StreamReceiver {
    rx: mpsc::Receiver<Result<Message>>,
    done: bool,
}

impl ServerStream {
    pub(crate) fn new(socket: Arc<Socket>, header: Header, rx: mpsc::Receiver<Result<Message>>) -> Self {
        ServerStream { tx: StreamSender { socket, header: Arc::new(header) }, rx: StreamReceiver { rx, done: false } }
    }

    /// The next message from the client; `None` after the client's `EOS`.
    pub async fn recv(&mut self) -> Option<Result<Bytes>> {
        self.rx.recv().await
    }

    /// Sends one message to the client.
    pub async fn send(&self, body: impl Into<Bytes>) -> Result<()> {
        self.tx.send(body).await
    }

    /// Splits the stream so sending and receiving can happen in different tasks.
    pub fn split(self) -> (StreamSender, StreamReceiver) {
        (self.tx, self.rx)
    }

    pub(crate) fn sender(&self) -> StreamSender {
        self.tx.clone()
    }
}

impl StreamSender {
    /// Sends one message to the client.
    pub async fn send(&self, body: impl Into<Bytes>) -> Result<()> {
        let msg = Message { header: (*self.header).clone(), body: body.into() };
        self.socket.send(&msg).await.map_err(|e| Error::internal(SERVER_ID, format!("stream send: {e}")))
    }

    /// Sends a go-micro error (or `EOS`) frame.
    pub(crate) async fn send_error(&self, text: &str) -> Result<()> {
        let mut header = (*self.header).clone();
        header.insert("Micro-Error".into(), text.to_string());
        header.remove("Content-Type");
        let msg = Message { header, body: Bytes::new() };
        self.socket.send(&msg).await.map_err(|e| Error::internal(SERVER_ID, format!("stream send: {e}")))
    }
}

impl StreamReceiver {
    /// The next message from the client; `None` after the client's `EOS`.
    pub async fn recv(&mut self) -> Option<Result<Bytes>> {
        if self.done {
            return None;
        }
        match self.rx.recv().await {
            Some(Ok(m)) => Some(Ok(m.body)),
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}
