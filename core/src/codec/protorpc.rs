//! The legacy proto-RPC envelope (`application/proto-rpc`).
//!
//! A message is two netstrings (4-byte big-endian length, then bytes): a header message,
//! then the body. The request header is `{service_method = 1 (string), seq = 2 (fixed64)}`,
//! the response header adds `error = 3 (string)`. Three fields do not justify a protobuf
//! code generator, so they are written and read here by hand.

use super::CodecError;
use bytes::{BufMut, Bytes, BytesMut};

/// A decoded proto-RPC header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RpcHeader {
    /// `Service.Method`.
    pub service_method: String,
    /// Sequence number.
    pub seq: u64,
    /// Error text (responses only).
    pub error: String,
}

/// Frames a header and a body.
pub fn encode(header: &RpcHeader, body: &[u8]) -> Bytes {
    let mut h = Vec::new();
    put_string(&mut h, 1, &header.service_method);
    h.push((2 << 3) | 1);
    h.extend_from_slice(&header.seq.to_le_bytes());
    if !header.error.is_empty() {
        put_string(&mut h, 3, &header.error);
    }
    let mut out = BytesMut::with_capacity(8 + h.len() + body.len());
    out.put_u32(h.len() as u32);
    out.put_slice(&h);
    out.put_u32(body.len() as u32);
    out.put_slice(body);
    out.freeze()
}

/// Splits a framed message into its header and body.
pub fn decode(frame: &[u8]) -> Result<(RpcHeader, Bytes), CodecError> {
    let (h, rest) = netstring(frame)?;
    let (body, _) = if rest.is_empty() { (&[][..], &[][..]) } else { netstring(rest)? };
    Ok((parse_header(h)?, Bytes::copy_from_slice(body)))
}

fn netstring(buf: &[u8]) -> Result<(&[u8], &[u8]), CodecError> {
    if buf.len() < 4 {
        return Err(CodecError::ProtoRpc("truncated length".into()));
    }
    let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < n {
        return Err(CodecError::ProtoRpc(format!("length {n} is past the end ({} bytes left)", rest.len())));
    }
    Ok((&rest[..n], &rest[n..]))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_string(out: &mut Vec<u8>, field: u64, s: &str) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, CodecError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| CodecError::ProtoRpc("truncated varint".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(CodecError::ProtoRpc("varint too long".into()))
}

fn parse_header(buf: &[u8]) -> Result<RpcHeader, CodecError> {
    let mut h = RpcHeader::default();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => {
                let bytes = buf.get(pos..pos + 8).ok_or_else(|| CodecError::ProtoRpc("truncated fixed64".into()))?;
                if field == 2 {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(bytes);
                    h.seq = u64::from_le_bytes(a);
                }
                pos += 8;
            }
            2 => {
                let n = varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(n)
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(|| CodecError::ProtoRpc("truncated string".into()))?;
                let s = std::str::from_utf8(&buf[pos..end])
                    .map_err(|_| CodecError::ProtoRpc("string is not UTF-8".into()))?;
                match field {
                    1 => h.service_method = s.to_string(),
                    3 => h.error = s.to_string(),
                    _ => {}
                }
                pos = end;
            }
            5 => pos += 4,
            w => return Err(CodecError::ProtoRpc(format!("unsupported wire type {w}"))),
        }
    }
    if pos > buf.len() {
        return Err(CodecError::ProtoRpc("truncated field".into()));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = RpcHeader { service_method: "Greeter.Hello".into(), seq: 7, error: "bad".into() };
        let f = encode(&h, b"\x0a\x05Alice");
        let (back, body) = decode(&f).unwrap();
        assert_eq!(back, h);
        assert_eq!(&body[..], b"\x0a\x05Alice");
    }

    #[test]
    fn truncated_frames_are_errors() {
        let f = encode(&RpcHeader { service_method: "A.B".into(), ..Default::default() }, b"xyz");
        for cut in 0..f.len() - 1 {
            let _ = decode(&f[..cut]); // must not panic
        }
        assert!(decode(&[0, 0, 0, 9, 1]).is_err());
        assert!(decode(&[0, 0, 0, 2, 0x0a, 0x7f]).is_err());
    }
}
