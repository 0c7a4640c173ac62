//! go-micro's NATS broker, on a real `nats-server`.
//!
//! Compatible with `go-micro.dev/v5/broker/nats`: the NATS payload is go-micro's JSON
//! envelope `{"Header":{…},"Body":"<base64>"}` (its default `json.Marshaler` applied to
//! `broker.Message`), the NATS subject is the topic, and a queue group is a NATS queue
//! subscription with the group's name. Go and Rust publishers and subscribers share
//! topics through one server.
//!
//! **Why our own client.** This is a minimal client of the NATS core text protocol
//! (`INFO`, `CONNECT`, `PUB`, `SUB`, `UNSUB`, `MSG`, `PING`/`PONG`, `-ERR`) over tokio,
//! about 300 lines, instead of `async-nats`: the broker needs nothing beyond core NATS
//! (no JetStream, no TLS, no auth callbacks, no headers), and `async-nats` would add a TLS
//! stack and some forty crates to every program that links the library, C and Python
//! bindings included, for features we do not use.
//!
//! **Delivery is at most once** — NATS core's promise. After a lost connection the client
//! reconnects (every server in the URL list, in turn, with back-off up to 2 s, for ever
//! until [`Broker::disconnect`]) and re-sends every `SUB`, so subscribers resume by
//! themselves (go-micro's broker relies on nats.go for that). Messages published while the
//! server was away are lost for subscribers; our `publish` waits up to 2 s for a
//! connection and then returns an error, so a publisher is never told "ok" for a message
//! that was not handed to a server. A message over the server's `max_payload` (1 MiB by
//! default) or our own limit is refused with a 413 naming the limit. Per subscription, the
//! handler runs on one task in arrival order; up to 4096 messages wait for a slow handler,
//! beyond that they are dropped with a warning (NATS calls this a slow consumer).

use super::{
    decode_envelope, encode_envelope, too_large, Broker, Event, Handler, Message, SubscribeOptions, Subscriber,
    BROKER_ID,
};
use crate::error::{Error, Result};
use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// go-micro's default NATS URL.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// How long `publish` waits for a (re)connection before failing.
pub const PUBLISH_WAIT: Duration = Duration::from_secs(2);
const QUEUED_PER_SUB: usize = 4096;
/// How often the client PINGs the server (the NATS clients' default: 2 min).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// PINGs left without a PONG before the connection counts as dead (NATS clients: 2).
const MAX_PINGS_OUT: u32 = 2;
const MAX_LINE: usize = 64 * 1024;

/// The NATS broker.
pub struct Nats {
    conn: Arc<NatsConnection>,
}

struct NSub {
    topic: String,
    queue: Option<String>,
    tx: mpsc::Sender<Bytes>,
}

/// The client connection every clone and subscription shares: the servers to dial, the
/// subscriptions to re-send on reconnect, the writer, and the liveness counters.
struct NatsConnection {
    servers: Vec<String>,
    max_message: usize,
    max_payload: AtomicUsize,
    subs: Mutex<HashMap<u64, NSub>>,
    next_sid: AtomicU64,
    writer: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    connected: watch::Sender<bool>,
    running: Mutex<Option<watch::Sender<bool>>>,
    reconnects: AtomicU64,
    ping_interval_ms: AtomicU64,
    pings_out: AtomicU32,
}

fn valid_subject(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::bad_request(BROKER_ID, format!("invalid NATS {what} {s:?}: empty or contains whitespace")));
    }
    Ok(())
}

fn io_err(e: impl std::fmt::Display) -> Error {
    Error::internal(BROKER_ID, format!("nats: {e}"))
}

