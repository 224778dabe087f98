//! Which peers a client may relay to, and the relayed socket of one
//! allocation: it drops traffic to and from refused peers and over the
//! allocation's bitrate, counts relayed bytes (in total and for the
//! allocation's participant), and gives the allocation's quota slot back
//! when it closes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::net::UdpSocket;

use super::RelayStats;
use super::admission::AllocationSlot;

/// The peer addresses an allocation may exchange data with.
///
/// Always refused: unspecified, multicast, broadcast, `0.0.0.0/8` and the
/// reserved `240.0.0.0/4`. Loopback only with `allow_loopback` (coturn's
/// `--allow-loopback-peers`; tests only). Private and link-local ranges
/// (RFC 1918, `100.64.0.0/10`, `169.254.0.0/16`, `fc00::/7`, `fe80::/10`)
/// only with `allow_private`. IPv4-mapped IPv6 addresses follow the IPv4
/// rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allow `127.0.0.0/8` and `::1`.
    pub allow_loopback: bool,
    /// Allow private, shared and link-local ranges.
    pub allow_private: bool,
}

impl Default for PeerPolicy {
    /// Loopback refused, private ranges allowed (coturn's defaults).
    fn default() -> Self {
        PeerPolicy {
            allow_loopback: false,
            allow_private: true,
        }
    }
}

impl PeerPolicy {
    /// Whether data may be relayed to or from `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.allows_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.allows_v4(v4),
                None => self.allows_v6(v6),
            },
        }
    }

    fn allows_v4(&self, ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 || a >= 240 {
            return false;
        }
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        let shared = a == 100 && (64..128).contains(&b);
        if ip.is_private() || ip.is_link_local() || shared {
            return self.allow_private;
        }
        true
    }

    fn allows_v6(&self, ip: Ipv6Addr) -> bool {
        if ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        let first = ip.segments()[0];
        let unique_local = first & 0xFE00 == 0xFC00;
        let link_local = first & 0xFFC0 == 0xFE80;
        if unique_local || link_local {
            return self.allow_private;
        }
        true
    }
}

/// A cap of `bits` per second as a byte quota, with a burst of one
/// second's worth (a video key frame arrives at once).
pub(crate) fn bytes_per_second(bits: u64) -> Quota {
    let bytes = u32::try_from(bits / 8).unwrap_or(u32::MAX);
    Quota::per_second(NonZeroU32::new(bytes).unwrap_or(NonZeroU32::MIN))
}

/// One direction's bitrate cap: `governor`'s GCRA, lock-free (one atomic
/// compare-and-swap per datagram).
struct Cap(DefaultDirectRateLimiter);

impl Cap {
    /// Whether `n` more bytes fit now.
    fn admits(&self, n: usize) -> bool {
        match u32::try_from(n).ok().and_then(NonZeroU32::new) {
            Some(n) => matches!(self.0.check_n(n), Ok(Ok(()))),
            None => true,
        }
    }
}

/// The relayed transport address of one allocation.
pub(crate) struct RelayConn {
    socket: UdpSocket,
    policy: PeerPolicy,
    stats: Arc<RelayStats>,
    slot: AllocationSlot,
    started: AtomicBool,
    /// Caps on what goes to peers and what comes from them.
    caps: Option<(Cap, Cap)>,
}

