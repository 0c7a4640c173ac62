//! JSON bodies of plain Python values, written and read here instead of by the standard
//! library's `json` (issue 18).
//!
//! The C encoder and scanner of `json` are fast once warm, but each body still ran through
//! several Python frames around them (`_body.encode`, `_json_text`, `"".join`, `.encode()`;
//! `_body.decode`, `json_decode`, `bytes.decode`, the trailing-space check). In a pinned
//! client calling the Rust greeter, where every call runs on a cache its server just used,
//! those frames and the two C calls were most of what the Python layer added over the native
//! call: `call_sync` took 6 to 12 µs of CPU a call more than `call_blocking` with a ready body,
//! 3.3 µs with this module. The time a call adds over the Rust client, median of 5
//! (`bench/results/2026-12-06-python-json.md`): sync, one call in flight, pinned, 12.4 → 7.2
//! µs; asyncio, 100 in flight, unpinned, 16.7 → 11.0 µs.
//!
//! A service uses the same two directions without Python between them: `Request.payload`
//! reads a plain JSON request body into the value its handler receives, and
//! `Request.respond_json` writes a plain reply and answers with it (`crate::service`).
//!
//! Only what can be written exactly as `json.dumps(v, separators=(",", ":"))` writes it
//! (ASCII output) is written here: `dict` with `str` keys, `list`, `tuple`, `str`, `int`,
//! finite `float`, `bool`, `None`, none of them subclasses. Anything else (a subclass, an
//! `int` key, a NaN, a string holding a lone surrogate, a nesting deeper than [`DEPTH`]) is
//! left to the standard library, which writes it or raises as before. Reading is the same:
//! a body that is exactly one JSON value (RFC 8259), in UTF-8, with JSON whitespace around it
//! and no string holding a lone surrogate, is read here; anything else, valid or not, goes to
//! `json.loads`, which decides and words the error. Numbers read as `json` reads them: an
//! integer as an `int` of any size, anything else as the `float` nearest to its decimal
//! (Rust's parser rounds correctly, as CPython's `float()` does).
//!
//! Written by hand, not with `serde_json`: its float parsing is only exact with a feature
//! that would change every other crate's `serde_json` in the workspace, and a serde round
//! trip through Python objects (`pythonize`) decides none of the cases above as `json` does.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Deepest nesting handled here; deeper values go to the standard library.
const DEPTH: usize = 200;

/// `value` as compact JSON bytes (a newline after it when `newline`), exactly as the
/// standard library would write it; `None` when it is not a plain value (see the module).
#[pyfunction]
#[pyo3(signature = (value, newline=false))]
pub fn json_bytes<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    newline: bool,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    Ok(to_vec(value, newline)?.map(|out| PyBytes::new(py, &out)))
}

/// `value` as compact JSON, a newline after it when `newline`; `None` when it is not a plain
/// value (see the module).
pub fn to_vec(value: &Bound<'_, PyAny>, newline: bool) -> PyResult<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(64);
    if !write(value, &mut out, 0)? {
        return Ok(None);
    }
    if newline {
        out.push(b'\n');
    }
    Ok(Some(out))
}

/// Writes `v`; false when it is not a plain value.
fn write(v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<bool> {
    if depth > DEPTH {
        return Ok(false);
    }
    if v.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(s) = v.cast_exact::<PyString>() {
        let Ok(s) = s.to_str() else { return Ok(false) }; // a lone surrogate
        write_str(s, out);
    } else if let Ok(d) = v.cast_exact::<PyDict>() {
        out.push(b'{');
        for (i, (k, item)) in d.iter().enumerate() {
            let Ok(k) = k.cast_exact::<PyString>() else { return Ok(false) };
            let Ok(k) = k.to_str() else { return Ok(false) };
            if i > 0 {
                out.push(b',');
            }
            write_str(k, out);
            out.push(b':');
            if !write(&item, out, depth + 1)? {
                return Ok(false);
            }
        }
        out.push(b'}');
    } else if let Ok(l) = v.cast_exact::<PyList>() {
        return write_array(l.iter(), out, depth);
    } else if let Ok(b) = v.cast_exact::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if v.is_exact_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(n) => out.extend_from_slice(n.to_string().as_bytes()),
            // Past 64 bits: its decimal, as `int.__repr__` writes it (and `json` with it);
            // past the interpreter's digit limit `json` raises, so it is left to it.
            Err(_) => match v.repr() {
                Ok(r) => out.extend_from_slice(r.to_str()?.as_bytes()),
                Err(_) => return Ok(false),
            },
        }
    } else if let Ok(f) = v.cast_exact::<PyFloat>() {
        if !f.value().is_finite() {
            return Ok(false); // `json` raises for these (allow_nan=False)
        }
        // `float.__repr__`, as `json` writes a float: the shortest text that reads back.
        out.extend_from_slice(f.repr()?.to_str()?.as_bytes());
    } else if let Ok(t) = v.cast_exact::<PyTuple>() {
        return write_array(t.iter(), out, depth);
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// Writes the items of a list or tuple as a JSON array; false when one is not plain.
fn write_array<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, out: &mut Vec<u8>, depth: usize) -> PyResult<bool> {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !write(&item, out, depth + 1)? {
            return Ok(false);
        }
    }
    out.push(b']');
    Ok(true)
}

/// `s` as a JSON string of ASCII, escaped as `json.encoder.encode_basestring_ascii` does:
/// `"` and `\` and the short escapes, other controls and DEL and everything past ASCII as
/// `\uXXXX` (lowercase hex; a surrogate pair past the BMP).
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let unit = |out: &mut Vec<u8>, u: u16| {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((u >> shift) & 0xf)]);
        }
    };
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    unit(out, *u);
                }
            }
        }
    }
    out.push(b'"');
}

