//! `teleconsult serve` and `teleconsult demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use session::participant::Identity;
use session::{Act, ActId, ActKind, DataDir, PatientAlias, Pii, Timestamp};
use signaling::config::FileConfig;
use signaling::links::links_for;
use signaling::node::{NodeId, RedisUrl};
use signaling::server::{self, Server, Settings, TlsSetting};
use signaling::store::StoreSetting;

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
    /// A witness to submit the trace log's checkpoints to (its base URL,
    /// e.g. http://127.0.0.1:7380); repeatable, or comma-separated in the
    /// environment; adds to the settings file's `[[witness]]` list. At
    /// start, a store smaller than or inconsistent with what a witness
    /// holds is refused (docs/WITNESS.md).
    #[arg(
        long = "witness",
        value_name = "URL",
        env = "TELECONSULT_WITNESS",
        value_delimiter = ','
    )]
    pub witnesses: Vec<String>,
    /// The trace log's origin, its name in checkpoints [default:
    /// teleconsult.localhost/trace].
    #[arg(long, env = "TELECONSULT_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// The Redis that nodes share act ownership through
    /// (redis://HOST:PORT, or rediss:// for TLS); also the settings
    /// file's `redis`. Redis must answer at start; act ownership goes
    /// through it (docs/OWNERSHIP.md).
    #[arg(
        long,
        env = "TELECONSULT_REDIS",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis: Option<String>,
    /// This node's name among the nodes sharing the store: 1 to 64 of
    /// A-Z a-z 0-9 . _ - [default: the host name]; also the settings
    /// file's `node_id`.
    #[arg(long, env = "TELECONSULT_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
    /// The URL other nodes reach this one at, registered in Redis with
    /// `--redis` (http:// or https://, with a host) [default: the listen
    /// address]; also the settings file's `advertise`.
    #[arg(long, env = "TELECONSULT_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,
}

impl ServeArgs {
    /// The settings in force: flags and environment over the file over
    /// defaults.
    fn settings(&self, data: &DataDir, store: Option<&str>) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let store = StoreSetting::resolve(store, file.store.as_deref())?;
        let redis = match self.redis.as_deref().or(file.redis.as_deref()) {
            Some(url) => Some(RedisUrl::parse(url)?),
            None => None,
        };
        let node_id = match self.node_id.as_deref().or(file.node_id.as_deref()) {
            Some(id) => NodeId::new(id)?,
            None => NodeId::from_hostname(),
        };
        let advertise = match self.advertise.as_deref().or(file.advertise.as_deref()) {
            Some(url) => {
                signaling::cluster::check_advertise(url)?;
                Some(url.to_owned())
            }
            None => None,
        };
        let mut witnesses = file
            .witnesses()
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        for url in &self.witnesses {
            let w = signaling::witnessing::WitnessConfig::new(url, None)?;
            if !witnesses.iter().any(|known| known.url == w.url) {
                witnesses.push(w);
            }
        }
        let log_origin = self.log_origin.clone().or(file.log_origin.clone());
        if let Some(origin) = &log_origin
            && !signaling::config::is_log_origin(origin)
        {
            anyhow::bail!("log origin {origin:?}: non-empty, without spaces or '+'");
        }
        let witness_interval = file.witness_interval_secs;
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
        let insecure_http = self.insecure_http || file.insecure_http.unwrap_or(false);
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
            _ => (file.cert.clone(), file.key.clone()),
        };
        let tls = match (insecure_http, cert, key) {
            (true, _, _) => TlsSetting::Off,
            (false, Some(cert), Some(key)) => TlsSetting::Files { cert, key },
            (false, None, None) => TlsSetting::SelfSigned,
            _ => anyhow::bail!("give both a certificate and its key, or neither"),
        };
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
        let mut settings = Settings::new(data.clone(), listen, public_url);
        settings.tls = tls;
        if let Some(h) = file.link_ttl_hours {
            settings.link_ttl = std::time::Duration::from_secs(u64::from(h) * 3600);
        }
        settings.ice_servers = file.ice_servers;
        settings.relay_port = self.relay_port.or(file.relay_port);
        settings.relay = !(self.no_relay || file.no_relay.unwrap_or(false));
        settings.peer_policy = peer_policy;
        if let Some(s) = self.recovery_timeout.or(file.recovery_timeout_secs) {
            settings.recovery_timeout = std::time::Duration::from_secs(u64::from(s));
        }
        if let Some(s) = file.shutdown_grace_secs {
            settings.shutdown_grace = std::time::Duration::from_secs(u64::from(s));
        }
        settings.witnesses = witnesses;
        if let Some(origin) = log_origin {
            settings.log_origin = origin;
        }
        if let Some(s) = witness_interval {
            settings.witness_interval = std::time::Duration::from_secs(u64::from(s));
        }
        settings.store = store;
        settings.redis = redis;
        settings.node_id = node_id;
        settings.advertise = advertise;
        settings.http = file.http;
        settings.oidc = file.oidc;
        settings.incident_thresholds = file
            .incidents
            .thresholds()
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        Ok(settings)
    }
}

