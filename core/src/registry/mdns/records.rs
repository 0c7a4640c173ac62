//! DNS packets in go-micro's mDNS dialect: building queries and responses, parsing what
//! arrives, and assembling the records of one packet (or of one lookup) into instances.
//!
//! Everything here is pure — no sockets — so the byte-level behaviour is unit-tested.
//! Names are handled as raw label bytes, case preserved: go-micro compares names as exact,
//! case-sensitive strings (`gomicro-wire.md` §2.2).

use super::MdnsError;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The TTL go-micro puts on every record it serves (0 in goodbyes).
pub(crate) const TTL: u32 = 120;
/// The QU ("unicast response wanted") bit of a question's class.
const QU_BIT: u16 = 0x8000;
/// The longest DNS label.
pub(crate) const MAX_LABEL: usize = 63;

/// A DNS name from its dotted text form (`greeter.micro.`), labels kept byte-for-byte.
pub(crate) fn name(fqdn: &str) -> Result<Name, MdnsError> {
    let trimmed = fqdn.strip_suffix('.').unwrap_or(fqdn);
    if trimmed.is_empty() {
        return Ok(Name::root());
    }
    let mut labels = Vec::new();
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err(MdnsError::Name(format!("empty label in {fqdn:?}")));
        }
        if label.len() > MAX_LABEL {
            return Err(MdnsError::LabelTooLong { label: label.to_string(), name: fqdn.to_string() });
        }
        labels.push(label.as_bytes());
    }
    let mut n = Name::from_labels(labels).map_err(|e| MdnsError::Name(format!("{fqdn:?}: {e}")))?;
    n.set_fqdn(true);
    Ok(n)
}

/// The dotted text form of a name, `.`-terminated, labels as they were on the wire.
pub(crate) fn text(n: &Name) -> String {
    let mut s = String::new();
    for label in n.iter() {
        s.push_str(&String::from_utf8_lossy(label));
        s.push('.');
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

/// PTR `owner → target`.
pub(crate) fn ptr(owner: &Name, target: &Name, ttl: u32) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::PTR(PTR(target.clone())))
}

/// SRV with go-micro's priority 10 and weight 1.
pub(crate) fn srv(owner: &Name, port: u16, target: &Name, ttl: u32) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::SRV(SRV::new(10, 1, port, target.clone())))
}

/// A for an IPv4 address, AAAA for an IPv6 one (an IPv4 address never goes into AAAA).
pub(crate) fn addr(owner: &Name, ip: IpAddr, ttl: u32) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, data)
}

/// TXT with the given strings (zero strings → RDLENGTH 0, as go-micro's listing entry).
pub(crate) fn txt(owner: &Name, strings: &[String], ttl: u32) -> Record {
    let data = TXT::from_bytes(strings.iter().map(|s| s.as_bytes()).collect());
    Record::from_rdata(owner.clone(), ttl, RData::TXT(data))
}

/// A response: Id `id`, QR+AA, the given question section echoed, `answers` in order,
/// names compressed.
pub(crate) fn response(id: u16, queries: &[Query], answers: Vec<Record>) -> Result<Vec<u8>, MdnsError> {
    let mut m = Message::new();
    m.set_id(id).set_message_type(MessageType::Response).set_op_code(OpCode::Query).set_authoritative(true);
    m.add_queries(queries.iter().cloned());
    m.add_answers(answers);
    m.to_vec().map_err(|e| MdnsError::Pack(e.to_string()))
}

/// A query as go-micro sends it: all flags 0, one question `name type IN`.
pub(crate) fn query(id: u16, fqdn: &str, qtype: RecordType) -> Result<Vec<u8>, MdnsError> {
    let mut m = Message::new();
    m.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query);
    m.add_query(Query::query(name(fqdn)?, qtype));
    m.to_vec().map_err(|e| MdnsError::Pack(e.to_string()))
}

/// One question, in the form the responder matches on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Question {
    /// The name, dotted, as sent (case preserved).
    pub name: String,
    /// The question type.
    pub qtype: RecordType,
    /// True when the QU bit of the class is set (answer carries the query Id).
    pub unicast: bool,
}

/// The parts of one record this plugin reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Data {
    /// PTR target.
    Ptr(String),
    /// SRV port and target host.
    Srv { port: u16, target: String },
    /// TXT strings (empty for an RDLENGTH-0 TXT).
    Txt(Vec<String>),
    /// A or AAAA address.
    Addr(IpAddr),
    /// Anything else.
    Other,
}