/// `body` read as one JSON value, as `json.loads` reads it; `miss` when it is not read here
/// (see the module): the caller then asks `json.loads`.
#[pyfunction]
pub fn json_value<'py>(py: Python<'py>, body: &[u8], miss: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(read(py, body)?.unwrap_or(miss))
}

/// `body` read as one JSON value, as `json.loads` reads it; `None` when it is not read here
/// (see the module).
pub fn read<'py>(py: Python<'py>, body: &[u8]) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut r = Reader { b: body, at: 0 };
    r.space();
    let Some(v) = r.value(py, 0)? else { return Ok(None) };
    r.space();
    Ok((r.at == body.len()).then_some(v))
}

/// A cursor over a body being read.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return: nothing else).
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `word` if it is next.
    fn word(&mut self, word: &[u8]) -> bool {
        let found = self.b[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    /// After an item of an object or array: consumes the comma (`Some(false)`) or the
    /// closing `end` (`Some(true)`); `None` when neither is next.
    fn after_item(&mut self, end: u8) -> Option<bool> {
        self.space();
        let c = self.peek()?;
        if c != b',' && c != end {
            return None;
        }
        self.at += 1;
        Some(c == end)
    }

    /// The value at the cursor; `None` when it is not read here.
    fn value<'py>(&mut self, py: Python<'py>, depth: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        if depth > DEPTH {
            return Ok(None);
        }
        let v = match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let d = PyDict::new(py);
                self.space();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Some(d.into_any()));
                }
                loop {
                    self.space();
                    if self.peek() != Some(b'"') {
                        return Ok(None);
                    }
                    let Some(k) = self.string(py)? else { return Ok(None) };
                    self.space();
                    if self.peek() != Some(b':') {
                        return Ok(None);
                    }
                    self.at += 1;
                    self.space();
                    let Some(item) = self.value(py, depth + 1)? else { return Ok(None) };
                    d.set_item(k, item)?;
                    match self.after_item(b'}') {
                        Some(true) => break,
                        Some(false) => {}
                        None => return Ok(None),
                    }
                }
                d.into_any()
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.peek() == Some(b']') {
                    self.at += 1;
                } else {
                    loop {
                        self.space();
                        let Some(item) = self.value(py, depth + 1)? else { return Ok(None) };
                        items.push(item);
                        match self.after_item(b']') {
                            Some(true) => break,
                            Some(false) => {}
                            None => return Ok(None),
                        }
                    }
                }
                PyList::new(py, items)?.into_any()
            }
            Some(b'"') => match self.string(py)? {
                Some(s) => s.into_any(),
                None => return Ok(None),
            },
            Some(b't') if self.word(b"true") => PyBool::new(py, true).to_owned().into_any(),
            Some(b'f') if self.word(b"false") => PyBool::new(py, false).to_owned().into_any(),
            Some(b'n') if self.word(b"null") => py.None().into_bound(py),
            Some(b'-' | b'0'..=b'9') => return self.number(py),
            _ => return Ok(None),
        };
        Ok(Some(v))
    }

    /// The number at the cursor (RFC 8259's grammar, nothing looser).
    fn number<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let start = self.at;
        let digits = |r: &mut Self| {
            let from = r.at;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.at += 1;
            }
            r.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Ok(None),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if digits(self) == 0 {
                return Ok(None);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Ok(None);
            }
        }
        // ASCII digits and signs only: always UTF-8.
        let Ok(text) = std::str::from_utf8(&self.b[start..self.at]) else { return Ok(None) };
        if !integer {
            let Ok(f) = text.parse::<f64>() else { return Ok(None) };
            return Ok(Some(PyFloat::new(py, f).into_any()));
        }
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Some(n.into_pyobject(py)?.into_any()));
        }
        // Past 64 bits: `int` reads it (or refuses past its digit limit, and `json` words it).
        Ok(py.get_type::<PyInt>().call1((text,)).ok())
    }

    /// The string at the cursor (at its opening quote); `None` for what is not read here: a
    /// control character inside, a bad escape, a lone surrogate, invalid UTF-8.
    fn string<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        self.at += 1;
        let start = self.at;
        // The common string: no escape, so the bytes are the text.
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let Ok(s) = std::str::from_utf8(&self.b[start..self.at]) else { return Ok(None) };
                    self.at += 1;
                    return Ok(Some(PyString::new(py, s)));
                }
                b'\\' => break,
                0..=0x1f => return Ok(None),
                _ => self.at += 1,
            }
        }
        let mut text = match std::str::from_utf8(&self.b[start..self.at]) {
            Ok(s) => s.to_owned(),
            Err(_) => return Ok(None),
        };
        loop {
            let run = self.at;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.at += 1;
            }
            match std::str::from_utf8(&self.b[run..self.at]) {
                Ok(s) => text.push_str(s),
                Err(_) => return Ok(None),
            }
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Some(PyString::new(py, &text)));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            let Some(hi) = self.hex4() else { return Ok(None) };
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                // A high surrogate: only with its low one.
                                if !self.word(b"\\u") {
                                    return Ok(None);
                                }
                                let Some(lo) = self.hex4() else { return Ok(None) };
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Ok(None);
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            let Some(c) = char::from_u32(code) else { return Ok(None) }; // a lone low surrogate
                            text.push(c);
                            continue;
                        }
                        _ => return Ok(None),
                    };
                    self.at += 1;
                    text.push(c);
                }
                _ => return Ok(None), // a control character, or the end
            }
        }
    }

    /// Four hex digits, as a number.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.at..self.at + 4)?;
        let s = std::str::from_utf8(digits).ok()?;
        if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(s, 16).ok()
    }
}
