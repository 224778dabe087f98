//! The command line. Exit status: 0 success, 1 a check failed (e.g. the
//! trace is not intact), 2 the command could not run.

mod act;
mod fhir;
mod incidents;
mod keys;
mod professional;
mod receipt;
mod serve;
mod trace;
mod witness;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live medical video sessions with a tamper-evident act trace.
#[derive(Debug, Parser)]
#[command(name = "teleconsult", version, about)]
pub struct Cli {
    /// The data directory: the trace store (trace.db) and its keys.
    #[arg(long, global = true, env = "TELECONSULT_DATA", default_value = "data")]
    pub data: PathBuf,

    /// Log more (repeat for more detail). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and inspect telemedicine acts.
    #[command(subcommand)]
    Act(act::ActCommand),
    /// Read, verify and export the act trace.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
    /// Check a FHIR export offline.
    #[command(subcommand)]
    Fhir(fhir::FhirCommand),
    /// Manage professional accounts (sign-in with password and TOTP).
    #[command(subcommand)]
    Professional(professional::ProfessionalCommand),
    /// Rotate the signing, data or invitation key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Run the server: web client, REST API, WebSocket signaling.
    Serve(serve::ServeArgs),
    /// Run the server with a demo téléconsultation and print its links.
    Demo(serve::ServeArgs),
    /// Check an act's receipt offline, without the platform.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// Run a transparency-log witness (C2SP tlog-witness), apart from the server.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

/// The command-line user, as the access log names them.
fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(32)
        .collect();
    format!("cli:{user}")
}

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = signaling::logs::filter(default);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = session::DataDir::new(cli.data);
    match cli.command {
        Command::Act(cmd) => act::run(&data, cmd),
        Command::Trace(cmd) => trace::run(&data, cmd),
        Command::Fhir(cmd) => fhir::run(&data, cmd),
        Command::Professional(cmd) => professional::run(&data, cmd),
        Command::Keys(cmd) => keys::run(&data, cmd),
        Command::Serve(args) => serve::serve(&data, args),
        Command::Demo(args) => serve::demo(&data, args),
        Command::Witness(cmd) => witness::run(data.root(), cmd),
        Command::Receipt(cmd) => receipt::run(cmd),
    }
}
