//! Reading and writing go-micro transport messages as HTTP/1.1 on a byte stream.
//!
//! [`MessageReader`] parses requests (server side) and responses (client side): heads with
//! `httparse`, bodies by `Content-Length`, chunked encoding (Go sends empty bodies chunked),
//! or, for responses, until the peer closes. Reading is cancel-safe: nothing is consumed
//! from the buffer until a whole message is there, so a reader can sit in `select!`.
//! go-micro's messages ignore the request line; a listener that routes on it (the http
//! broker's `POST /?id=…`) reads it too with [`MessageReader::read_routed_request`].
//! [`encode_request`], [`encode_response`] and [`encode_status`] write a message into one
//! buffer, so each message is one `write_all`.

use super::{canonical_key, is_token_byte, Header, Limits, Message, TransportError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io::Write as _;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads go-micro messages from a byte stream.
pub struct MessageReader<R> {
    io: R,
    buf: BytesMut,
    limits: Limits,
    /// When the first byte of the current, still incomplete header block arrived; kept
    /// across cancelled reads so a `select!` cannot reset the clock.
    head_since: Option<Instant>,
    /// When the current message's head was complete, so its body is timed from there.
    body_since: Option<Instant>,
    /// How long to wait for the first byte of the next message; `None` waits forever.
    first_byte: Option<std::time::Duration>,
    /// The chunked body being decoded, if the current message has one.
    chunked: Chunked,
    /// Bytes at the start of the buffer known to hold no end of a header block: a head
    /// trickled a byte at a time is parsed once it can be complete, not at every byte.
    head_scanned: usize,
}

/// A request's method and target (`POST`, `/?id=…`): what go-micro's RPC messages leave
/// unused and a plain HTTP listener routes on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLine {
    /// The method, as sent (`POST`).
    pub method: String,
    /// The request target, path and query (`/?id=events-…`).
    pub target: String,
}

/// How far the buffered bytes got.
enum Progress {
    Done(Message, Option<RequestLine>),
    NeedHead,
    /// The head is parsed (this long); the body is not all there.
    NeedBody(usize),
}

/// What the next read waits for, and so which clock bounds it.
enum Wait {
    /// The first byte of a message.
    FirstByte,
    /// The rest of a started header block.
    Head,
    /// The body, of which this many bytes are there.
    Body(usize),
}

/// What kind of HTTP message a reader expects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A request whose line is not kept (go-micro's messages: no allocation for it).
    Request,
    /// A request whose method and target are kept.
    RoutedRequest,
    Response,
}

/// A parsed head: headers, where the body starts, and how it is framed.
struct Head {
    header: Header,
    head_len: usize,
    framing: Framing,
    status: Option<(u16, String)>,
    line: Option<RequestLine>,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// A reader over `io` that enforces `limits`.
    pub fn new(io: R, limits: Limits) -> Self {
        MessageReader {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            limits,
            head_since: None,
            body_since: None,
            first_byte: None,
            chunked: Chunked::default(),
            head_scanned: 0,
        }
    }

    /// Bounds the wait for the first byte of each next message (a server's idle time; the
    /// header timeout for a connection's first message); `None` (the default, a client's
    /// reader) waits as long as the caller does. Past it a read fails with
    /// [`TransportError::IdleTimeout`].
    pub fn set_first_byte_timeout(&mut self, wait: Option<std::time::Duration>) {
        self.first_byte = wait;
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads and drops what the peer still sends until it closes or `within` has passed:
    /// after a refusal, so a peer still writing the refused body reads the answer instead
    /// of a reset (Go's server lingers the same way before closing). Bounded by time only:
    /// the bytes are dropped as they come, a read buffer at a time.
    pub async fn discard(&mut self, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        self.buf.clear();
        loop {
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => self.buf.clear(),
                _ => return,
            }
        }
    }

