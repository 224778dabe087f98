//! The TURN relay: the `turn` 0.17 server behind UDP, TCP and TLS
//! listeners, with TURN REST API credentials, revocation, quotas, a peer
//! address policy and counters.
//!
//! Browsers reach it with `turn:HOST:PORT?transport=udp`,
//! `turn:HOST:PORT?transport=tcp` and `turns:HOST:PORT?transport=tcp`;
//! relayed transport addresses are always UDP (no RFC 6062 TCP
//! allocations).

mod admission;
pub mod credentials;
mod lifetime;
mod listener;
mod peer;
pub mod stream;
mod tls;
pub mod traffic;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;
use admission::{Admission, LastUser, ListenerAuth, RelayAllocator};
use credentials::TurnCredentials;
pub use peer::{IpRange, PeerPolicy};
use stream::StreamConn;
pub use traffic::TrafficSnapshot;

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
}

/// How long a TCP or TLS stream may stay silent: a browser refreshes its
/// allocation and permissions every few minutes and sends STUN consent
/// checks every few seconds, so a minute of silence is a dead or idle
/// client holding a descriptor.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Streams one client address may hold open on a listener: a browser
/// opens one per peer connection, a few behind one NAT.
pub const DEFAULT_STREAM_CONNECTIONS_PER_ADDRESS: usize = 64;

/// How often expired or revoked credentials' allocations are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

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
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidConfig(m.to_owned()));
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
        }
    }
}

/// What every listener's `turn::Server` shares.
struct Shared {
    realm: String,
    relay_ip: IpAddr,
    advertised_ip: IpAddr,
    filter: Arc<peer::PeerFilter>,
    credentials: Arc<TurnCredentials>,
    admission: Arc<Admission>,
    stats: Arc<RelayStats>,
    bandwidth: Option<governor::Quota>,
}

impl Shared {
    /// One `turn::Server` per listener, so that its auth handler and its
    /// relay-address generator share a username slot (see `admission`).
    async fn server(
        &self,
        conn: Arc<dyn webrtc_util::Conn + Send + Sync>,
    ) -> Result<turn::server::Server, Error> {
        let last_user = LastUser::default();
        let generator = RelayAllocator {
            relay_ip: self.relay_ip,
            advertised_ip: self.advertised_ip,
            last_user: Arc::clone(&last_user),
            admission: Arc::clone(&self.admission),
            filter: Arc::clone(&self.filter),
            stats: Arc::clone(&self.stats),
            bandwidth: self.bandwidth,
        };
        let auth = ListenerAuth {
            credentials: Arc::clone(&self.credentials),
            last_user,
            stats: Arc::clone(&self.stats),
        };
        let config = turn::server::config::ServerConfig {
            conn_configs: vec![turn::server::config::ConnConfig {
                conn,
                relay_addr_generator: Box::new(generator),
            }],
            realm: self.realm.clone(),
            auth_handler: Arc::new(auth),
            channel_bind_timeout: Duration::ZERO, // the default, 10 minutes
            alloc_close_notify: None,
        };
        Ok(turn::server::Server::new(config).await?)
    }
}