impl Nats {
    /// A broker for `urls`: `nats://host:port`, comma-separated for several servers.
    pub fn new(urls: &str, max_message: usize) -> Result<Self> {
        let mut servers = Vec::new();
        for u in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let hostport = u.strip_prefix("nats://").unwrap_or(u);
            if hostport.contains('@') || hostport.contains("://") || !hostport.contains(':') {
                return Err(Error::bad_request(
                    BROKER_ID,
                    format!("unsupported NATS URL {u:?}: use nats://host:port (no credentials, no TLS)"),
                ));
            }
            servers.push(hostport.trim_end_matches('/').to_string());
        }
        if servers.is_empty() {
            servers.push(DEFAULT_URL.trim_start_matches("nats://").to_string());
        }
        let (connected, _) = watch::channel(false);
        Ok(Nats {
            conn: Arc::new(NatsConnection {
                servers,
                max_message,
                max_payload: AtomicUsize::new(1024 * 1024),
                subs: Mutex::default(),
                next_sid: AtomicU64::new(1),
                writer: tokio::sync::Mutex::new(None),
                connected,
                running: Mutex::default(),
                reconnects: AtomicU64::new(0),
                ping_interval_ms: AtomicU64::new(DEFAULT_PING_INTERVAL.as_millis() as u64),
                pings_out: AtomicU32::new(0),
            }),
        })
    }

    /// How often to PING the server ([`DEFAULT_PING_INTERVAL`]); after two PINGs without a
    /// PONG the connection is dropped and re-dialled — a server that hangs (or a network
    /// path that silently drops packets) is noticed, and `publish` then fails instead of
    /// writing into a dead socket. Takes effect from the next PING.
    pub fn set_ping_interval(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(10);
        self.conn.ping_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// How many times the connection was re-established after a loss.
    pub fn reconnects(&self) -> u64 {
        self.conn.reconnects.load(Ordering::Relaxed)
    }
}

impl NatsConnection {
    fn subs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, NSub>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to the first server that answers, handshakes, re-sends every SUB, and
    /// installs the writer. Returns the read half and any bytes read past the handshake.
    async fn dial(&self) -> Result<(OwnedReadHalf, BytesMut)> {
        let mut last = None;
        for server in &self.servers {
            match self.dial_one(server).await {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io_err("no server")))
    }