    /// True when bytes of a next message are already buffered.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next request, or `None` when the peer closed cleanly between messages.
    pub async fn read_request(&mut self) -> Result<Option<Message>, TransportError> {
        Ok(self.read(Kind::Request).await?.map(|(msg, _)| msg))
    }

    /// The next request with its method and target, or `None` when the peer closed cleanly
    /// between messages.
    pub async fn read_routed_request(&mut self) -> Result<Option<(RequestLine, Message)>, TransportError> {
        Ok(self.read(Kind::RoutedRequest).await?.map(|(msg, line)| (line.unwrap_or_default(), msg)))
    }

    /// The next response, or `None` when the peer closed cleanly between messages.
    /// A status other than 200 is returned as [`TransportError::Status`].
    pub async fn read_response(&mut self) -> Result<Option<Message>, TransportError> {
        Ok(self.read(Kind::Response).await?.map(|(msg, _)| msg))
    }

    async fn read(&mut self, kind: Kind) -> Result<Option<(Message, Option<RequestLine>)>, TransportError> {
        let mut eof = false;
        loop {
            let wait = match self.try_parse(kind, eof)? {
                Progress::Done(msg, line) => {
                    self.head_since = None;
                    self.body_since = None;
                    self.head_scanned = 0;
                    return Ok(Some((msg, line)));
                }
                Progress::NeedHead if self.buf.is_empty() => Wait::FirstByte,
                Progress::NeedHead => Wait::Head,
                Progress::NeedBody(head_len) => {
                    self.head_since = None;
                    Wait::Body(self.buf.len().saturating_sub(head_len))
                }
            };
            if eof {
                return if self.buf.is_empty() { Ok(None) } else { Err(TransportError::UnexpectedEof) };
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(8 * 1024);
            }
            let n = match wait {
                Wait::FirstByte => match self.first_byte {
                    None => self.io.read_buf(&mut self.buf).await?,
                    Some(limit) => match tokio::time::timeout(limit, self.io.read_buf(&mut self.buf)).await {
                        Ok(r) => r?,
                        Err(_) => return Err(TransportError::IdleTimeout(limit)),
                    },
                },
                Wait::Head => {
                    let since = *self.head_since.get_or_insert_with(Instant::now);
                    let limit = self.limits.header_timeout;
                    let left = limit.saturating_sub(since.elapsed());
                    match tokio::time::timeout(left, self.io.read_buf(&mut self.buf)).await {
                        Ok(r) => r?,
                        Err(_) => return Err(TransportError::HeaderTimeout(limit)),
                    }
                }
                Wait::Body(received) => {
                    let since = *self.body_since.get_or_insert_with(Instant::now);
                    let allowed = self.limits.body_allowance(received);
                    let left = allowed.saturating_sub(since.elapsed());
                    match tokio::time::timeout(left, self.io.read_buf(&mut self.buf)).await {
                        Ok(r) => r?,
                        Err(_) => return Err(TransportError::BodyTimeout { allowed, received }),
                    }
                }
            };
            eof = n == 0;
        }
    }

