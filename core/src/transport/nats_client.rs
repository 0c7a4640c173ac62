//! The one NATS client of the library, shared by the NATS broker ([`crate::broker::nats`])
//! and the NATS registry ([`crate::registry::nats`]).
//!
//! A minimal client of the NATS core text protocol (`INFO`, `CONNECT`, `PUB` with an
//! optional reply subject, `SUB` with an optional queue group, `UNSUB`, `MSG`,
//! `PING`/`PONG`, `-ERR`) over tokio, instead of `async-nats`: go-micro's broker and
//! registry need nothing beyond core NATS (no JetStream, no headers), and `async-nats` would
//! add a TLS stack and some forty crates to every program that links the library.
//!
//! After a lost connection the client reconnects (every server in the URL list, in turn,
//! with back-off up to 2 s, for ever until [`NatsClient::disconnect`]) and re-sends every
//! `SUB`, so subscriptions resume by themselves. [`NatsClient::publish`] waits up to 2 s for
//! a connection and then fails, so a publisher is never told "ok" for a message that was
//! not handed to a server. Per subscription, messages wait for their reader up to a bound
//! ([`Pending`]: the NATS broker takes nats.go's, 512 Ki messages or 64 MiB); beyond it
//! newer ones are dropped, with a warning when the drops begin and when they end (a slow
//! consumer, in NATS's words). A server that stops answering PINGs is dropped and
//! re-dialled.

use crate::error::{Error, Result};
use bytes::{Buf, Bytes, BytesMut};
use rustls::ClientConfig;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

/// A connection's byte stream: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type OwnedReadHalf = ReadHalf<Box<dyn Io>>;
type OwnedWriteHalf = WriteHalf<Box<dyn Io>>;
use tokio::sync::watch;

mod inbox;
use inbox::Feed;
pub use inbox::{Inbox, Pending};

/// go-micro's default NATS URL.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// How long `publish` waits for a (re)connection before failing.
pub const PUBLISH_WAIT: Duration = Duration::from_secs(2);
/// How often the client PINGs the server (the NATS clients' default: 2 min).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// PINGs left without a PONG before the connection counts as dead (NATS clients: 2).
const MAX_PINGS_OUT: u32 = 2;
const MAX_LINE: usize = 64 * 1024;
/// nats-server refuses a `max_payload` over 64 MiB; an INFO claiming more is clamped.
pub(crate) const MAX_SERVER_PAYLOAD: usize = 64 * 1024 * 1024;

/// One message delivered to a subscription.
#[derive(Clone, Debug)]
pub struct NatsMsg {
    /// The subject it was published on.
    pub subject: String,
    /// The subject to answer on, for a request.
    pub reply: Option<String>,
    /// The payload.
    pub payload: Bytes,
}

/// A connection to a NATS server (cluster); cheap to clone, every clone shares it.
///
/// Made with [`NatsClient::shared`], one connection serves every user of the same URL in
/// the process (the NATS broker and the NATS registry of a service): each user connects
/// and disconnects on its own, and the connection closes when the last one has left.
#[derive(Clone)]
pub struct NatsClient {
    conn: Arc<NatsConnection>,
    /// This user of the connection (its subscriptions go when it disconnects).
    owner: u64,
}

/// Live connections by URL, for [`NatsClient::shared`].
static SHARED: Mutex<Vec<(String, std::sync::Weak<NatsConnection>)>> = Mutex::new(Vec::new());
static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

struct NSub {
    owner: u64,
    subject: String,
    queue: Option<String>,
    /// Where the read loop puts the subscription's messages.
    feed: Feed,
}