/// A running relay. Dropping it stops the listeners too; [`Relay::stop`]
/// also waits for the allocations to close.
pub struct Relay {
    servers: Arc<Vec<turn::server::Server>>,
    accept_tasks: Vec<JoinHandle<()>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    credentials: Arc<TurnCredentials>,
    admission: Arc<Admission>,
    stats: Arc<RelayStats>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .field("tls_addr", &self.tls_addr)
            .field("allocations", &self.admission.total())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Binds the configured listeners and starts serving. The credentials
    /// are shared with whoever issues and revokes them.
    pub async fn start(
        config: RelayConfig,
        credentials: Arc<TurnCredentials>,
    ) -> Result<Relay, Error> {
        config.validate()?;
        // Certificate problems are reported before anything is bound.
        let acceptor = match &config.tls {
            Some(tls) => Some(tls::acceptor(&tls.cert_pem, &tls.key_pem)?),
            None => None,
        };
        let stats = Arc::new(RelayStats::default());
        let admission = Arc::new(Admission::new(
            admission::Quotas {
                per_participant: config.max_allocations_per_participant,
                per_act: config.max_allocations_per_act,
                total: config.max_allocations_total,
            },
            Arc::clone(&stats),
        ));
        let advertised_ip = config.external_ip.unwrap_or(config.relay_ip);
        let cap = Arc::new(lifetime::LifetimeCap {
            credentials: Arc::clone(&credentials),
            realm: config.realm.clone(),
        });

        // Everything is bound first: the peer filter refuses the relay's
        // own listeners.
        let udp = match config.udp_listen {
            Some(addr) => {
                let socket = UdpSocket::bind(addr)
                    .await
                    .map_err(|e| Error::io(format!("binding the UDP listener on {addr}"), e))?;
                enlarge_buffers(&socket);
                Some(
                    listener::ListenerConn::new(socket, Arc::clone(&stats))
                        .map_err(|e| Error::io("reading the UDP listener address", e))?
                        .with_lifetime_cap(Arc::clone(&cap)),
                )
            }
            None => None,
        };
        let mut streams = Vec::new();
        let stream_listens = [
            (config.tcp_listen, None),
            (config.tls.as_ref().map(|t| t.listen), acceptor),
        ];
        for (i, (listen, acceptor)) in stream_listens.into_iter().enumerate() {
            let Some(addr) = listen else { continue };
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::io(format!("binding the TCP listener on {addr}"), e))?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::io("reading the TCP listener address", e))?;
            streams.push((i, listener, local, acceptor));
        }
        let mut own_sockets: Vec<SocketAddr> = udp.iter().map(|u| u.addr()).collect();
        own_sockets.extend(streams.iter().map(|(_, _, local, _)| *local));
        for s in own_sockets.clone() {
            own_sockets.push(SocketAddr::new(advertised_ip, s.port()));
        }
        let mut own_ips = vec![config.relay_ip, advertised_ip];
        own_ips.extend(
            own_sockets
                .iter()
                .map(|s| s.ip())
                .filter(|ip| !ip.is_unspecified()),
        );
        own_ips.dedup();
        let filter = Arc::new(peer::PeerFilter {
            policy: config.peer_policy.clone(),
            own_ips,
            own_sockets,
            probe: Arc::clone(&config.probe_peers),
        });

        let shared = Shared {
            realm: config.realm.clone(),
            relay_ip: config.relay_ip,
            advertised_ip,
            filter,
            credentials: Arc::clone(&credentials),
            admission: Arc::clone(&admission),
            stats: Arc::clone(&stats),
            bandwidth: config
                .max_bitrate_per_allocation
                .map(peer::bytes_per_second),
        };
        let mut servers = Vec::new();
        let mut accept_tasks = Vec::new();
        let (mut udp_addr, mut tcp_addr, mut tls_addr) = (None, None, None);
        if let Some(conn) = udp {
            udp_addr = Some(conn.addr());
            servers.push(shared.server(Arc::new(conn)).await?);
        }
        let limits = StreamLimits {
            total: config.max_stream_connections,
            per_address: config.max_stream_connections_per_address,
            idle: config.stream_idle_timeout,
        };
        for (i, listener, local, acceptor) in streams {
            let conn = Arc::new(
                StreamConn::new(local, Arc::clone(&stats), limits.idle)
                    .with_lifetime_cap(Arc::clone(&cap)),
            );
            servers.push(shared.server(conn.clone()).await?);
            accept_tasks.push(tokio::spawn(accept_loop(
                listener,
                conn,
                acceptor,
                limits,
                Arc::clone(&stats),
            )));
            if i == 0 {
                tcp_addr = Some(local);
            } else {
                tls_addr = Some(local);
            }
        }
        let servers = Arc::new(servers);
        accept_tasks.push(tokio::spawn(sweep(
            Arc::clone(&servers),
            Arc::clone(&credentials),
            Arc::clone(&admission),
            Arc::clone(&stats),
        )));
        Ok(Relay {
            servers,
            accept_tasks,
            udp_addr,
            tcp_addr,
            tls_addr,
            credentials,
            admission,
            stats,
        })
    }

    /// The UDP listener's address, if any.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The TCP listener's address, if any.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The TLS listener's address, if any.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<RelayStats> {
        &self.stats
    }

    /// The credentials the relay checks against.
    pub fn credentials(&self) -> &Arc<TurnCredentials> {
        &self.credentials
    }

    /// Live allocations.
    pub fn allocations(&self) -> usize {
        self.admission.total()
    }

    /// Live allocations made with `username`.
    pub fn allocations_of(&self, username: &str) -> usize {
        self.admission.of_user(username)
    }

    /// The relay traffic of every participant of `act` that has a live
    /// allocation, by participant id (as the TURN username spells it).
    /// Cheap: one short lock, taken by allocations opening and closing,
    /// never by relayed datagrams.
    pub fn traffic_of_act(&self, act: &str) -> Vec<(String, TrafficSnapshot)> {
        self.admission.traffic_of_act(act)
    }

    /// Revokes `participant` of `act`: its credentials are refused from now
    /// on, and its allocations are deleted (relaying stops at once).
    /// Returns how many allocations were deleted.
    /// The participant's connection-test credentials (`precall-N`) are
    /// revoked with it.
    pub async fn revoke(&self, act: &str, participant: &str) -> Result<usize, Error> {
        let probe = credentials::probe_participant(participant);
        let mut deleted = 0;
        for who in [participant, probe.as_str()] {
            self.credentials.revoke(act, who);
            for (username, count) in self.admission.usernames_of(act, who) {
                for server in self.servers.iter() {
                    server
                        .delete_allocations_by_username(username.clone())
                        .await?;
                }
                deleted += count;
            }
        }
        Ok(deleted)
    }

    /// Lets `participant` of `act` (and their connection-test credentials)
    /// get working credentials again after [`Relay::revoke`]; those issued
    /// before the revocation stay dead.
    pub fn reopen(&self, act: &str, participant: &str) {
        let probe = credentials::probe_participant(participant);
        for who in [participant, probe.as_str()] {
            self.credentials.reopen_participant(act, who);
        }
    }

    /// Stops the listeners and closes every allocation. The TCP and TLS
    /// ports are free when it returns; the UDP listener's socket is
    /// released by `turn`'s read loop shortly after.
    pub async fn stop(mut self) -> Result<(), Error> {
        for task in self.accept_tasks.drain(..) {
            task.abort();
            // Returns once the listener and its streams are dropped.
            let _ = task.await;
        }
        for server in self.servers.iter() {
            server.close().await?;
        }
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropping a `turn::Server` ends its read loop; the accept loops
        // (and the streams they own) are ours to end.
        for task in &self.accept_tasks {
            task.abort();
        }
    }
}

