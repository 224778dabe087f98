//! The crate's error type.

use std::path::PathBuf;

use crate::refusal::Refusal;

/// Everything that can go wrong in the witness, its store or its client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The witness refused the checkpoint (the protocol's answer, not a fault).
    #[error("checkpoint refused: {0}")]
    Refused(#[from] Refusal),
    /// Reading or writing a file of the data directory failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file exists but is not a witness key.
    #[error("{path}: not a witness key file (PRIVATE+KEY+<name>+<id>+<base64 0x04||seed>)")]
    KeyFile { path: PathBuf },
    /// The key file can be read or written by others than its owner.
    #[error("{path}: mode {mode:o}: must be 600 (chmod 600 {path})")]
    KeyFileMode { path: PathBuf, mode: u32 },
    /// A key name that signed notes do not allow (empty, spaces or `+`).
    #[error("invalid key name {0:?}: non-empty, no spaces, no '+'")]
    KeyName(String),
    /// The system's random source failed.
    #[error("no randomness: {0}")]
    Randomness(getrandom::Error),
    /// A log's verifier key (`name+id+base64`) does not parse.
    #[error("log {origin}: invalid verifier key: {reason}")]
    LogKey {
        origin: String,
        reason: signed_note::VerifierError,
    },
    /// A `--log` argument is not `ORIGIN=VKEY`.
    #[error("invalid log {0:?}: expected ORIGIN=VKEY")]
    LogArgument(String),
    /// A verifier key that does not parse: a cosigner's (Ed25519
    /// `cosignature/v1`) or, in [`crate::cosignature::verify_cosigned`], a log's.
    #[error("invalid verifier key")]
    CosignatureKey,
    /// A checkpoint note lacks a valid log signature or witness cosignature.
    #[error("not a checkpoint signed by the log and cosigned by the witness")]
    NotCosigned,
    /// A file of the data directory does not hold what the witness wrote.
    #[error("{path}: stored checkpoint does not verify: {reason}")]
    StoredCheckpoint {
        path: PathBuf,
        reason: StoredCheckpointFault,
    },
    /// The witness at `url` could not be reached or answered garbage.
    #[error("witness {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The witness holds a checkpoint of another size than the submitted `old`.
    #[error("witness {url} holds size {held} (409 Conflict)")]
    Conflict { url: String, held: u64 },
    /// The witness refused with another status.
    #[error("witness {url} refused: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The witness's answer is not what the protocol says.
    #[error("witness {url}: malformed answer")]
    Answer { url: String },
}

/// Why a checkpoint file of the data directory was not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoredCheckpointFault {
    #[error("not a signed checkpoint note")]
    Malformed,
    #[error("the file name is not the SHA-256 of its origin")]
    WrongFileName,
    #[error("no valid signature from the log's key")]
    LogSignature,
    #[error("no valid cosignature from this witness's key")]
    Cosignature,
}
