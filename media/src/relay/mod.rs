//! The TURN relay: the `turn` 0.17 server behind UDP, TCP and TLS
//! listeners, with TURN REST API credentials, revocation, quotas, a peer
//! address policy and counters.
//!
//! Browsers reach it with `turn:HOST:PORT?transport=udp`,
//! `turn:HOST:PORT?transport=tcp` and `turns:HOST:PORT?transport=tcp`;
//! relayed transport addresses are always UDP (no RFC 6062 TCP
//! allocations).
//!
//! One module per concern; a module uses only those below it in this
//! list (checked by the module-graph tool):
//! - [`Relay`] (here): binds the listeners, starts one TURN server per
//!   listener, revokes, sweeps expired and revoked allocations, stops;
//! - the transports, each a datagram socket (`socket::Datagrams`) the TURN
//!   server reads from: `listener` (UDP, one socket per shard) and
//!   [`stream`] (TCP and TLS: the accept loop, and the streams of a
//!   listener as one socket, cut by [`framing`], sans IO); both lower
//!   over-long allocation lifetimes in requests (`lifetime`) before the
//!   TURN server reads them. A new transport is one more such module,
//!   handed to `TurnServer::start`;
//! - `shard`: the UDP data path, one thread per core: it reads the
//!   listener and the relayed sockets in batches and relays the media the
//!   routing table knows itself, handing the rest to the TURN server;
//! - `turn_server`: the only file that speaks to the `turn` crate, putting
//!   our sockets, credentials check and allocator behind its interfaces;
//! - `relayed`: the relayed socket of one allocation (peer check, bitrate
//!   cap, traffic counting) and the `Allocator` that opens it;
//! - `quota`: quotas and slots, the live allocations by participant;
//!   [`peer`]: the peer policy;
//! - [`fastpath`]: the data path's core (in-place codecs, routing tables,
//!   batched system calls);
//! - leaves: [`credentials`] (TURN REST API credentials and revocation),
//!   [`traffic`] (a participant's counters), [`config`], [`stats`],
//!   `socket`, `log`, `tls`.

pub mod config;
pub mod credentials;
pub mod fastpath;
pub mod framing;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod handover;
mod lifetime;
mod listener;
mod log;
pub mod peer;
mod quota;
mod relayed;
mod shard;
mod socket;
pub mod stats;
pub mod stream;
mod tls;
pub mod traffic;
mod turn_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Error;
pub use config::{
    DEFAULT_MAX_BITRATE, DEFAULT_STREAM_CONNECTIONS_PER_ADDRESS, DEFAULT_STREAM_IDLE_TIMEOUT,
    RelayConfig, TlsConfig,
};
use credentials::TurnCredentials;
pub use peer::{IpRange, PeerPolicy};
use quota::Admission;
use shard::{Shard, ShardContext};
pub use stats::{RelayStats, StatsSnapshot};
use stream::{StreamConn, StreamLimits};
pub use traffic::TrafficSnapshot;
pub use turn_server::TurnError;
use turn_server::TurnServer;

