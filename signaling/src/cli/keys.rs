//! `teleconsult keys rotate signing|data|invite`: replace a secret while
//! keeping old traces readable and verifiable. Stop the server first.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use session::{DataDir, Timestamp};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Replace a key; the old one is kept under keys/retired/ for reading
    /// and verifying what it protected.
    Rotate { which: Which },
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

pub fn run(data: &DataDir, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate { which } = cmd;
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
            let (o, n) = data.rotate_data_key()?;
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
