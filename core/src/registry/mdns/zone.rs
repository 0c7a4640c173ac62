//! What this process serves: the registered nodes and the records that answer each question
//! (go-micro's `zone.go` `Records` plus its per-name listing entry and DNS-SD wrapper).
//!
//! Pure data — the responder task owns the socket and asks the zone what to send.

use super::records::{self, Question, TTL};
use super::txt::Txt;
use super::MdnsError;
use crate::registry::{Node, Service};
use hickory_proto::rr::{Name, Record, RecordType};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The port go-micro's listing entry (`<name>._services.micro.`) advertises.
const LISTING_PORT: u16 = 9999;
/// The largest datagram we agree to publish (one UDP datagram, no truncation handling).
const MAX_PACKET: usize = 65_000;

/// One registered node, with everything needed to answer for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeEntry {
    /// Service name.
    pub service: String,
    /// Service version.
    pub version: String,
    /// Node id.
    pub node_id: String,
    /// The node's IP literal and port.
    pub address: SocketAddr,
    /// Decoded TXT payload (metadata, endpoints).
    pub payload: Txt,
    /// Encoded TXT strings.
    pub txt: Vec<String>,
    /// `<node id>.<service>.<domain>`, dotted.
    pub instance_text: String,
    instance: Name,
}

/// The registered nodes, by service name then node id.
#[derive(Debug)]
pub(crate) struct Zone {
    domain: String,
    host: Name,
    services: BTreeMap<String, BTreeMap<String, NodeEntry>>,
}

/// What [`Zone::insert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// A node id not seen before.
    New,
    /// Same node id, same data: nothing to do (re-registration every 30 s is silent).
    Unchanged,
    /// Same node id with a new address or TXT: replaced, and worth announcing.
    Changed,
}

impl Zone {
    /// An empty zone for `domain` (`micro.`) whose SRV records point at `host` (`devbox.`).
    pub(crate) fn new(host: &str, domain: &str) -> Result<Zone, MdnsError> {
        let domain = format!("{}.", domain.trim_matches('.'));
        records::name(&domain)?;
        Ok(Zone { domain, host: records::name(host)?, services: BTreeMap::new() })
    }

    /// `<prefix>.<domain>`.
    pub(crate) fn fqdn(&self, prefix: &str) -> String {
        format!("{prefix}.{}", self.domain)
    }

    /// The host name SRV records point at.
    pub(crate) fn host(&self) -> String {
        records::text(&self.host)
    }

    /// Checks one node of `service` and prepares its records; nothing is registered yet.
    pub(crate) fn node(&self, service: &Service, node: &Node) -> Result<NodeEntry, MdnsError> {
        let invalid = |why: String| MdnsError::Invalid(why);
        if service.name.is_empty() {
            return Err(invalid("service name is empty".into()));
        }
        if service.version.is_empty() {
            return Err(invalid(format!(
                "service {:?} has an empty version; go-micro watchers drop such entries (use \"latest\")",
                service.name
            )));
        }
        if node.id.is_empty() {
            return Err(invalid(format!("a node of service {:?} has an empty id", service.name)));
        }
        let address = parse_address(&node.address).map_err(|why| {
            invalid(format!("node {:?} of service {:?}: address {:?} {why}", node.id, service.name, node.address))
        })?;
        let instance_text = self.fqdn(&format!("{}.{}", node.id, service.name));
        let instance = records::name(&instance_text).map_err(|e| match e {
            MdnsError::LabelTooLong { label, .. } => invalid(format!(
                "node {:?} of service {:?}: DNS label {label:?} is {} bytes, over the 63-byte limit, so the node \
                 could not be published over mDNS (go-micro fails silently here); use a shorter service name or node id",
                node.id,
                service.name,
                label.len()
            )),
            other => invalid(format!("node {:?} of service {:?}: {other}", node.id, service.name)),
        })?;
        records::name(&self.fqdn(&service.name))?;
        let payload = Txt {
            metadata: node.metadata.clone(),
            service: service.name.clone(),
            version: service.version.clone(),
            endpoints: service.endpoints.clone(),
        };
        let txt = payload.encode()?;
        let entry = NodeEntry {
            service: service.name.clone(),
            version: service.version.clone(),
            node_id: node.id.clone(),
            address,
            payload,
            txt,
            instance_text,
            instance,
        };
        // The largest packet we would send for it: the answer to a service PTR query.
        let mut answers = vec![records::ptr(&records::name(&self.fqdn(&entry.service))?, &entry.instance, TTL)];
        answers.extend(self.instance_records(&entry, RecordType::ANY, TTL));
        let size = records::response(0, &[], answers)?.len();
        if size > MAX_PACKET {
            return Err(invalid(format!(
                "node {:?} of service {:?}: its mDNS answer would be {size} bytes, over one UDP datagram",
                node.id, service.name
            )));
        }
        Ok(entry)
    }

