//! A trace store's rows exactly as stored, for copying a trace from one
//! back end to another (`teleconsult store migrate`): the records keep
//! their hashes and signatures, the Merkle tree its leaves in order and
//! its stored hashes, so that the copy verifies as the original did and
//! answers the same tree roots (a re-append would re-hash and re-sign).
//!
//! Read from the embedded store with [`crate::SqliteStore::dump`]; a
//! PostgreSQL store imports it in one transaction (`store-postgres`).
//! Everything is held in memory: documents included (at most 50 MiB each).

/// Every row of a trace store, in each table's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreDump {
    /// The id of the data key the store's sealed fields are sealed with
    /// (`meta.data_key_id`).
    pub data_key_id: Vec<u8>,
    /// When the store was created, µs since the epoch (`meta.created_at`).
    pub created_at: Option<i64>,
    /// The trace events, by id (commit order).
    pub events: Vec<DumpEvent>,
    /// The signed checkpoints over the acts' heads, by number.
    pub checkpoints: Vec<DumpCheckpoint>,
    /// The documents, in attachment order.
    pub documents: Vec<DumpDocument>,
    /// The Merkle tree's leaves, by index.
    pub tree_leaves: Vec<DumpLeaf>,
    /// The tree's stored hashes (`tlog_hashes`), by id.
    pub tree_hashes: Vec<(i64, Vec<u8>)>,
    /// The tree's signed checkpoints (C2SP notes), by number.
    pub tree_checkpoints: Vec<DumpTreeCheckpoint>,
    /// The professional accounts, by id.
    pub accounts: Vec<DumpAccount>,
    /// The signed access log, by seq.
    pub access_log: Vec<DumpAccess>,
}

/// An `events` row; `id` is the leaf item the tree names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpEvent {
    pub id: i64,
    /// The act's 16-byte id.
    pub act: Vec<u8>,
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub public: Vec<u8>,
    pub sealed: Vec<u8>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// A `checkpoints` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpCheckpoint {
    pub no: i64,
    pub at: i64,
    pub prev: Vec<u8>,
    pub heads: Vec<u8>,
    pub key_id: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A `documents` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpDocument {
    pub act: Vec<u8>,
    pub sha256: Vec<u8>,
    pub media_type: String,
    pub size: i64,
    pub sealed_name: Vec<u8>,
    pub sealed: Vec<u8>,
}

/// A `tlog_leaves` row: leaf `idx` is an event (kind 0, item its id) or
/// an access entry (kind 1, item its seq).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpLeaf {
    pub idx: i64,
    pub kind: i64,
    pub item: i64,
}

/// A `tlog_checkpoints` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpTreeCheckpoint {
    pub no: i64,
    pub size: i64,
    pub at: i64,
    pub note: Vec<u8>,
}

/// An `accounts` row (the access log's `account:ID` actors name `id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpAccount {
    pub id: i64,
    pub login: String,
    pub role: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub password: String,
    pub secrets: Vec<u8>,
    pub totp_step: i64,
}

/// An `access_log` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpAccess {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub act: Vec<u8>,
    pub outcome: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub key_id: Vec<u8>,
    pub signature: Vec<u8>,
}

impl StoreDump {
    /// Whether the store holds nothing: no event, account or access entry.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.accounts.is_empty() && self.access_log.is_empty()
    }
}