    /// Parses one whole message out of the buffer, consuming it, or says which part still
    /// needs bytes.
    fn try_parse(&mut self, kind: Kind, eof: bool) -> Result<Progress, TransportError> {
        if self.buf.is_empty() {
            return Ok(Progress::NeedHead);
        }
        if self.head_scanned < self.buf.len() {
            // A head ends with an empty line: LF, optional CR, LF. Until one is there, the
            // head cannot be complete; the last two bytes are scanned again next time.
            let from = self.head_scanned.saturating_sub(2);
            let ends = self.buf[from..].windows(3).any(|w| w[0] == b'\n' && (w[1] == b'\n' || w[1..] == *b"\r\n"))
                || self.buf.ends_with(b"\n\n");
            if !ends {
                self.head_scanned = self.buf.len();
                if self.buf.len() > self.limits.max_header_bytes {
                    return Err(TransportError::HeaderTooLarge { limit: self.limits.max_header_bytes, what: "bytes" });
                }
                return Ok(Progress::NeedHead);
            }
            self.head_scanned = usize::MAX;
        }
        let Some(head) = parse_head(&self.buf, kind, &self.limits)? else {
            if self.buf.len() > self.limits.max_header_bytes {
                return Err(TransportError::HeaderTooLarge { limit: self.limits.max_header_bytes, what: "bytes" });
            }
            return Ok(Progress::NeedHead);
        };
        let rest = &self.buf[head.head_len..];
        let (body, consumed) = match head.framing {
            Framing::Length(n) => {
                if n > self.limits.max_body {
                    return Err(TransportError::BodyTooLarge { size: n, limit: self.limits.max_body, at_least: false });
                }
                if rest.len() < n {
                    // Room for what is announced, but no more than 1 MiB ahead of what has
                    // arrived: a peer that announces 4 MB and stalls does not get 4 MB.
                    self.buf.reserve((n - rest.len()).min(1024 * 1024));
                    return Ok(Progress::NeedBody(head.head_len));
                }
                (None, n)
            }
            Framing::Chunked => match parse_chunked(rest, &self.limits, &mut self.chunked)? {
                Some((body, consumed)) => (Some(body), consumed),
                None => return Ok(Progress::NeedBody(head.head_len)),
            },
            Framing::UntilClose => {
                if rest.len() > self.limits.max_body {
                    return Err(TransportError::BodyTooLarge {
                        size: rest.len(),
                        limit: self.limits.max_body,
                        at_least: true,
                    });
                }
                if !eof {
                    return Ok(Progress::NeedBody(head.head_len));
                }
                (None, rest.len())
            }
        };
        self.buf.advance(head.head_len);
        let raw = self.buf.split_to(consumed).freeze();
        let body = body.unwrap_or(raw);
        if let Some((code, reason)) = head.status {
            if code != 200 {
                return Err(TransportError::Status { code, reason, body: String::from_utf8_lossy(&body).into_owned() });
            }
        }
        Ok(Progress::Done(Message { header: head.header, body }, head.line))
    }
}

fn parse_head(buf: &[u8], kind: Kind, limits: &Limits) -> Result<Option<Head>, TransportError> {
    // The parsed headers point into `buf`; room for them is on the stack up to
    // `STACK_HEADERS` (the default limit), so a request allocates nothing here.
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let storage: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize(limits.max_headers, httparse::EMPTY_HEADER);
        &mut heap
    };
    let (status, line, head_len, fields) = match kind {
        Kind::Request | Kind::RoutedRequest => {
            let mut req = httparse::Request::new(storage);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let line = (kind == Kind::RoutedRequest).then(|| RequestLine {
                        method: req.method.unwrap_or("").to_string(),
                        target: req.path.unwrap_or("/").to_string(),
                    });
                    (None, line, n, fields_of(req.headers)?)
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(head_error(e, limits)),
            }
        }
        Kind::Response => {
            let mut rsp = httparse::Response::new(storage);
            match rsp.parse(buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let status = (rsp.code.unwrap_or(0), rsp.reason.unwrap_or("").to_string());
                    (Some(status), None, n, fields_of(rsp.headers)?)
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => return Err(head_error(e, limits)),
            }
        }
    };
    if head_len > limits.max_header_bytes {
        return Err(TransportError::HeaderTooLarge { limit: limits.max_header_bytes, what: "bytes" });
    }
    let Fields { header, length, chunked } = fields;
    let framing = match (chunked, length, kind) {
        (true, _, _) => Framing::Chunked,
        (false, Some(n), _) => Framing::Length(n),
        (false, None, Kind::Request | Kind::RoutedRequest) => Framing::Length(0),
        (false, None, Kind::Response) => {
            if matches!(status, Some((204, _)) | Some((304, _))) {
                Framing::Length(0)
            } else {
                Framing::UntilClose
            }
        }
    };
    Ok(Some(Head { header, head_len, framing, status, line }))
}

