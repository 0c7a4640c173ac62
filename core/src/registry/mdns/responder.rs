//! The one task that owns this registry's `0.0.0.0:5353` socket.
//!
//! It answers questions about our registered nodes (unicast, to the asker's address and
//! port, one instance per packet, question echoed — go-micro's `server.go`), and hands every
//! packet that carries records (announcements, goodbyes) to the watchers. Announcements and
//! goodbyes leave from the same socket, to 224.0.0.251:5353.

use super::records::{self, Assembler, Rec};
use super::txt::Txt;
use super::zone::NodeEntry;
use super::{net, Shared};
use crate::registry::{Action, Event, Node, Service};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Receive buffer: one whole datagram.
const BUF: usize = 65_536;
/// Delays before each of the 3 announcements: t, t+1 s, t+3 s (go-micro's doubling timer).
const ANNOUNCE_DELAYS: [Duration; 3] = [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2)];

/// Starts the receive loop on `socket`.
pub(crate) fn spawn(socket: Arc<UdpSocket>, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; BUF];
        loop {
            let (n, from) = match socket.recv_from(&mut buf).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(error = %e, "mdns: receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            handle(&socket, &shared, &buf[..n], from).await;
        }
    })
}

async fn handle(socket: &UdpSocket, shared: &Shared, bytes: &[u8], from: SocketAddr) {
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
    let answerable = packet.standard && !packet.questions.is_empty() && !(packet.response && from.port() == net::PORT);
    if answerable {
        let mut out = Vec::new();
        {
            let zone = shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            for q in &packet.questions {
                let id = if q.unicast { packet.id } else { 0 };
                for answers in zone.answer(q) {
                    match records::response(id, &packet.queries, answers) {
                        Ok(b) => out.push(b),
                        Err(e) => tracing::debug!(question = %q.name, error = %e, "mdns: cannot pack answer"),
                    }
                }
            }
        }
        for b in out {
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
