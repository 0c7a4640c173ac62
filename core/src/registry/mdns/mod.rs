//! mDNS registry in go-micro's dialect — go-micro's default registry, interoperable with
//! go-micro v4.11 and v5.30 (tested against both; v6.10 speaks the same dialect), `gomicro-wire.md` §2.
//!
//! Where it sits: a [`Registry`] plugin. `register` puts nodes into a `zone` served by
//! one `responder` task on `0.0.0.0:5353` (shared with go-micro processes on the same host
//! through SO_REUSEADDR/SO_REUSEPORT) and announces them; `get_service`/`list_services` run a
//! `querier` lookup for [`Options::timeout`]; `watch` listens to announcements and
//! goodbyes on the responder's socket. The records and the TXT payload (`hex(zlib(JSON))`)
//! are built in `records` and `txt`.
//!
//! Names: service `<name>.micro.`, instance `<node id>.<name>.micro.`, SRV target and A/AAAA
//! owner `<hostname>.`; listing entry `<name>._services.micro.`. A node address must be an IP
//! literal, and `<node id>` up to its first dot must fit a 63-byte DNS label: both are
//! checked by `register`, which go-micro does not do.
//!
//! Sockets are opened lazily: a registry that only looks services up never binds 5353.

mod net;
mod querier;
mod records;
mod responder;
mod txt;
mod zone;

use super::{Event, Node, RegisterOptions, Registry, Service, Watcher};
use crate::error::{Error, Result};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zone::{Inserted, Zone};

/// The error id of every failure this registry reports.
const ID: &str = "go.micro.registry";

/// Options of the mDNS registry.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a lookup collects answers (go-micro: 100 ms).
    pub timeout: Duration,
    /// The mDNS domain, `micro.` like go-micro (its `mdns.domain` context value).
    pub domain: String,
    /// The host name SRV records point at; `None` uses the machine's hostname.
    pub hostname: Option<String>,
    /// Send 3 unsolicited announcements (t, t+1 s, t+3 s) when a node is registered, so
    /// watchers and registry caches learn of it without querying.
    pub announce: bool,
    /// Send a TTL-0 goodbye when a node is deregistered or the registry is closed/dropped.
    pub goodbye: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_millis(100),
            domain: "micro.".into(),
            hostname: None,
            announce: true,
            goodbye: true,
        }
    }
}

/// Things that go wrong inside the plugin; at the edge they become a go-micro [`Error`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum MdnsError {
    /// A datagram that is not a well-formed DNS message.
    #[error("malformed DNS packet: {0}")]
    Malformed(String),
    /// We could not encode a packet.
    #[error("cannot build DNS packet: {0}")]
    Pack(String),
    /// A name that is not a valid DNS name.
    #[error("bad DNS name: {0}")]
    Name(String),
    /// A label over 63 bytes.
    #[error("DNS label {label:?} of {name:?} is over 63 bytes")]
    LabelTooLong {
        /// The label.
        label: String,
        /// The whole name.
        name: String,
    },
    /// TXT strings that are not hex.
    #[error("TXT is not hex: {0}")]
    Hex(String),
    /// TXT bytes that do not inflate.
    #[error("TXT is not a zlib stream: {0}")]
    Zlib(String),
    /// TXT that inflates past the limit.
    #[error("TXT inflates to more than {0} bytes")]
    TooLarge(usize),
    /// TXT JSON that is not go-micro's.
    #[error("TXT is not go-micro's JSON: {0}")]
    Json(String),
    /// A service or node we refuse to publish, with the reason.
    #[error("{0}")]
    Invalid(String),
}

impl From<MdnsError> for Error {
    fn from(e: MdnsError) -> Self {
        match e {
            MdnsError::Invalid(_) | MdnsError::LabelTooLong { .. } | MdnsError::Name(_) => {
                Error::bad_request(ID, format!("mdns: {e}"))
            }
            other => Error::internal(ID, format!("mdns: {other}")),
        }
    }
}

