//! How the relay is configured: listeners, addresses, quotas, the peer
//! policy, the stream limits and the bitrate cap, checked before anything
//! is bound.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::peer::PeerPolicy;
use crate::Error;

/// TURN over TLS.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Where to listen (5349 is the standard port; 443 passes most
    /// firewalls).
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// PEM private key.
    pub key_pem: PathBuf,
}

/// How to run the relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The TURN realm.
    pub realm: String,
    /// UDP listener (`turn:…?transport=udp`).
    pub udp_listen: Option<SocketAddr>,
    /// TCP listener (`turn:…?transport=tcp`).
    pub tcp_listen: Option<SocketAddr>,
    /// TLS listener (`turns:…?transport=tcp`).
    pub tls: Option<TlsConfig>,
    /// The address relayed sockets are bound to.
    pub relay_ip: IpAddr,
    /// The address announced to clients, if not `relay_ip` (behind 1:1 NAT).
    pub external_ip: Option<IpAddr>,
    /// Live allocations one participant of an act may hold, whatever
    /// credentials they were made with (connection-test ones included):
    /// each browser peer connection makes one per listener it tries.
    pub max_allocations_per_participant: usize,
    /// Live allocations all the participants of one act may hold.
    pub max_allocations_per_act: usize,
    /// Live allocations in all.
    pub max_allocations_total: usize,
    /// Open TCP and TLS connections per stream listener.
    pub max_stream_connections: usize,
    /// Which peers may be relayed to.
    pub peer_policy: PeerPolicy,
    /// The sockets of the server's test peer: the only peers of
    /// connection-test credentials (share it with [`ProbeConfig::peers`](crate::ProbeConfig::peers)).
    pub probe_peers: Arc<crate::probe::ProbePeers>,
    /// How long a TCP or TLS stream may stay silent before it is closed.
    pub stream_idle_timeout: Duration,
    /// Open TCP and TLS connections per client address and listener.
    pub max_stream_connections_per_address: usize,
    /// Most bits per second one allocation relays each way, averaged over
    /// a second; datagrams over it are dropped, as a congested link would
    /// (coturn's `--max-bps`). `None`: no cap.
    pub max_bitrate_per_allocation: Option<u64>,
    /// Threads of the UDP data path, each with its own listener socket
    /// (`SO_REUSEPORT`) and the relayed sockets of its clients. 0: one per
    /// core this process may run on.
    pub udp_shards: usize,
}

/// How long a TCP or TLS stream may stay silent: a browser refreshes its
/// allocation and permissions every few minutes and sends STUN consent
/// checks every few seconds, so a minute of silence is a dead or idle
/// client holding a descriptor.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Streams one client address may hold open on a listener: a browser
/// opens one per peer connection, a few behind one NAT.
pub const DEFAULT_STREAM_CONNECTIONS_PER_ADDRESS: usize = 64;

/// The default cap per allocation and direction: room for HD video, and a
/// bound on what one stolen credential can push through the relay.
pub const DEFAULT_MAX_BITRATE: u64 = 10_000_000;

impl RelayConfig {
    /// UDP and TCP on `127.0.0.1` with ephemeral ports, relayed sockets on
    /// `127.0.0.1`, and loopback peers allowed explicitly (`127.0.0.0/8`
    /// and `::1`): a relay for tests. A server's relay sets
    /// [`peer_policy`](Self::peer_policy) from its settings.
    pub fn loopback(realm: impl Into<String>) -> Self {
        let any_port = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0);
        RelayConfig {
            realm: realm.into(),
            udp_listen: Some(any_port),
            tcp_listen: Some(any_port),
            tls: None,
            relay_ip: Ipv4Addr::LOCALHOST.into(),
            external_ip: None,
            max_allocations_per_participant: 10,
            max_allocations_per_act: 40,
            max_allocations_total: 1000,
            max_stream_connections: 1000,
            max_bitrate_per_allocation: Some(DEFAULT_MAX_BITRATE),
            peer_policy: PeerPolicy::allowing(&["127.0.0.0/8", "::1"]).expect("valid ranges"),
            probe_peers: Arc::default(),
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            max_stream_connections_per_address: DEFAULT_STREAM_CONNECTIONS_PER_ADDRESS,
            udp_shards: 0,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |m: &'static str| Err(Error::InvalidConfig(m));
        if self.realm.is_empty() {
            return bad("the realm is empty");
        }
        if self.udp_listen.is_none() && self.tcp_listen.is_none() && self.tls.is_none() {
            return bad("no listener (UDP, TCP or TLS) configured");
        }
        if self.relay_ip.is_unspecified() {
            return bad("relay_ip must be a concrete address, not 0.0.0.0 or ::");
        }
        if self
            .external_ip
            .is_some_and(|ip| ip.is_ipv4() != self.relay_ip.is_ipv4())
        {
            return bad("external_ip and relay_ip must be of the same family");
        }
        if self.max_allocations_per_participant == 0
            || self.max_allocations_per_act == 0
            || self.max_allocations_total == 0
        {
            return bad("allocation quotas must be at least 1");
        }
        if self.max_stream_connections == 0 || self.max_stream_connections_per_address == 0 {
            return bad("max_stream_connections(_per_address) must be at least 1");
        }
        if self.stream_idle_timeout.is_zero() {
            return bad("stream_idle_timeout must not be zero");
        }
        if self
            .max_bitrate_per_allocation
            .is_some_and(|b| !(8_000..=8 * u64::from(u32::MAX)).contains(&b))
        {
            return bad("max_bitrate_per_allocation must be between 8 kbit/s and 34 Gbit/s");
        }
        Ok(())
    }
}