    /// Adds or refreshes a node (idempotent per node id).
    pub(crate) fn insert(&mut self, e: NodeEntry) -> Inserted {
        let nodes = self.services.entry(e.service.clone()).or_default();
        match nodes.get(&e.node_id) {
            Some(old) if *old == e => Inserted::Unchanged,
            Some(_) => {
                nodes.insert(e.node_id.clone(), e);
                Inserted::Changed
            }
            None => {
                nodes.insert(e.node_id.clone(), e);
                Inserted::New
            }
        }
    }

    /// Lists `service` (go-micro creates the listing entry on the first Register, even
    /// without nodes).
    pub(crate) fn list(&mut self, service: &str) {
        self.services.entry(service.to_string()).or_default();
    }

    /// Removes a node; returns it when it was registered.
    pub(crate) fn remove(&mut self, service: &str, node_id: &str) -> Option<NodeEntry> {
        self.services.get_mut(service)?.remove(node_id)
    }

    /// Drops the listing of `service` when it has no nodes left (go-micro does this after
    /// every Deregister).
    pub(crate) fn unlist_if_empty(&mut self, service: &str) {
        if self.services.get(service).is_some_and(BTreeMap::is_empty) {
            self.services.remove(service);
        }
    }

    /// Is this exact node registered?
    pub(crate) fn contains(&self, e: &NodeEntry) -> bool {
        self.services.get(&e.service).and_then(|n| n.get(&e.node_id)).is_some_and(|n| n == e)
    }

    /// The registered nodes of one service.
    pub(crate) fn nodes(&self, service: &str) -> impl Iterator<Item = &NodeEntry> {
        self.services.get(service).into_iter().flat_map(BTreeMap::values)
    }

    /// Every registered node.
    pub(crate) fn all_nodes(&self) -> impl Iterator<Item = &NodeEntry> {
        self.services.values().flat_map(BTreeMap::values)
    }

