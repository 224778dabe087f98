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
        })
    }
}

fn build(data: &DataDir, args: &Settings) -> anyhow::Result<(AppState, Tls)> {
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
    let state = AppState::new(
        Arc::new(store),
        keys.data,
        invitations,
        api_token,
        ServerConfig {
            public_url: args.public_url.clone(),
            ice_servers: args.ice_servers.clone(),
            link_ttl: args.link_ttl,
        },
    );
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
        let (state, tls) = build(data, &args)?;
        eprintln!(
            "teleconsult listening on {} ({})",
            args.listen, args.public_url
        );
        run(state, args.listen, tls).await
    })
}

async fn run(state: AppState, listen: SocketAddr, tls: Tls) -> anyhow::Result<ExitCode> {
    let app = signaling::app(state.clone());
    tokio::select! {
        r = server::serve(app, listen, tls) => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
    }
    state.store.close();
    Ok(ExitCode::SUCCESS)
}

/// Starts the server with a demo téléconsultation and prints its links.
pub fn demo(data: &DataDir, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = args.settings()?;
    let rt = runtime()?;
    rt.block_on(async {
        let (state, tls) = build(data, &args)?;
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
