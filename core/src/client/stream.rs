//! The client side of a bidirectional stream (go-micro spec §4.9).
//!
//! A stream owns a dedicated connection. Opening sends go-micro's placeholder request
//! (the server discards its body); each [`ClientStream::send`] is one more request,
//! each [`ClientStream::recv`] one response. `Micro-Error: EOS` from the server ends the
//! stream; [`ClientStream::close_send`] sends the client's `EOS` and keeps receiving;
//! [`ClientStream::close`] sends it and drops the connection, as go-micro's `Close` does.

use crate::error::{Error, Result, TRANSPORT_ID};
use crate::transport::pool::{Conn, ConnReceiver, ConnSender};
use crate::transport::{Header, Message};
use bytes::Bytes;

/// An open stream to one node.
pub struct ClientStream {
    tx: StreamSendHalf,
    rx: StreamRecvHalf,
}

impl ClientStream {
    pub(crate) async fn open(conn: Conn, header: Header, node: String) -> Result<Self> {
        let (mut tx, rx) = conn.split();
        let placeholder = if header.get("Content-Type").map(String::as_str) == Some(crate::codec::JSON) {
            Bytes::from_static(b"{}\n")
        } else {
            Bytes::new()
        };
        tx.send(&Message { header: header.clone(), body: placeholder })
            .await
            .map_err(|e| Error::internal(TRANSPORT_ID, format!("opening stream on {node}: {e}")))?;
        Ok(ClientStream {
            tx: StreamSendHalf { tx, header, node: node.clone(), sent_eos: false },
            rx: StreamRecvHalf { rx, node, ended: false },
        })
    }

    /// The id of the node serving this stream.
    pub fn node(&self) -> &str {
        &self.rx.node
    }

    /// Sends one message.
    pub async fn send(&mut self, body: impl Into<Bytes>) -> Result<()> {
        self.tx.send(body).await
    }

    /// The next message; `Ok(None)` once the server ended the stream with `EOS`; a go-micro
    /// error if the handler failed.
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        self.rx.recv().await
    }

    /// Tells the server no more messages will come (go-micro's client `EOS`), and keeps
    /// the receiving side open.
    pub async fn close_send(&mut self) -> Result<()> {
        self.tx.close_send().await
    }

    /// Sends `EOS` (if not sent) and closes the connection.
    pub async fn close(mut self) -> Result<()> {
        let r = if self.rx.ended { Ok(()) } else { self.tx.close_send().await };
        self.tx.tx.shutdown().await;
        r
    }

    /// Splits into a sending and a receiving half, for use from two tasks.
    pub fn split(self) -> (StreamSendHalf, StreamRecvHalf) {
        (self.tx, self.rx)
    }
}

/// The sending half of a split [`ClientStream`].
pub struct StreamSendHalf {
    tx: ConnSender,
    header: Header,
    node: String,
    sent_eos: bool,
}

impl StreamSendHalf {
    /// Sends one message.
    pub async fn send(&mut self, body: impl Into<Bytes>) -> Result<()> {
        if self.sent_eos {
            return Err(Error::bad_request(TRANSPORT_ID, "stream: send after close_send"));
        }
        let body = body.into();
        if body.len() > self.tx.max_body() {
            let detail = crate::transport::oversize_detail("stream message", body.len(), self.tx.max_body(), false);
            return Err(Error::too_large(TRANSPORT_ID, detail));
        }
        let msg = Message { header: self.header.clone(), body };
        self.tx
            .send(&msg)
            .await
            .map_err(|e| Error::internal(TRANSPORT_ID, format!("stream send to {}: {e}", self.node)))
    }

    /// Sends the client's `EOS`.
    pub async fn close_send(&mut self) -> Result<()> {
        if self.sent_eos {
            return Ok(());
        }
        self.sent_eos = true;
        let mut header = self.header.clone();
        header.insert("Micro-Error".into(), "EOS".into());
        self.tx
            .send(&Message { header, body: Bytes::new() })
            .await
            .map_err(|e| Error::internal(TRANSPORT_ID, format!("stream close to {}: {e}", self.node)))
    }
}

/// The receiving half of a split [`ClientStream`].
pub struct StreamRecvHalf {
    rx: ConnReceiver,
    node: String,
    ended: bool,
}

impl StreamRecvHalf {
    /// The next message; `Ok(None)` after the server's `EOS`.
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        if self.ended {
            return Ok(None);
        }
        let msg = match self.rx.recv().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.ended = true;
                return Err(Error::internal(TRANSPORT_ID, "unexpected EOF"));
            }
            Err(e) => {
                self.ended = true;
                return Err(Error::internal(TRANSPORT_ID, format!("stream from {}: {e}", self.node)));
            }
        };
        match msg.get("Micro-Error").filter(|e| !e.is_empty()) {
            Some("EOS") => {
                self.ended = true;
                Ok(None)
            }
            Some(e) => {
                self.ended = true;
                Err(Error::from_reply(e))
            }
            None => Ok(Some(msg.body)),
        }
    }
}