    /// Every listed service name.
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.services.keys()
    }

    /// SRV, A, AAAA and TXT of an instance, as go-micro's `instanceRecords` for `qtype`.
    pub(crate) fn instance_records(&self, e: &NodeEntry, qtype: RecordType, ttl: u32) -> Vec<Record> {
        instance_records(&e.instance, &self.host, e.address.port(), &[e.address.ip()], &e.txt, qtype, ttl)
    }

    /// The unsolicited response that announces a node (`ttl` 120), or says goodbye (`ttl` 0):
    /// no question, Id 0, SRV, A, AAAA, TXT.
    pub(crate) fn announcement(&self, e: &NodeEntry, ttl: u32) -> Result<Vec<u8>, MdnsError> {
        records::response(0, &[], self.instance_records(e, RecordType::ANY, ttl))
    }

    /// The answers to one question, one `Vec` per packet: several instances are never put
    /// in one packet, because go-micro's querier only reads the last one.
    pub(crate) fn answer(&self, q: &Question) -> Vec<Vec<Record>> {
        let mut packets = Vec::new();
        let ptr_like = matches!(q.qtype, RecordType::PTR | RecordType::ANY);
        let listing = self.fqdn("_services");
        let Ok(listing_name) = records::name(&listing) else { return packets };
        let unspecified = [IpAddr::V4(Ipv4Addr::UNSPECIFIED)];

        if q.name == self.fqdn("_services._dns-sd._udp") && ptr_like && !self.services.is_empty() {
            if let Ok(owner) = records::name(&q.name) {
                let mut p = vec![records::ptr(&owner, &listing_name, TTL)];
                for svc in self.services.iter().filter(|(_, n)| !n.is_empty()).map(|(s, _)| s) {
                    if let Ok(target) = records::name(&self.fqdn(svc)) {
                        p.push(records::ptr(&owner, &target, TTL));
                    }
                }
                packets.push(p);
            }
        }
        if q.name == listing && ptr_like {
            for svc in self.services.keys() {
                let Ok(inst) = records::name(&format!("{svc}.{listing}")) else { continue };
                let mut p = vec![records::ptr(&listing_name, &inst, TTL)];
                p.extend(instance_records(&inst, &self.host, LISTING_PORT, &unspecified, &[], RecordType::ANY, TTL));
                packets.push(p);
            }
        }
        for (svc, nodes) in &self.services {
            if q.name == format!("{svc}.{listing}") {
                if let Ok(inst) = records::name(&q.name) {
                    let p = instance_records(&inst, &self.host, LISTING_PORT, &unspecified, &[], q.qtype, TTL);
                    if !p.is_empty() {
                        packets.push(p);
                    }
                }
            }
            let service_fqdn = self.fqdn(svc);
            for e in nodes.values() {
                if q.name == service_fqdn && ptr_like {
                    let Ok(owner) = records::name(&service_fqdn) else { continue };
                    let mut p = vec![records::ptr(&owner, &e.instance, TTL)];
                    p.extend(self.instance_records(e, RecordType::ANY, TTL));
                    packets.push(p);
                } else if q.name == e.instance_text {
                    let p = self.instance_records(e, q.qtype, TTL);
                    if !p.is_empty() {
                        packets.push(p);
                    }
                }
            }
        }
        if q.name == self.host() && matches!(q.qtype, RecordType::A | RecordType::AAAA) {
            let mut ips: Vec<IpAddr> = Vec::new();
            for e in self.all_nodes() {
                if !ips.contains(&e.address.ip()) {
                    ips.push(e.address.ip());
                }
            }
            let p = host_records(&self.host, &ips, q.qtype, TTL);
            if !p.is_empty() {
                packets.push(p);
            }
        }
        packets
    }
}

/// go-micro's `instanceRecords`: ANY → SRV, A…, AAAA…, TXT; SRV → SRV, A…, AAAA…;
/// TXT → TXT; A/AAAA → the addresses (owned by the host); PTR → nothing.
fn instance_records(
    instance: &Name,
    host: &Name,
    port: u16,
    ips: &[IpAddr],
    txt: &[String],
    qtype: RecordType,
    ttl: u32,
) -> Vec<Record> {
    let srv_and_addrs = || {
        let mut v = vec![records::srv(instance, port, host, ttl)];
        v.extend(host_records(host, ips, RecordType::A, ttl));
        v.extend(host_records(host, ips, RecordType::AAAA, ttl));
        v
    };
    match qtype {
        RecordType::ANY => {
            let mut v = srv_and_addrs();
            v.push(records::txt(instance, txt, ttl));
            v
        }
        RecordType::SRV => srv_and_addrs(),
        RecordType::TXT => vec![records::txt(instance, txt, ttl)],
        RecordType::A | RecordType::AAAA => host_records(host, ips, qtype, ttl),
        _ => Vec::new(),
    }
}

