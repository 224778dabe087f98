//! `teleconsult keys rotate signing|data|invite`: replace a secret while
//! keeping old traces readable and verifiable. Stop the server first.
//! `teleconsult keys show`: the public keys to hand out, among them the
//! transparency log's verifier key that receipts are checked with.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use session::Timestamp;

use super::Place;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Replace a key; the old one is kept under keys/retired/ for reading
    /// and verifying what it protected.
    Rotate { which: Which },
    /// Print the public keys: the log's verifier key (C2SP form, what
    /// `teleconsult receipt verify --public-key` takes), then those of
    /// retired signing keys, which older checkpoints were signed with.
    /// Needs only the public keys.
    Show {
        /// The log's origin, if not the one the store's newest checkpoint
        /// names (the server's configured log origin; default
        /// teleconsult.localhost/trace).
        #[arg(long)]
        origin: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// The Ed25519 key signing checkpoints and access entries (the old
    /// public key stays trusted).
    Signing,
    /// The key sealing personal and medical fields (the old key still
    /// opens what it sealed).
    Data,
    /// The HMAC key of join links (links already sent keep working until
    /// they expire).
    Invite,
}

pub fn run(data: &Place, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let which = match cmd {
        KeysCommand::Rotate { which } => which,
        KeysCommand::Show { origin } => return show(data, origin),
    };
    // Opening checks the keys match the store before anything moves.
    let (store, _) = data.open_writer()?;
    store.close();
    drop(store);
    let (old, new) = match which {
        Which::Signing => {
            let (o, n) = data.key_dir().rotate_signing()?;
            (o.to_string(), n.to_string())
        }
        Which::Data => {
            let (o, n) = signaling::store::rotate_data_key(data.store_setting(), data)?;
            (o.to_string(), n.to_string())
        }
        Which::Invite => signaling::state::rotate_invitation_key(data)?,
    };
    let access = super::professional::open_access(data)?;
    access.record(
        "cli:operator",
        &format!("key_rotated:{which:?}").to_lowercase(),
        None,
        &format!("{old}->{new}"),
        Timestamp::now(),
    )?;
    println!("{which:?} key rotated: {old} -> {new} (the old one is kept under keys/retired/)");
    Ok(ExitCode::SUCCESS)
}

/// `keys show`: `log verifier key: ORIGIN+ID+KEY` for the current signing
/// key, then `retired log verifier key: ...` for each retired one. The
/// origin is the newest stored checkpoint's (what receipts name), or
/// `origin`, or the default.
fn show(data: &Place, origin: Option<String>) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let origin = match origin {
        Some(o) => o,
        None => stored_origin(data).unwrap_or_else(|| session::tlog::DEFAULT_ORIGIN.to_string()),
    };
    let trusted = data
        .key_dir()
        .trusted()
        .context("cannot read the public signing keys")?;
    for (n, key) in trusted.keys().enumerate() {
        let vkey = session::tlog::verifier_key(&origin, key);
        if n == 0 {
            println!("log verifier key: {vkey}");
        } else {
            println!("retired log verifier key: {vkey}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The origin the store's newest checkpoint names, if any.
fn stored_origin(data: &Place) -> Option<String> {
    let store = data.open_reader().ok()?;
    let latest = store.latest_checkpoint().ok()??;
    let text = String::from_utf8(latest.note).ok()?;
    text.lines().next().map(str::to_string)
}