/// How often expired or revoked credentials' allocations are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A running relay. Dropping it stops the listeners too; [`Relay::stop`]
/// also waits for the allocations to close.
pub struct Relay {
    servers: Arc<Vec<TurnServer>>,
    shards: Vec<Shard>,
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
            quota::Quotas {
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
        let shard_count = match config.udp_shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let udp = match config.udp_listen {
            Some(addr) => listener::bind(addr, shard_count)
                .map_err(|e| Error::io(format!("binding the UDP listener on {addr}"), e))?,
            None => Vec::new(),
        };
        let udp_local = match udp.first() {
            Some(s) => Some(
                s.local_addr()
                    .map_err(|e| Error::io("reading the UDP listener address", e))?,
            ),
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
        let mut own_sockets: Vec<SocketAddr> = udp_local.into_iter().collect();
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

        let claims = Arc::new(relayed::Claims::default());
        let allocator = Arc::new(relayed::Allocator {
            relay_ip: config.relay_ip,
            advertised_ip,
            admission: Arc::clone(&admission),
            filter,
            stats: Arc::clone(&stats),
            bandwidth: config
                .max_bitrate_per_allocation
                .map(relayed::bytes_per_second),
            claims: Arc::clone(&claims),
        });
        let mut servers = Vec::new();
        let mut accept_tasks = Vec::new();
        let (mut tcp_addr, mut tls_addr) = (None, None);
        let udp_addr = udp_local;
        let owners = Arc::new(handover::Owners::default());
        let links = Arc::new(std::sync::OnceLock::new());
        let context = || ShardContext {
            claims: Arc::clone(&claims),
            stats: Arc::clone(&stats),
            cap: Some(Arc::clone(&cap)),
            relay_ip: config.relay_ip,
            owners: Arc::clone(&owners),
            links: Arc::clone(&links),
        };
        let mut shards = Vec::new();
        for (i, socket) in udp.into_iter().enumerate() {
            let (shard, from_shard) = Shard::start(i, Some(socket), context())
                .map_err(|e| Error::io("starting a UDP shard", e))?;
            let conn = listener::ListenerConn::new(
                udp_local.expect("a UDP socket was bound"),
                from_shard,
                shard.link(),
            );
            shards.push(shard);
            servers.push(
                TurnServer::start(
                    Arc::new(conn),
                    config.realm.clone(),
                    Arc::clone(&credentials),
                    Arc::clone(&allocator),
                    Arc::clone(&stats),
                )
                .await?,
            );
        }
        if shards.is_empty() {
            // No UDP listener: one shard still reads the relayed sockets
            // of TCP and TLS allocations.
            let (shard, _) = Shard::start(0, None, context())
                .map_err(|e| Error::io("starting the relayed sockets' shard", e))?;
            shards.push(shard);
        }
        // Until this is set, a hairpin across shards takes the kernel path.
        let _ = links.set(shards.iter().map(Shard::link).collect());
        let limits = StreamLimits {
            total: config.max_stream_connections,
            per_address: config.max_stream_connections_per_address,
            idle: config.stream_idle_timeout,
        };
        for (i, listener, local, acceptor) in streams {
            let conn = Arc::new(
                StreamConn::new(local, Arc::clone(&stats), limits.idle)
                    .with_lifetime_cap(Arc::clone(&cap))
                    .with_adoption(Arc::clone(&claims), shards[i % shards.len()].link()),
            );
            servers.push(
                TurnServer::start(
                    conn.clone(),
                    config.realm.clone(),
                    Arc::clone(&credentials),
                    Arc::clone(&allocator),
                    Arc::clone(&stats),
                )
                .await?,
            );
            accept_tasks.push(tokio::spawn(stream::accept_loop(
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
            shards,
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
                    server.delete_allocations_of(&username).await?;
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

    /// Stops the listeners and closes every allocation. The TCP, TLS and
    /// UDP ports are free when it returns.
    pub async fn stop(mut self) -> Result<(), Error> {
        for task in self.accept_tasks.drain(..) {
            task.abort();
            // Returns once the listener and its streams are dropped.
            let _ = task.await;
        }
        for server in self.servers.iter() {
            server.close().await?;
        }
        for shard in self.shards.drain(..) {
            shard.stop().await;
        }
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropping a `TurnServer` ends its read loop; the accept loops
        // (and the streams they own) are ours to end.
        for task in &self.accept_tasks {
            task.abort();
        }
    }
}

/// Deletes, every [`SWEEP_INTERVAL`], the allocations whose credential
/// has expired or is refused (revoked, or issued before a reopening), so
/// that an allocation dies with its credential rather than at the end of
/// the lifetime it asked for; and forgets the credential records nothing
/// can use any more.
async fn sweep(
    servers: Arc<Vec<TurnServer>>,
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
            // Counted first: whoever sees the allocations gone sees them
            // counted.
            stats
                .allocations_swept
                .fetch_add(count as u64, Ordering::Relaxed);
            for server in servers.iter() {
                if server.delete_allocations_of(&username).await.is_err() {
                    return; // the relay is stopping
                }
            }
        }
        credentials.prune(now);
    }
}
