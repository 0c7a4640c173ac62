//! The TXT payload go-micro puts on every mDNS instance: `hex(zlib(JSON))` in 255-char strings.
//!
//! The JSON object has four capitalised top-level keys (`Metadata`, `Service`, `Version`,
//! `Endpoints`, in that order — go-micro's `mdnsTxt` struct has no json tags) and lowercase
//! keys inside endpoints. Node id and address are not carried: they come from the DNS names
//! and the SRV/A records. See `gomicro-wire.md` §2.4.

use super::MdnsError;
use crate::codec::json::escape_html;
use crate::registry::{Endpoint, Metadata};
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::{Read, Write};

/// The longest DNS `<character-string>` go-micro writes: the hex text is cut into chunks of
/// this many characters.
pub(crate) const CHUNK: usize = 255;

/// The most inflated JSON we accept from the network; anything larger is a zip bomb or a
/// mistake, and the entry is skipped.
pub(crate) const MAX_INFLATED: usize = 1 << 20;

/// go-micro's `mdnsTxt`: what one instance says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Txt {
    /// Node metadata (`null` when empty, like Go's nil map).
    #[serde(
        rename = "Metadata",
        alias = "metadata",
        default,
        serialize_with = "map_or_null",
        deserialize_with = "null_default"
    )]
    pub metadata: Metadata,
    /// Service name; must equal the name the instance is published under.
    #[serde(rename = "Service", alias = "service", default, deserialize_with = "null_default")]
    pub service: String,
    /// Service version; go-micro watchers drop entries where it is empty.
    #[serde(rename = "Version", alias = "version", default, deserialize_with = "null_default")]
    pub version: String,
    /// The service's endpoints (`null` when empty, like Go's nil slice).
    #[serde(
        rename = "Endpoints",
        alias = "endpoints",
        default,
        serialize_with = "vec_or_null",
        deserialize_with = "null_default"
    )]
    pub endpoints: Vec<Endpoint>,
}

