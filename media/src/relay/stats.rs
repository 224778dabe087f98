//! The relay's counters: what the server reads and exports to Prometheus.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters the server can read (and export to Prometheus). All relaxed
/// atomics: each value is exact, but two values read one after the other
/// are not a consistent snapshot.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Live allocations (a gauge).
    pub allocations_active: AtomicU64,
    /// Allocations created since start.
    pub allocations_created: AtomicU64,
    /// Allocations refused by a quota.
    pub allocations_refused_quota: AtomicU64,
    /// Requests whose username was malformed, expired or revoked.
    pub auth_refused: AtomicU64,
    /// Bytes sent from relayed sockets to peers.
    pub relayed_bytes_to_peers: AtomicU64,
    /// Bytes received on relayed sockets from peers.
    pub relayed_bytes_from_peers: AtomicU64,
    /// Datagrams sent to peers.
    pub relayed_packets_to_peers: AtomicU64,
    /// Datagrams received from peers.
    pub relayed_packets_from_peers: AtomicU64,
    /// Datagrams dropped because the peer address is refused.
    pub peer_packets_denied: AtomicU64,
    /// Datagrams dropped because their allocation was over its bitrate.
    pub packets_over_bitrate: AtomicU64,
    /// TCP and TLS connections accepted.
    pub stream_connections_accepted: AtomicU64,
    /// TCP and TLS connections open now (a gauge).
    pub stream_connections_active: AtomicU64,
    /// Streams closed for a malformed or oversized frame.
    pub stream_frame_errors: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// Frames dropped because a stream's outgoing queue was full.
    pub stream_send_dropped: AtomicU64,
    /// Datagrams on the UDP listener that are neither STUN nor
    /// ChannelData, dropped unanswered (counted, not logged one by one).
    pub junk_datagrams: AtomicU64,
    /// TCP and TLS connections refused because their address holds
    /// too many.
    pub stream_connections_refused_per_address: AtomicU64,
    /// TCP and TLS connections closed after staying silent too long.
    pub stream_idle_closed: AtomicU64,
    /// Allocations deleted because their credential expired or was
    /// revoked.
    pub allocations_swept: AtomicU64,
    /// Datagrams the data path's shards relayed themselves, both ways
    /// (ChannelData, Send and Data indications on a known route).
    pub fastpath_datagrams: AtomicU64,
    /// Datagrams the shards handed to the `turn` server (requests, and
    /// data on a route the shard did not know).
    pub fastpath_misses: AtomicU64,
    /// Datagrams a client sent to another allocation's relayed address on
    /// this relay, handed over without the kernel (a hairpin: both
    /// participants relayed), whatever the receiving allocation then does
    /// with them; those it relays to its client are counted in
    /// `fastpath_datagrams` once, when sent.
    pub fastpath_hairpins: AtomicU64,
    /// Those of the hairpins that went from one shard to another (the
    /// kernel put the two clients on different shards).
    pub fastpath_handovers: AtomicU64,
    /// Datagrams dropped on the data path: the kernel refused them (a
    /// full buffer) or the `turn` server was too far behind to take them.
    pub fastpath_dropped: AtomicU64,
    /// Datagrams dropped for being longer than the data path takes.
    pub datagrams_truncated: AtomicU64,
    /// `recvmmsg` calls that returned datagrams, and `sendmmsg` calls:
    /// divided into the datagrams, the batching achieved.
    pub recv_batches: AtomicU64,
    pub send_batches: AtomicU64,
    /// UDP GSO messages sent (each several datagrams to one destination,
    /// cut by the kernel).
    pub gso_messages: AtomicU64,
}

/// A plain copy of [`RelayStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub allocations_active: u64,
    pub allocations_created: u64,
    pub allocations_refused_quota: u64,
    pub auth_refused: u64,
    pub relayed_bytes_to_peers: u64,
    pub relayed_bytes_from_peers: u64,
    pub relayed_packets_to_peers: u64,
    pub relayed_packets_from_peers: u64,
    pub peer_packets_denied: u64,
    pub packets_over_bitrate: u64,
    pub stream_connections_accepted: u64,
    pub stream_connections_active: u64,
    pub stream_frame_errors: u64,
    pub tls_handshake_failures: u64,
    pub stream_send_dropped: u64,
    pub junk_datagrams: u64,
    pub stream_connections_refused_per_address: u64,
    pub stream_idle_closed: u64,
    pub allocations_swept: u64,
    pub fastpath_datagrams: u64,
    pub fastpath_misses: u64,
    pub fastpath_hairpins: u64,
    pub fastpath_handovers: u64,
    pub fastpath_dropped: u64,
    pub datagrams_truncated: u64,
    pub recv_batches: u64,
    pub send_batches: u64,
    pub gso_messages: u64,
}

impl RelayStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            allocations_active: r(&self.allocations_active),
            allocations_created: r(&self.allocations_created),
            allocations_refused_quota: r(&self.allocations_refused_quota),
            auth_refused: r(&self.auth_refused),
            relayed_bytes_to_peers: r(&self.relayed_bytes_to_peers),
            relayed_bytes_from_peers: r(&self.relayed_bytes_from_peers),
            relayed_packets_to_peers: r(&self.relayed_packets_to_peers),
            relayed_packets_from_peers: r(&self.relayed_packets_from_peers),
            peer_packets_denied: r(&self.peer_packets_denied),
            packets_over_bitrate: r(&self.packets_over_bitrate),
            stream_connections_accepted: r(&self.stream_connections_accepted),
            stream_connections_active: r(&self.stream_connections_active),
            stream_frame_errors: r(&self.stream_frame_errors),
            tls_handshake_failures: r(&self.tls_handshake_failures),
            stream_send_dropped: r(&self.stream_send_dropped),
            junk_datagrams: r(&self.junk_datagrams),
            stream_connections_refused_per_address: r(&self.stream_connections_refused_per_address),
            stream_idle_closed: r(&self.stream_idle_closed),
            allocations_swept: r(&self.allocations_swept),
            fastpath_datagrams: r(&self.fastpath_datagrams),
            fastpath_misses: r(&self.fastpath_misses),
            fastpath_hairpins: r(&self.fastpath_hairpins),
            fastpath_handovers: r(&self.fastpath_handovers),
            fastpath_dropped: r(&self.fastpath_dropped),
            datagrams_truncated: r(&self.datagrams_truncated),
            recv_batches: r(&self.recv_batches),
            send_batches: r(&self.send_batches),
            gso_messages: r(&self.gso_messages),
        }
    }
}
