//! go-micro's `transport`: HTTP/1.1 used as a message pipe.
//!
//! A [`Message`] is a header map and a body. Each message travels as one complete HTTP/1.1
//! message: a client message is a `POST /` request, a server message a `200 OK` response.
//! For unary calls requests and replies pair up; for streams they do not (a server-stream
//! call is two requests and N+1 responses on one connection). That unpaired use is why this
//! module frames messages itself over `httparse` (the parser hyper uses) instead of running
//! hyper: hyper's server and client enforce one response per request, which go-micro's
//! streams break.
//!
//! Limits are explicit ([`Limits`]): header block size, header count, body size. Input over
//! a limit is an error naming the limit, never a panic, an unbounded allocation or a hang.
//!
//! The transport owns the sockets: [`listener`] binds, accepts and handshakes, giving each
//! connection a [`http::MessageReader`] and a [`socket::Socket`] (its write half); [`pool`]
//! dials and keeps client connections (apart for each thread that drives its own calls,
//! [`local`]); [`http`] frames the messages; [`tls`] makes the
//! configurations. [`http_client`] is the one plain HTTP client, for what speaks ordinary
//! HTTP (the http broker's deliveries, etcd).

pub mod http;
pub mod http_client;
pub mod listener;
pub mod local;
pub mod nats_client;
pub mod pool;
pub mod socket;
pub mod tls;

/// The read half of a connection, plain TCP or TLS.
pub type BoxRead = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
/// The write half of a connection, plain TCP or TLS.
pub type BoxWrite = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

use crate::error::{Error, TRANSPORT_ID};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Message headers: canonical keys (`Micro-Id`, not `Micro-ID`), one value each, sorted.
pub type Header = BTreeMap<String, String>;

/// One transport message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Headers with canonical keys.
    pub header: Header,
    /// The body, as sent.
    pub body: Bytes,
}

impl Message {
    /// The value of header `key` (any case), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        get_header(&self.header, key)
    }
}

/// Looks a header up by its canonical form, so `micro-error` finds `Micro-Error`. A key
/// already canonical (every key this crate asks for) is looked up once, with nothing
/// allocated; any other is looked up as it is, then canonicalised.
pub fn get_header<'a>(header: &'a Header, key: &str) -> Option<&'a str> {
    if let Some(v) = header.get(key) {
        return Some(v.as_str());
    }
    if is_canonical(key) {
        return None;
    }
    header.get(&canonical_key(key)).map(String::as_str)
}

/// What a peer may send and how long it may take: the bounds every listener (the RPC
/// server's and the http broker's) and every client connection reads under.
///
/// | limit | default | env |
/// |---|---|---|
/// | [`Limits::max_body`] | 4 MiB | `MICRO_MAX_MESSAGE_SIZE` |
/// | [`Limits::header_timeout`] | 5 s | `MICRO_SERVER_HEADER_TIMEOUT` |
/// | [`Limits::idle_timeout`] | 120 s | `MICRO_SERVER_IDLE_TIMEOUT` |
/// | [`Limits::body_timeout`] | 10 s | `MICRO_SERVER_BODY_TIMEOUT` |
/// | [`Limits::body_min_rate`] | 64 KiB/s | `MICRO_SERVER_BODY_MIN_RATE` |
/// | [`Limits::max_connections`] | 4096 | `MICRO_SERVER_MAX_CONNECTIONS` |
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body accepted, in bytes (default 4 MiB, go-micro's default message size).
    pub max_body: usize,
    /// Largest header block (request line and headers), in bytes (default 64 KiB).
    pub max_header_bytes: usize,
    /// Most headers in one message (default 128).
    pub max_headers: usize,
    /// A new connection must send its first byte, and once the first byte of a message
    /// has arrived its header block must be complete, within this time (default 5 s,
    /// go-micro's `ReadHeaderTimeout`): a peer trickling bytes cannot hold a connection.
    pub header_timeout: Duration,
    /// A server connection with nothing in flight (no call, no open stream) is closed when
    /// no next message starts within this time (default 120 s, above go-micro's and our
    /// client pools' 60 s connection TTL, so a pooled connection is not cut under a client).
    pub idle_timeout: Duration,
    /// A body may take this long plus one second per [`Limits::body_min_rate`] bytes
    /// received (default 10 s): a peer that announces a large body and stalls, or trickles
    /// it slower than the rate, loses the connection.
    pub body_timeout: Duration,
    /// The slowest average body rate kept, in bytes per second (default 64 KiB/s: a 4 MiB
    /// body may take 10 s + 64 s).
    pub body_min_rate: u64,
    /// Most connections a listener holds at once (default 4096, and never more than three
    /// quarters of the process's open-file limit). Beyond it a connection is accepted and
    /// closed at once, logged once per burst: the file table is never exhausted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 4 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 128,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(10),
            body_min_rate: 64 * 1024,
            max_connections: 4096,
        }
    }
}

