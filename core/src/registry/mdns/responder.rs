//! The one task that owns this registry's `0.0.0.0:5353` socket.
//!
//! It answers questions about our registered nodes (unicast, to the asker's address and
//! port, one instance per packet, question echoed — go-micro's `server.go`), and hands every
//! packet that carries records (announcements, goodbyes) to the watchers. Announcements and
//! goodbyes leave from the same socket, to 224.0.0.251:5353.
//!
//! Against a hostile peer on the LAN: questions answered are rate-limited per source address (a
//! token bucket of [`ANSWER_BURST`] questions refilled at [`ANSWER_RATE`] a second, for at most
//! [`MAX_SOURCES`] sources). A question answered is answered whole: one packet per instance
//! (go-micro's querier reads one instance a packet), so a listing of 200 services is 200
//! packets, and counting packets instead cut it at the burst (`micro services` showed 64 of
//! them). What one question can make us send is bounded by our own zone. Packets with more
//! questions or records than [`records::MAX_QUESTIONS`]/[`records::MAX_RECORDS`] are dropped
//! unparsed (a datagram is at most 64 KiB, the receive buffer's size), and a goodbye (TTL 0) is
//! believed only when it comes from the address the node advertises, or from this host's
//! loopback: a goodbye forged from elsewhere on the LAN cannot make watchers drop a live node.

use super::records::{self, Assembler, Rec};
use super::txt::Txt;
use super::zone::NodeEntry;
use super::{net, Shared};
use crate::registry::{Action, Event, Node, Service};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Receive buffer: one whole datagram.
const BUF: usize = 65_536;
/// Delays before each of the 3 announcements: t, t+1 s, t+3 s (go-micro's doubling timer).
const ANNOUNCE_DELAYS: [Duration; 3] = [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)];

/// Questions of one source answered at once.
pub(crate) const ANSWER_BURST: f64 = 64.0;
/// Questions a second of one source answered, once its burst is spent.
pub(crate) const ANSWER_RATE: f64 = 32.0;
/// Sources tracked at once; when full, those whose bucket has refilled are forgotten.
pub(crate) const MAX_SOURCES: usize = 4096;

/// Per-source token buckets for questions answered, owned by the receive loop.
#[derive(Default)]
struct AnswerLimit {
    buckets: HashMap<IpAddr, (f64, Instant)>,
    /// Sources refused since their last answer (logged once per burst).
    refused: HashMap<IpAddr, u64>,
}

impl AnswerLimit {
    /// Whether `from` may be sent an answer now (nothing taken): a source that may not is
    /// not even looked up in the zone, so a flood costs little more than its parsing.
    fn may_answer(&mut self, from: IpAddr) -> bool {
        match self.buckets.get(&from) {
            None => true,
            Some((tokens, at)) => *tokens + at.elapsed().as_secs_f64() * ANSWER_RATE >= 1.0,
        }
    }

    /// Takes up to `n` questions' worth of tokens for `from`: how many of them it may have
    /// answered.
    fn take(&mut self, from: IpAddr, n: usize) -> usize {
        let now = Instant::now();
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&from) {
            self.buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * ANSWER_RATE < ANSWER_BURST);
            if self.buckets.len() >= MAX_SOURCES {
                return 0;
            }
        }
        let (tokens, at) = self.buckets.entry(from).or_insert((ANSWER_BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * ANSWER_RATE).min(ANSWER_BURST);
        *at = now;
        let given = n.min(tokens.floor() as usize);
        *tokens -= given as f64;
        if given < n {
            let refused = self.refused.entry(from).or_insert(0);
            if *refused == 0 {
                tracing::warn!(%from, "mdns: answers to this source rate-limited");
            }
            *refused += 1;
            if self.refused.len() > MAX_SOURCES {
                self.refused.clear();
            }
        } else {
            self.refused.remove(&from);
        }
        given
    }
}

/// Starts the receive loop on `socket`.
pub(crate) fn spawn(socket: Arc<UdpSocket>, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; BUF];
        let mut limit = AnswerLimit::default();
        loop {
            let (n, from) = match socket.recv_from(&mut buf).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "mdns: receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            handle(&socket, &shared, &buf[..n], from, &mut limit).await;
        }
    })
}

async fn handle(socket: &UdpSocket, shared: &Shared, bytes: &[u8], from: SocketAddr, limit: &mut AnswerLimit) {
    let packet = match records::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(%from, error = %e, "mdns: skipping packet");
            return;
        }
    };
    // go-micro answers any standard packet with questions, even one marked as a response.
    // We make one exception: a response that came from port 5353 is another responder
    // talking, and answering it could start an endless exchange between two responders.
    let answerable = packet.standard
        && !packet.questions.is_empty()
        && !(packet.response && from.port() == net::PORT)
        && limit.may_answer(from.ip());
    if answerable {
        // The packets answering each question we have answers for, in the question's order.
        let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
        {
            let zone = shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            for q in &packet.questions {
                let id = if q.unicast { packet.id } else { 0 };
                let mut packets = Vec::new();
                for answers in zone.answer(q) {
                    match records::response(id, &packet.queries, answers) {
                        Ok(b) => packets.push(b),
                        Err(e) => tracing::debug!(question = %q.name, error = %e, "mdns: cannot pack answer"),
                    }
                }
                if !packets.is_empty() {
                    out.push(packets);
                }
            }
        }
        if !out.is_empty() {
            let given = limit.take(from.ip(), out.len());
            out.truncate(given);
        }
        for b in out.into_iter().flatten() {
            if let Err(e) = socket.send_to(&b, from).await {
                tracing::debug!(%from, error = %e, "mdns: cannot send answer");
            }
        }
    }
    if !packet.records.is_empty() {
        dispatch(shared, &packet.records, from);
    }
}