/// One record from the answer or additional section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rec {
    /// Owner name, dotted.
    pub name: String,
    /// TTL in seconds; 0 means "gone".
    pub ttl: u32,
    /// What it says.
    pub data: Data,
}

/// A parsed packet.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    /// Message Id.
    pub id: u16,
    /// QR bit.
    pub response: bool,
    /// Opcode 0 and rcode 0: the only packets mDNS acts on.
    pub standard: bool,
    /// The question section as hickory parsed it, re-emitted verbatim in answers.
    pub queries: Vec<Query>,
    /// The same questions, in matching form.
    pub questions: Vec<Question>,
    /// Answer then additional records (go-micro reads both; authority is ignored, it
    /// only carries probe data).
    pub records: Vec<Rec>,
}

/// Parses a datagram. Truncated input, compression loops and forward pointers, labels over
/// 63 bytes and names over 255 bytes are errors, never panics.
/// Most questions a packet may carry before it is ignored unparsed (go-micro asks one).
pub(crate) const MAX_QUESTIONS: usize = 32;
/// Most records (answer, authority and additional) a packet may carry before it is
/// ignored unparsed (one of go-micro's instances is 4–5; a full lookup answer a few more).
pub(crate) const MAX_RECORDS: usize = 256;

pub(crate) fn parse(bytes: &[u8]) -> Result<Packet, MdnsError> {
    // The header's counts, read before anything is decoded: a packet announcing thousands
    // of questions or records is dropped without the work of parsing them.
    if bytes.len() >= 12 {
        let count = |i: usize| usize::from(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
        let questions = count(4);
        let records = count(6) + count(8) + count(10);
        if questions > MAX_QUESTIONS || records > MAX_RECORDS {
            return Err(MdnsError::Malformed(format!(
                "{questions} questions and {records} records: over the limits of {MAX_QUESTIONS} and {MAX_RECORDS}"
            )));
        }
    }
    let m = Message::from_vec(bytes).map_err(|e| MdnsError::Malformed(e.to_string()))?;
    let questions = m
        .queries()
        .iter()
        .map(|q| Question {
            name: text(q.name()),
            qtype: q.query_type(),
            unicast: u16::from(q.query_class()) & QU_BIT != 0,
        })
        .collect();
    let records = m.answers().iter().chain(m.additionals()).map(rec).collect();
    Ok(Packet {
        id: m.id(),
        response: m.message_type() == MessageType::Response,
        standard: m.op_code() == OpCode::Query && m.response_code() == ResponseCode::NoError,
        queries: m.queries().to_vec(),
        questions,
        records,
    })
}

fn rec(r: &Record) -> Rec {
    let data = match r.data() {
        RData::PTR(p) => Data::Ptr(text(&p.0)),
        RData::SRV(s) => Data::Srv { port: s.port(), target: text(s.target()) },
        RData::TXT(t) => Data::Txt(t.txt_data().iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()),
        // hickory reads an RDLENGTH-0 record as an "update" placeholder; for TXT that is
        // go-micro's empty listing TXT.
        RData::Update0(RecordType::TXT) => Data::Txt(Vec::new()),
        RData::A(a) => Data::Addr(IpAddr::V4(a.0)),
        RData::AAAA(a) => Data::Addr(IpAddr::V6(a.0)),
        _ => Data::Other,
    };
    Rec { name: text(r.name()), ttl: r.ttl(), data }
}

/// What is known about one instance (`<node id>.<service>.micro.`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Instance FQDN.
    pub name: String,
    /// SRV port (0 until an SRV is seen).
    pub port: u16,
    /// SRV target host, the owner of its A/AAAA records.
    pub target: Option<String>,
    /// TXT strings, once a TXT is seen.
    pub txt: Option<Vec<String>>,
    /// Last IPv4 address seen (go-micro keeps the last A).
    pub v4: Option<Ipv4Addr>,
    /// Last IPv6 address seen.
    pub v6: Option<Ipv6Addr>,
    /// TTL of the latest packet that described it (the smallest of that packet's records).
    pub ttl: u32,
}

