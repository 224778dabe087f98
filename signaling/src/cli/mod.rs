//! The command line. Exit status: 0 success, 1 a check failed (e.g. the
//! trace is not intact), 2 the command could not run.

mod act;
mod fhir;
mod incidents;
mod keys;
mod migrate;
mod professional;
mod receipt;
mod serve;
mod trace;
mod witness;

use std::ops::Deref;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use session::access::AccessStore;
use session::store::WriterKeys;
use session::{DataDir, TraceStore};
use signaling::store::{Opened, StoreSetting};

/// Live medical video sessions with a tamper-evident act trace.
#[derive(Debug, Parser)]
#[command(name = "teleconsult", version, about)]
pub struct Cli {
    /// The data directory: the trace store (trace.db) and its keys.
    #[arg(long, global = true, env = "TELECONSULT_DATA", default_value = "data")]
    pub data: PathBuf,

    /// Where the trace lives: a file path or sqlite:PATH (the embedded
    /// store; default DATA/trace.db), or postgres://USER@HOST/DB. Keys
    /// stay in the data directory. For `serve`, also the settings file's
    /// `store`.
    #[arg(
        long,
        global = true,
        env = "TELECONSULT_STORE",
        hide_env_values = true,
        value_name = "PATH|URL"
    )]
    pub store: Option<String>,

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
    /// Move the trace between stores (`store migrate`: SQLite to PostgreSQL).
    #[command(subcommand)]
    Store(migrate::StoreCommand),
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

/// Where a command finds the trace: the store `--store` names, and the
/// data directory (its keys; the embedded store's file when `--store`
/// names one). Derefs to that [`DataDir`], so that the commands read keys
/// and the access log as before, and open the trace with
/// [`Place::open_reader`] and [`Place::open_writer`] only.
#[derive(Debug)]
pub struct Place {
    data: DataDir,
    store: StoreSetting,
}

impl Place {
    /// `--store` (or `TELECONSULT_STORE`) over the embedded default.
    fn new(data: &DataDir, store: Option<&str>) -> anyhow::Result<Place> {
        let store = StoreSetting::resolve(store, None)?;
        Ok(Place {
            data: store.data_dir(data),
            store,
        })
    }

    /// The trace for reading, verified with the data directory's public
    /// keys when present.
    fn open_reader(&self) -> anyhow::Result<Arc<dyn TraceStore>> {
        signaling::store::open_reader(&self.store, &self.data).map_err(open_error)
    }

    /// The trace for appending, with its keys (created on first use).
    fn open_writer(&self) -> anyhow::Result<(Arc<dyn TraceStore>, WriterKeys)> {
        signaling::store::open_writer(&self.store, &self.data, session::tlog::DEFAULT_ORIGIN)
            .map_err(open_error)
    }
}

impl Place {
    /// [`Place::open_writer`], with where the access store lives.
    fn open_writer_with_access(&self) -> anyhow::Result<(Opened, WriterKeys)> {
        signaling::store::open_writer_with_access(
            &self.store,
            &self.data,
            session::tlog::DEFAULT_ORIGIN,
        )
        .map_err(open_error)
    }

    /// [`Place::open_reader`], with where the access store lives.
    fn open_reader_with_access(&self) -> anyhow::Result<Opened> {
        signaling::store::open_reader_with_access(&self.store, &self.data).map_err(open_error)
    }

    /// The access store for signing entries, in the store `--store`
    /// names: the trace is opened for writing first (creating the store
    /// and keys on first use, and checking they match).
    fn open_access(&self) -> anyhow::Result<Access> {
        let (opened, keys) = self.open_writer_with_access()?;
        opened.trace.close();
        let data_keys = self.key_dir().data_keys()?;
        let access = opened.access(keys.signer, data_keys, keys.trusted)?;
        Ok(Access {
            access,
            _opened: opened,
        })
    }

    /// The store `--store` names.
    fn store_setting(&self) -> &StoreSetting {
        &self.store
    }
}

/// An access store with the trace it lives beside, kept open as long as
/// it is used (PostgreSQL access tables answer through the trace's pool).
pub struct Access {
    access: AccessStore,
    _opened: Opened,
}

impl Deref for Access {
    type Target = AccessStore;

    fn deref(&self) -> &AccessStore {
        &self.access
    }
}

/// An opening failure, said once: "cannot open the trace store: ...".
fn open_error(e: signaling::Error) -> anyhow::Error {
    match e {
        signaling::Error::OpenStore(cause) => {
            anyhow::Error::new(cause).context("cannot open the trace store")
        }
        other => other.into(),
    }
}

impl Deref for Place {
    type Target = DataDir;

    fn deref(&self) -> &DataDir {
        &self.data
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = DataDir::new(cli.data);
    let store = cli.store.as_deref();
    let place = || Place::new(&data, store);
    match cli.command {
        Command::Act(cmd) => act::run(&place()?, cmd),
        Command::Trace(cmd) => trace::run(&place()?, cmd),
        Command::Fhir(cmd) => fhir::run(&data, cmd),
        Command::Professional(cmd) => professional::run(&place()?, cmd),
        Command::Keys(cmd) => keys::run(&place()?, cmd),
        Command::Serve(args) => serve::serve(&data, store, args),
        Command::Demo(args) => serve::demo(&data, store, args),
        Command::Store(cmd) => migrate::run(&data, store, cmd),
        Command::Witness(cmd) => witness::run(data.root(), cmd),
        Command::Receipt(cmd) => receipt::run(cmd),
    }
}