fn map_or_null<S: Serializer>(m: &Metadata, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

fn vec_or_null<S: Serializer>(v: &[Endpoint], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

fn null_default<'de, T: Default + Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Txt {
    /// The JSON go-micro's `json.Marshal` would produce (compact, sorted maps, `<>&` escaped).
    pub(crate) fn to_json(&self) -> Result<String, MdnsError> {
        let json = serde_json::to_string(self).map_err(|e| MdnsError::Json(e.to_string()))?;
        Ok(escape_html(&json))
    }

    /// The TXT strings for this payload: `hex(zlib(json))` cut into 255-char chunks.
    pub(crate) fn encode(&self) -> Result<Vec<String>, MdnsError> {
        let json = self.to_json()?;
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(json.as_bytes()).map_err(|e| MdnsError::Zlib(e.to_string()))?;
        let compressed = z.finish().map_err(|e| MdnsError::Zlib(e.to_string()))?;
        Ok(chunk(&hex::encode(compressed)))
    }

    /// Decodes the TXT strings of one record: concatenate, hex-decode, inflate (at most
    /// [`MAX_INFLATED`] bytes), parse the JSON.
    pub(crate) fn decode<S: AsRef<str>>(strings: &[S]) -> Result<Txt, MdnsError> {
        let joined: String = strings.iter().map(AsRef::as_ref).collect();
        if joined.is_empty() {
            return Err(MdnsError::Hex("no TXT strings".into()));
        }
        let compressed = hex::decode(joined.as_bytes()).map_err(|e| MdnsError::Hex(e.to_string()))?;
        let mut json = Vec::new();
        let mut z = ZlibDecoder::new(compressed.as_slice()).take(MAX_INFLATED as u64 + 1);
        z.read_to_end(&mut json).map_err(|e| MdnsError::Zlib(e.to_string()))?;
        if json.len() > MAX_INFLATED {
            return Err(MdnsError::TooLarge(MAX_INFLATED));
        }
        serde_json::from_slice(&json).map_err(|e| MdnsError::Json(e.to_string()))
    }
}

/// Cuts `hex` into consecutive [`CHUNK`]-character strings, the last one possibly shorter
/// (exactly go-micro's loop: a 510-char text gives two strings, never an empty third).
pub(crate) fn chunk(hex: &str) -> Vec<String> {
    // hex text is ASCII, so byte chunks are char chunks.
    hex.as_bytes().chunks(CHUNK).map(|c| String::from_utf8_lossy(c).into_owned()).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registry::Value;

    /// The two TXT strings of `gomicro-wire.md` §2.8, produced by Go.
    pub(crate) const GO_TXT: [&str; 2] = [
        "789c8c90b16a33311084df656af13f80fa9fa44993409ae042b95b2e22ba5d6577efc01c7af720fbecd8a44925f898d1c7ce8627f234264f881bde553e4911f1e15e1150555c0629889897a113a5299bebb193910d0146ba9e3a7bc235b15551bf7cd3025e48d73c10222625725204bc925a164644494ee608f8cf6395cc6e8",
        "86f1b94be96cee3064e732f3fef24c08ff51eaca92c74eeede1d3734d9a6be6e926c84b29edd0fa4556858dee3c3bba115dc96fd34c6669fa936cfe19bb854bffe1bcc9bf472a45d00eed3b0000fffff2bd89d6",
    ];

    /// The JSON of §2.8 (405 bytes).
    pub(crate) const GO_JSON: &str = r#"{"Metadata":{"broker":"http","protocol":"mucp","registry":"mdns","server":"mucp","transport":"http"},"Service":"greeter","Version":"latest","Endpoints":[{"request":{"name":"Request","type":"Request","values":[{"name":"name","type":"string","values":null}]},"response":{"name":"Response","type":"Response","values":[{"name":"message","type":"string","values":null}]},"metadata":{},"name":"Greeter.Hello"}]}"#;

    pub(crate) fn greeter_txt() -> Txt {
        let md = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Txt {
            metadata: md(&[
                ("broker", "http"),
                ("protocol", "mucp"),
                ("registry", "mdns"),
                ("server", "mucp"),
                ("transport", "http"),
            ]),
            service: "greeter".into(),
            version: "latest".into(),
            endpoints: vec![Endpoint {
                request: Some(Value {
                    name: "Request".into(),
                    kind: "Request".into(),
                    values: vec![Value::leaf("name", "string")],
                }),
                response: Some(Value {
                    name: "Response".into(),
                    kind: "Response".into(),
                    values: vec![Value::leaf("message", "string")],
                }),
                metadata: Metadata::new(),
                name: "Greeter.Hello".into(),
            }],
        }
    }

    #[test]
    fn go_worked_example_decodes_to_the_spec_json() {
        assert_eq!(GO_TXT[0].len(), 255);
        assert_eq!(GO_TXT[1].len(), 167);
        let txt = Txt::decode(&GO_TXT).unwrap();
        assert_eq!(txt, greeter_txt());
        assert_eq!(txt.to_json().unwrap(), GO_JSON);
    }

    #[test]
    fn encoding_json_is_byte_equal_to_go() {
        assert_eq!(GO_JSON.len(), 405);
        assert_eq!(greeter_txt().to_json().unwrap(), GO_JSON);
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut t = greeter_txt();
        t.metadata.insert("html".into(), "<a&b>".into());
        let strings = t.encode().unwrap();
        assert!(strings[0].starts_with("789c"), "zlib default level header");
        assert!(strings.iter().all(|s| s.len() <= CHUNK));
        assert_eq!(Txt::decode(&strings).unwrap(), t);
        assert!(t.to_json().unwrap().contains(r#""html":"\u003ca\u0026b\u003e""#));
    }

    #[test]
    fn empty_collections_are_null_like_go() {
        let t = Txt { service: "s".into(), version: "v".into(), ..Default::default() };
        assert_eq!(t.to_json().unwrap(), r#"{"Metadata":null,"Service":"s","Version":"v","Endpoints":null}"#);
        assert_eq!(Txt::decode(&t.encode().unwrap()).unwrap(), t);
        // Go's unmarshal is case-insensitive; lowercase keys are accepted too.
        let lower: Txt = serde_json::from_str(r#"{"metadata":{"a":"b"},"service":"s","version":"v"}"#).unwrap();
        assert_eq!(lower.metadata.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn chunks_are_255_chars_and_the_last_may_be_full() {
        assert_eq!(chunk(&"a".repeat(255)), vec!["a".repeat(255)]);
        assert_eq!(chunk(&"a".repeat(510)).len(), 2);
        let c = chunk(&"a".repeat(511));
        assert_eq!(c.iter().map(String::len).collect::<Vec<_>>(), vec![255, 255, 1]);
        assert_eq!(chunk("abc"), vec!["abc".to_string()]);
    }

    #[test]
    fn bad_hex_zlib_json_and_bombs_are_errors() {
        assert!(matches!(Txt::decode(&["zz"]), Err(MdnsError::Hex(_))));
        assert!(matches!(Txt::decode(&["abc"]), Err(MdnsError::Hex(_))));
        assert!(matches!(Txt::decode::<&str>(&[]), Err(MdnsError::Hex(_))));
        assert!(matches!(Txt::decode(&["00112233"]), Err(MdnsError::Zlib(_))));
        // Truncated zlib stream.
        assert!(matches!(Txt::decode(&[&GO_TXT[0][..200]]), Err(MdnsError::Zlib(_))));
        // Valid zlib, not JSON.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(b"not json").unwrap();
        let h = hex::encode(z.finish().unwrap());
        assert!(matches!(Txt::decode(&[h.as_str()]), Err(MdnsError::Json(_))));
        // A zip bomb: 8 MiB of zeros compresses to a few KiB.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&vec![b' '; 8 << 20]).unwrap();
        let bomb = chunk(&hex::encode(z.finish().unwrap()));
        assert!(matches!(Txt::decode(&bomb), Err(MdnsError::TooLarge(_))));
    }
}