/// Headers parsed on the stack at most (`Limits::max_headers` defaults to this many).
const STACK_HEADERS: usize = 128;

/// What a message's header block says: its headers (canonical keys) and its framing.
struct Fields {
    header: Header,
    length: Option<usize>,
    chunked: bool,
}

fn fields_of(headers: &[httparse::Header<'_>]) -> Result<Fields, TransportError> {
    let mut fields = Fields { header: Header::new(), length: None, chunked: false };
    for h in headers {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| TransportError::Malformed(format!("header {} is not UTF-8", h.name)))?;
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            fields.chunked = value.to_ascii_lowercase().contains("chunked");
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .trim()
                .parse()
                .map_err(|_| TransportError::Malformed(format!("Content-Length {value:?} is not a number")))?;
            fields.length = Some(n);
        }
        if h.name.eq_ignore_ascii_case("host") {
            continue;
        }
        // Go keeps the first value of a repeated header.
        fields.header.entry(canonical_key(h.name)).or_insert_with(|| value.to_string());
    }
    Ok(fields)
}

fn head_error(e: httparse::Error, limits: &Limits) -> TransportError {
    match e {
        httparse::Error::TooManyHeaders => {
            TransportError::HeaderTooLarge { limit: limits.max_headers, what: "headers" }
        }
        other => TransportError::Malformed(other.to_string()),
    }
}

/// How far a chunked body has been decoded: kept between reads so each read decodes only
/// what is new (a body trickled in small chunks costs linear time, not quadratic).
#[derive(Default)]
struct Chunked {
    /// Where the next chunk-size line starts, from the start of the body.
    pos: usize,
    /// The data of the chunks decoded so far.
    body: BytesMut,
}