impl Limits {
    /// How long a body that has delivered `received` bytes may have taken so far:
    /// [`Limits::body_timeout`] plus `received / body_min_rate` seconds.
    pub fn body_allowance(&self, received: usize) -> Duration {
        let rate = self.body_min_rate.max(1) as f64;
        self.body_timeout.saturating_add(Duration::from_secs_f64(received as f64 / rate))
    }
}

/// The detail of a 413: `request body of 5242880 bytes exceeds the 4194304-byte limit
/// (MICRO_MAX_MESSAGE_SIZE)`; `what` names the message (`request body`, `reply body`,
/// `stream message`, `broker message`), `at_least` says the size is a lower bound (a
/// chunked body cut off at the limit).
pub fn oversize_detail(what: &str, size: usize, limit: usize, at_least: bool) -> String {
    let bound = if at_least { "at least " } else { "" };
    format!("{what} of {bound}{size} bytes exceeds the {limit}-byte limit (MICRO_MAX_MESSAGE_SIZE)")
}

/// Why a message could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection in the middle of a message.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The bytes are not HTTP/1.1 as go-micro writes it.
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    /// The header block is over [`Limits::max_header_bytes`] or [`Limits::max_headers`].
    #[error("header block over the limit of {limit} {what}")]
    HeaderTooLarge {
        /// The limit that was crossed.
        limit: usize,
        /// `bytes` or `headers`.
        what: &'static str,
    },
    /// The body is over [`Limits::max_body`].
    #[error("{}", oversize_detail("message body", *size, *limit, *at_least))]
    BodyTooLarge {
        /// The announced or accumulated size.
        size: usize,
        /// The limit.
        limit: usize,
        /// The size is a lower bound: a chunked body cut off once past the limit.
        at_least: bool,
    },
    /// A reply with a status other than 200 (a transport failure, not an RPC error).
    #[error("{code} {reason}: {body}")]
    Status {
        /// HTTP status code.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// The reply body, lossily decoded.
        body: String,
    },
    /// The header block did not arrive within [`Limits::header_timeout`].
    #[error("header block not complete within {0:?} (MICRO_SERVER_HEADER_TIMEOUT)")]
    HeaderTimeout(Duration),
    /// No next message started within the idle time ([`Limits::idle_timeout`], or
    /// [`Limits::header_timeout`] for a connection's first message).
    #[error("no message within {0:?}: connection idle")]
    IdleTimeout(Duration),
    /// The peer did not take a message within [`Limits::body_allowance`] of its size.
    #[error("a {size}-byte message not taken by the peer within {allowed:?}")]
    WriteTimeout {
        /// The time it was allowed.
        allowed: Duration,
        /// The message's size.
        size: usize,
    },
    /// The body arrived slower than [`Limits::body_min_rate`] allows.
    #[error("body not complete within {allowed:?} ({received} bytes received; MICRO_SERVER_BODY_TIMEOUT, MICRO_SERVER_BODY_MIN_RATE)")]
    BodyTimeout {
        /// The time it was allowed.
        allowed: Duration,
        /// The bytes received by then.
        received: usize,
    },
    /// A header we were asked to send cannot be written as HTTP.
    #[error("header {0:?} cannot be sent: names must be HTTP tokens and values must not contain CR, LF or NUL")]
    InvalidHeader(String),
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::BodyTooLarge { .. } => Error::too_large(TRANSPORT_ID, e.to_string()),
            TransportError::InvalidHeader(_) => Error::bad_request(TRANSPORT_ID, e.to_string()),
            _ => Error::internal(TRANSPORT_ID, e.to_string()),
        }
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `micro-id` → `Micro-Id`. Keys that are not
/// HTTP tokens are returned unchanged, as Go does.
pub fn canonical_key(key: &str) -> String {
    let mut out = key.to_string();
    if is_canonical(key) || !key.bytes().all(is_token_byte) {
        return out;
    }
    out.make_ascii_lowercase();
    let mut upper = true;
    // ASCII only (every byte is a token byte), so each byte is its own one-byte `str`.
    for i in 0..out.len() {
        let dash = out.as_bytes()[i] == b'-';
        if upper {
            if let Some(c) = out.get_mut(i..=i) {
                c.make_ascii_uppercase();
            }
        }
        upper = dash;
    }
    out
}

