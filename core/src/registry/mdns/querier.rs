//! One lookup: a PTR query to the mDNS groups, then every answer collected for the timeout.
//!
//! Like go-micro's `client.go` `query`, the question leaves an ephemeral socket (responders
//! answer it by unicast) while a socket on 5353 also hears multicast answers. Unlike it, we
//! do not insist that an answer echoes our question, nor that one packet carries a whole
//! instance: records are merged per instance across packets, and an instance announced by
//! PTR alone gets one follow-up ANY query.

use super::net;
use super::records::{self, Assembler};
use hickory_proto::rr::RecordType;
use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Receive buffer: one whole datagram.
const BUF: usize = 65_536;

/// Times a question nobody has answered yet is asked again within the window.
const REASKS: u32 = 2;

/// Packets still read after the deadline when they are already waiting.
const LATE_PACKETS: usize = 64;

/// Asks for `fqdn` (PTR) and collects, for `timeout`, every instance named `*<suffix>`.
pub(crate) async fn lookup(fqdn: &str, suffix: &str, timeout: Duration) -> io::Result<Assembler> {
    let query = records::query(rand::random(), fqdn, RecordType::PTR)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let v4 = net::ephemeral_v4()?;
    let v6 = net::ephemeral_v6().map_err(|e| tracing::debug!(error = %e, "mdns: no IPv6 query socket")).ok();
    let group = net::multicast_v4().map_err(|e| tracing::debug!(error = %e, "mdns: no multicast listen socket")).ok();

    ask(&query, &v4, v6.as_ref(), fqdn).await;

    let mut asm = Assembler::new(suffix);
    let mut followed: BTreeSet<String> = BTreeSet::new();
    let started = Instant::now();
    let deadline = started + timeout;
    // While nobody has answered, the question is asked again at a third and two thirds of
    // the window: one question lost (a responder's receive buffer full under a flood, a
    // lossy Wi-Fi hop) must not make a lookup come back empty.
    let mut reasks = (1..REASKS + 1).map(|i| started + timeout * i / (REASKS + 1));
    let mut reask = reasks.next();
    let mut heard = false;
    let (mut b1, mut b2, mut b3) = (vec![0u8; BUF], vec![0u8; BUF], vec![0u8; BUF]);
    // Answers already waiting when the deadline passes are still read (the receive arms come
    // first), but only so many: a flood of packets cannot keep a lookup open.
    let mut late = 0usize;
    loop {
        if Instant::now() >= deadline {
            late += 1;
            if late > LATE_PACKETS {
                break;
            }
        }
        let got = tokio::select! {
            biased;
            r = recv(Some(&v4), &mut b1) => r,
            r = recv(v6.as_ref(), &mut b2) => r,
            r = recv(group.as_ref(), &mut b3) => r,
            _ = sleep_until(reask), if !heard && reask.is_some() => {
                ask(&query, &v4, v6.as_ref(), fqdn).await;
                reask = reasks.next();
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let (bytes, from) = match got {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "mdns: receive failed");
                continue;
            }
        };
        let packet = match records::parse(&bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(%from, error = %e, "mdns: skipping packet");
                continue;
            }
        };
        if packet.records.is_empty() {
            continue; // a query (ours looped back, or someone else's)
        }
        let names = asm.ingest(&packet.records);
        heard |= !names.is_empty();
        for name in names {
            let incomplete = asm.get(&name).is_some_and(|e| !e.complete() && e.ttl > 0);
            if incomplete && followed.insert(name.clone()) {
                match records::query(rand::random(), &name, RecordType::ANY) {
                    Ok(q) => {
                        if let Err(e) = v4.send_to(&q, net::group_v4()).await {
                            tracing::debug!(error = %e, instance = %name, "mdns: cannot send follow-up query");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, instance = %name, "mdns: cannot build follow-up query"),
                }
            }
        }
    }
    Ok(asm)
}

/// Sends the question to the IPv4 group, and to the IPv6 one when there is a socket for it.
async fn ask(query: &[u8], v4: &UdpSocket, v6: Option<&UdpSocket>, fqdn: &str) {
    if let Err(e) = v4.send_to(query, net::group_v4()).await {
        tracing::debug!(error = %e, name = fqdn, "mdns: cannot send query to 224.0.0.251:5353");
    }
    if let Some(s) = v6 {
        if let Err(e) = s.send_to(query, net::group_v6()).await {
            tracing::trace!(error = %e, name = fqdn, "mdns: cannot send query to [ff02::fb]:5353");
        }
    }
}

/// Sleeps until `at`; never resolves for `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Receives on an optional socket; never resolves when there is none.
async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(Vec<u8>, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await.map(|(n, from)| (buf[..n].to_vec(), from)),
        None => std::future::pending().await,
    }
}