/// Decodes a chunked body at the start of `buf`, resuming at `st`: `Some((body, bytes
/// consumed))` once the terminating chunk and trailers are there.
fn parse_chunked(buf: &[u8], limits: &Limits, st: &mut Chunked) -> Result<Option<(Bytes, usize)>, TransportError> {
    loop {
        let pos = st.pos;
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            if buf.len() - pos > 1024 {
                return Err(TransportError::Malformed("chunk size line too long".into()));
            }
            return Ok(None);
        };
        let line = &buf[pos..pos + line_end];
        let size_text = line.split(|b| *b == b';').next().unwrap_or(&[]);
        let size_text =
            std::str::from_utf8(size_text).map_err(|_| TransportError::Malformed("bad chunk size".into()))?;
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| TransportError::Malformed(format!("bad chunk size {size_text:?}")))?;
        let data = pos + line_end + 2;
        if size == 0 {
            // Trailers until an empty line, no more of them than a header block.
            let mut p = data;
            loop {
                let Some(end) = find_crlf(&buf[p..]) else {
                    if buf.len() - data > limits.max_header_bytes {
                        return Err(TransportError::HeaderTooLarge { limit: limits.max_header_bytes, what: "bytes" });
                    }
                    return Ok(None);
                };
                p += end + 2;
                if end == 0 {
                    let body = std::mem::take(&mut st.body).freeze();
                    st.pos = 0;
                    return Ok(Some((body, p)));
                }
            }
        }
        let total = st.body.len().saturating_add(size);
        if total > limits.max_body {
            return Err(TransportError::BodyTooLarge { size: total, limit: limits.max_body, at_least: true });
        }
        if buf.len() < data + size + 2 {
            return Ok(None);
        }
        if &buf[data + size..data + size + 2] != b"\r\n" {
            return Err(TransportError::Malformed("chunk not followed by CRLF".into()));
        }
        st.body.put_slice(&buf[data..data + size]);
        st.pos = data + size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn put_headers(out: &mut Vec<u8>, header: &Header) -> Result<(), TransportError> {
    for (k, v) in header {
        if k.is_empty() || !k.bytes().all(is_token_byte) || v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(TransportError::InvalidHeader(k.clone()));
        }
        if k.eq_ignore_ascii_case("content-length")
            || k.eq_ignore_ascii_case("transfer-encoding")
            || k.eq_ignore_ascii_case("host")
        {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

/// Writes a client message as `POST / HTTP/1.1` to `host`.
pub fn encode_request(host: &str, msg: &Message, out: &mut Vec<u8>) -> Result<(), TransportError> {
    out.extend_from_slice(b"POST / HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: micro/");
    out.extend_from_slice(crate::VERSION.as_bytes());
    out.extend_from_slice(b"\r\n");
    put_headers(out, &msg.header)?;
    put_length_and_body(out, &msg.body);
    Ok(())
}

/// Writes a server message as `HTTP/1.1 200 OK`.
pub fn encode_response(msg: &Message, out: &mut Vec<u8>) -> Result<(), TransportError> {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    put_headers(out, &msg.header)?;
    put_length_and_body(out, &msg.body);
    Ok(())
}

/// Writes a plain HTTP answer that is not a go-micro message (a refusal, or the http
/// broker's statuses): `HTTP/1.1 <code> <reason>`, `Content-Type`, `Connection: close` when
/// `close`, and the body.
pub fn encode_status(code: u16, reason: &str, content_type: &str, close: bool, body: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(code.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    put_length_and_body(out, body);
}

fn put_length_and_body(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(b"Content-Length: ");
    // Into the buffer: `io::Write` for a Vec cannot fail.
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_req(bytes: &[u8], limits: Limits) -> Result<Option<Message>, TransportError> {
        MessageReader::new(bytes, limits).read_request().await
    }

    /// The exact request of spec §4.11, as a go-micro v5/v6 client writes it.
    const GO_REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: 192.168.1.10:40123\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 17\r\nAccept: application/json\r\nContent-Type: application/json\r\nMicro-Endpoint: Greeter.Hello\r\nMicro-Id: 0\r\nMicro-Method: Greeter.Hello\r\nMicro-Service: greeter\r\nTimeout: 5000000000\r\n\r\n{\"name\":\"Alice\"}\n";

    #[tokio::test]
    async fn reads_go_unary_request() {
        assert_eq!(GO_REQUEST.len(), 290);
        let m = read_req(GO_REQUEST, Limits::default()).await.unwrap().unwrap();
        assert_eq!(m.get("Micro-Endpoint"), Some("Greeter.Hello"));
        assert_eq!(m.get("micro-service"), Some("greeter"));
        assert_eq!(m.get("Timeout"), Some("5000000000"));
        assert_eq!(&m.body[..], b"{\"name\":\"Alice\"}\n");
        assert!(m.get("Host").is_none());
    }

    #[tokio::test]
    async fn reads_go_chunked_empty_eos() {
        let raw = b"POST / HTTP/1.1\r\nHost: h:1\r\nUser-Agent: Go-http-client/1.1\r\nTransfer-Encoding: chunked\r\nMicro-Error: EOS\r\nMicro-Stream: 1\r\n\r\n0\r\n\r\n";
        let mut r = MessageReader::new(&raw[..], Limits::default());
        let m = r.read_request().await.unwrap().unwrap();
        assert_eq!(m.get("Micro-Error"), Some("EOS"));
        assert!(m.body.is_empty());
        assert!(r.read_request().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn reads_chunked_body_in_pieces() {
        let raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let m = read_req(raw, Limits::default()).await.unwrap().unwrap();
        assert_eq!(&m.body[..], b"abcde");
    }

    #[tokio::test]
    async fn encodes_a_response_go_can_read() {
        let mut msg = Message::default();
        msg.header.insert("Content-Type".into(), "application/json".into());
        msg.body = Bytes::from_static(b"{\"message\":\"Hello Alice\"}\n");
        let mut out = Vec::new();
        encode_response(&msg, &mut out).unwrap();
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{\"message\":\"Hello Alice\"}\n"
        );
        let back = MessageReader::new(&out[..], Limits::default()).read_response().await.unwrap().unwrap();
        assert_eq!(back.body, msg.body);
        assert_eq!(back.get("Content-Type"), Some("application/json"));
    }

    #[tokio::test]
    async fn request_round_trip_and_pipelining() {
        let mut out = Vec::new();
        for i in 0..3 {
            let mut m = Message::default();
            m.header.insert("Micro-Id".into(), i.to_string());
            m.body = Bytes::from(format!("body{i}"));
            encode_request("127.0.0.1:1", &m, &mut out).unwrap();
        }
        let mut r = MessageReader::new(&out[..], Limits::default());
        for i in 0..3 {
            let m = r.read_request().await.unwrap().unwrap();
            assert_eq!(m.get("Micro-Id"), Some(i.to_string().as_str()));
            assert_eq!(m.body, Bytes::from(format!("body{i}")));
        }
    }

    #[tokio::test]
    async fn oversized_body_is_refused_before_reading_it() {
        let limits = Limits { max_body: 10, ..Limits::default() };
        let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
        match read_req(raw, limits).await {
            Err(TransportError::BodyTooLarge { size: 11, limit: 10, .. }) => {}
            other => panic!("expected BodyTooLarge, got {other:?}"),
        }
        let chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n";
        assert!(matches!(read_req(chunked, limits).await, Err(TransportError::BodyTooLarge { .. })));
    }

    #[tokio::test]
    async fn malformed_input_is_an_error_not_a_panic() {
        let cases: &[&[u8]] = &[
            b"GARBAGE\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: nope\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
            b"POST / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ];
        for raw in cases {
            assert!(read_req(raw, Limits::default()).await.is_err(), "accepted {:?}", String::from_utf8_lossy(raw));
        }
        let many: String = (0..200).map(|i| format!("H{i}: v\r\n")).collect();
        let raw = format!("POST / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(
            read_req(raw.as_bytes(), Limits::default()).await,
            Err(TransportError::HeaderTooLarge { .. })
        ));
        let huge = format!("POST / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100_000));
        assert!(matches!(
            read_req(huge.as_bytes(), Limits::default()).await,
            Err(TransportError::HeaderTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn the_header_limit_holds_below_and_above_the_headers_kept_on_the_stack() {
        let block = |n: usize| {
            let many: String = (0..n).map(|i| format!("h-{i}: v{i}\r\n")).collect();
            format!("POST / HTTP/1.1\r\n{many}Content-Length: 2\r\n\r\nok")
        };
        for max in [3, STACK_HEADERS, STACK_HEADERS + 72] {
            let limits = Limits { max_headers: max, ..Limits::default() };
            // `max` headers in all (Content-Length is one of them) pass, every one kept.
            let msg = read_req(block(max - 1).as_bytes(), limits).await.expect("at the limit").expect("a message");
            assert_eq!(msg.header.len(), max, "max {max}");
            assert_eq!(msg.get(&format!("H-{}", max - 2)), Some(format!("v{}", max - 2).as_str()));
            assert_eq!(&msg.body[..], b"ok");
            // One more is refused, naming the limit.
            match read_req(block(max).as_bytes(), limits).await {
                Err(TransportError::HeaderTooLarge { limit, what: "headers" }) => assert_eq!(limit, max),
                other => panic!("max {max}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn non_200_is_a_status_error() {
        let raw = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops";
        match MessageReader::new(&raw[..], Limits::default()).read_response().await {
            Err(e @ TransportError::Status { code: 500, .. }) => {
                assert_eq!(e.to_string(), "500 Internal Server Error: oops")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn trickled_header_times_out() {
        let (mut client, server) = tokio::io::duplex(1024);
        let limits = Limits { header_timeout: std::time::Duration::from_millis(100), ..Limits::default() };
        let mut r = MessageReader::new(server, limits);
        use tokio::io::AsyncWriteExt;
        client.write_all(b"POST / HTTP/1.1\r\nHo").await.unwrap();
        let started = Instant::now();
        match r.read_request().await {
            Err(TransportError::HeaderTimeout(_)) => {}
            other => panic!("expected HeaderTimeout, got {other:?}"),
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[tokio::test]
    async fn stalled_body_times_out_and_idle_first_byte_too() {
        use tokio::io::AsyncWriteExt;
        let limits =
            Limits { body_timeout: std::time::Duration::from_millis(100), body_min_rate: 1024, ..Limits::default() };
        // Announces 4 MB, sends 10 bytes, stalls: allowed 100 ms + 10/1024 s.
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut r = MessageReader::new(server, limits);
        client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n0123456789").await.unwrap();
        match r.read_request().await {
            Err(TransportError::BodyTimeout { received: 10, .. }) => {}
            other => panic!("expected BodyTimeout, got {other:?}"),
        }
        // Nothing at all: the first-byte wait ends the read when one is set.
        let (_client, server) = tokio::io::duplex(1024);
        let mut r = MessageReader::new(server, limits);
        r.set_first_byte_timeout(Some(std::time::Duration::from_millis(50)));
        assert!(matches!(r.read_request().await, Err(TransportError::IdleTimeout(_))));
    }

    #[tokio::test]
    async fn heads_and_chunked_bodies_arriving_a_byte_at_a_time() {
        use tokio::io::AsyncWriteExt;
        let one = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let two = b"POST / HTTP/1.1\nHost: h\nContent-Length: 2\n\nhi";
        let (mut client, server) = tokio::io::duplex(16);
        let writer = tokio::spawn(async move {
            for b in one.iter().chain(two.iter()) {
                client.write_all(&[*b]).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut r = MessageReader::new(server, Limits::default());
        assert_eq!(&r.read_request().await.unwrap().unwrap().body[..], b"abcde");
        assert_eq!(&r.read_request().await.unwrap().unwrap().body[..], b"hi", "LF-only heads are read too");
        writer.await.unwrap();
        assert!(r.read_request().await.unwrap().is_none());
    }

    #[test]
    fn oversize_detail_names_size_and_limit() {
        let e = TransportError::BodyTooLarge { size: 5242880, limit: 4194304, at_least: false };
        assert_eq!(
            e.to_string(),
            "message body of 5242880 bytes exceeds the 4194304-byte limit (MICRO_MAX_MESSAGE_SIZE)"
        );
    }

    #[tokio::test]
    async fn routed_requests_keep_their_line() {
        let raw = b"POST /?id=events-1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n\r\n";
        let mut r = MessageReader::new(&raw[..], Limits::default());
        let (line, m) = r.read_routed_request().await.unwrap().unwrap();
        assert_eq!((line.method.as_str(), line.target.as_str(), &m.body[..]), ("POST", "/?id=events-1", &b"{}"[..]));
        let (line, m) = r.read_routed_request().await.unwrap().unwrap();
        assert_eq!((line.method.as_str(), m.body.len()), ("GET", 0));
    }

    #[test]
    fn status_answers_are_byte_exact() {
        let mut out = Vec::new();
        encode_status(400, "Bad Request", "text/plain", true, b"bad", &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad"
        );
        out.clear();
        encode_status(405, "Method Not Allowed", "application/json", false, b"{}", &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let mut m = Message::default();
        m.header.insert("X-Evil".into(), "a\r\nInjected: 1".into());
        assert!(matches!(encode_request("h", &m, &mut Vec::new()), Err(TransportError::InvalidHeader(_))));
    }
}
