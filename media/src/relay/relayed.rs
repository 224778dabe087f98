//! The relayed socket of one allocation: it drops traffic to and from
//! refused peers ([`PeerFilter`]) and over the allocation's bitrate, counts
//! what it relays (in total, [`RelayStats`], and for the allocation's
//! participant, through its quota slot's traffic counters), and gives the
//! slot back when the allocation closes. [`Allocator`] opens one, within
//! the quotas.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::net::UdpSocket;

use super::RelayStats;
use super::credentials::TurnUsername;
use super::peer::{PeerFilter, Scope};
use super::quota::{Admission, AllocationSlot, Refused};
use super::socket::Datagrams;

/// Opens relayed sockets on the relay IP, within the quotas: one per
/// relay, shared by every listener.
pub(crate) struct Allocator {
    /// Where relayed sockets are bound.
    pub(crate) relay_ip: IpAddr,
    /// The address announced to clients instead (behind 1:1 NAT).
    pub(crate) advertised_ip: IpAddr,
    /// The quotas each new allocation takes a slot in.
    pub(crate) admission: Arc<Admission>,
    /// Whom each relayed socket may exchange data with.
    pub(crate) filter: Arc<PeerFilter>,
    /// The relay's counters, bumped by every relayed socket.
    pub(crate) stats: Arc<RelayStats>,
    /// Each way's cap of one allocation, if any.
    pub(crate) bandwidth: Option<Quota>,
}

/// Why no relayed socket was opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AllocateError {
    /// The client asked for the family the relay IP is not.
    #[error("requested address family is not served")]
    Family,
    /// No username was authenticated for the request.
    #[error("allocation without an authenticated username")]
    Unauthenticated,
    /// A quota is reached.
    #[error(transparent)]
    Quota(#[from] Refused),
    /// Binding the socket failed.
    #[error("cannot bind a relayed socket: {0}")]
    Bind(#[source] io::Error),
    /// Reading the bound socket's address failed.
    #[error("{0}")]
    LocalAddr(#[source] io::Error),
}

impl Allocator {
    /// The relayed socket of a new allocation of `username` (the one the
    /// request authenticated with), and the address announced for it.
    pub(crate) async fn open(
        &self,
        use_ipv4: bool,
        requested_port: u16,
        username: Option<&str>,
    ) -> Result<(RelayConn, SocketAddr), AllocateError> {
        if use_ipv4 != self.relay_ip.is_ipv4() {
            return Err(AllocateError::Family);
        }
        let username = username.ok_or(AllocateError::Unauthenticated)?;
        let slot = self.admission.acquire(username).inspect_err(|reason| {
            tracing::info!(%reason, "TURN allocation refused");
        })?;
        let scope = match TurnUsername::parse(username) {
            Ok(u) if u.is_probe_only() => Scope::ProbeOnly,
            _ => Scope::Call,
        };
        let socket = UdpSocket::bind(SocketAddr::new(self.relay_ip, requested_port))
            .await
            .map_err(AllocateError::Bind)?;
        let mut relayed = socket.local_addr().map_err(AllocateError::LocalAddr)?;
        relayed.set_ip(self.advertised_ip);
        let conn = RelayConn::new(
            socket,
            Arc::clone(&self.filter),
            scope,
            Arc::clone(&self.stats),
            slot,
        )
        .with_bandwidth(self.bandwidth);
        Ok((conn, relayed))
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
    filter: Arc<PeerFilter>,
    scope: Scope,
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
        filter: Arc<PeerFilter>,
        scope: Scope,
        stats: Arc<RelayStats>,
        slot: AllocationSlot,
    ) -> Self {
        RelayConn {
            socket,
            filter,
            scope,
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

impl Datagrams for RelayConn {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // `turn` starts reading at once from the socket of a real
        // allocation, never from an EVEN-PORT probe's (see `quota`).
        if !self.started.load(Ordering::Relaxed) && !self.started.swap(true, Ordering::Relaxed) {
            self.stats
                .allocations_created
                .fetch_add(1, Ordering::Relaxed);
        }
        loop {
            let (n, peer) = self.socket.recv_from(buf).await?;
            if self.slot.is_released() {
                return Err(io::Error::other("the allocation is closed"));
            }
            if !self.filter.allows_in(self.scope, peer) {
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

    /// Data for a refused peer is dropped silently (and counted), as a
    /// datagram would be.
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        // `turn` may still hold the allocation it looked up just before
        // closing it (revocation): nothing leaves once it is closed.
        if self.slot.is_released() {
            return Err(io::Error::other("the allocation is closed"));
        }
        if !self.filter.allows_in(self.scope, target) {
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

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Called when the allocation closes (deleted, expired or revoked):
    /// the quota slot is given back at once. The socket itself closes when
    /// the last reference goes.
    fn close(&self) {
        self.slot.release();
    }
}
