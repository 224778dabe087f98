//! Assembling a server from its [`Settings`]: the trace store and keys,
//! TLS, the TURN relay, the connection test peer and sign-in. The binary
//! and the tests assemble with the same [`build`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use session::DataDir;
use session::incident::Thresholds;

use super::Server;
use super::listen::{Tls, self_signed};
use crate::Error;
use crate::access::Security;
use crate::auth::LocalAccounts;
use crate::auth::oidc::OidcSignIn;
use crate::node::{NodeId, RedisUrl};
use crate::protocol::IceServer;
use crate::relay_access::RelayAccess;
use crate::state::{AppState, ServerConfig, server_secrets};
use crate::store::StoreSetting;
use crate::throttle::HttpLimits;
use crate::witnessing::WitnessConfig;

/// How long a shutdown may take by default before the server stops anyway.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the relay's call credentials last.
const RELAY_CREDENTIALS_TTL: Duration = Duration::from_secs(12 * 3600);

/// What a server is built from. The binary fills it from its flags, the
/// environment and the settings file; tests choose theirs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data directory: the trace store, its keys, the self-signed
    /// certificate.
    pub data: DataDir,
    /// The address the server listens on. The relay and the connection
    /// test peer bind on its IP, so they reach browsers the same way.
    pub listen: SocketAddr,
    /// The base URL participants reach the server at, for join links.
    pub public_url: String,
    pub tls: TlsSetting,
    /// How long join links work.
    pub link_ttl: Duration,
    /// ICE servers handed to participants once media is allowed (besides
    /// the relay's).
    pub ice_servers: Vec<IceServer>,
    /// Whether to run the TURN relay beside the server.
    pub relay: bool,
    /// The relay's UDP and TCP port (TLS on the next); `None`: 3478, or
    /// any free port on loopback.
    pub relay_port: Option<u16>,
    /// Which peers the relay may reach.
    pub peer_policy: media::PeerPolicy,
    /// Whether to run the pre-call connection test peer.
    pub probe: bool,
    /// Whether professionals sign in (and the trace routes and the access
    /// log are on).
    pub sign_in: bool,
    /// Sign-in over OpenID Connect besides the local accounts (with
    /// `sign_in` only).
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
    /// How long a participant whose connection dropped during the
    /// performance may stay away before the act is marked interrupted.
    pub recovery_timeout: Duration,
    /// Rate, in-flight and time limits on HTTP requests.
    pub http: HttpLimits,
    /// When clients' stats make an incident.
    pub incident_thresholds: Thresholds,
    /// How long a shutdown may take (rooms told, trace flushed, sockets
    /// closed) before [`Server::run`] returns anyway.
    pub shutdown_grace: Duration,
    /// The trace log's origin, its name in checkpoints.
    pub log_origin: String,
    /// The witnesses its checkpoints are submitted to; checked at start
    /// (a smaller or inconsistent store is refused).
    pub witnesses: Vec<WitnessConfig>,
    /// How often checkpoints are submitted while the tree grows.
    pub witness_interval: Duration,
    /// Where the trace lives; the embedded store in `data` by default.
    pub store: StoreSetting,
    /// The Redis nodes share act ownership through (issue 16): connected
    /// at start (a Redis down is refused), the node registered there, and
    /// every live room's act leased there. `None`: a single node.
    pub redis: Option<RedisUrl>,
    /// This node's name among the nodes sharing the store; logged at start.
    pub node_id: NodeId,
    /// The URL other nodes reach this one at, registered with the
    /// heartbeat (with `redis`); `None`: the listen address (see
    /// [`crate::cluster::default_advertise`]).
    pub advertise: Option<String>,
}

/// Which certificate the server listens with.
#[derive(Clone, Debug)]
pub enum TlsSetting {
    /// PEM certificate chain and key files.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made under `DATA/tls/` on first start.
    SelfSigned,
    /// Plain HTTP, allowed on loopback only, for development and tests.
    Off,
}

