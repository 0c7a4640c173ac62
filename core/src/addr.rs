//! Which address a node advertises.
//!
//! go-micro listens on every interface (`:0`) and registers the first private address of
//! a non-loopback interface, else a public one, else loopback. We do the same, so a Go peer
//! on another host can reach what we register.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address to advertise for a listener bound to `bound`.
pub fn advertise(bound: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    SocketAddr::new(pick_ip(), bound.port())
}

/// The IP go-micro would pick: private IPv4, else other non-loopback IPv4, else loopback.
pub fn pick_ip() -> IpAddr {
    let addrs = if_addrs::get_if_addrs().unwrap_or_default();
    let v4: Vec<Ipv4Addr> = addrs
        .iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(ip) if !ip.is_link_local() && !ip.is_unspecified() => Some(ip),
            _ => None,
        })
        .collect();
    if let Some(ip) = v4.iter().find(|ip| ip.is_private()) {
        return IpAddr::V4(*ip);
    }
    if let Some(ip) = v4.first() {
        return IpAddr::V4(*ip);
    }
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// `host:port` the way Go formats it (`[v6]:port` for IPv6).
pub fn format(addr: SocketAddr) -> String {
    addr.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_addresses_are_kept() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(advertise(a), a);
        let b = advertise("0.0.0.0:9".parse().unwrap());
        assert_eq!(b.port(), 9);
        assert!(!b.ip().is_unspecified());
        assert_eq!(format("[::1]:5".parse().unwrap()), "[::1]:5");
    }
}