impl Entry {
    /// Has an address, a port and a TXT — go-micro's `complete()`.
    pub(crate) fn complete(&self) -> bool {
        (self.v4.is_some() || self.v6.is_some()) && self.port != 0 && self.txt.is_some()
    }

    /// `ip:port`, IPv4 preferred, IPv6 as `[ip]:port`.
    pub(crate) fn address(&self) -> Option<SocketAddr> {
        let ip = self.v4.map(IpAddr::V4).or(self.v6.map(IpAddr::V6))?;
        Some(SocketAddr::new(ip, self.port))
    }
}

/// Collects instances whose names end in `suffix` from one or more packets.
///
/// Tolerant of responders other than go-micro's: records may sit in the answer or the
/// additional section, in any order, A/AAAA may be owned by the SRV target or by the
/// instance itself, and the parts of an instance may come in separate packets.
#[derive(Debug)]
pub(crate) struct Assembler {
    suffix: String,
    entries: BTreeMap<String, Entry>,
    order: Vec<String>,
}

impl Assembler {
    /// Collects instances named `<something><suffix>` (suffix like `.greeter.micro.`).
    pub(crate) fn new(suffix: impl Into<String>) -> Self {
        Assembler { suffix: suffix.into(), entries: BTreeMap::new(), order: Vec::new() }
    }

    fn wanted(&self, name: &str) -> bool {
        name.len() > self.suffix.len() && name.ends_with(&self.suffix)
    }

    fn entry(&mut self, name: &str) -> &mut Entry {
        if !self.entries.contains_key(name) {
            self.order.push(name.to_string());
        }
        self.entries.entry(name.to_string()).or_insert_with(|| Entry { name: name.to_string(), ..Default::default() })
    }

    /// Takes in one packet's records; returns the names of the instances it described.
    pub(crate) fn ingest(&mut self, records: &[Rec]) -> Vec<String> {
        let mut touched: Vec<String> = Vec::new();
        let mut ttls: BTreeMap<String, u32> = BTreeMap::new();
        let mut touch = |name: &str, ttl: u32, touched: &mut Vec<String>| {
            if !touched.iter().any(|t| t == name) {
                touched.push(name.to_string());
            }
            let t = ttls.entry(name.to_string()).or_insert(ttl);
            *t = (*t).min(ttl);
        };
        // Addresses by owner, last one wins per family.
        let mut host_v4: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
        let mut host_v6: BTreeMap<&str, Ipv6Addr> = BTreeMap::new();
        for r in records {
            match &r.data {
                Data::Addr(IpAddr::V4(ip)) => {
                    host_v4.insert(&r.name, *ip);
                }
                Data::Addr(IpAddr::V6(ip)) => {
                    host_v6.insert(&r.name, *ip);
                }
                _ => {}
            }
        }
        for r in records {
            match &r.data {
                Data::Ptr(target) if self.wanted(target) => {
                    self.entry(target);
                    touch(target, r.ttl, &mut touched);
                }
                Data::Srv { port, target } if self.wanted(&r.name) => {
                    let e = self.entry(&r.name);
                    e.port = *port;
                    e.target = Some(target.clone());
                    touch(&r.name, r.ttl, &mut touched);
                }
                Data::Txt(strings) if self.wanted(&r.name) => {
                    self.entry(&r.name).txt = Some(strings.clone());
                    touch(&r.name, r.ttl, &mut touched);
                }
                Data::Addr(_) if self.wanted(&r.name) => {
                    self.entry(&r.name);
                    touch(&r.name, r.ttl, &mut touched);
                }
                _ => {}
            }
        }
        for e in self.entries.values_mut() {
            let own = touched.contains(&e.name);
            // Addresses owned by the instance name itself, then by its SRV target.
            let mut owners = vec![e.name.as_str()];
            if let Some(t) = e.target.as_deref() {
                owners.push(t);
            }
            let v4 = owners.iter().rev().find_map(|o| host_v4.get(o).copied());
            let v6 = owners.iter().rev().find_map(|o| host_v6.get(o).copied());
            // A packet that describes the instance replaces its addresses; host records in
            // another packet only fill an instance that has none yet.
            let fill = own || (e.v4.is_none() && e.v6.is_none());
            if fill && (v4.is_some() || v6.is_some()) {
                e.v4 = v4;
                e.v6 = v6;
            }
            if let Some(ttl) = ttls.get(&e.name) {
                e.ttl = *ttl;
            }
        }
        touched
    }

