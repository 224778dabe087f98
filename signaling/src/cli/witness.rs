//! `teleconsult witness serve|key`: run a C2SP tlog-witness apart from the
//! server (another process and data directory, its own key; meant for
//! another machine or another party), or print its verifier key. Wire format
//! and files: docs/WITNESS.md.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Serve POST /add-checkpoint and GET /<origin hash>/checkpoint; prints
    /// the witness's verifier key (C2SP vkey) on stdout at start.
    Serve(ServeArgs),
    /// Print the witness's verifier key, making the key if there is none.
    Key(KeyArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7380")]
    pub listen: SocketAddr,
    /// A log to witness: its origin and its note verifier key
    /// (`teleconsult.localhost/trace=teleconsult.localhost/trace+<id>+<key>`).
    /// Repeatable; several keys for one origin are all trusted.
    #[arg(long = "log", value_name = "ORIGIN=VKEY")]
    pub logs: Vec<String>,
    #[command(flatten)]
    pub key: KeyArgs,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The cosigner's key name, used only when the key is made.
    #[arg(long, default_value = ::witness::key::DEFAULT_NAME)]
    pub name: String,
}

pub fn run(data: &Path, cmd: WitnessCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WitnessCommand::Key(args) => {
            let key = ::witness::WitnessKey::load_or_create(data, &args.name)?;
            println!("{}", key.verifier_key());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCommand::Serve(args) => serve(data, args),
    }
}

fn serve(data: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let logs = args
        .logs
        .iter()
        .map(|l| ::witness::LogConfig::parse(l))
        .collect::<Result<Vec<_>, _>>()?;
    if logs.is_empty() {
        eprintln!("no --log ORIGIN=VKEY: every checkpoint will be refused (404)");
    }
    let state = Arc::new(::witness::WitnessState::open(
        data,
        &args.key.name,
        &::witness::LogConfig::merge(logs),
    )?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("{}", state.verifier_key());
        eprintln!("witness listening on {}", listener.local_addr()?);
        ::witness::server::run(listener, state, async {
            stop_signal().await;
            eprintln!("stopping");
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C, or SIGTERM (what service managers send).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
