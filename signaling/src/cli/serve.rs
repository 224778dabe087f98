//! `teleconsult serve` and `teleconsult demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use session::participant::Identity;
use session::{Act, ActId, ActKind, DataDir, PatientAlias, Pii, Timestamp, TraceStore};
use signaling::config::FileConfig;
use signaling::links::{DEFAULT_TTL, links_for};
use signaling::relay_access::RelayAccess;
use signaling::server::{self, Tls};
use signaling::state::server_secrets;
use signaling::{AppState, ServerConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML settings file (see docs); flags and environment override it.
    #[arg(long, env = "TELECONSULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8443].
    #[arg(long, env = "TELECONSULT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The URL participants reach this server at, for join links. Defaults
    /// to https://localhost:PORT (http:// with --insecure-http).
    #[arg(long, env = "TELECONSULT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain; without it a self-signed one is made in
    /// DATA/tls/ on first start.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Plain HTTP, for development on loopback only.
    #[arg(long, conflicts_with = "cert")]
    pub insecure_http: bool,
    /// UDP and TCP port of the TURN relay (TLS uses the next port) [default:
    /// 3478; any free port when listening on loopback].
    #[arg(long, env = "TELECONSULT_RELAY_PORT")]
    pub relay_port: Option<u16>,
    /// Run without the TURN relay: media can then only go peer to peer.
    #[arg(long)]
    pub no_relay: bool,
    /// Address ranges the relay may relay to although they are loopback,
    /// private, link-local or this server's own (comma-separated
    /// ADDRESS/PREFIX, e.g. 127.0.0.0/8); adds to the settings file's
    /// `[relay] allow_peers`. Refused by default.
    #[arg(long, env = "TELECONSULT_RELAY_ALLOW_PEERS", value_delimiter = ',')]
    pub relay_allow_peers: Vec<String>,
    /// Seconds a participant whose connection dropped during the call may
    /// stay away before the act is marked interrupted [default: 30].
    #[arg(long, env = "TELECONSULT_RECOVERY_TIMEOUT", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub recovery_timeout: Option<u32>,
}

/// The settings in force: flags and environment over the file over defaults.
#[derive(Debug)]
struct Settings {
    listen: SocketAddr,
    public_url: String,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    insecure_http: bool,
    link_ttl: std::time::Duration,
    ice_servers: Vec<signaling::protocol::IceServer>,
    relay_port: Option<u16>,
    no_relay: bool,
    /// Which peers the relay may reach.
    peer_policy: media::PeerPolicy,
    recovery_timeout: std::time::Duration,
    http: signaling::throttle::HttpLimits,
    incident_thresholds: session::incident::Thresholds,
}

impl ServeArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
        let insecure_http = self.insecure_http || file.insecure_http.unwrap_or(false);
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
            _ => (file.cert.clone(), file.key.clone()),
        };
        if cert.is_some() != key.is_some() {
            anyhow::bail!("give both a certificate and its key, or neither");
        }
        let public_url = self
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| {
                let scheme = if insecure_http { "http" } else { "https" };
                let host = if listen.ip().is_loopback() {
                    "localhost".to_string()
                } else {
                    listen.ip().to_string()
                };
                format!("{scheme}://{host}:{}", listen.port())
            });
        let mut relay_settings = file.relay.clone();
        relay_settings
            .allow_peers
            .extend(self.relay_allow_peers.iter().cloned());
        let peer_policy = relay_settings
            .peer_policy()
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        Ok(Settings {
            listen,
            public_url,
            cert,
            key,
            insecure_http,
            link_ttl: file
                .link_ttl_hours
                .map(|h| std::time::Duration::from_secs(u64::from(h) * 3600))
                .unwrap_or(DEFAULT_TTL),
            ice_servers: file.ice_servers,
            relay_port: self.relay_port.or(file.relay_port),
            no_relay: self.no_relay || file.no_relay.unwrap_or(false),
            peer_policy,
            recovery_timeout: self
                .recovery_timeout
                .or(file.recovery_timeout_secs)
                .map(|s| std::time::Duration::from_secs(u64::from(s)))
                .unwrap_or(signaling::room::DEFAULT_RECOVERY_TIMEOUT),
            http: file.http,
            incident_thresholds: file
                .incidents
                .thresholds()
                .map_err(|e| anyhow::anyhow!("settings: {e}"))?,
        })
    }
}

/// Starts the TURN relay beside the server: UDP and TCP on one port, TLS
/// on the next when the server has a certificate. Credentials are signed
/// with a secret made at start, so they die with the process.
async fn start_relay(
    args: &Settings,
    tls: &Tls,
    probe_peers: Arc<media::ProbePeers>,
) -> anyhow::Result<Option<RelayAccess>> {
    if args.no_relay {
        return Ok(None);
    }
    let ip = args.listen.ip();
    anyhow::ensure!(
        !ip.is_unspecified(),
        "the relay needs a concrete listen address, not {ip}; give --listen IP:PORT or --no-relay"
    );
    let loopback = ip.is_loopback();
    let port = args.relay_port.unwrap_or(if loopback { 0 } else { 3478 });
    let mut config = media::RelayConfig::loopback("teleconsult");
    config.udp_listen = Some(SocketAddr::new(ip, port));
    config.tcp_listen = Some(SocketAddr::new(ip, port));
    config.relay_ip = ip;
    config.peer_policy = args.peer_policy.clone();
    config.probe_peers = probe_peers;
    if !config.peer_policy.allow.is_empty() {
        let ranges: Vec<String> = config
            .peer_policy
            .allow
            .iter()
            .map(|r| r.to_string())
            .collect();
        eprintln!("TURN relay: peers allowed in {}", ranges.join(", "));
    }
    if let Tls::Files { cert, key } = tls {
        config.tls = Some(media::TlsConfig {
            listen: SocketAddr::new(ip, if port == 0 { 0 } else { port + 1 }),
            cert_pem: cert.clone(),
            key_pem: key.clone(),
        });
    }
    let mut secret = [0u8; 32];
    getrandom_secret(&mut secret)?;
    let credentials = Arc::new(media::TurnCredentials::new(secret.to_vec())?);
    let relay = media::Relay::start(config, credentials.clone())
        .await
        .context("cannot start the TURN relay (use --relay-port or --no-relay)")?;
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
    eprintln!("TURN relay on {}", urls.join(", "));
    Ok(Some(RelayAccess {
        relay: Arc::new(relay),
        credentials,
        urls,
        ttl: std::time::Duration::from_secs(12 * 3600),
    }))
}

