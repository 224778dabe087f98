//! The relayed socket of one allocation: it drops traffic to and from
//! refused peers ([`PeerFilter`]) and over the allocation's bitrate, counts
//! what it relays (in total, [`RelayStats`], and for the allocation's
//! participant, through its quota slot's traffic counters), and gives the
//! slot back when the allocation closes. [`Allocator`] opens one, within
//! the quotas.
//!
//! The socket itself ([`RelayedSocket`]) is read by a shard of the data
//! path (`shard`), never by the `turn` server: the shard relays what its
//! routing table knows and hands the rest (a peer the table has no
//! permission for yet) to the allocation's [`RelayConn`], which is what
//! `turn` reads. Until a shard adopts it (when the Allocate success goes
//! back to the client) nobody reads it: no peer may send before then.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, SockaddrStorage, sendto};

use super::RelayStats;
use super::credentials::TurnUsername;
use super::peer::{PeerFilter, Scope};
use super::quota::{Admission, AllocationSlot, Refused};
use super::socket::{Datagram, Datagrams, deliver};

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
    /// Relayed sockets opened and not yet adopted by a shard.
    pub(crate) claims: Arc<Claims>,
}

/// Relayed sockets opened and not yet read by any shard, by port (they
/// are all bound on the relay IP). A shard takes one when it sees the
/// Allocate success that announces its address go back to the client.
#[derive(Default)]
pub(crate) struct Claims(Mutex<HashMap<u16, Arc<RelayedSocket>>>);

impl Claims {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u16, Arc<RelayedSocket>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The socket on `port`, taken: from now on its taker reads it.
    pub(crate) fn take(&self, port: u16) -> Option<Arc<RelayedSocket>> {
        self.map().remove(&port)
    }
}

/// Datagrams from peers queued for `turn` (those the shard did not relay
/// itself) per allocation, before further ones are dropped: about what the
/// kernel's default socket buffer held when `turn` read the socket itself
/// (all of a TCP or TLS client's media takes this queue). Memory only
/// while used.
const MISS_QUEUE: usize = 256;

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
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(AllocateError::Bind)?;
        let local = socket.local_addr().map_err(AllocateError::LocalAddr)?;
        let mut relayed = local;
        relayed.set_ip(self.advertised_ip);
        let shared = Arc::new(RelayedSocket {
            socket,
            port: local.port(),
            filter: Arc::clone(&self.filter),
            scope,
            stats: Arc::clone(&self.stats),
            slot,
            caps: self
                .bandwidth
                .map(|q| (Cap(RateLimiter::direct(q)), Cap(RateLimiter::direct(q)))),
            misses: MissQueue::default(),
        });
        self.claims.map().insert(local.port(), Arc::clone(&shared));
        let conn = RelayConn {
            shared,
            started: AtomicBool::new(false),
            claims: Arc::clone(&self.claims),
        };
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

/// What the per-datagram checks decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Relay it (it is counted).
    Pass,
    /// Drop it: a refused peer, or over the bitrate cap (counted).
    Drop,
    /// The allocation is closed: nothing goes through any more.
    Closed,
}

/// The relayed transport address of one allocation, shared by the shard
/// that reads it and the allocation's [`RelayConn`].
pub(crate) struct RelayedSocket {
    /// Non-blocking, read only by the shard that adopted it.
    socket: UdpSocket,
    /// The port it is bound on (on the relay IP): the shard's name for it.
    port: u16,
    filter: Arc<PeerFilter>,
    scope: Scope,
    stats: Arc<RelayStats>,
    slot: AllocationSlot,
    /// Caps on what goes to peers and what comes from them.
    caps: Option<(Cap, Cap)>,
    /// Peer datagrams the shard leaves to `turn`.
    misses: MissQueue,
}

/// Peer datagrams waiting for `turn`, for its one reader (the
/// allocation's read loop): a queue that costs nothing until used (an
/// allocation's media normally never takes it; a channel would cost each
/// allocation a 2 KiB block from the start, a `Notify` beside the queue 32
/// bytes more than the reader's waker).
#[derive(Default)]
struct MissQueue(Mutex<Misses>);

#[derive(Default)]
struct Misses {
    queue: VecDeque<Datagram>,
    /// The reader, when it waits for the next datagram.
    reader: Option<Waker>,
}