/// Builds the server, saying on stderr what it runs beside it.
async fn build(settings: &Settings) -> anyhow::Result<Server> {
    if settings.relay && !settings.peer_policy.allow.is_empty() {
        let ranges: Vec<String> = settings
            .peer_policy
            .allow
            .iter()
            .map(|r| r.to_string())
            .collect();
        eprintln!("TURN relay: peers allowed in {}", ranges.join(", "));
    }
    let server = server::build(settings.clone()).await?;
    if !settings.witnesses.is_empty() {
        let urls: Vec<&str> = settings.witnesses.iter().map(|w| w.url.as_str()).collect();
        let vkey = server
            .state
            .store
            .log_signer()
            .map(|l| l.verifier_key())
            .unwrap_or_default();
        eprintln!("trace log {vkey} witnessed by {}", urls.join(", "));
    }
    if let Some(relay) = &server.state.config.relay {
        eprintln!("TURN relay on {}", relay.urls.join(", "));
    }
    let ip = settings.listen.ip();
    if settings.probe && ip.is_unspecified() {
        eprintln!("no connection test peer: it needs a concrete --listen address, not {ip}");
    }
    Ok(server)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn serve(data: &DataDir, store: Option<&str>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings(data, store)?;
    let rt = runtime()?;
    rt.block_on(async {
        let server = build(&settings).await?;
        run(server, &settings).await
    })
}

/// Listens on the settings' address and serves until Ctrl-C or SIGTERM.
async fn run(server: Server, settings: &Settings) -> anyhow::Result<ExitCode> {
    let listener = server::bind(settings.listen, &server.tls)?;
    eprintln!(
        "teleconsult listening on {} ({})",
        settings.listen, settings.public_url
    );
    server
        .run(listener, async {
            stop_signal().await;
            eprintln!("stopping");
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM (what service managers send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Starts the server with a demo téléconsultation and prints its links.
pub fn demo(data: &DataDir, store: Option<&str>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = args.settings(data, store)?;
    // The demo runs both participants on this machine: on loopback, it
    // opts in to loopback peers, and says so (a server never does).
    if settings.listen.ip().is_loopback() && settings.peer_policy.allow.is_empty() {
        settings.peer_policy = media::PeerPolicy::allowing(&["127.0.0.0/8", "::1"])?;
        eprintln!("demo: the relay may reach loopback peers (127.0.0.0/8, ::1)");
    }
    let rt = runtime()?;
    rt.block_on(async {
        let server = build(&settings).await?;
        let state = &server.state;
        let now = Timestamp::now();
        let new = session::act::NewAct {
            kind: ActKind::Teleconsultation,
            requester: signaling::api::professional("Dr Exemple Démo", "10000000009")?,
            expert: None,
            patient: Identity::Patient {
                alias: Pii::new(PatientAlias::random()),
            },
            patient_present: true,
            expertise: None,
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
        run(server, &settings).await
    })
}