/// The caps on one stream listener.
#[derive(Debug, Clone, Copy)]
struct StreamLimits {
    total: usize,
    per_address: usize,
    idle: Duration,
}

/// Deletes, every [`SWEEP_INTERVAL`], the allocations whose credential
/// has expired or is refused (revoked, or issued before a reopening), so
/// that an allocation dies with its credential rather than at the end of
/// the lifetime it asked for; and forgets the credential records nothing
/// can use any more.
async fn sweep(
    servers: Arc<Vec<turn::server::Server>>,
    credentials: Arc<TurnCredentials>,
    admission: Arc<Admission>,
    stats: Arc<RelayStats>,
) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = credentials::unix_now();
        for (username, count) in admission.usernames() {
            if credentials.check_username_at(&username, now).is_ok() {
                continue;
            }
            for server in servers.iter() {
                if server
                    .delete_allocations_by_username(username.clone())
                    .await
                    .is_err()
                {
                    return; // the relay is stopping
                }
            }
            stats
                .allocations_swept
                .fetch_add(count as u64, Ordering::Relaxed);
        }
        credentials.prune(now);
    }
}

/// Accepts TCP (and, with an acceptor, TLS) connections and serves each on
/// its own task, within the caps (in all and per client address).
/// Aborting this task ends every stream it accepted.
async fn accept_loop(
    listener: TcpListener,
    conn: Arc<StreamConn>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    limits: StreamLimits,
    stats: Arc<RelayStats>,
) {
    let mut streams = JoinSet::new();
    let mut per_address: std::collections::HashMap<IpAddr, usize> = Default::default();
    let mut owner: std::collections::HashMap<tokio::task::Id, IpAddr> = Default::default();
    let mut refusals = RateLimitedLog::new("TURN stream connections refused (limits reached)");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, say: back off a little.
                        tracing::warn!(%err, "TURN stream accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let mine = per_address.get(&peer.ip()).copied().unwrap_or(0);
                if streams.len() >= limits.total {
                    refusals.count();
                    continue;
                }
                if mine >= limits.per_address {
                    stats.stream_connections_refused_per_address.fetch_add(1, Ordering::Relaxed);
                    refusals.count();
                    continue;
                }
                let _ = tcp.set_nodelay(true);
                stats.stream_connections_accepted.fetch_add(1, Ordering::Relaxed);
                let conn = Arc::clone(&conn);
                let handle = match &acceptor {
                    None => streams.spawn(conn.serve(tcp, peer)),
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let stats = Arc::clone(&stats);
                        streams.spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => conn.serve(tls, peer).await,
                                Ok(Err(err)) => {
                                    stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                    tracing::debug!(%peer, %err, "TLS handshake failed");
                                }
                                Err(_) => {
                                    stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                }
                            }
                        })
                    }
                };
                per_address.insert(peer.ip(), mine + 1);
                owner.insert(handle.id(), peer.ip());
            }
            Some(done) = streams.join_next_with_id(), if !streams.is_empty() => {
                let id = match &done {
                    Ok((id, ())) => *id,
                    Err(e) => e.id(),
                };
                if let Some(ip) = owner.remove(&id)
                    && let Some(n) = per_address.get_mut(&ip)
                {
                    *n -= 1;
                    if *n == 0 {
                        per_address.remove(&ip);
                    }
                }
            }
        }
    }
}