fn host_records(host: &Name, ips: &[IpAddr], qtype: RecordType, ttl: u32) -> Vec<Record> {
    ips.iter()
        .filter(|ip| match qtype {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            _ => false,
        })
        .map(|ip| records::addr(host, *ip, ttl))
        .collect()
}

/// `ip:port` or `[ipv6]:port`; hostnames are refused because mDNS publishes A/AAAA records.
fn parse_address(address: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = address.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err("has port 0; register the port the server listens on".into());
        }
        return Ok(sa);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() && !host.is_empty() => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.parse::<IpAddr>().is_ok() {
                Err("is not a valid host:port (IPv6 addresses need brackets: [addr]:port)".into())
            } else {
                Err(format!(
                    "has host {host:?}, which is not an IP literal; mDNS publishes A/AAAA records, so advertise an IP address"
                ))
            }
        }
        _ => Err("is not host:port with an IP literal host".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::mdns::records::tests::{go_listing_response, go_response, GO_QUERY};
    use crate::registry::mdns::records::{parse, Data};
    use crate::registry::mdns::txt::tests::{greeter_txt, GO_TXT};

    const NODE: &str = "greeter-5f1c7e3a-0b7e-4c41-9d8e-2a6f3b9c1d20";

    fn greeter() -> Service {
        let t = greeter_txt();
        Service {
            name: "greeter".into(),
            version: "latest".into(),
            endpoints: t.endpoints,
            nodes: vec![Node { id: NODE.into(), address: "192.168.1.10:40123".into(), metadata: t.metadata }],
            ..Default::default()
        }
    }

    /// A zone with the §2.8 node whose TXT strings are Go's own bytes, so whole packets
    /// can be compared with the spec's dumps.
    fn go_zone() -> (Zone, NodeEntry) {
        let mut z = Zone::new("devbox.", "micro").unwrap();
        let s = greeter();
        let mut e = z.node(&s, &s.nodes[0]).unwrap();
        e.txt = GO_TXT.iter().map(|s| s.to_string()).collect();
        z.insert(e.clone());
        (z, e)
    }

    #[test]
    fn response_to_go_query_is_byte_identical_to_go() {
        let (z, _) = go_zone();
        let q = parse(&GO_QUERY).unwrap();
        let packets = z.answer(&q.questions[0]);
        assert_eq!(packets.len(), 1);
        let bytes = records::response(0, &q.queries, packets[0].clone()).unwrap();
        assert_eq!(bytes, go_response());
    }

    #[test]
    fn response_echoes_question_and_orders_records() {
        let (z, _) = go_zone();
        let mut query = GO_QUERY.to_vec();
        query[12 + 1] = b'G'; // "Greeter": names match case-sensitively, so no answer.
        assert!(z.answer(&parse(&query).unwrap().questions[0]).is_empty());

        let q = parse(&GO_QUERY).unwrap();
        let bytes = records::response(0, &q.queries, z.answer(&q.questions[0]).remove(0)).unwrap();
        // Header: Id 0, QR+AA, QD 1, AN 4; question echoed byte for byte.
        assert_eq!(&bytes[..12], &[0, 0, 0x84, 0, 0, 1, 0, 4, 0, 0, 0, 0]);
        assert_eq!(&bytes[12..31], &GO_QUERY[12..]);
        let p = parse(&bytes).unwrap();
        let inst = format!("{NODE}.greeter.micro.");
        assert_eq!(
            p.records,
            vec![
                records::Rec { name: "greeter.micro.".into(), ttl: 120, data: Data::Ptr(inst.clone()) },
                records::Rec {
                    name: inst.clone(),
                    ttl: 120,
                    data: Data::Srv { port: 40123, target: "devbox.".into() }
                },
                records::Rec { name: "devbox.".into(), ttl: 120, data: Data::Addr("192.168.1.10".parse().unwrap()) },
                records::Rec { name: inst, ttl: 120, data: Data::Txt(GO_TXT.iter().map(|s| s.to_string()).collect()) },
            ]
        );
    }

    #[test]
    fn listing_response_is_byte_identical_to_go() {
        let (z, _) = go_zone();
        let query = records::query(0, "_services.micro.", RecordType::PTR).unwrap();
        let q = parse(&query).unwrap();
        let packets = z.answer(&q.questions[0]);
        assert_eq!(packets.len(), 1);
        assert_eq!(records::response(0, &q.queries, packets[0].clone()).unwrap(), go_listing_response());
    }

    #[test]
    fn one_packet_per_instance_and_instance_questions() {
        let (mut z, _) = go_zone();
        let mut s = greeter();
        s.nodes[0].id = "greeter-2".into();
        s.nodes[0].address = "[fe80::1]:9".into();
        let e2 = z.node(&s, &s.nodes[0]).unwrap();
        assert_eq!(z.insert(e2.clone()), Inserted::New);
        assert_eq!(z.insert(e2.clone()), Inserted::Unchanged);
        let ask = |name: &str, qtype| Question { name: name.into(), qtype, unicast: false };
        assert_eq!(z.answer(&ask("greeter.micro.", RecordType::PTR)).len(), 2);
        assert_eq!(z.answer(&ask("greeter.micro.", RecordType::ANY)).len(), 2);
        let types = |p: &Vec<Record>| p.iter().map(|r| r.record_type()).collect::<Vec<_>>();
        let inst = "greeter-2.greeter.micro.";
        assert_eq!(
            types(&z.answer(&ask(inst, RecordType::ANY))[0]),
            vec![RecordType::SRV, RecordType::AAAA, RecordType::TXT]
        );
        assert_eq!(types(&z.answer(&ask(inst, RecordType::SRV))[0]), vec![RecordType::SRV, RecordType::AAAA]);
        assert_eq!(types(&z.answer(&ask(inst, RecordType::TXT))[0]), vec![RecordType::TXT]);
        assert!(z.answer(&ask(inst, RecordType::PTR)).is_empty());
        assert_eq!(types(&z.answer(&ask("devbox.", RecordType::A))[0]), vec![RecordType::A]);
        let sd = z.answer(&ask("_services._dns-sd._udp.micro.", RecordType::PTR));
        assert_eq!(sd.len(), 1);
        assert_eq!(types(&sd[0]), vec![RecordType::PTR, RecordType::PTR]);
        // Goodbye: TTL 0 everywhere, no question.
        let bye = parse(&z.announcement(&e2, 0).unwrap()).unwrap();
        assert!(bye.questions.is_empty() && bye.response);
        assert!(bye.records.iter().all(|r| r.ttl == 0));
        assert_eq!(bye.records.len(), 3);
        // Deregistering the last nodes drops the listing.
        z.remove("greeter", "greeter-2");
        z.remove("greeter", NODE);
        z.unlist_if_empty("greeter");
        assert_eq!(z.names().count(), 0);
    }

    #[test]
    fn bad_nodes_are_refused_with_clear_errors() {
        let z = Zone::new("devbox.", "micro.").unwrap();
        let mut s = greeter();
        let check = |s: &Service, needle: &str| {
            let err = z.node(s, &s.nodes[0]).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        };
        s.nodes[0].address = "localhost:8080".into();
        check(&s, "not an IP literal");
        s.nodes[0].address = "10.0.0.1:0".into();
        check(&s, "port 0");
        s.nodes[0].address = "10.0.0.1:1".into();
        s.name = "a-very-long-service-name-that-is-long".into();
        s.nodes[0].id = format!("{}-{}", s.name, "5f1c7e3a-0b7e-4c41-9d8e-2a6f3b9c1d20");
        check(&s, "63-byte limit");
        s.name = "greeter".into();
        s.nodes[0].id = "greeter-1".into();
        s.version = String::new();
        check(&s, "empty version");
    }
}