impl Settings {
    /// The defaults of `teleconsult serve`: TLS with a self-signed
    /// certificate, the relay, the connection test and sign-in on.
    pub fn new(data: DataDir, listen: SocketAddr, public_url: String) -> Settings {
        Settings {
            data,
            listen,
            public_url,
            tls: TlsSetting::SelfSigned,
            link_ttl: crate::links::DEFAULT_TTL,
            ice_servers: Vec::new(),
            relay: true,
            relay_port: None,
            peer_policy: media::PeerPolicy::default(),
            probe: true,
            sign_in: true,
            oidc: None,
            recovery_timeout: crate::room::DEFAULT_RECOVERY_TIMEOUT,
            http: HttpLimits::default(),
            incident_thresholds: Thresholds::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            log_origin: session::tlog::DEFAULT_ORIGIN.to_owned(),
            witnesses: Vec::new(),
            witness_interval: crate::witnessing::DEFAULT_INTERVAL,
            store: StoreSetting::default(),
            redis: None,
            node_id: NodeId::from_hostname(),
            advertise: None,
        }
    }
}

/// Opens the trace store and keys of `settings.data`, checks it against
/// the witnesses' checkpoints (a rollback or fork is [`Error::Rollback`]
/// or [`Error::ForkedStore`]), starts the relay and the connection test
/// peer, turns sign-in on and starts submitting checkpoints, as the
/// settings say. Nothing listens yet: [`Server::run`] does.
pub async fn build(settings: Settings) -> Result<Server, Error> {
    // The access tables live beside the trace: in the embedded store's
    // file (wherever `--store` puts it), or in the same PostgreSQL
    // database, on the trace's pool.
    let data = &settings.store.data_dir(&settings.data);
    let (opened, keys) =
        crate::store::open_writer_with_access(&settings.store, data, &settings.log_origin)?;
    let store = opened.trace.clone();
    tracing::info!(
        node = %settings.node_id,
        store = %store.location(),
        redis = %settings.redis.as_ref().map_or_else(|| "none".to_owned(), ToString::to_string),
        "starting"
    );
    let tls = match &settings.tls {
        TlsSetting::Off => Tls::Off,
        TlsSetting::Files { cert, key } => Tls::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        TlsSetting::SelfSigned => self_signed(&data.root().join("tls"))?,
    };
    // Redis down at start is refused, naming it and its host:port.
    let cluster = match &settings.redis {
        Some(url) => {
            let advertise = match &settings.advertise {
                Some(a) => {
                    crate::cluster::check_advertise(a)?;
                    a.clone()
                }
                None => crate::cluster::default_advertise(
                    settings.listen,
                    !matches!(settings.tls, TlsSetting::Off),
                )?,
            };
            let own_cert = match &tls {
                Tls::Files { cert, .. } => Some(cert.as_path()),
                Tls::Off => None,
            };
            let link = crate::cluster::NodeLink {
                secret: crate::state::cluster_secret(data)?,
                tls: crate::cluster::forward::peer_tls(own_cert)?,
            };
            let cluster =
                crate::cluster::Cluster::start(url, &settings.node_id, &advertise, link).await?;
            tracing::info!(node = %settings.node_id, %advertise, "registered with Redis");
            Some(Arc::new(cluster))
        }
        None => None,
    };
    // Before anything else starts: a store older than, or forked from,
    // what a witness holds is refused here.
    // (With no witness this only readies the checkpointing task.)
    let witnessing = crate::witnessing::check_at_start(
        &*store,
        &settings.witnesses,
        &keys.trusted,
        settings.witness_interval,
    )
    .await?;
    let (invitations, api_token) = server_secrets(data)?;
    // The relay lets connection-test credentials reach the probe's
    // sockets, and nothing else.
    let probe_peers = Arc::new(media::ProbePeers::default());
    let relay = if settings.relay {
        Some(start_relay(&settings, &tls, probe_peers.clone()).await?)
    } else {
        None
    };
    let probe = settings
        .probe
        .then(|| start_probe(&settings, probe_peers))
        .flatten();
    let security = if settings.sign_in {
        let data_keys = data.key_dir().data_keys()?;
        let access = Arc::new(opened.access(
            keys.signer.clone(),
            data_keys.clone(),
            keys.trusted.clone(),
        )?);
        let security = Security::new(
            access.clone(),
            Arc::new(LocalAccounts {
                access: access.clone(),
            }),
            data_keys,
            keys.trusted.clone(),
        );
        match &settings.oidc {
            Some(oidc) => {
                let oidc = Arc::new(OidcSignIn::new(oidc.clone(), &settings.public_url, access)?);
                // The provider may be down now: the server starts anyway,
                // and sign-ins fetch its discovery document when it answers.
                let warm = oidc.clone();
                tokio::spawn(async move { warm.warm_up().await });
                Some(security.with_oidc(oidc))
            }
            None => Some(security),
        }
    } else {
        None
    };
    let state = AppState::new(
        store,
        keys.data,
        invitations,
        api_token,
        ServerConfig {
            public_url: settings.public_url.clone(),
            ice_servers: settings.ice_servers.clone(),
            link_ttl: settings.link_ttl,
            relay,
            recovery_timeout: settings.recovery_timeout,
            incident_thresholds: settings.incident_thresholds.clone(),
            http: settings.http.clone(),
        },
    );
    if let Some(probe) = probe {
        state.set_probe(probe);
    }
    if let Some(security) = security {
        state.secure(security)?;
    }
    if let Some(cluster) = cluster {
        state.set_cluster(cluster.clone());
        tokio::spawn(watch_redis(
            cluster,
            state.metrics.clone(),
            state.stopping(),
        ));
    }
    state.set_witnessing(witnessing.spawn(
        state.store.clone(),
        state.metrics.clone(),
        state.stopping(),
    ));
    Ok(Server {
        state,
        tls,
        trusted: keys.trusted,
        shutdown_grace: settings.shutdown_grace,
    })
}