/// Turns the instances of one packet into watch events (go-micro's `Listen` + watcher
/// filters: complete entry, TXT decodes, non-empty service and version, instance name under
/// `.<service>.<domain>`).
fn dispatch(shared: &Shared, records: &[Rec], from: SocketAddr) {
    let mut watchers = shared.watchers.lock().unwrap_or_else(|p| p.into_inner());
    if watchers.is_empty() {
        return;
    }
    let mut asm = Assembler::new(format!(".{}", shared.domain));
    asm.ingest(records);
    for e in asm.entries().filter(|e| e.complete()) {
        let Some(strings) = e.txt.as_deref() else { continue };
        let txt = match Txt::decode(strings) {
            Ok(t) => t,
            Err(err) => {
                tracing::debug!(%from, instance = %e.name, error = %err, "mdns: skipping entry with a bad TXT");
                continue;
            }
        };
        if txt.service.is_empty() || txt.version.is_empty() {
            continue;
        }
        let suffix = format!(".{}.{}", txt.service, shared.domain);
        let Some(id) = e.name.strip_suffix(&suffix).filter(|id| !id.is_empty()) else { continue };
        let Some(address) = e.address() else { continue };
        if e.ttl == 0 && !goodbye_believed(from.ip(), address.ip()) {
            tracing::warn!(%from, node = %id, %address, "mdns: ignoring a goodbye not sent from the node's address");
            continue;
        }
        let event = Event {
            action: if e.ttl == 0 { Action::Delete } else { Action::Create },
            service: Service {
                name: txt.service.clone(),
                version: txt.version,
                endpoints: txt.endpoints,
                nodes: vec![Node { id: id.to_string(), address: address.to_string(), metadata: txt.metadata }],
                ..Default::default()
            },
        };
        watchers.retain(|w| {
            if w.service.as_deref().is_some_and(|s| s != txt.service) {
                return !w.tx.is_closed();
            }
            w.tx.send(event.clone()).is_ok()
        });
    }
}

/// A goodbye is believed from the node's own address, or from this host: a loopback
/// source cannot come from the network. A source of 0.0.0.0 (what loopback-only hosts and
/// namespaces send from) is believed only for a node advertising a loopback address: the
/// kernel accepts 0.0.0.0 on link-local multicast from the LAN too.
fn goodbye_believed(from: IpAddr, advertised: IpAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (from, advertised) = (canonical(from), canonical(advertised));
    from.is_loopback() || from == advertised || (from.is_unspecified() && advertised.is_loopback())
}

/// Sends the node's announcement 3 times (t, t+1 s, t+3 s) unless it is deregistered or
/// replaced meanwhile.
pub(crate) fn announce(socket: Arc<UdpSocket>, shared: Arc<Shared>, entry: NodeEntry) -> JoinHandle<()> {
    tokio::spawn(async move {
        let packet = {
            let zone = shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            zone.announcement(&entry, records::TTL)
        };
        let packet = match packet {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(node = %entry.node_id, error = %e, "mdns: cannot build announcement");
                return;
            }
        };
        for delay in ANNOUNCE_DELAYS {
            tokio::time::sleep(delay).await;
            let still = shared.zone.lock().unwrap_or_else(|p| p.into_inner()).contains(&entry);
            if !still {
                return;
            }
            if let Err(e) = socket.send_to(&packet, net::group_v4()).await {
                tracing::debug!(node = %entry.node_id, error = %e, "mdns: cannot send announcement");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodbyes_only_from_the_node_or_this_host() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(goodbye_believed(ip("10.0.0.5"), ip("10.0.0.5")));
        assert!(goodbye_believed(ip("::ffff:10.0.0.5"), ip("10.0.0.5")));
        assert!(goodbye_believed(ip("127.0.0.1"), ip("10.0.0.5")));
        assert!(!goodbye_believed(ip("10.0.0.66"), ip("10.0.0.5")));
        assert!(goodbye_believed(ip("0.0.0.0"), ip("127.0.0.1")));
        assert!(!goodbye_believed(ip("0.0.0.0"), ip("10.0.0.5")));
    }

    #[test]
    fn answers_are_rate_limited_per_source() {
        let mut l = AnswerLimit::default();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut given = 0;
        while l.take(a, 1) == 1 {
            given += 1;
            assert!(given <= ANSWER_BURST as usize + 1, "no limit");
        }
        assert!(given >= ANSWER_BURST as usize - 1, "{given}");
        assert_eq!(l.take(b, 1), 1, "another source has its own bucket");
        assert_eq!(l.take(a, 5), 0, "a spent source gets nothing");
    }
}
