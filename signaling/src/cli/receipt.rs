//! `teleconsult receipt verify FILE --public-key VKEY [--witness-key
//! VKEY]...`: checks an act's receipt offline, without the platform or
//! its data directory (docs/TRACE_FORMAT.md, "Receipts"); and the receipt
//! `trace export --format receipt` writes for an operator.
//!
//! Exit status: 0 the receipt verifies; 1 it does not (the cause on
//! standard error); 2 the command could not run (an unreadable file, a
//! malformed key).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use session::ActId;
use session::tlog::{CheckpointVerifier, Receipt};

use super::Place;

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check an act's receipt offline: the log's signature on its
    /// checkpoint, each witness's cosignature, and every event's inclusion
    /// proof and chain link. Exit 0 when it verifies, 1 when not.
    Verify {
        /// The receipt (`-` for standard input).
        file: PathBuf,
        /// The log's verifier key (C2SP form `origin+id+base64`, as
        /// `teleconsult keys show` prints it), or a file holding it.
        #[arg(long, value_name = "VKEY")]
        public_key: String,
        /// A witness's verifier key (as `teleconsult witness key` prints
        /// it), or a file holding it; repeat for each witness that must
        /// have cosigned the checkpoint.
        #[arg(long, value_name = "VKEY")]
        witness_key: Vec<String>,
    },
}

pub fn run(cmd: ReceiptCommand) -> anyhow::Result<ExitCode> {
    let ReceiptCommand::Verify {
        file,
        public_key,
        witness_key,
    } = cmd;
    verify(&file, &public_key, &witness_key)
}

/// A verifier key given on the command line: the key itself, or the path
/// of a file holding it (on its first line).
fn key_arg(given: &str, what: &str) -> anyhow::Result<String> {
    if CheckpointVerifier::parse(given).is_ok() {
        return Ok(given.to_string());
    }
    let path = Path::new(given);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {what} from {}", path.display()))?;
        let key = text.lines().next().unwrap_or_default().trim().to_string();
        CheckpointVerifier::parse(&key)
            .with_context(|| format!("{} does not hold {what}", path.display()))?;
        return Ok(key);
    }
    CheckpointVerifier::parse(given)
        .map(|_| given.to_string())
        .with_context(|| format!("{what} {given:?}"))
}

fn verify(file: &Path, public_key: &str, witness_keys: &[String]) -> anyhow::Result<ExitCode> {
    let log_key = key_arg(public_key, "the log's verifier key")?;
    let witnesses = witness_keys
        .iter()
        .map(|k| key_arg(k, "a witness's verifier key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bytes = if file == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut b)
            .context("cannot read the receipt from standard input")?;
        b
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let failed = |cause: &dyn std::fmt::Display| {
        eprintln!("receipt verify: FAILED: {cause}");
        Ok(ExitCode::from(1))
    };
    let receipt = match Receipt::from_bytes(&bytes) {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let witness_refs: Vec<&str> = witnesses.iter().map(String::as_str).collect();
    let verified = match receipt.verify(&log_key, &witness_refs) {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    let origin = log_key.split('+').next().unwrap_or_default();
    println!("receipt OK: act {}", verified.act);
    println!(
        "events: {} (seq 1 to {}), each in the log's tree",
        verified.events, verified.events
    );
    println!(
        "checkpoint: origin {origin}, size {}, root {}",
        verified.size,
        BASE64.encode(verified.root.0)
    );
    let checked: Vec<String> = witnesses
        .iter()
        .filter_map(|k| k.split('+').next().map(str::to_string))
        .collect();
    let cosigners = signaling::receipts::cosigners(&receipt.checkpoint);
    if cosigners.is_empty() {
        println!("cosigned by: no witness (signed by the log only)");
    }
    for c in &cosigners {
        let status = if checked.contains(&c.name) {
            "verified"
        } else {
            "not checked: give --witness-key"
        };
        println!(
            "cosigned by: {} at {} ({status})",
            c.name,
            c.at.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `trace export ACT --format receipt`: the act's receipt against the
/// newest stored checkpoint when it covers the act (a reader signs none:
/// the server signs one at the act's conclusion and when the receipt is
/// downloaded). Audited as `export_receipt` by `audit` before it leaves.
pub fn export(
    data: &Place,
    act: ActId,
    output: Option<PathBuf>,
    audit: impl FnOnce(&Place, &str, ActId) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    let store = data.open_reader()?;
    let Some(checkpoint) = signaling::receipts::covering_checkpoint(&*store, act)? else {
        anyhow::bail!(
            "act {act} is not yet in a signed checkpoint of the log: the server signs one at \
             the act's conclusion (or download the receipt from GET /api/acts/{act}/receipt)"
        );
    };
    let receipt = store.receipt(act, &checkpoint)?;
    audit(data, "export_receipt", act)?;
    let bytes = receipt.to_bytes();
    match output {
        Some(path) => std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