/// The client connection every clone and subscription shares: the servers to dial, the
/// subscriptions to re-send on reconnect, the writer, and the liveness counters.
struct NatsConnection {
    /// The error id of the component using the connection (broker or registry).
    id: &'static str,
    servers: Vec<String>,
    /// Credentials from each server's URL, by `host:port`.
    auth: HashMap<String, Auth>,
    /// Servers named with `tls://`.
    tls_servers: HashSet<String>,
    /// TLS client configuration, for `tls://` servers and servers that require TLS.
    tls: Option<Arc<ClientConfig>>,
    /// The user key that signs a server's nonce (NATS_NKEY or NATS_CREDS), with its JWT.
    nkey: Option<Arc<UserKey>>,
    max_message: usize,
    max_payload: AtomicUsize,
    subs: Mutex<HashMap<u64, NSub>>,
    next_sid: AtomicU64,
    writer: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    connected: watch::Sender<bool>,
    running: Mutex<Option<watch::Sender<bool>>>,
    /// The users that called connect and have not disconnected.
    users: Mutex<std::collections::HashSet<u64>>,
    reconnects: AtomicU64,
    ping_interval_ms: AtomicU64,
    pings_out: AtomicU32,
}

/// Credentials a URL carries: `nats://user:password@host:port` or `nats://token@host:port`.
#[derive(Clone)]
enum Auth {
    UserPass(String, String),
    Token(String),
}

impl Auth {
    fn from_userinfo(info: &str) -> Auth {
        match info.split_once(':') {
            Some((u, p)) => Auth::UserPass(percent_decode(u), percent_decode(p)),
            None => Auth::Token(percent_decode(info)),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Auth::UserPass(..) => "user and password",
            Auth::Token(_) => "token",
        }
    }
}

/// `%XX` escapes of a URL's user information decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a subject or queue group name: not empty, no whitespace or control characters.
pub fn valid_subject(id: &str, what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::bad_request(id, format!("invalid NATS {what} {s:?}: empty or contains whitespace")));
    }
    Ok(())
}

/// The TLS configuration NATS_CA, NATS_CERT and NATS_KEY describe; `None` without NATS_CA.
fn tls_from_env(id: &str) -> Result<Option<Arc<ClientConfig>>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(ca) = env("NATS_CA") else { return Ok(None) };
    let read = |var: &str, path: &str| {
        std::fs::read(path).map_err(|e| Error::bad_request(id, format!("nats: {var} {path}: {e}")))
    };
    let ca_pem = read("NATS_CA", &ca)?;
    let config = match (env("NATS_CERT"), env("NATS_KEY")) {
        (Some(c), Some(k)) => {
            crate::transport::tls::client_config_with_identity(&ca_pem, &read("NATS_CERT", &c)?, &read("NATS_KEY", &k)?)
        }
        _ => crate::transport::tls::client_config(&ca_pem),
    };
    config.map(Some).map_err(|e| Error::bad_request(id, format!("nats: {}", e.detail)))
}

/// A user's key: it signs the server's nonce; with a JWT (a creds file) the server checks
/// the JWT against its trusted operator and the signature against the JWT's subject.
struct UserKey {
    pair: nkeys::KeyPair,
    jwt: Option<String>,
    /// The variable and file it came from, for messages.
    source: String,
}

/// The user key from the environment, with the `nats` CLI's names and formats:
/// NATS_CREDS names a creds file (a user JWT and its NKey seed, as `nsc` writes them),
/// NATS_NKEY a file holding a user seed (`SU…`). `None` without either; both is an error.
fn nkey_from_env(id: &str) -> Result<Option<Arc<UserKey>>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (name, path) = match (var("NATS_CREDS"), var("NATS_NKEY")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(id, "nats: NATS_CREDS and NATS_NKEY are both set: set one"));
        }
        (Some(p), None) => ("NATS_CREDS", p),
        (None, Some(p)) => ("NATS_NKEY", p),
    };
    let bad = |why: String| Error::bad_request(id, format!("nats: {name} {path}: {why}"));
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let jwt = if name == "NATS_CREDS" {
        Some(creds_block(&text, "NATS USER JWT").ok_or_else(|| bad("no user JWT (a NATS USER JWT block)".into()))?)
    } else {
        None
    };
    let seed = match &jwt {
        Some(_) => creds_block(&text, "USER NKEY SEED"),
        None => text.lines().map(str::trim).find(|l| l.starts_with("SU")).map(str::to_string),
    }
    .ok_or_else(|| bad("no user seed (a line starting with SU)".into()))?;
    let pair = nkeys::KeyPair::from_seed(&seed).map_err(|e| bad(format!("not a valid NKey seed: {e}")))?;
    Ok(Some(Arc::new(UserKey { pair, jwt, source: format!("{name} {path}") })))
}