/// A warning said at most once a minute, with how many times it happened
/// since: a flood of junk or refused connections costs a counter, not a
/// log line each.
pub(crate) struct RateLimitedLog {
    what: &'static str,
    pending: u64,
    last: Option<std::time::Instant>,
}

/// How often a [`RateLimitedLog`] speaks at most.
const LOG_SUMMARY_EVERY: Duration = Duration::from_secs(60);

impl RateLimitedLog {
    pub(crate) fn new(what: &'static str) -> Self {
        RateLimitedLog {
            what,
            pending: 0,
            last: None,
        }
    }

    /// Counts one occurrence; logs the summary if a minute has passed
    /// since the last one.
    pub(crate) fn count(&mut self) {
        self.pending += 1;
        let now = std::time::Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= LOG_SUMMARY_EVERY)
        {
            tracing::warn!(
                count = self.pending,
                "{} (summary, at most one a minute)",
                self.what
            );
            self.pending = 0;
            self.last = Some(now);
        }
    }
}

/// Socket buffer the UDP listener asks for. Every client's datagrams queue
/// on this one socket, and clients that send in the same instant (a
/// packetized video frame each) overflow the kernel's default (208 KiB
/// here) before the relay reads them. The kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`.
const UDP_BUFFER: usize = 4 << 20;

/// Asks for [`UDP_BUFFER`] both ways; a refusal only costs bursts.
fn enlarge_buffers(socket: &UdpSocket) {
    let s = socket2::SockRef::from(socket);
    if let Err(e) = s
        .set_recv_buffer_size(UDP_BUFFER)
        .and_then(|()| s.set_send_buffer_size(UDP_BUFFER))
    {
        tracing::warn!("relay: cannot enlarge the UDP buffers: {e}");
    }
}