impl std::fmt::Debug for RelayConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConn")
            .field("local", &self.socket.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl RelayConn {
    pub(crate) fn new(
        socket: UdpSocket,
        policy: PeerPolicy,
        stats: Arc<RelayStats>,
        slot: AllocationSlot,
    ) -> Self {
        RelayConn {
            socket,
            policy,
            stats,
            slot,
            started: AtomicBool::new(false),
            caps: None,
        }
    }

    /// Caps each direction at `quota`.
    pub(crate) fn with_bandwidth(mut self, quota: Option<Quota>) -> Self {
        self.caps = quota.map(|q| (Cap(RateLimiter::direct(q)), Cap(RateLimiter::direct(q))));
        self
    }

    /// Whether a datagram of `n` bytes is within the cap of its direction;
    /// counts it when it is not.
    fn within(&self, n: usize, to_peers: bool) -> bool {
        let Some((to, from)) = &self.caps else {
            return true;
        };
        let cap = if to_peers { to } else { from };
        let ok = cap.admits(n);
        if !ok {
            self.stats
                .packets_over_bitrate
                .fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    fn denied(&self, peer: SocketAddr) {
        self.stats
            .peer_packets_denied
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "relay to or from a refused peer address dropped");
    }
}

#[async_trait]
impl webrtc_util::Conn for RelayConn {
    async fn connect(&self, _addr: SocketAddr) -> Result<(), webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "relayed sockets are not connected".to_owned(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, webrtc_util::Error> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), webrtc_util::Error> {
        // `turn` starts reading at once from the socket of a real
        // allocation, never from an EVEN-PORT probe's (see `admission`).
        if !self.started.load(Ordering::Relaxed) && !self.started.swap(true, Ordering::Relaxed) {
            self.stats
                .allocations_created
                .fetch_add(1, Ordering::Relaxed);
        }
        loop {
            let (n, peer) = self.socket.recv_from(buf).await?;
            if !self.policy.allows(peer.ip()) {
                self.denied(peer);
                continue;
            }
            if !self.within(n, false) {
                continue;
            }
            self.stats
                .relayed_bytes_from_peers
                .fetch_add(n as u64, Ordering::Relaxed);
            self.stats
                .relayed_packets_from_peers
                .fetch_add(1, Ordering::Relaxed);
            self.slot.traffic().on_received(n);
            return Ok((n, peer));
        }
    }

    async fn send(&self, _buf: &[u8]) -> Result<usize, webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "send without an address on a relayed socket".to_owned(),
        ))
    }

    /// Data for a refused peer is dropped silently (and counted), as a
    /// datagram would be.
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, webrtc_util::Error> {
        // `turn` may still hold the allocation it looked up just before
        // closing it (revocation): nothing leaves once it is closed.
        if self.slot.is_released() {
            return Err(webrtc_util::Error::Other(
                "the allocation is closed".to_owned(),
            ));
        }
        if !self.policy.allows(target.ip()) {
            self.denied(target);
            return Ok(buf.len());
        }
        // Over the cap, the datagram is lost, as on a congested link.
        if !self.within(buf.len(), true) {
            return Ok(buf.len());
        }
        let n = self.socket.send_to(buf, target).await?;
        self.stats
            .relayed_bytes_to_peers
            .fetch_add(n as u64, Ordering::Relaxed);
        self.stats
            .relayed_packets_to_peers
            .fetch_add(1, Ordering::Relaxed);
        self.slot.traffic().on_sent(n);
        Ok(n)
    }

    fn local_addr(&self) -> Result<SocketAddr, webrtc_util::Error> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Called by `turn` when the allocation closes (deleted, expired or
    /// revoked): the quota slot is given back at once. The socket itself
    /// closes when the last reference goes.
    async fn close(&self) -> Result<(), webrtc_util::Error> {
        self.slot.release();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_policy_refuses_loopback_and_special_addresses() {
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
        ] {
            assert!(!p.allows(ip(refused)), "{refused} allowed");
        }
        for allowed in [
            "8.8.8.8",
            "10.1.2.3",
            "192.168.1.1",
            "2001:db8::1",
            "fd00::1",
        ] {
            assert!(p.allows(ip(allowed)), "{allowed} refused");
        }
    }

    #[test]
    fn loopback_and_private_follow_the_switches() {
        let p = PeerPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(p.allows(ip("127.0.0.1")));
        assert!(p.allows(ip("::1")));
        for private in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!p.allows(ip(private)), "{private} allowed");
        }
        assert!(p.allows(ip("100.128.0.1")));
        assert!(p.allows(ip("172.32.0.1")));
        assert!(!p.allows(ip("224.0.0.1")));
    }
}
