//! The UDP sockets mDNS needs, set up the way go-micro's are so both can share a host.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use tokio::net::UdpSocket;

/// The IPv4 mDNS group.
pub(crate) const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The IPv6 mDNS group.
pub(crate) const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
/// The mDNS port.
pub(crate) const PORT: u16 = 5353;

/// Where queries, announcements and goodbyes go.
pub(crate) fn group_v4() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(GROUP_V4, PORT))
}

/// The IPv6 group address (best effort: often unroutable without a scope).
pub(crate) fn group_v6() -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(GROUP_V6, PORT, 0, 0))
}

/// A socket on `0.0.0.0:5353`, shared with every other mDNS process on the host
/// (SO_REUSEADDR + SO_REUSEPORT), joined to 224.0.0.251 on every IPv4 interface (or the
/// default one when no join succeeds), multicast loopback on.
pub(crate) fn multicast_v4() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    let mut joined = 0;
    let mut seen: Vec<String> = Vec::new();
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        let if_addrs::IfAddr::V4(v4) = &iface.addr else { continue };
        if seen.contains(&iface.name) {
            continue;
        }
        match s.join_multicast_v4(&GROUP_V4, &v4.ip) {
            Ok(()) => {
                joined += 1;
                seen.push(iface.name.clone());
            }
            Err(e) => tracing::debug!(interface = %iface.name, error = %e, "mdns: cannot join 224.0.0.251"),
        }
    }
    if joined == 0 {
        s.join_multicast_v4(&GROUP_V4, &Ipv4Addr::UNSPECIFIED)?;
    }
    s.set_multicast_loop_v4(true)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// An ephemeral IPv4 socket that sends queries and receives the unicast answers.
pub(crate) fn ephemeral_v4() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).into())?;
    s.set_multicast_loop_v4(true)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// The IPv6 twin of [`ephemeral_v4`].
pub(crate) fn ephemeral_v6() -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)).into())?;
    s.set_multicast_loop_v6(true)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// Whether this host can send to the IPv4 mDNS group at all: a UDP `connect` asks the
/// kernel for a route without sending anything. Fails (`Network is unreachable`) on a host
/// or namespace without a multicast route, where every query and announcement would vanish.
pub(crate) fn multicast_route() -> io::Result<()> {
    let s = std::net::UdpSocket::bind(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
    s.connect(group_v4())
}