/// State shared by the handle, the responder task and the announcement tasks.
pub(crate) struct Shared {
    /// `micro.` (with the trailing dot).
    domain: String,
    zone: Mutex<Zone>,
    watchers: Mutex<Vec<WatchSlot>>,
}

struct WatchSlot {
    service: Option<String>,
    tx: mpsc::UnboundedSender<Event>,
}

#[derive(Default)]
struct Running {
    socket: Option<Arc<UdpSocket>>,
    tasks: Vec<JoinHandle<()>>,
    closed: bool,
}

/// go-micro's default registry: multicast DNS on the local network, domain `micro.`.
///
/// Dropping it (or calling [`Mdns::close`]) stops its tasks, says goodbye for every node
/// still registered, and ends its watchers.
pub struct Mdns {
    opts: Options,
    shared: Arc<Shared>,
    running: Mutex<Running>,
}

impl Mdns {
    /// A registry with these options. Opens no socket yet: the 5353 responder starts on the
    /// first `register` or `watch`, lookups use their own sockets.
    pub async fn new(opts: Options) -> Result<Self> {
        let host = match &opts.hostname {
            Some(h) => h.clone(),
            None => gethostname::gethostname().to_string_lossy().into_owned(),
        };
        let host = format!("{}.", host.trim_end_matches('.'));
        let zone = match Zone::new(&host, &opts.domain) {
            Ok(z) => z,
            Err(e) if opts.hostname.is_none() => {
                tracing::warn!(host = %host, error = %e, "mdns: hostname is not a DNS name; using localhost.");
                Zone::new("localhost.", &opts.domain)?
            }
            Err(e) => return Err(e.into()),
        };
        let domain = format!("{}.", opts.domain.trim_matches('.'));
        Ok(Mdns {
            opts,
            shared: Arc::new(Shared { domain, zone: Mutex::new(zone), watchers: Mutex::new(Vec::new()) }),
            running: Mutex::new(Running::default()),
        })
    }

    /// Stops the registry: goodbyes for every registered node, background tasks ended,
    /// watchers closed. Later calls fail with a "closed" error. Idempotent.
    pub async fn close(&self) {
        let (socket, goodbyes) = self.shutdown();
        if let Some(socket) = socket {
            for g in goodbyes {
                if let Err(e) = socket.send_to(&g, net::group_v4()).await {
                    tracing::debug!(error = %e, "mdns: cannot send goodbye");
                }
            }
        }
    }

    /// Marks the registry closed and returns the socket and the goodbyes still to send.
    fn shutdown(&self) -> (Option<Arc<UdpSocket>>, Vec<Vec<u8>>) {
        let mut run = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if run.closed {
            return (None, Vec::new());
        }
        run.closed = true;
        for t in run.tasks.drain(..) {
            t.abort();
        }
        self.shared.watchers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let mut zone = self.shared.zone.lock().unwrap_or_else(|p| p.into_inner());
        let goodbyes = if self.opts.goodbye {
            zone.all_nodes().filter_map(|e| zone.announcement(e, 0).ok()).collect()
        } else {
            Vec::new()
        };
        let names: Vec<String> = zone.names().cloned().collect();
        for n in names {
            let ids: Vec<String> = zone.nodes(&n).map(|e| e.node_id.clone()).collect();
            for id in ids {
                zone.remove(&n, &id);
            }
            zone.unlist_if_empty(&n);
        }
        (run.socket.take(), goodbyes)
    }

    fn closed_error() -> Error {
        Error::internal(ID, "mdns: registry is closed")
    }

    /// The responder socket, started on first use.
    fn responder(&self) -> Result<Arc<UdpSocket>> {
        let mut run = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if run.closed {
            return Err(Self::closed_error());
        }
        if let Some(s) = &run.socket {
            return Ok(s.clone());
        }
        let socket = Arc::new(net::multicast_v4().map_err(|e| {
            Error::internal(ID, format!("mdns: cannot open the responder socket on 0.0.0.0:5353: {e}"))
        })?);
        run.tasks.push(responder::spawn(socket.clone(), self.shared.clone()));
        run.socket = Some(socket.clone());
        Ok(socket)
    }