    /// One instance.
    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Every instance seen, in order of first appearance.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.order.iter().filter_map(|n| self.entries.get(n))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The 568-byte response of `gomicro-wire.md` §2.8, rebuilt from its dump (the elided
    /// middle is the two TXT strings given in full there).
    pub(crate) fn go_response() -> Vec<u8> {
        let mut b: Vec<u8> = Vec::new();
        let hexdump = [
            "00 00 84 00 00 01 00 04 00 00 00 00 07 67 72 65",
            "65 74 65 72 05 6d 69 63 72 6f 00 00 0c 00 01 c0",
            "0c 00 0c 00 01 00 00 00 78 00 2f 2c 67 72 65 65",
            "74 65 72 2d 35 66 31 63 37 65 33 61 2d 30 62 37",
            "65 2d 34 63 34 31 2d 39 64 38 65 2d 32 61 36 66",
            "33 62 39 63 31 64 32 30 c0 0c c0 2b 00 21 00 01",
            "00 00 00 78 00 0e 00 0a 00 01 9c bb 06 64 65 76",
            "62 6f 78 00 c0 6c 00 01 00 01 00 00 00 78 00 04",
            "c0 a8 01 0a c0 2b 00 10 00 01 00 00 00 78 01 a8",
        ];
        for line in hexdump {
            b.extend(line.split(' ').map(|h| u8::from_str_radix(h, 16).unwrap()));
        }
        let txt = crate::registry::mdns::txt::tests::GO_TXT;
        b.push(255);
        b.extend_from_slice(txt[0].as_bytes());
        b.push(167);
        b.extend_from_slice(txt[1].as_bytes());
        assert_eq!(b.len(), 568);
        b
    }

    /// The 109-byte listing response of §2.8.
    pub(crate) fn go_listing_response() -> Vec<u8> {
        let dump = "00 00 84 00 00 01 00 04 00 00 00 00 09 5f 73 65 \
                    72 76 69 63 65 73 05 6d 69 63 72 6f 00 00 0c 00 \
                    01 c0 0c 00 0c 00 01 00 00 00 78 00 0a 07 67 72 \
                    65 65 74 65 72 c0 0c c0 2d 00 21 00 01 00 00 00 \
                    78 00 0e 00 0a 00 01 27 0f 06 64 65 76 62 6f 78 \
                    00 c0 49 00 01 00 01 00 00 00 78 00 04 00 00 00 \
                    00 c0 2d 00 10 00 01 00 00 00 78 00 00";
        let b: Vec<u8> = dump.split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
        assert_eq!(b.len(), 109);
        b
    }

    /// The query of §2.8 (Id 0x1234).
    pub(crate) const GO_QUERY: [u8; 31] = [
        0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'g', b'r', b'e', b'e', b't', b'e', b'r', 5, b'm', b'i', b'c',
        b'r', b'o', 0, 0, 0x0c, 0, 1,
    ];

    #[test]
    fn names_round_trip_case_preserved() {
        let n = name("Greeter-1.greeter.micro.").unwrap();
        assert_eq!(text(&n), "Greeter-1.greeter.micro.");
        assert_eq!(text(&name("micro").unwrap()), "micro.");
        assert!(matches!(name(&format!("{}.micro.", "a".repeat(64))), Err(MdnsError::LabelTooLong { .. })));
        assert!(name("a..micro.").is_err());
    }

    #[test]
    fn query_matches_go_bytes() {
        assert_eq!(query(0x1234, "greeter.micro.", RecordType::PTR).unwrap(), GO_QUERY);
    }

    #[test]
    fn go_response_parses_into_one_complete_instance() {
        let p = parse(&go_response()).unwrap();
        assert!(p.response && p.standard);
        assert_eq!(p.id, 0);
        assert_eq!(
            p.questions,
            vec![Question { name: "greeter.micro.".into(), qtype: RecordType::PTR, unicast: false }]
        );
        assert_eq!(p.records.len(), 4);
        let mut a = Assembler::new(".greeter.micro.");
        let touched = a.ingest(&p.records);
        let inst = "greeter-5f1c7e3a-0b7e-4c41-9d8e-2a6f3b9c1d20.greeter.micro.";
        assert_eq!(touched, vec![inst.to_string()]);
        let e = a.get(inst).unwrap();
        assert!(e.complete());
        assert_eq!(e.address().unwrap().to_string(), "192.168.1.10:40123");
        assert_eq!(e.ttl, 120);
        assert_eq!(e.target.as_deref(), Some("devbox."));
        let t = crate::registry::mdns::txt::Txt::decode(e.txt.as_ref().unwrap()).unwrap();
        assert_eq!(t.service, "greeter");
    }

    #[test]
    fn go_listing_response_parses_with_empty_txt() {
        let p = parse(&go_listing_response()).unwrap();
        let mut a = Assembler::new("._services.micro.");
        a.ingest(&p.records);
        let e = a.get("greeter._services.micro.").unwrap();
        assert_eq!(e.txt, Some(vec![]));
        assert_eq!(e.port, 9999);
        assert!(e.complete());
    }

    #[test]
    fn records_split_across_packets_and_foreign_layouts_assemble() {
        let recs = |v: Vec<(&str, u32, Data)>| -> Vec<Rec> {
            v.into_iter().map(|(n, ttl, data)| Rec { name: n.into(), ttl, data }).collect()
        };
        let mut a = Assembler::new(".s.micro.");
        // A before SRV, owned by the host (go-micro itself would lose it; we do not).
        a.ingest(&recs(vec![
            ("h.", 120, Data::Addr("10.0.0.1".parse().unwrap())),
            ("n1.s.micro.", 120, Data::Srv { port: 80, target: "h.".into() }),
        ]));
        assert!(!a.get("n1.s.micro.").unwrap().complete());
        a.ingest(&recs(vec![("n1.s.micro.", 120, Data::Txt(vec!["x".into()]))]));
        let e = a.get("n1.s.micro.").unwrap();
        assert!(e.complete());
        assert_eq!(e.address().unwrap().to_string(), "10.0.0.1:80");
        // Goodbye: TTL 0 wins for the latest packet.
        a.ingest(&recs(vec![("n1.s.micro.", 0, Data::Srv { port: 80, target: "h.".into() })]));
        assert_eq!(a.get("n1.s.micro.").unwrap().ttl, 0);
        // AAAA owned by the instance; other services ignored.
        a.ingest(&recs(vec![
            ("n2.s.micro.", 120, Data::Srv { port: 81, target: "other.".into() }),
            ("n2.s.micro.", 120, Data::Addr("::1".parse().unwrap())),
            ("n2.s.micro.", 120, Data::Txt(vec![])),
            ("x.t.micro.", 120, Data::Txt(vec![])),
        ]));
        assert_eq!(a.get("n2.s.micro.").unwrap().address().unwrap().to_string(), "[::1]:81");
        assert!(a.get("x.t.micro.").is_none());
        assert_eq!(a.entries().count(), 2);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let good = go_response();
        // Every truncation of a valid packet.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "truncated at {n}");
        }
        // A compression pointer to itself (a loop) in the question name.
        let mut looped = GO_QUERY.to_vec();
        looped.truncate(12);
        looped.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1]);
        assert!(parse(&looped).is_err());
        // A forward pointer.
        let mut fwd = GO_QUERY.to_vec();
        fwd.truncate(12);
        fwd.extend_from_slice(&[0xc0, 14, 0, 12, 0, 1, 0]);
        assert!(parse(&fwd).is_err());
        // A label length of 64 (0x40 is a reserved label type) and of 63 but truncated.
        let mut big = GO_QUERY.to_vec();
        big[12] = 0x40;
        assert!(parse(&big).is_err());
        let mut long = GO_QUERY.to_vec();
        long.truncate(12);
        long.push(63);
        long.extend_from_slice(&[b'a'; 40]);
        assert!(parse(&long).is_err());
        // Counts that promise more than the packet holds.
        let mut counts = GO_QUERY.to_vec();
        counts[7] = 9;
        assert!(parse(&counts).is_err());
        // Random garbage never panics.
        let mut x: u32 = 0x1234_5678;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = parse(&bytes);
        }
        // Mutations of the valid response never panic.
        for i in 0..good.len() {
            for v in [0u8, 0xff, 0xc0, 0x3f] {
                let mut m = good.clone();
                m[i] = v;
                if let Ok(p) = parse(&m) {
                    Assembler::new(".greeter.micro.").ingest(&p.records);
                }
            }
        }
    }
}
