//! The transparency log: one append-only Merkle tree (RFC 6962 hashing)
//! over every trace event and every access-log entry, in commit order,
//! beside the per-act chains; its signed checkpoints; and the receipts
//! that prove an act's events are in it, checkable without the store.
//!
//! - [`tree`]: the tree in the SQLite store (tables `tlog_leaves`,
//!   `tlog_hashes`, `tlog_checkpoints`), appended in the same transaction
//!   as the records it covers; inclusion and consistency proofs; the
//!   rebuild `trace verify` compares it with;
//! - [`cosignature`]: C2SP tlog-cosignature (Ed25519 `cosignature/v1`):
//!   the line made, parsed and checked, also for the `witness` crate;
//! - [`note`]: C2SP checkpoints signed as C2SP signed notes with the
//!   trace's Ed25519 key, verifier keys, witness cosignatures checked;
//! - [`receipt`]: an act's receipt and its offline check.
//!
//! Hashing, stored-hash layout, proofs, the checkpoint and note formats and
//! Ed25519 note keys come from Cloudflare's azul crates (`tlog_tiles`,
//! `signed_note`); only the cosignature (C2SP tlog-cosignature, which they
//! do not cover) is written here.

pub mod cosignature;
pub mod note;
pub mod receipt;
pub mod tree;

pub use note::{CheckpointVerifier, LogSigner, SignedCheckpoint, verifier_key};
pub use receipt::{Receipt, ReceiptEvent};
pub use tlog_tiles::Hash as TreeHash;

/// The log's origin (and note key name) when none is configured.
pub const DEFAULT_ORIGIN: &str = "teleconsult.localhost/trace";

/// What a leaf stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// A trace event; the leaf names its `events` row.
    Event,
    /// An access-log entry; the leaf names its `seq`.
    Access,
}

impl LeafKind {
    /// The prefix of the leaf data, NUL included.
    pub fn prefix(self) -> &'static [u8] {
        match self {
            LeafKind::Event => b"event\0",
            LeafKind::Access => b"access\0",
        }
    }

    pub(crate) fn code(self) -> i64 {
        match self {
            LeafKind::Event => 0,
            LeafKind::Access => 1,
        }
    }
}

/// A leaf's data: the kind's prefix (`event\0` or `access\0`) then the
/// record's stored 32-byte hash, which already covers its content. The
/// leaf hash is RFC 6962's `SHA-256(0x00 || data)`.
pub fn leaf_data(kind: LeafKind, record_hash: &[u8; 32]) -> Vec<u8> {
    let mut d = kind.prefix().to_vec();
    d.extend_from_slice(record_hash);
    d
}

/// The RFC 6962 leaf hash of a record.
pub fn leaf_hash(kind: LeafKind, record_hash: &[u8; 32]) -> TreeHash {
    tlog_tiles::record_hash(&leaf_data(kind, record_hash))
}

pub use crate::error::TreeError;