    fn check_open(&self) -> Result<()> {
        if self.running.lock().unwrap_or_else(|p| p.into_inner()).closed {
            return Err(Self::closed_error());
        }
        Ok(())
    }

    fn check_name(&self, name: &str) -> Result<String> {
        let fqdn = format!("{name}.{}", self.shared.domain);
        if name.is_empty() || records::name(&fqdn).is_err() {
            return Err(Error::bad_request(ID, format!("mdns: {name:?} is not a valid service name")));
        }
        Ok(fqdn)
    }
}

impl Drop for Mdns {
    fn drop(&mut self) {
        let (socket, goodbyes) = self.shutdown();
        if let Some(socket) = socket {
            for g in goodbyes {
                // Best effort, synchronous: the socket is non-blocking and a datagram
                // either fits the send buffer now or is lost.
                if let Err(e) = socket.try_send_to(&g, net::group_v4()) {
                    tracing::debug!(error = %e, "mdns: cannot send goodbye on drop");
                }
            }
        }
    }
}

#[async_trait]
impl Registry for Mdns {
    async fn register(&self, service: &Service, _opts: RegisterOptions) -> Result<()> {
        self.check_open()?;
        let entries = {
            let zone = self.shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            if service.name.is_empty() {
                return Err(Error::bad_request(ID, "mdns: service name is empty"));
            }
            service.nodes.iter().map(|n| zone.node(service, n)).collect::<std::result::Result<Vec<_>, _>>()?
        };
        self.check_name(&service.name)?;
        check_multicast()?;
        let socket = self.responder()?;
        let mut fresh = Vec::new();
        {
            let mut zone = self.shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            zone.list(&service.name);
            for e in entries {
                match zone.insert(e.clone()) {
                    Inserted::Unchanged => {}
                    Inserted::New | Inserted::Changed => fresh.push(e),
                }
            }
        }
        if self.opts.announce && !fresh.is_empty() {
            let mut run = self.running.lock().unwrap_or_else(|p| p.into_inner());
            run.tasks.retain(|t| !t.is_finished());
            for e in fresh {
                tracing::debug!(service = %e.service, node = %e.node_id, address = %e.address, "mdns: registered");
                run.tasks.push(responder::announce(socket.clone(), self.shared.clone(), e));
            }
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        self.check_open()?;
        let goodbyes: Vec<Vec<u8>> = {
            let mut zone = self.shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for n in &service.nodes {
                if let Some(e) = zone.remove(&service.name, &n.id) {
                    if self.opts.goodbye {
                        match zone.announcement(&e, 0) {
                            Ok(b) => out.push(b),
                            Err(err) => tracing::debug!(node = %n.id, error = %err, "mdns: cannot build goodbye"),
                        }
                    }
                }
            }
            zone.unlist_if_empty(&service.name);
            out
        };
        let socket = self.running.lock().unwrap_or_else(|p| p.into_inner()).socket.clone();
        if let Some(socket) = socket {
            for g in goodbyes {
                if let Err(e) = socket.send_to(&g, net::group_v4()).await {
                    tracing::debug!(error = %e, "mdns: cannot send goodbye");
                }
            }
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        self.check_open()?;
        let fqdn = self.check_name(name)?;
        let suffix = format!(".{fqdn}");
        // Our own nodes first: they are known without the network.
        let mut by_version: BTreeMap<String, Service> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut add = |version: &str, endpoints: &[super::Endpoint], node: Node| {
            let svc = by_version.entry(version.to_string()).or_insert_with(|| {
                order.push(version.to_string());
                Service {
                    name: name.to_string(),
                    version: version.to_string(),
                    endpoints: endpoints.to_vec(),
                    ..Default::default()
                }
            });
            if !svc.nodes.iter().any(|n| n.id == node.id) {
                svc.nodes.push(node);
            }
        };
        {
            let zone = self.shared.zone.lock().unwrap_or_else(|p| p.into_inner());
            for e in zone.nodes(name) {
                let node = Node {
                    id: e.node_id.clone(),
                    address: e.address.to_string(),
                    metadata: e.payload.metadata.clone(),
                };
                add(&e.version, &e.payload.endpoints, node);
            }
        }
        check_multicast()?;
        let found = querier::lookup(&fqdn, &suffix, self.opts.timeout)
            .await
            .map_err(|e| Error::internal(ID, format!("mdns: lookup of {fqdn} failed: {e}")))?;
        for e in found.entries() {
            if !e.complete() || e.ttl == 0 {
                continue;
            }
            let Some(strings) = e.txt.as_deref() else { continue };
            let txt = match txt::Txt::decode(strings) {
                Ok(t) => t,
                Err(err) => {
                    tracing::debug!(instance = %e.name, error = %err, "mdns: skipping entry with a bad TXT");
                    continue;
                }
            };
            if txt.service != name {
                continue;
            }
            let (Some(id), Some(address)) = (e.name.strip_suffix(&suffix), e.address()) else { continue };
            let node = Node { id: id.to_string(), address: address.to_string(), metadata: txt.metadata };
            add(&txt.version, &txt.endpoints, node);
        }
        Ok(order.into_iter().filter_map(|v| by_version.remove(&v)).collect())
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        self.check_open()?;
        let fqdn = format!("_services.{}", self.shared.domain);
        let suffix = format!(".{fqdn}");
        let mut names: Vec<String> =
            self.shared.zone.lock().unwrap_or_else(|p| p.into_inner()).names().cloned().collect();
        check_multicast()?;
        let found = querier::lookup(&fqdn, &suffix, self.opts.timeout)
            .await
            .map_err(|e| Error::internal(ID, format!("mdns: lookup of {fqdn} failed: {e}")))?;
        for e in found.entries() {
            if e.ttl == 0 {
                continue;
            }
            if let Some(n) = e.name.strip_suffix(&suffix) {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
        Ok(names.into_iter().map(|name| Service { name, ..Default::default() }).collect())
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        self.responder()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let slot = WatchSlot { service: service.filter(|s| !s.is_empty()).map(str::to_string), tx };
        self.shared.watchers.lock().unwrap_or_else(|p| p.into_inner()).push(slot);
        Ok(Watcher::new(rx))
    }

    fn name(&self) -> &'static str {
        "mdns"
    }

    /// Never: mDNS needs no server, and its 503 (no multicast route on this host) is a
    /// configuration to fix, said at once rather than retried.
    fn is_unreachable(&self, _e: &Error) -> bool {
        false
    }
}

/// Fails at once, with what to do about it, when this host has no route to the mDNS group
/// (go-micro #885: it reports "service not found" instead, after its timeout).
fn check_multicast() -> Result<()> {
    net::multicast_route().map_err(|e| {
        Error::new(
            ID,
            format!(
                "mdns: cannot reach the multicast group 224.0.0.251:5353 ({e}): this host has no \
                 multicast route, so nothing can be registered or found by mDNS. Enable multicast \
                 on an interface (e.g. `ip route add 224.0.0.0/4 dev IFACE`), choose another \
                 registry (MICRO_REGISTRY / --registry; `memory` within one process), or call \
                 nodes directly by address"
            ),
            503,
        )
    })
}

/// Fuzzing entry: one datagram through the querier's whole read path (parse, assemble
/// instances, decode their TXT payloads). Errors are fine; a panic or a hang is the bug.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_datagram(bytes: &[u8]) {
    let Ok(packet) = records::parse(bytes) else { return };
    let mut asm = records::Assembler::new(".micro.");
    asm.ingest(&packet.records);
    for entry in asm.entries() {
        if let Some(strings) = &entry.txt {
            let _ = txt::Txt::decode(strings);
        }
    }
}

/// Fuzzing entry: TXT strings (split at NUL bytes) through the payload decoder.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_txt(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let strings: Vec<&str> = text.split('\0').collect();
    if let Ok(t) = txt::Txt::decode(&strings) {
        // What decodes must encode again.
        if let Err(e) = t.encode() {
            panic!("a decoded TXT payload does not encode: {e}");
        }
    }
}