impl MissQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Misses> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a datagram; false (dropped) when [`MISS_QUEUE`] are waiting.
    fn push(&self, datagram: Datagram) -> bool {
        let reader = {
            let mut m = self.lock();
            if m.queue.len() >= MISS_QUEUE {
                return false;
            }
            m.queue.push_back(datagram);
            m.reader.take()
        };
        if let Some(reader) = reader {
            reader.wake();
        }
        true
    }

    /// The next datagram, when there is one.
    async fn pop(&self) -> Datagram {
        std::future::poll_fn(|cx| {
            let mut m = self.lock();
            match m.queue.pop_front() {
                Some(d) => {
                    // Drained after a burst: give its memory back.
                    if m.queue.is_empty() && m.queue.capacity() > 4 {
                        m.queue = VecDeque::new();
                    }
                    Poll::Ready(d)
                }
                None => {
                    // Looked at and registered under one lock: a push
                    // after this finds the waker.
                    m.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl std::fmt::Debug for RelayedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayedSocket")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl RelayedSocket {
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

    /// The checks of a datagram of `n` bytes `peer` sent: counted when it
    /// passes.
    pub(crate) fn check_from_peer(&self, n: usize, peer: SocketAddr) -> Verdict {
        if self.slot.is_released() {
            return Verdict::Closed;
        }
        if !self.filter.allows_in(self.scope, peer) {
            self.denied(peer);
            return Verdict::Drop;
        }
        if !self.within(n, false) {
            return Verdict::Drop;
        }
        self.stats
            .relayed_bytes_from_peers
            .fetch_add(n as u64, Ordering::Relaxed);
        self.stats
            .relayed_packets_from_peers
            .fetch_add(1, Ordering::Relaxed);
        self.slot.traffic().on_received(n);
        Verdict::Pass
    }

    /// The checks of a datagram of `n` bytes for `target`: counted when
    /// it passes (as sent: a datagram the kernel then refuses is counted
    /// by the sender as dropped).
    pub(crate) fn check_to_peer(&self, n: usize, target: SocketAddr) -> Verdict {
        // `turn` may still hold the allocation it looked up just before
        // closing it (revocation): nothing leaves once it is closed.
        if self.slot.is_released() {
            return Verdict::Closed;
        }
        if !self.filter.allows_in(self.scope, target) {
            self.denied(target);
            return Verdict::Drop;
        }
        // Over the cap, the datagram is lost, as on a congested link.
        if !self.within(n, true) {
            return Verdict::Drop;
        }
        self.stats
            .relayed_bytes_to_peers
            .fetch_add(n as u64, Ordering::Relaxed);
        self.stats
            .relayed_packets_to_peers
            .fetch_add(1, Ordering::Relaxed);
        self.slot.traffic().on_sent(n);
        Verdict::Pass
    }

    /// Hands a peer's datagram (already checked and counted) to `turn`,
    /// which relays it or drops it for want of a permission; false (it is
    /// dropped) if `turn` is that far behind.
    pub(crate) fn miss(&self, datagram: &[u8], peer: SocketAddr) -> bool {
        self.misses.push((datagram.to_vec(), peer))
    }

    /// Whether the allocation has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.slot.is_released()
    }

    /// The socket, for the shard's epoll and batched calls.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The port the socket is bound on (its relayed address's port).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The socket's descriptor.
    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// The allocation's relayed socket as the `turn` server sees it: what it
/// reads are the peer datagrams the shard left to it; what it sends goes
/// out on the socket after the same checks.
pub(crate) struct RelayConn {
    shared: Arc<RelayedSocket>,
    started: AtomicBool,
    claims: Arc<Claims>,
}

impl std::fmt::Debug for RelayConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConn")
            .field("port", &self.shared.port)
            .finish_non_exhaustive()
    }
}

impl Datagrams for RelayConn {
    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // `turn` starts reading at once from the socket of a real
        // allocation, never from an EVEN-PORT probe's (see `quota`).
        if !self.started.load(Ordering::Relaxed) && !self.started.swap(true, Ordering::Relaxed) {
            self.shared
                .stats
                .allocations_created
                .fetch_add(1, Ordering::Relaxed);
        }
        let closed = || io::Error::other("the allocation is closed");
        let (datagram, peer) = self.shared.misses.pop().await;
        if self.shared.is_closed() {
            return Err(closed());
        }
        Ok((deliver(&datagram, buf), peer))
    }

    /// Data for a refused peer is dropped silently (and counted), as a
    /// datagram would be.
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        match self.shared.check_to_peer(buf.len(), target) {
            Verdict::Closed => return Err(io::Error::other("the allocation is closed")),
            Verdict::Drop => return Ok(buf.len()),
            Verdict::Pass => {}
        }
        match sendto(
            self.shared.fd(),
            buf,
            &SockaddrStorage::from(target),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(n) => Ok(n),
            // A full buffer loses the datagram, as a congested link would.
            Err(Errno::EAGAIN) => {
                self.shared
                    .stats
                    .fastpath_dropped
                    .fetch_add(1, Ordering::Relaxed);
                Ok(buf.len())
            }
            Err(e) => Err(io::Error::from(e)),
        }
    }

    /// Asks the kernel (`turn` only logs it; the shard and the quotas go
    /// by [`RelayedSocket::port`]).
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// Called when the allocation closes (deleted, expired or revoked):
    /// the quota slot is given back at once; the shard reading the socket
    /// lets it go at its next sweep.
    fn close(&self) {
        self.shared.slot.release();
        self.claims.map().remove(&self.shared.port);
    }
}

impl Drop for RelayConn {
    fn drop(&mut self) {
        // An allocation `turn` gave up on before answering was never
        // adopted: its socket must not wait for a claim for ever.
        let mut claims = self.claims.map();
        if claims
            .get(&self.shared.port)
            .is_some_and(|s| Arc::ptr_eq(s, &self.shared))
        {
            claims.remove(&self.shared.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_miss_queue_is_bounded_ordered_and_wakes_its_reader() {
        let q = Arc::new(MissQueue::default());
        let peer: SocketAddr = "192.0.2.1:9".parse().unwrap();
        for i in 0..MISS_QUEUE {
            assert!(q.push((vec![i as u8], peer)));
        }
        assert!(!q.push((vec![0xff], peer)), "full: dropped");
        for i in 0..MISS_QUEUE {
            assert_eq!(q.pop().await.0, vec![i as u8]);
        }
        assert_eq!(
            q.lock().queue.capacity(),
            0,
            "a drained burst gives its memory back"
        );
        // An empty queue waits for the next push.
        let reader = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        assert!(q.push((b"late".to_vec(), peer)));
        assert_eq!(reader.await.unwrap(), (b"late".to_vec(), peer));
    }
}
