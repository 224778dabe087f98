//! `teleconsult store migrate`: copies the embedded SQLite store into an
//! empty PostgreSQL database, rows as stored (hashes, signatures and the
//! Merkle tree unchanged), then checks the copy against the source.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use session::store::verify_store;
use session::{ActId, DataDir, SqliteStore, TraceStore};
use signaling::store::{StoreSetting, open_postgres_writer, open_reader_with_access};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the embedded SQLite store into an empty PostgreSQL database.
    ///
    /// Every row is copied as stored: trace events with their chains,
    /// checkpoints, documents, professional accounts, the signed access log
    /// and the Merkle tree (its leaves in order, its signed checkpoints),
    /// so that hashes, signatures, receipts and tree roots stay valid. The
    /// source must verify first; the destination must hold no trace (its
    /// schema is created if absent). The copy is one transaction: all of
    /// it or nothing. It is then checked: the destination verifies, holds
    /// the same acts with the same heads, the same tree root at the same
    /// size, and an intact access log. Stop the server before migrating,
    /// and keep the same data directory (the keys) for the new store.
    ///
    /// Example: teleconsult --data DATA store migrate --from DATA/trace.db
    /// --to postgres://teleconsult@db.example.org/trace
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite store to copy: a file path, or sqlite:PATH (`sqlite:`
    /// alone is DATA/trace.db, the default).
    #[arg(long, value_name = "PATH", default_value = "sqlite:")]
    from: String,
    /// The empty PostgreSQL database to copy into
    /// (postgres://USER@HOST/DB); default: the global --store (or
    /// TELECONSULT_STORE) when it is a PostgreSQL URL.
    #[arg(long, value_name = "URL")]
    to: Option<String>,
}

pub fn run(data: &DataDir, store: Option<&str>, cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCommand::Migrate(args) => migrate(data, store, args),
    }
}

/// What a store holds, as compared between the source and the copy.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    /// Each act's head: its last record's seq and hash.
    heads: BTreeMap<ActId, (u64, Vec<u8>)>,
    events: u64,
    checkpoints: u64,
    documents: usize,
    accounts: usize,
    access_entries: u64,
    tree_size: u64,
    tree_root: String,
}

fn migrate(data: &DataDir, global: Option<&str>, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let from = StoreSetting::parse(&args.from).context("--from")?;
    let source_db: PathBuf = match &from {
        StoreSetting::Embedded(_) => from.data_dir(data).db_path(),
        StoreSetting::Postgres(_) => {
            bail!("--from must name the embedded SQLite store (a file path or sqlite:PATH)")
        }
    };
    let to = match (&args.to, global) {
        (Some(to), _) => StoreSetting::parse(to).context("--to")?,
        (None, Some(global)) => StoreSetting::parse(global).context("--store")?,
        (None, None) => {
            bail!("give the PostgreSQL database to copy into: --to postgres://USER@HOST/DB")
        }
    };
    let StoreSetting::Postgres(url) = &to else {
        bail!("the destination must be a PostgreSQL database (postgres://USER@HOST/DB)");
    };
    if !source_db.exists() {
        bail!("there is no trace store at {}", source_db.display());
    }
    let trusted = data
        .key_dir()
        .trusted()
        .context("cannot read the public keys that verify the source (DATA/keys)")?;

    // The source must verify before anything is copied.
    let source = open_reader_with_access(&from, data)
        .with_context(|| format!("cannot open the source store {}", source_db.display()))?;
    let before = summary(&*source.trace, &source, &trusted, "the source")?;
    let dump = SqliteStore::dump(&source_db)
        .with_context(|| format!("cannot read {}", source_db.display()))?;

    // One transaction into an empty database.
    let destination = open_postgres_writer(url, data)
        .with_context(|| format!("cannot open the destination {url}"))?;
    destination.close();
    destination
        .import(dump)
        .with_context(|| format!("cannot copy into {url} (nothing was copied)"))?;
    drop(destination);

    // The copy, reopened, checked against the source.
    let copy = open_reader_with_access(&to, data)
        .with_context(|| format!("cannot reopen the copy at {url}"))?;
    let after = summary(&*copy.trace, &copy, &trusted, "the copy")
        .with_context(|| format!("the copy at {url} does not verify: drop that database"))?;
    if before != after {
        bail!(
            "the copy at {url} differs from the source (source: {before:?}; copy: {after:?}): drop that database and migrate again"
        );
    }
    println!(
        "copied {} to {url}: {} acts, {} events, {} checkpoints, {} documents, {} accounts, {} access log entries; tree size {} root {}; the copy verifies",
        source_db.display(),
        after.heads.len(),
        after.events,
        after.checkpoints,
        after.documents,
        after.accounts,
        after.access_entries,
        after.tree_size,
        after.tree_root,
    );
    Ok(ExitCode::SUCCESS)
}

/// Verifies `store` (trace, tree and access log) and sums it up; refused
/// with the first problem when it does not verify.
fn summary(
    store: &dyn TraceStore,
    opened: &signaling::store::Opened,
    trusted: &session::keys::TrustedKeys,
    which: &str,
) -> anyhow::Result<Summary> {
    let report = verify_store(store, trusted, None)?;
    if let Some(first) = report.problems.first() {
        bail!(
            "{which} does not verify ({} problems; the first: {first}): run `trace verify`",
            report.problems.len()
        );
    }
    let access = opened.access_reader(trusted.clone())?;
    let access_report = access.verify(trusted)?;
    if let Some(first) = access_report.problems.first() {
        bail!("{which}'s access log does not verify: {first}");
    }
    let mut heads = BTreeMap::new();
    let mut documents = 0;
    for act in store.act_ids()? {
        let records = store.records(act)?;
        if let Some(last) = records.last() {
            heads.insert(act, (last.seq, last.hash.to_vec()));
        }
        documents += store.documents(act)?.len();
    }
    let tree_size = store.tree_size()?;
    let tree_root = store.tree_root(tree_size)?.to_string();
    Ok(Summary {
        heads,
        events: report.events,
        checkpoints: report.checkpoints,
        documents,
        // A store no access writer opened has no accounts table.
        accounts: match access.logins() {
            Ok(logins) => logins.len(),
            Err(_) if access_report.entries == 0 => 0,
            Err(e) => return Err(e.into()),
        },
        access_entries: access_report.entries,
        tree_size,
        tree_root,
    })
}
