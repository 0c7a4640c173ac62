//! go-micro's encoding of a service in Consul tags (`go-micro.dev/v5/registry/consul`'s
//! `encoding.go`), so Go and Rust read each other's entries.
//!
//! Consul stores a service instance as name, address, port, tags and a small `Meta` map;
//! go-micro keeps everything else in tags, each a one-letter kind, `-`, and the hex of the
//! zlib-compressed value:
//!
//! - `e-…` one per endpoint: the endpoint's registry JSON;
//! - `t-…` one per node metadata pair: `{"key":"value"}`;
//! - `v-…` the version (the bare string, compressed).
//!
//! go-micro's older plain form (`e=`, `t=`, `v=` followed by the raw value) is still read.
//! As in go-micro, the first form seen for a kind wins and tags that do not decode are
//! skipped. Decompression is bounded, so a hostile tag cannot inflate without limit.

use crate::registry::{Endpoint, Metadata};
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// A decoded tag value larger than this is ignored.
const MAX_DECODED: u64 = 1024 * 1024;

/// zlib-compresses and hex-encodes `raw` (go-micro's `encode`).
pub fn encode(raw: &[u8]) -> String {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    if z.write_all(raw).is_err() {
        return String::new();
    }
    match z.finish() {
        Ok(bytes) => hex::encode(bytes),
        Err(_) => String::new(),
    }
}

/// The inverse of [`encode`]; `None` when `s` is not hex of a zlib stream.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let compressed = hex::decode(s).ok()?;
    let mut out = Vec::new();
    ZlibDecoder::new(&compressed[..]).take(MAX_DECODED + 1).read_to_end(&mut out).ok()?;
    (out.len() as u64 <= MAX_DECODED).then_some(out)
}

/// The tags go-micro writes for a node: metadata, then endpoints, then the version.
pub fn encode_tags(metadata: &Metadata, endpoints: &[Endpoint], version: &str) -> Vec<String> {
    let mut tags = Vec::with_capacity(metadata.len() + endpoints.len() + 1);
    for (k, v) in metadata {
        let mut one = Metadata::new();
        one.insert(k.clone(), v.clone());
        if let Ok(json) = serde_json::to_vec(&one) {
            tags.push(format!("t-{}", encode(&json)));
        }
    }
    for e in endpoints {
        if let Ok(json) = serde_json::to_vec(e) {
            tags.push(format!("e-{}", encode(&json)));
        }
    }
    tags.push(format!("v-{}", encode(version.as_bytes())));
    tags
}

/// The raw value of every tag of `kind`, in the first form seen (`-` encoded or `=` plain).
fn values(tags: &[String], kind: u8) -> Vec<Vec<u8>> {
    let mut form = None;
    let mut out = Vec::new();
    for tag in tags {
        let b = tag.as_bytes();
        if b.len() < 2 || b[0] != kind || !matches!(b[1], b'-' | b'=') {
            continue;
        }
        if form.is_some_and(|f| f != b[1]) {
            continue;
        }
        form = Some(b[1]);
        let raw = if b[1] == b'=' { Some(b[2..].to_vec()) } else { decode(&tag[2..]) };
        if let Some(raw) = raw {
            out.push(raw);
        }
    }
    out
}

/// The endpoints in `tags` (go-micro's `decodeEndpoints`).
pub fn decode_endpoints(tags: &[String]) -> Vec<Endpoint> {
    values(tags, b'e').iter().filter_map(|raw| serde_json::from_slice(raw).ok()).collect()
}

/// The node metadata in `tags` (go-micro's `decodeMetadata`).
pub fn decode_metadata(tags: &[String]) -> Metadata {
    let mut md = Metadata::new();
    for raw in values(tags, b't') {
        if let Ok(kv) = serde_json::from_slice::<Metadata>(&raw) {
            md.extend(kv);
        }
    }
    md
}

/// The version in `tags` (go-micro's `decodeVersion`); empty when there is none.
pub fn decode_version(tags: &[String]) -> String {
    for tag in tags {
        let b = tag.as_bytes();
        if b.len() < 2 || b[0] != b'v' {
            continue;
        }
        match b[1] {
            b'=' => return tag[2..].to_string(),
            b'-' => return decode(&tag[2..]).map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default(),
            _ => {}
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Value;

    #[test]
    fn tags_round_trip() {
        let mut md = Metadata::new();
        md.insert("protocol".into(), "mucp".into());
        md.insert("registry".into(), "consul".into());
        let eps = vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: Some(Value::leaf("Request", "Request")),
            ..Default::default()
        }];
        let tags = encode_tags(&md, &eps, "1.0.0");
        assert_eq!(tags.len(), 4);
        assert!(tags[0].starts_with("t-") && tags[2].starts_with("e-") && tags[3].starts_with("v-"));
        assert_eq!(decode_metadata(&tags), md);
        assert_eq!(decode_endpoints(&tags), eps);
        assert_eq!(decode_version(&tags), "1.0.0");
    }

    #[test]
    fn reads_go_micro_bytes() {
        // go-micro v5.30.0's tags for version "latest" and metadata protocol=mucp, as Go's
        // compress/zlib writes them (its deflate bytes differ from ours; both decode).
        let go: Vec<String> = vec![
            "t-789caa562a28ca2fc94fcecf51b252ca2d4d2e50aa05040000ffff46a906e2".into(),
            "v-789cca492c492d2e01040000ffff08cc028e".into(),
        ];
        assert_eq!(decode_version(&go), "latest");
        assert_eq!(decode_metadata(&go).get("protocol").map(String::as_str), Some("mucp"));
        assert_eq!(decode(&encode(b"latest")).as_deref(), Some(&b"latest"[..]));
    }

    #[test]
    fn plain_form_and_garbage() {
        let tags: Vec<String> =
            vec!["v=2".into(), "t={\"a\":\"b\"}".into(), "t-zz".into(), "e-00".into(), "x".into(), "e".into()];
        assert_eq!(decode_version(&tags), "2");
        assert_eq!(decode_metadata(&tags).get("a").map(String::as_str), Some("b"));
        assert!(decode_endpoints(&tags).is_empty());
        assert_eq!(decode("not hex"), None);
    }
}