    async fn dial_one(&self, server: &str) -> Result<(OwnedReadHalf, BytesMut)> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(server))
            .await
            .map_err(|_| io_err(format!("connecting to {server} timed out")))?
            .map_err(|e| io_err(format!("cannot connect to {server}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (mut r, mut w) = stream.into_split();
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let handshake = async {
            let info = read_line(&mut r, &mut buf).await?;
            match ServerOp::parse(&info, 0)? {
                ServerOp::Info { max_payload } => {
                    if let Some(mp) = max_payload {
                        self.max_payload.store(mp, Ordering::Relaxed);
                    }
                }
                _ => return Err(io_err(format!("{server} is not a NATS server"))),
            }
            let connect = serde_json::json!({
                "verbose": false, "pedantic": false, "lang": "rust", "name": "micro",
                "version": crate::VERSION, "protocol": 1, "headers": false, "no_responders": false,
            });
            w.write_all(format!("CONNECT {connect}\r\nPING\r\n").as_bytes()).await.map_err(io_err)?;
            loop {
                let line = read_line(&mut r, &mut buf).await?;
                if line == "PONG" {
                    return Ok(());
                }
                if let Some(e) = line.strip_prefix("-ERR") {
                    return Err(io_err(format!("{server} refused the connection: {}", e.trim())));
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), handshake).await.map_err(|_| io_err("handshake timed out"))??;
        // Under the writer lock: subscribe() cannot slip a SUB in between.
        let mut guard = self.writer.lock().await;
        let mut subs_out = String::new();
        for (sid, s) in self.subs().iter() {
            subs_out.push_str(&sub_line(&s.topic, s.queue.as_deref(), *sid));
        }
        if !subs_out.is_empty() {
            w.write_all(subs_out.as_bytes()).await.map_err(io_err)?;
        }
        *guard = Some(w);
        drop(guard);
        self.connected.send_replace(true);
        tracing::info!(server, "nats connected");
        Ok((r, buf))
    }

    async fn write(&self, bytes: &[u8]) -> Result<()> {
        let mut guard = self.writer.lock().await;
        let Some(w) = guard.as_mut() else { return Err(io_err("not connected")) };
        if let Err(e) = w.write_all(bytes).await {
            *guard = None;
            self.connected.send_replace(false);
            return Err(io_err(e));
        }
        Ok(())
    }

    async fn lost(&self) {
        *self.writer.lock().await = None;
        self.connected.send_replace(false);
    }

    /// Reads and dispatches until the connection fails.
    async fn read_loop(&self, mut r: OwnedReadHalf, mut buf: BytesMut) -> Result<()> {
        loop {
            let line = read_line(&mut r, &mut buf).await?;
            // The server sends nothing over its own max_payload; allow ours too, in case
            // its INFO was lost. A larger length is a broken or hostile peer.
            let max = self.max_payload.load(Ordering::Relaxed).max(self.max_message);
            match ServerOp::parse(&line, max)? {
                ServerOp::Msg { sid, len } => {
                    while buf.len() < len + 2 {
                        if r.read_buf(&mut buf).await.map_err(io_err)? == 0 {
                            return Err(io_err("connection closed"));
                        }
                    }
                    let payload = buf.split_to(len).freeze();
                    buf.advance(2);
                    let tx = sid.and_then(|sid| self.subs().get(&sid).map(|s| s.tx.clone()));
                    if let Some(tx) = tx {
                        if tx.try_send(payload).is_err() {
                            tracing::warn!("nats subscriber too slow: message dropped");
                        }
                    }
                }
                ServerOp::Ping => self.write(b"PONG\r\n").await?,
                ServerOp::Pong => self.pings_out.store(0, Ordering::Relaxed),
                ServerOp::Err(e) => tracing::warn!(error = %e, "nats server error"),
                ServerOp::Info { max_payload: Some(mp) } => self.max_payload.store(mp, Ordering::Relaxed),
                ServerOp::Info { max_payload: None } | ServerOp::Other => {}
            }
        }
    }

    /// PINGs the server on the interval; fails once [`MAX_PINGS_OUT`] went unanswered.
    async fn pinger(&self) -> Result<()> {
        loop {
            let every = Duration::from_millis(self.ping_interval_ms.load(Ordering::Relaxed));
            tokio::time::sleep(every).await;
            let out = self.pings_out.fetch_add(1, Ordering::Relaxed);
            if out >= MAX_PINGS_OUT {
                return Err(io_err(format!("no PONG to {out} PINGs: the server stopped answering")));
            }
            self.write(b"PING\r\n").await?;
        }
    }

    async fn run(self: Arc<Self>, mut r: OwnedReadHalf, mut buf: BytesMut, mut stop: watch::Receiver<bool>) {
        loop {
            self.pings_out.store(0, Ordering::Relaxed);
            let res = tokio::select! {
                res = self.read_loop(r, buf) => res,
                res = self.pinger() => res,
                _ = stop.changed() => return,
            };
            self.lost().await;
            tracing::warn!(error = ?res.err(), "nats connection lost; reconnecting");
            let mut pause = Duration::from_millis(50);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => return,
                }
                match self.dial().await {
                    Ok((nr, nb)) => {
                        self.reconnects.fetch_add(1, Ordering::Relaxed);
                        r = nr;
                        buf = nb;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "nats reconnect failed");
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }
    }
}

fn sub_line(topic: &str, queue: Option<&str>, sid: u64) -> String {
    match queue {
        Some(q) => format!("SUB {topic} {q} {sid}\r\n"),
        None => format!("SUB {topic} {sid}\r\n"),
    }
}

/// nats-server refuses a `max_payload` over 64 MiB; an INFO claiming more is clamped.
pub(crate) const MAX_SERVER_PAYLOAD: usize = 64 * 1024 * 1024;

/// One operation a NATS server sends, from its protocol line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerOp<'a> {
    /// `MSG <subject> <sid> [reply-to] <#bytes>`: `len` payload bytes and CRLF follow.
    Msg { sid: Option<u64>, len: usize },
    /// `PING`: answer `PONG`.
    Ping,
    /// `PONG`: the answer to our PING.
    Pong,
    /// `-ERR '<message>'`.
    Err(&'a str),
    /// `INFO {json}`, with the server's `max_payload` when it gave one.
    Info { max_payload: Option<usize> },
    /// `+OK`, `PONG` and anything we do not act on.
    Other,
}

impl<'a> ServerOp<'a> {
    /// Parses one line. A `MSG` whose length is missing, not a number or over `max_len` is
    /// an error: the connection is no longer in step with the server.
    pub(crate) fn parse(line: &'a str, max_len: usize) -> Result<ServerOp<'a>> {
        if let Some(rest) = line.strip_prefix("MSG ") {
            let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
            let (sid, len) = match parts.as_slice() {
                [_, sid, n] | [_, sid, _, n] => (sid.parse::<u64>().ok(), n.parse::<usize>().ok()),
                _ => (None, None),
            };
            let len = len.ok_or_else(|| io_err(format!("malformed MSG line {line:?}")))?;
            if len > max_len {
                return Err(io_err(format!("MSG of {len} bytes is over the {max_len}-byte limit")));
            }
            return Ok(ServerOp::Msg { sid, len });
        }
        if line == "PING" {
            return Ok(ServerOp::Ping);
        }
        if line == "PONG" {
            return Ok(ServerOp::Pong);
        }
        if let Some(e) = line.strip_prefix("-ERR") {
            return Ok(ServerOp::Err(e.trim()));
        }
        if let Some(info) = line.strip_prefix("INFO ") {
            let max_payload = serde_json::from_str::<serde_json::Value>(info)
                .ok()
                .and_then(|v| v.get("max_payload").and_then(|m| m.as_u64()))
                .map(|m| usize::try_from(m).unwrap_or(usize::MAX).min(MAX_SERVER_PAYLOAD));
            return Ok(ServerOp::Info { max_payload });
        }
        Ok(ServerOp::Other)
    }
}

/// One protocol line (without CRLF), reading more as needed; bounded.
async fn read_line(r: &mut OwnedReadHalf, buf: &mut BytesMut) -> Result<String> {
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(pos);
            buf.advance(2);
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if buf.len() > MAX_LINE {
            return Err(io_err("protocol line over 64 KiB"));
        }
        if r.read_buf(buf).await.map_err(io_err)? == 0 {
            return Err(io_err("connection closed"));
        }
    }
}

struct NatsSub {
    conn: Arc<NatsConnection>,
    sid: u64,
    topic: String,
    queue: Option<String>,
}

#[async_trait]
impl Subscriber for NatsSub {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }
    async fn unsubscribe(&self) -> Result<()> {
        let removed = self.conn.subs().remove(&self.sid).is_some();
        if removed && *self.conn.connected.borrow() {
            let _ = self.conn.write(format!("UNSUB {}\r\n", self.sid).as_bytes()).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Broker for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn address(&self) -> String {
        self.conn.servers.iter().map(|s| format!("nats://{s}")).collect::<Vec<_>>().join(",")
    }

    async fn connect(&self) -> Result<()> {
        if self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        let (r, buf) = self.conn.dial().await?;
        let (tx, rx) = watch::channel(false);
        {
            let mut running = self.conn.running.lock().unwrap_or_else(|p| p.into_inner());
            if running.is_some() {
                return Ok(()); // a concurrent connect won; our connection is dropped
            }
            *running = Some(tx);
        }
        tokio::spawn(Arc::clone(&self.conn).run(r, buf, rx));
        Ok(())
    }

    async fn disconnect(&self) -> Result<()> {
        let running = self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = running {
            let _ = tx.send(true);
        }
        if let Some(mut w) = self.conn.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
        self.conn.connected.send_replace(false);
        self.conn.subs().clear();
        Ok(())
    }

    async fn publish(&self, topic: &str, msg: Message) -> Result<()> {
        valid_subject("subject", topic)?;
        let env = encode_envelope(&msg);
        if env.len() > self.conn.max_message {
            return Err(too_large(env.len(), self.conn.max_message, "broker's message size (encoded envelope)"));
        }
        let max_payload = self.conn.max_payload.load(Ordering::Relaxed);
        if env.len() > max_payload {
            return Err(too_large(env.len(), max_payload, "NATS server's max_payload"));
        }
        if self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return Err(io_err("not connected: call connect first"));
        }
        let mut rx = self.conn.connected.subscribe();
        if !*rx.borrow() {
            let up = tokio::time::timeout(PUBLISH_WAIT, rx.wait_for(|c| *c)).await;
            if !matches!(up, Ok(Ok(_))) {
                return Err(io_err(format!(
                    "not connected to {} within {PUBLISH_WAIT:?}; message not sent",
                    self.address()
                )));
            }
        }
        let mut out = Vec::with_capacity(env.len() + topic.len() + 32);
        out.extend_from_slice(format!("PUB {topic} {}\r\n", env.len()).as_bytes());
        out.extend_from_slice(&env);
        out.extend_from_slice(b"\r\n");
        self.conn.write(&out).await
    }

    async fn subscribe(&self, topic: &str, opts: SubscribeOptions, handler: Handler) -> Result<Box<dyn Subscriber>> {
        valid_subject("subject", topic)?;
        if let Some(q) = &opts.queue {
            valid_subject("queue group", q)?;
        }
        if self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            return Err(io_err("not connected: call connect first"));
        }
        let sid = self.conn.next_sid.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUED_PER_SUB);
        let t = topic.to_string();
        tokio::spawn(async move {
            while let Some(payload) = rx.recv().await {
                match decode_envelope(&payload) {
                    Ok(message) => {
                        if let Err(e) = handler(Event { topic: t.clone(), message }).await {
                            tracing::warn!(topic = %t, error = %e, "subscriber handler failed; the message is not redelivered");
                        }
                    }
                    Err(e) => tracing::error!(topic = %t, error = %e, "undecodable NATS message dropped"),
                }
            }
        });
        {
            // Under the writer lock, so a reconnect either sees this sub or we see its writer.
            let mut guard = self.conn.writer.lock().await;
            self.conn.subs().insert(sid, NSub { topic: topic.to_string(), queue: opts.queue.clone(), tx });
            if let Some(w) = guard.as_mut() {
                if let Err(e) = w.write_all(sub_line(topic, opts.queue.as_deref(), sid).as_bytes()).await {
                    // The read loop will notice and the reconnect will send this SUB.
                    tracing::debug!(error = %e, "SUB not written; it is sent again on reconnect");
                }
            }
        }
        // A PING/PONG round trip would confirm the SUB; the server processes in order, so a
        // later PUB from this connection is already covered.
        Ok(Box::new(NatsSub { conn: Arc::clone(&self.conn), sid, topic: topic.to_string(), queue: opts.queue }))
    }
}