/// The pre-call connection test peer, on the address the server listens
/// on (so the relay reaches it the way it reaches browsers). Not run on a
/// wildcard address, where it could not tell browsers where it is.
fn start_probe(args: &Settings, peers: Arc<media::ProbePeers>) -> Option<Arc<media::Probe>> {
    let ip = args.listen.ip();
    if ip.is_unspecified() {
        eprintln!("no connection test peer: it needs a concrete --listen address, not {ip}");
        return None;
    }
    let mut config = media::ProbeConfig::new(ip);
    config.peers = peers;
    Some(Arc::new(media::Probe::new(config)))
}

fn getrandom_secret(buf: &mut [u8]) -> anyhow::Result<()> {
    getrandom::fill(buf).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))
}

async fn build(data: &DataDir, args: &Settings) -> anyhow::Result<(AppState, Tls)> {
    let (store, keys) = data.open_writer().context("cannot open the trace store")?;
    let (invitations, api_token) = server_secrets(data)?;
    let tls = if args.insecure_http {
        Tls::Off
    } else if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        Tls::Files {
            cert: cert.clone(),
            key: key.clone(),
        }
    } else {
        server::self_signed(&data.root().join("tls"))?
    };
    // The relay lets connection-test credentials reach the probe's
    // sockets, and nothing else.
    let probe_peers = Arc::new(media::ProbePeers::default());
    let relay = start_relay(args, &tls, probe_peers.clone()).await?;
    let probe = start_probe(args, probe_peers);
    let data_keys = data.key_dir().data_keys()?;
    let access = Arc::new(session::access::AccessStore::open(
        &data.db_path(),
        keys.signer.clone(),
        data_keys.clone(),
    )?);
    let security = signaling::access::Security::new(
        access.clone(),
        Arc::new(signaling::auth::LocalAccounts { access }),
        data_keys,
        keys.trusted.clone(),
    );
    let state = AppState::new(
        Arc::new(store),
        keys.data,
        invitations,
        api_token,
        ServerConfig {
            public_url: args.public_url.clone(),
            ice_servers: args.ice_servers.clone(),
            link_ttl: args.link_ttl,
            relay,
            recovery_timeout: args.recovery_timeout,
            incident_thresholds: args.incident_thresholds.clone(),
            http: args.http.clone(),
        },
    );
    if let Some(probe) = probe {
        state.set_probe(probe);
    }
    state.secure(security)?;
    Ok((state, tls))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn serve(data: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = args.settings()?;
    let rt = runtime()?;
    rt.block_on(async {
        let (state, tls) = build(data, &args).await?;
        eprintln!(
            "teleconsult listening on {} ({})",
            args.listen, args.public_url
        );
        run(state, args.listen, tls).await
    })
}

async fn run(state: AppState, listen: SocketAddr, tls: Tls) -> anyhow::Result<ExitCode> {
    let app = signaling::app(state.clone());
    let limits = state.config.http.clone();
    tokio::select! {
        r = server::serve(app, listen, tls, &limits) => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    state.store.close();
    Ok(ExitCode::SUCCESS)
}

/// Starts the server with a demo téléconsultation and prints its links.
pub fn demo(data: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut args = args.settings()?;
    // The demo runs both participants on this machine: on loopback, it
    // opts in to loopback peers, and says so (a server never does).
    if args.listen.ip().is_loopback() && args.peer_policy.allow.is_empty() {
        args.peer_policy = media::PeerPolicy::allowing(&["127.0.0.0/8", "::1"])?;
        eprintln!("demo: the relay may reach loopback peers (127.0.0.0/8, ::1)");
    }
    let rt = runtime()?;
    rt.block_on(async {
        let (state, tls) = build(data, &args).await?;
        let now = Timestamp::now();
        let new = session::act::NewAct {
            kind: ActKind::Teleconsultation,
            requester: signaling::api::professional("Dr Exemple Démo", "10000000009")?,
            expert: None,
            patient: Identity::Patient {
                alias: Pii::new(PatientAlias::random()),
            },
            patient_present: true,
        };
        let (act, events) = Act::open(ActId::random(), new, now)?;
        state.store.append(act.id, Some(0), events)?;
        let links = links_for(
            &act,
            &state.config.public_url,
            &state.invitations,
            now,
            state.config.link_ttl,
        );
        println!("demo téléconsultation {}", act.id);
        for (role, link) in &links {
            println!("  {role:<13} {link}");
        }
        println!("Open both links in a browser (the certificate is self-signed).");
        println!(
            "Afterwards: teleconsult --data {} trace show {}",
            data.root().display(),
            act.id
        );
        eprintln!(
            "teleconsult listening on {} ({})",
            args.listen, args.public_url
        );
        run(state, args.listen, tls).await
    })
}