/// True when `key` is its own canonical form: token bytes only, an upper-case letter (or a
/// non-letter) first and after each `-`, lower-case elsewhere. Called on every header
/// lookup, so it reads a table rather than testing each byte's class.
fn is_canonical(key: &str) -> bool {
    let mut upper = true;
    key.bytes().all(|b| {
        let class = TOKEN_CLASS[usize::from(b)];
        let ok = class == TOKEN_OTHER || class == if upper { TOKEN_UPPER } else { TOKEN_LOWER };
        upper = b == b'-';
        ok
    })
}

/// Not a header-name byte.
const TOKEN_NONE: u8 = 0;
/// `a`–`z`.
const TOKEN_LOWER: u8 = 1;
/// `A`–`Z`.
const TOKEN_UPPER: u8 = 2;
/// Any other header-name byte (digits, `-` and the symbols of [`is_token_byte`]).
const TOKEN_OTHER: u8 = 3;

/// Each byte's class as a header-name byte.
static TOKEN_CLASS: [u8; 256] = {
    let mut table = [TOKEN_NONE; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_lowercase() {
            TOKEN_LOWER
        } else if c.is_ascii_uppercase() {
            TOKEN_UPPER
        } else if is_token_byte(c) {
            TOKEN_OTHER
        } else {
            TOKEN_NONE
        };
        b += 1;
    }
    table
};

/// True for bytes allowed in an HTTP header name.
pub(crate) const fn is_token_byte(b: u8) -> bool {
    matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
        || b.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys_like_go() {
        assert_eq!(canonical_key("Micro-ID"), "Micro-Id");
        assert_eq!(canonical_key("foo-bar"), "Foo-Bar");
        assert_eq!(canonical_key("x-micro-error"), "X-Micro-Error");
        assert_eq!(canonical_key("has space"), "has space");
        assert_eq!(canonical_key("MICRO-STREAM"), "Micro-Stream");
        assert_eq!(canonical_key("-x--y"), "-X--Y");
        assert_eq!(canonical_key("content-md5"), "Content-Md5");
        assert_eq!(canonical_key(""), "");
    }

    #[test]
    fn a_key_is_canonical_when_canonicalising_leaves_it_as_it_is() {
        for key in [
            "Micro-Id",
            "micro-id",
            "Micro-ID",
            "X-Micro-Error",
            "Timeout",
            "TIMEOUT",
            "A",
            "a",
            "-X",
            "-x",
            "1-A",
            "1a",
            "has space",
            "",
        ] {
            let canonical = key.bytes().all(is_token_byte) && canonical_key(key) == key;
            assert_eq!(is_canonical(key), canonical, "{key:?}");
        }
    }

    #[test]
    fn headers_are_found_in_any_case() {
        let header: Header = [("Micro-Error".to_string(), "e".to_string())].into();
        for key in ["Micro-Error", "micro-error", "MICRO-ERROR", "mICRO-eRROR"] {
            assert_eq!(get_header(&header, key), Some("e"), "{key}");
        }
        assert_eq!(get_header(&header, "Micro-Id"), None);
        // A map built by hand may hold a key as it was written: found as written too.
        let header: Header = [("micro-id".to_string(), "7".to_string())].into();
        assert_eq!(get_header(&header, "micro-id"), Some("7"));
    }
}