/// The first line inside `-----BEGIN <what>-----` … `------END <what>------` of a creds file.
fn creds_block(text: &str, what: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.starts_with("-----BEGIN") && l.contains(what))?;
    lines.find(|l| !l.is_empty()).filter(|l| !l.starts_with("---")).map(str::to_string)
}

/// A URL with its user information replaced by `***`, for messages.
fn redact(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((before, after)) => {
            let scheme = before.split_once("://").map(|(s, _)| format!("{s}://")).unwrap_or_default();
            format!("{scheme}***@{after}")
        }
        None => url.to_string(),
    }
}

fn io_err(id: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(id, format!("nats: {e}"))
}

/// A fresh inbox subject for replies (`_INBOX.<random>`, as NATS clients make them).
pub fn new_inbox() -> String {
    format!("_INBOX.{}", uuid::Uuid::new_v4().simple())
}

impl NatsClient {
    /// A client for `urls` (`nats://host:port`, comma-separated for several servers);
    /// errors carry `id`; a message over `max_message` is never read.
    pub fn new(urls: &str, max_message: usize, id: &'static str) -> Result<Self> {
        Self::with_tls(urls, max_message, id, None)
    }

    /// A client like [`NatsClient::new`] that verifies TLS servers (`tls://host:port`, or a
    /// server that requires TLS) with `tls`; `None` reads NATS_CA (and NATS_CERT with
    /// NATS_KEY for a client certificate), the `nats` CLI's names, when set.
    pub fn with_tls(urls: &str, max_message: usize, id: &'static str, tls: Option<Arc<ClientConfig>>) -> Result<Self> {
        let mut servers = Vec::new();
        let mut auth = HashMap::new();
        let mut tls_servers = HashSet::new();
        for u in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let (is_tls, rest) = match u.strip_prefix("tls://") {
                Some(r) => (true, r),
                None => (false, u.strip_prefix("nats://").unwrap_or(u)),
            };
            let (info, hostport) = match rest.rsplit_once('@') {
                Some((info, hp)) => (Some(info), hp),
                None => (None, rest),
            };
            let hostport = hostport.trim_end_matches('/');
            if rest.contains("://") || !hostport.contains(':') {
                return Err(Error::bad_request(
                    id,
                    format!(
                        "unsupported NATS URL {:?}: use nats:// or tls://[user:password@|token@]host:port",
                        redact(u)
                    ),
                ));
            }
            if let Some(info) = info.filter(|i| !i.is_empty()) {
                auth.insert(hostport.to_string(), Auth::from_userinfo(info));
            }
            if is_tls {
                tls_servers.insert(hostport.to_string());
            }
            servers.push(hostport.to_string());
        }
        let tls = match tls {
            Some(t) => Some(t),
            None => tls_from_env(id)?,
        };
        if !tls_servers.is_empty() && tls.is_none() {
            return Err(Error::bad_request(id, "nats: tls:// needs a CA to trust: set NATS_CA"));
        }
        if servers.is_empty() {
            servers.push(DEFAULT_URL.trim_start_matches("nats://").to_string());
        }
        let nkey = nkey_from_env(id)?;
        let (connected, _) = watch::channel(false);
        Ok(NatsClient {
            conn: Arc::new(NatsConnection {
                id,
                servers,
                auth,
                tls_servers,
                tls,
                nkey,
                max_message,
                max_payload: AtomicUsize::new(1024 * 1024),
                subs: Mutex::default(),
                next_sid: AtomicU64::new(1),
                writer: tokio::sync::Mutex::new(None),
                connected,
                running: Mutex::default(),
                users: Mutex::default(),
                reconnects: AtomicU64::new(0),
                ping_interval_ms: AtomicU64::new(DEFAULT_PING_INTERVAL.as_millis() as u64),
                pings_out: AtomicU32::new(0),
            }),
            owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// A client on the process's connection for `urls` when there is one (another user of
    /// the same URL and NKey still holds it), else a new one like [`NatsClient::new`].
    pub fn shared(urls: &str, max_message: usize, id: &'static str) -> Result<Self> {
        Self::shared_with_tls(urls, max_message, id, None)
    }

    /// [`NatsClient::shared`] with a TLS configuration; one given here gets a connection of
    /// its own (it is not shared).
    pub fn shared_with_tls(
        urls: &str,
        max_message: usize,
        id: &'static str,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<Self> {
        if tls.is_some() {
            return NatsClient::with_tls(urls, max_message, id, tls);
        }
        // Users of different keys (NATS_NKEY or NATS_CREDS changed in between) do not share
        // a connection.
        let nkey = nkey_from_env(id)?.map(|k| k.pair.public_key()).unwrap_or_default();
        let key = format!("{} {nkey}", urls.trim());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        shared.retain(|(_, w)| w.strong_count() > 0);
        if let Some(conn) = shared.iter().find(|(k, _)| *k == key).and_then(|(_, w)| w.upgrade()) {
            return Ok(NatsClient { conn, owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed) });
        }
        let client = NatsClient::new(urls, max_message, id)?;
        shared.push((key, Arc::downgrade(&client.conn)));
        Ok(client)
    }

    /// `nats://host:port[,nats://…]` of the servers.
    pub fn address(&self) -> String {
        self.conn.servers.iter().map(|s| format!("nats://{s}")).collect::<Vec<_>>().join(",")
    }

    /// The server's `max_payload` (1 MiB until its INFO says otherwise).
    pub fn max_payload(&self) -> usize {
        self.conn.max_payload.load(Ordering::Relaxed)
    }

    /// How often to PING the server ([`DEFAULT_PING_INTERVAL`]); after two PINGs without a
    /// PONG the connection is dropped and re-dialled. Takes effect from the next PING.
    pub fn set_ping_interval(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(10);
        self.conn.ping_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// How many times the connection was re-established after a loss.
    pub fn reconnects(&self) -> u64 {
        self.conn.reconnects.load(Ordering::Relaxed)
    }

    /// Whether [`NatsClient::connect`] has run (and not been undone by a disconnect).
    pub fn is_running(&self) -> bool {
        self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Dials the first server that answers and keeps the connection up until
    /// [`NatsClient::disconnect`]; a no-op when already connected.
    pub async fn connect(&self) -> Result<()> {
        if self.is_running() {
            self.conn.users.lock().unwrap_or_else(|p| p.into_inner()).insert(self.owner);
            return Ok(());
        }
        let (r, buf) = self.conn.dial().await?;
        let (tx, rx) = watch::channel(false);
        {
            let mut running = self.conn.running.lock().unwrap_or_else(|p| p.into_inner());
            self.conn.users.lock().unwrap_or_else(|p| p.into_inner()).insert(self.owner);
            if running.is_some() {
                return Ok(()); // a concurrent connect won; our connection is dropped
            }
            *running = Some(tx);
        }
        tokio::spawn(Arc::clone(&self.conn).run(r, buf, rx));
        Ok(())
    }

    /// Ends this user's subscriptions; the last user to leave closes the connection.
    pub async fn disconnect(&self) {
        let last = {
            let mut users = self.conn.users.lock().unwrap_or_else(|p| p.into_inner());
            users.remove(&self.owner);
            users.is_empty()
        };
        if !last {
            let mine: Vec<u64> =
                self.conn.subs().iter().filter(|(_, s)| s.owner == self.owner).map(|(sid, _)| *sid).collect();
            for sid in mine {
                self.unsubscribe(sid).await;
            }
            return;
        }
        let running = self.conn.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = running {
            let _ = tx.send(true);
        }
        if let Some(mut w) = self.conn.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
        self.conn.connected.send_replace(false);
        self.conn.subs().clear();
    }

    /// Publishes `payload` on `subject` (with a `reply` subject for a request), waiting up
    /// to [`PUBLISH_WAIT`] for a connection. Over the server's `max_payload` is a 413.
    pub async fn publish(&self, subject: &str, reply: Option<&str>, payload: &[u8]) -> Result<()> {
        let id = self.conn.id;
        valid_subject(id, "subject", subject)?;
        if let Some(r) = reply {
            valid_subject(id, "reply subject", r)?;
        }
        let max_payload = self.max_payload();
        if payload.len() > max_payload {
            return Err(Error::too_large(
                id,
                format!(
                    "message of {} bytes is over the NATS server's max_payload limit of {max_payload} bytes",
                    payload.len()
                ),
            ));
        }
        if !self.is_running() {
            return Err(io_err(id, "not connected: call connect first"));
        }
        let mut rx = self.conn.connected.subscribe();
        if !*rx.borrow() {
            let up = tokio::time::timeout(PUBLISH_WAIT, rx.wait_for(|c| *c)).await;
            if !matches!(up, Ok(Ok(_))) {
                return Err(io_err(
                    id,
                    format!("not connected to {} within {PUBLISH_WAIT:?}; message not sent", self.address()),
                ));
            }
        }
        let head = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        };
        let mut out = Vec::with_capacity(payload.len() + head.len() + 2);
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.conn.write(&out).await
    }

    /// Subscribes to `subject` (in `queue`'s group when given); messages arrive in the
    /// inbox, as many waiting as `pending` allows (newer ones are dropped past it, with a
    /// warning). The subscription id is for [`NatsClient::unsubscribe`].
    pub async fn subscribe(&self, subject: &str, queue: Option<&str>, pending: Pending) -> Result<(u64, Inbox)> {
        let id = self.conn.id;
        valid_subject(id, "subject", subject)?;
        if let Some(q) = queue {
            valid_subject(id, "queue group", q)?;
        }
        if !self.is_running() {
            return Err(io_err(id, "not connected: call connect first"));
        }
        let sid = self.conn.next_sid.fetch_add(1, Ordering::Relaxed);
        let (feed, inbox) = inbox::channel(pending);
        // Under the writer lock, so a reconnect either sees this sub or we see its writer.
        let mut guard = self.conn.writer.lock().await;
        self.conn.subs().insert(
            sid,
            NSub { owner: self.owner, subject: subject.to_string(), queue: queue.map(str::to_string), feed },
        );
        if let Some(w) = guard.as_mut() {
            if let Err(e) = w.write_all(sub_line(subject, queue, sid).as_bytes()).await {
                // The read loop will notice and the reconnect will send this SUB.
                tracing::debug!(error = %e, "SUB not written; it is sent again on reconnect");
            }
        }
        // The server processes a connection's operations in order, so a later PUB from
        // this connection is already covered by the SUB.
        Ok((sid, inbox))
    }

    /// Messages dropped so far because one of this client's live subscriptions had no room
    /// for them ([`Pending`]).
    pub fn dropped(&self) -> u64 {
        self.conn.subs().values().filter(|s| s.owner == self.owner).map(|s| s.feed.dropped()).sum()
    }

    /// Ends subscription `sid`; an unknown one is not an error.
    pub async fn unsubscribe(&self, sid: u64) {
        let removed = self.conn.subs().remove(&sid).is_some();
        if removed && *self.conn.connected.borrow() {
            let _ = self.conn.write(format!("UNSUB {sid}\r\n").as_bytes()).await;
        }
    }

    /// A round trip to the server: every operation sent before it has been processed.
    /// Waits up to [`PUBLISH_WAIT`] for a connection, like publish.
    pub async fn flush(&self) -> Result<()> {
        let inbox = new_inbox();
        let (sid, mut rx) = self.subscribe(&inbox, None, Pending::messages(1)).await?;
        let sent = self.publish(&inbox, None, b"").await;
        let got = match sent {
            Ok(()) => tokio::time::timeout(PUBLISH_WAIT, rx.recv()).await.ok().flatten().is_some(),
            Err(_) => false,
        };
        self.unsubscribe(sid).await;
        sent?;
        if !got {
            return Err(io_err(self.conn.id, "no answer to a flush"));
        }
        Ok(())
    }
}

impl NatsConnection {
    fn subs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, NSub>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        io_err(self.id, e)
    }

    /// A server that could not be reached (nothing listening, a timeout): 503, worth a later try.
    fn unreachable(&self, e: impl std::fmt::Display) -> Error {
        Error::new(self.id, format!("nats: {e}"), 503)
    }

    /// A server that was reached and refused: `code` (401 for credentials, 502 for TLS).
    fn refused(&self, e: impl std::fmt::Display, code: i32) -> Error {
        Error::new(self.id, format!("nats: {e}"), code)
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
        Err(last.unwrap_or_else(|| self.err("no server")))
    }

    async fn dial_one(&self, server: &str) -> Result<(OwnedReadHalf, BytesMut)> {
        let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(server))
            .await
            .map_err(|_| self.unreachable(format!("connecting to {server} timed out")))?
            .map_err(|e| self.unreachable(format!("cannot connect to {server}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        // INFO comes in the clear; TLS, when used, starts after it.
        let info = tokio::time::timeout(Duration::from_secs(5), read_line(self.id, &mut stream, &mut buf))
            .await
            .map_err(|_| self.unreachable(format!("{server} sent no INFO")))??;
        let max_payload = match ServerOp::parse(&info, 0)? {
            ServerOp::Info { max_payload } => max_payload,
            _ => return Err(self.err(format!("{server} is not a NATS server"))),
        };
        if let Some(mp) = max_payload {
            self.max_payload.store(mp, Ordering::Relaxed);
        }
        let info_json = info.strip_prefix("INFO ").and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
        let field = |k: &str| info_json.as_ref().and_then(|v| v.get(k));
        let tls_required = field("tls_required").and_then(serde_json::Value::as_bool).unwrap_or(false);
        // A server that authenticates NKeys sends a nonce for the client to sign.
        let nonce = field("nonce").and_then(serde_json::Value::as_str).map(str::to_string);
        let use_tls = tls_required || self.tls_servers.contains(server);
        let io: Box<dyn Io> = if use_tls {
            let Some(config) = &self.tls else {
                return Err(self.err(format!("{server} requires TLS: name it tls://{server} and set NATS_CA")));
            };
            let name = crate::transport::tls::server_name(server).map_err(|e| self.err(e.detail))?;
            let tls = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_rustls::TlsConnector::from(Arc::clone(config)).connect(name, stream),
            )
            .await
            .map_err(|_| self.unreachable(format!("TLS handshake with {server} timed out")))?
            .map_err(|e| self.refused(format!("TLS with {server}: {e}"), 502))?;
            Box::new(tls)
        } else {
            Box::new(stream)
        };
        let (mut r, mut w) = tokio::io::split(io);
        let handshake = async {
            let mut connect = serde_json::json!({
                "verbose": false, "pedantic": false, "lang": "rust", "name": "micro",
                "version": crate::VERSION, "protocol": 1, "headers": false, "no_responders": false,
            });
            if use_tls {
                connect["tls_required"] = true.into();
            }
            match self.auth.get(server) {
                Some(Auth::UserPass(u, p)) => {
                    connect["user"] = u.as_str().into();
                    connect["pass"] = p.as_str().into();
                }
                Some(Auth::Token(t)) => connect["auth_token"] = t.as_str().into(),
                None => {}
            }
            if let (Some(key), Some(nonce)) = (&self.nkey, &nonce) {
                use base64::Engine;
                let sig = key
                    .pair
                    .sign(nonce.as_bytes())
                    .map_err(|e| self.err(format!("signing the nonce with {}: {e}", key.source)))?;
                match &key.jwt {
                    Some(jwt) => connect["jwt"] = jwt.as_str().into(),
                    None => connect["nkey"] = key.pair.public_key().into(),
                }
                connect["sig"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig).into();
            }
            w.write_all(format!("CONNECT {connect}\r\nPING\r\n").as_bytes()).await.map_err(|e| self.err(e))?;
            loop {
                let line = read_line(self.id, &mut r, &mut buf).await?;
                if line == "PONG" {
                    return Ok(());
                }
                if let Some(e) = line.strip_prefix("-ERR") {
                    let e = e.trim();
                    let auth = e.contains("Authorization") || e.contains("Authentication");
                    let hint = if auth {
                        match (self.auth.get(server), &self.nkey) {
                            (_, Some(key)) if key.jwt.is_some() => {
                                format!(" (the user JWT of {} from {} was refused)", key.pair.public_key(), key.source)
                            }
                            (_, Some(key)) => format!(" (the NKey {} from {} was refused)", key.pair.public_key(), key.source),
                            (Some(a), None) => format!(" (the {} in the URL were refused)", a.describe()),
                            (None, None) => " (the server wants credentials: nats://user:password@host:port, nats://token@host:port, a creds file in NATS_CREDS or an NKey seed file in NATS_NKEY)".to_string(),
                        }
                    } else {
                        String::new()
                    };
                    let code = if auth { 401 } else { 502 };
                    return Err(self.refused(format!("{server} refused the connection: {e}{hint}"), code));
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), handshake)
            .await
            .map_err(|_| self.unreachable("handshake timed out"))??;
        // Under the writer lock: subscribe() cannot slip a SUB in between.
        let mut guard = self.writer.lock().await;
        let mut subs_out = String::new();
        for (sid, s) in self.subs().iter() {
            subs_out.push_str(&sub_line(&s.subject, s.queue.as_deref(), *sid));
        }
        if !subs_out.is_empty() {
            w.write_all(subs_out.as_bytes()).await.map_err(|e| self.err(e))?;
        }
        *guard = Some(w);
        drop(guard);
        self.connected.send_replace(true);
        tracing::info!(server, "nats connected");
        Ok((r, buf))
    }

    async fn write(&self, bytes: &[u8]) -> Result<()> {
        let mut guard = self.writer.lock().await;
        let Some(w) = guard.as_mut() else { return Err(self.err("not connected")) };
        if let Err(e) = w.write_all(bytes).await {
            *guard = None;
            self.connected.send_replace(false);
            return Err(self.err(e));
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
            let line = read_line(self.id, &mut r, &mut buf).await?;
            // The server sends nothing over its own max_payload; allow ours too, in case
            // its INFO was lost. A larger length is a broken or hostile peer.
            let max = self.max_payload.load(Ordering::Relaxed).max(self.max_message);
            match ServerOp::parse(&line, max)? {
                ServerOp::Msg { subject, sid, reply, len } => {
                    while buf.len() < len + 2 {
                        if r.read_buf(&mut buf).await.map_err(|e| self.err(e))? == 0 {
                            return Err(self.err("connection closed"));
                        }
                    }
                    let payload = buf.split_to(len).freeze();
                    buf.advance(2);
                    // Offered under the lock (nothing in it waits): no per-message clone.
                    let subs = self.subs();
                    if let Some(s) = sid.and_then(|sid| subs.get(&sid)) {
                        let msg = NatsMsg { subject: subject.to_string(), reply: reply.map(str::to_string), payload };
                        s.feed.offer(subject, msg);
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
                return Err(self.err(format!("no PONG to {out} PINGs: the server stopped answering")));
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

fn sub_line(subject: &str, queue: Option<&str>, sid: u64) -> String {
    match queue {
        Some(q) => format!("SUB {subject} {q} {sid}\r\n"),
        None => format!("SUB {subject} {sid}\r\n"),
    }
}

/// One operation a NATS server sends, from its protocol line.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerOp<'a> {
    /// `MSG <subject> <sid> [reply-to] <#bytes>`: `len` payload bytes and CRLF follow.
    Msg {
        /// The subject published on.
        subject: &'a str,
        /// The subscription it is for.
        sid: Option<u64>,
        /// The reply subject of a request.
        reply: Option<&'a str>,
        /// Payload length.
        len: usize,
    },
    /// `PING`: answer `PONG`.
    Ping,
    /// `PONG`: the answer to our PING.
    Pong,
    /// `-ERR '<message>'`.
    Err(&'a str),
    /// `INFO {json}`, with the server's `max_payload` when it gave one.
    Info {
        /// The server's `max_payload`, clamped to `MAX_SERVER_PAYLOAD`.
        max_payload: Option<usize>,
    },
    /// `+OK` and anything we do not act on.
    Other,
}

impl<'a> ServerOp<'a> {
    /// Parses one line. A `MSG` whose length is missing, not a number or over `max_len` is
    /// an error: the connection is no longer in step with the server.
    pub fn parse(line: &'a str, max_len: usize) -> Result<ServerOp<'a>> {
        if let Some(rest) = line.strip_prefix("MSG ") {
            let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
            let (subject, sid, reply, len) = match parts.as_slice() {
                [s, sid, n] => (*s, sid.parse::<u64>().ok(), None, n.parse::<usize>().ok()),
                [s, sid, r, n] => (*s, sid.parse::<u64>().ok(), Some(*r), n.parse::<usize>().ok()),
                _ => ("", None, None, None),
            };
            let len = len.ok_or_else(|| io_err("go.micro.nats", format!("malformed MSG line {line:?}")))?;
            if len > max_len {
                return Err(io_err("go.micro.nats", format!("MSG of {len} bytes is over the {max_len}-byte limit")));
            }
            return Ok(ServerOp::Msg { subject, sid, reply, len });
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
async fn read_line<R: AsyncRead + Unpin>(id: &str, r: &mut R, buf: &mut BytesMut) -> Result<String> {
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(pos);
            buf.advance(2);
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if buf.len() > MAX_LINE {
            return Err(io_err(id, "protocol line over 64 KiB"));
        }
        if r.read_buf(buf).await.map_err(|e| io_err(id, e))? == 0 {
            return Err(io_err(id, "connection closed"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, redact, NatsClient, ServerOp};

    #[test]
    fn urls_carry_credentials() {
        let c = NatsClient::new("nats://u:p%40ss@127.0.0.1:4222,tok@10.0.0.1:4222", 1024, "t").unwrap();
        assert_eq!(c.address(), "nats://127.0.0.1:4222,nats://10.0.0.1:4222", "no secrets in the address");
        assert_eq!(percent_decode("p%40ss%zz%4"), "p@ss%zz%4");
        assert_eq!(redact("nats://u:p@h:1"), "nats://***@h:1");
        let e = NatsClient::new("tls://u:secret@h:1", 1024, "t").err().unwrap();
        assert!(!e.detail.contains("secret"), "{}", e.detail);
    }

    #[test]
    fn server_lines_parse() {
        assert_eq!(
            ServerOp::parse("MSG a.b 7 12", 100).unwrap(),
            ServerOp::Msg { subject: "a.b", sid: Some(7), reply: None, len: 12 }
        );
        assert_eq!(
            ServerOp::parse("MSG a.b 7 _INBOX.x 3", 100).unwrap(),
            ServerOp::Msg { subject: "a.b", sid: Some(7), reply: Some("_INBOX.x"), len: 3 }
        );
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