/// How often the Redis answering gauge is refreshed.
const REDIS_WATCH_EVERY: Duration = Duration::from_secs(1);

/// Keeps `teleconsult_lease_redis_answering` current until the server
/// stops.
async fn watch_redis(
    cluster: Arc<crate::cluster::Cluster>,
    metrics: crate::metrics::Metrics,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(REDIS_WATCH_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let up = cluster.redis().ping().await.is_ok();
                metrics.redis_up.set(i64::from(up));
            }
            stopped = async { stopping.wait_for(|s| *s).await.is_ok() } => {
                let _ = stopped;
                return;
            }
        }
    }
}

/// Starts the TURN relay beside the server: UDP and TCP on one port, TLS
/// on the next when the server has a certificate. Credentials are signed
/// with a secret made at start, so they die with the process.
async fn start_relay(
    settings: &Settings,
    tls: &Tls,
    probe_peers: Arc<media::ProbePeers>,
) -> Result<RelayAccess, Error> {
    let ip = settings.listen.ip();
    if ip.is_unspecified() {
        return Err(Error::RelayNeedsAddress(ip));
    }
    let loopback = ip.is_loopback();
    let port = settings
        .relay_port
        .unwrap_or(if loopback { 0 } else { 3478 });
    let mut config = media::RelayConfig::loopback("teleconsult");
    config.udp_listen = Some(SocketAddr::new(ip, port));
    config.tcp_listen = Some(SocketAddr::new(ip, port));
    config.relay_ip = ip;
    config.peer_policy = settings.peer_policy.clone();
    config.probe_peers = probe_peers;
    if let Tls::Files { cert, key } = tls {
        config.tls = Some(media::TlsConfig {
            listen: SocketAddr::new(ip, if port == 0 { 0 } else { port + 1 }),
            cert_pem: cert.clone(),
            key_pem: key.clone(),
        });
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(Error::Randomness)?;
    let credentials = Arc::new(media::TurnCredentials::new(secret.to_vec())?);
    let relay = media::Relay::start(config, credentials.clone())
        .await
        .map_err(Error::RelayStart)?;
    let mut urls = Vec::new();
    if let Some(a) = relay.udp_addr() {
        urls.push(format!("turn:{a}?transport=udp"));
    }
    if let Some(a) = relay.tcp_addr() {
        urls.push(format!("turn:{a}?transport=tcp"));
    }
    if let Some(a) = relay.tls_addr() {
        let host = if loopback {
            "localhost".to_string()
        } else {
            a.ip().to_string()
        };
        urls.push(format!("turns:{host}:{}?transport=tcp", a.port()));
    }
    Ok(RelayAccess {
        relay: Arc::new(relay),
        credentials,
        urls,
        ttl: RELAY_CREDENTIALS_TTL,
    })
}

/// The pre-call connection test peer, on the address the server listens
/// on (so the relay reaches it the way it reaches browsers). Not run on a
/// wildcard address, where it could not tell browsers where it is.
fn start_probe(settings: &Settings, peers: Arc<media::ProbePeers>) -> Option<Arc<media::Probe>> {
    let ip = settings.listen.ip();
    if ip.is_unspecified() {
        return None;
    }
    let mut config = media::ProbeConfig::new(ip);
    config.peers = peers;
    Some(Arc::new(media::Probe::new(config)))
}
