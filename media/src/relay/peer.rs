//! Which peers a client may relay to: the operator's policy
//! ([`PeerPolicy`]), and what the relay knows of itself and of its test
//! peer (`PeerFilter`), by the scope of the allocation's credential.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The peer addresses an allocation may exchange data with.
///
/// Always refused: unspecified, multicast, broadcast, `0.0.0.0/8`, the
/// reserved `240.0.0.0/4`, and the relay's own listener sockets (a relay
/// relaying to itself). Refused unless a range of `allow` covers them:
/// loopback (`127.0.0.0/8`, `::1`), private, shared and link-local ranges
/// (RFC 1918, `100.64.0.0/10`, `169.254.0.0/16`, `fc00::/7`, `fe80::/10`)
/// and the server's own addresses (the relay IP and the address it
/// announces). IPv4-mapped IPv6 addresses follow the IPv4 rules.
///
/// The operator opts in per range in the settings file (`[relay]
/// allow_peers`): a relay on a private network needs its clients' range,
/// and tests on loopback need `127.0.0.0/8`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Ranges allowed although they are loopback, private, link-local or
    /// the server's own.
    pub allow: Vec<IpRange>,
}

/// An address range, `ADDRESS/PREFIX` (or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for IpRange {
    type Err = crate::Error;

    /// `127.0.0.0/8`, `fd00::/8`, or one address (`10.0.0.5`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &'static str| crate::Error::PeerRange {
            range: s.to_owned(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(addr.trim().parse().map_err(|_| bad("not an IP address"))?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad("prefix too long"))?
            }
            Some(_) => return Err(bad("the prefix is not a number")),
        };
        if prefix > max {
            return Err(bad("prefix too long"));
        }
        if prefix == 0 {
            return Err(bad("a /0 range would allow every special address"));
        }
        Ok(IpRange { addr, prefix })
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl PeerPolicy {
    /// A policy allowing `ranges` (each `ADDRESS/PREFIX`).
    pub fn allowing<S: AsRef<str>>(ranges: &[S]) -> Result<Self, crate::Error> {
        Ok(PeerPolicy {
            allow: ranges
                .iter()
                .map(|r| r.as_ref().parse())
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether data may be relayed to or from `ip`, the server's own
    /// addresses aside (see `PeerFilter`).
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match never_a_peer(ip) {
            true => false,
            false => !special(ip) || self.allow.iter().any(|r| r.contains(ip)),
        }
    }
}

/// Addresses no datagram is relayed to, whatever the settings.
fn never_a_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let a = ip.octets()[0];
            ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 || a >= 240
        }
        IpAddr::V6(ip) => ip.is_unspecified() || ip.is_multicast(),
    }
}

/// Loopback, private, shared and link-local addresses: refused unless a
/// range allows them.
fn special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            let shared = a == 100 && (64..128).contains(&b);
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || shared
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback() || first & 0xFE00 == 0xFC00 || first & 0xFFC0 == 0xFE80
        }
    }
}

/// The policy with what the relay knows of itself: its own addresses
/// (refused unless a range allows them) and its listener sockets (always
/// refused), and the test peer's sockets, the only peers of a
/// connection-test credential.
#[derive(Debug)]
pub(crate) struct PeerFilter {
    pub(crate) policy: PeerPolicy,
    pub(crate) own_ips: Vec<IpAddr>,
    pub(crate) own_sockets: Vec<SocketAddr>,
    pub(crate) probe: Arc<crate::probe::ProbePeers>,
}

impl PeerFilter {
    /// Whether an allocation of a call credential may exchange data with
    /// `peer`.
    pub(crate) fn allows(&self, peer: SocketAddr) -> bool {
        let ip = canonical(peer.ip());
        if self.own_sockets.iter().any(|s| {
            s.port() == peer.port() && (canonical(s.ip()) == ip || s.ip().is_unspecified())
        }) {
            return false;
        }
        if self.own_ips.iter().any(|o| canonical(*o) == ip)
            && !self.policy.allow.iter().any(|r| r.contains(ip))
        {
            return false;
        }
        self.policy.allows(ip)
    }

    /// Whether an allocation of `scope` may exchange data with `peer`.
    pub(crate) fn allows_in(&self, scope: Scope, peer: SocketAddr) -> bool {
        match scope {
            Scope::Call => self.allows(peer),
            Scope::ProbeOnly => self.probe.contains(peer),
        }
    }
}

/// Whom an allocation may reach, by its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Any peer the policy allows.
    Call,
    /// The server's test peer only (connection-test credentials).
    ProbeOnly,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_policy_refuses_loopback_private_and_special_addresses() {
        let p = PeerPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "ff02::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!p.allows(ip(refused)), "{refused} allowed");
        }
        for allowed in ["8.8.8.8", "2001:db8::1", "100.128.0.1", "172.32.0.1"] {
            assert!(p.allows(ip(allowed)), "{allowed} refused");
        }
    }

    #[test]
    fn ranges_opt_in_exactly_what_they_cover() {
        let p = PeerPolicy::allowing(&["127.0.0.0/8", "10.77.0.0/16", "fd00::/8"]).unwrap();
        for allowed in ["127.0.0.1", "::ffff:127.0.0.2", "10.77.3.2", "fd12::1"] {
            assert!(p.allows(ip(allowed)), "{allowed} refused");
        }
        for refused in ["::1", "10.78.0.1", "192.168.0.1", "fe80::1", "224.0.0.1"] {
            assert!(!p.allows(ip(refused)), "{refused} allowed");
        }
        let one = PeerPolicy::allowing(&["192.168.1.7"]).unwrap();
        assert!(one.allows(ip("192.168.1.7")) && !one.allows(ip("192.168.1.8")));
    }

    #[test]
    fn bad_ranges_are_refused_with_the_range_named() {
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "0.0.0.0/0",
            "10.0.0.0/-1",
        ] {
            let e = bad.parse::<IpRange>().unwrap_err().to_string();
            assert!(e.contains("peer range") && e.contains(bad), "{bad:?}: {e}");
        }
        assert_eq!(
            "10.1.0.0/16".parse::<IpRange>().unwrap().to_string(),
            "10.1.0.0/16"
        );
    }

    #[test]
    fn own_addresses_and_listeners_are_refused() {
        let probe = Arc::new(crate::probe::ProbePeers::default());
        let listener: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        let filter = PeerFilter {
            policy: PeerPolicy::allowing(&["127.0.0.0/8"]).unwrap(),
            own_ips: vec![ip("127.0.0.1"), ip("203.0.113.5")],
            own_sockets: vec![listener],
            probe: probe.clone(),
        };
        // Allowed by a range, the listener itself still is not.
        assert!(!filter.allows(listener));
        assert!(filter.allows("127.0.0.1:40000".parse().unwrap()));
        // A public own address no range covers is refused.
        assert!(!filter.allows("203.0.113.5:22".parse().unwrap()));
        assert!(filter.allows("203.0.113.6:22".parse().unwrap()));
        // Connection-test allocations reach the probe's sockets only.
        let probe_addr: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        assert!(!filter.allows_in(Scope::ProbeOnly, probe_addr));
        probe.insert(probe_addr);
        assert!(filter.allows_in(Scope::ProbeOnly, probe_addr));
        assert!(!filter.allows_in(Scope::ProbeOnly, "127.0.0.1:50001".parse().unwrap()));
        assert!(!filter.allows_in(Scope::ProbeOnly, "8.8.8.8:50000".parse().unwrap()));
        probe.remove(probe_addr);
        assert!(!filter.allows_in(Scope::ProbeOnly, probe_addr));
    }
}