#[cfg(test)]
mod tests {
    use super::ServerOp;

    #[test]
    fn server_lines_parse() {
        assert_eq!(ServerOp::parse("MSG a.b 7 12", 100).unwrap(), ServerOp::Msg { sid: Some(7), len: 12 });
        assert_eq!(ServerOp::parse("MSG a.b 7 _INBOX.x 3", 100).unwrap(), ServerOp::Msg { sid: Some(7), len: 3 });
        assert_eq!(ServerOp::parse("PING", 100).unwrap(), ServerOp::Ping);
        assert_eq!(ServerOp::parse("-ERR 'Unknown Protocol'", 100).unwrap(), ServerOp::Err("'Unknown Protocol'"));
        assert_eq!(
            ServerOp::parse(r#"INFO {"max_payload":2048}"#, 100).unwrap(),
            ServerOp::Info { max_payload: Some(2048) }
        );
        assert_eq!(ServerOp::parse("INFO not json", 100).unwrap(), ServerOp::Info { max_payload: None });
        assert_eq!(ServerOp::parse("PONG", 100).unwrap(), ServerOp::Pong);
        assert_eq!(ServerOp::parse("+OK", 100).unwrap(), ServerOp::Other);
    }

    #[test]
    fn a_msg_length_that_is_missing_huge_or_over_the_limit_is_an_error() {
        assert!(ServerOp::parse("MSG a 1", 100).is_err());
        assert!(ServerOp::parse("MSG a 1 x", 100).is_err());
        assert!(ServerOp::parse("MSG a 1 101", 100).is_err());
        // usize::MAX used to overflow `len + 2`.
        assert!(ServerOp::parse(&format!("MSG a 1 {}", usize::MAX), 1 << 20).is_err());
        // A server cannot raise the limit past nats-server's own 64 MiB ceiling.
        let huge = format!(r#"INFO {{"max_payload":{}}}"#, u64::MAX);
        assert_eq!(
            ServerOp::parse(&huge, 100).unwrap(),
            ServerOp::Info { max_payload: Some(super::MAX_SERVER_PAYLOAD) }
        );
    }
}
