//! `teleconsult fhir verify FILE`: checks a FHIR export offline, with the
//! public key only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use session::DataDir;
use session::keys::TrustedKeys;

#[derive(Debug, Subcommand)]
pub enum FhirCommand {
    /// Check an export's signature and content: exit 0 with a summary
    /// when they match, 1 naming what fails.
    Verify {
        /// The exported Bundle (JSON).
        file: PathBuf,
        /// The public key to trust (64 hex digits), instead of
        /// DATA/keys/signing.pub and the retired ones.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
}

pub fn run(data: &DataDir, cmd: FhirCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FhirCommand::Verify { file, public_key } => verify(data, &file, public_key),
    }
}

fn verify(data: &DataDir, file: &PathBuf, public_key: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let trusted = match &public_key {
        Some(path) => TrustedKeys::from_file(path)?,
        None => data
            .key_dir()
            .trusted()
            .context("cannot read the public key (give --public-key FILE)")?,
    };
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            println!(
                "FHIR export NOT verified: {} is not JSON ({e})",
                file.display()
            );
            return Ok(ExitCode::from(1));
        }
    };
    match fhir_export::verify(&bundle, &trusted) {
        Ok(v) => {
            println!(
                "FHIR export verified: act {}, {} resource(s), signed by key {} at {}{}",
                v.act.as_deref().unwrap_or("?"),
                v.resources,
                v.key,
                v.timestamp.as_deref().unwrap_or("?"),
                if v.withheld {
                    "; some values are withheld"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FHIR export NOT verified: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
