//! The Merkle tree's glue: its migration at a writer's open, and what the
//! server reads, proves and signs (see [`crate::tlog`]).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, write_tx};
use crate::Error;
use crate::ids::ActId;
use crate::keys::{HeadSigner, TrustedKeys};
use crate::timestamp::Timestamp;
#[cfg(doc)]
use crate::tlog::DEFAULT_ORIGIN;
use crate::tlog::tree::TreeReport;
use crate::tlog::{
    LeafKind, LogSigner, Receipt, ReceiptEvent, SignedCheckpoint, TreeError, TreeHash,
};

/// Creates the Merkle tree's tables if missing and adds the records not
/// yet in it (all of them for a store made before the tree), in one
/// transaction.
pub(super) fn migrate_tree(path: &Path, conn: &Connection) -> Result<(), Error> {
    let added = write_tx(path, conn, |conn| {
        crate::tlog::tree::migrate(conn).map_err(|e| Error::Database {
            path: path.into(),
            reason: format!("cannot build the Merkle tree: {e}"),
        })
    })?;
    if added > 0 {
        tracing::info!(leaves = added, "Merkle tree: records added");
    }
    Ok(())
}

/// The Merkle tree (see [`crate::tlog`]): what the server reads, proves
/// and signs.
impl SqliteStore {
    /// Uses `origin` (a schema-less URL; default [`DEFAULT_ORIGIN`]) as
    /// the log's origin and note key name, signing with `signer`.
    pub fn with_log_origin(mut self, origin: &str, signer: &HeadSigner) -> Result<Self, Error> {
        self.log = Some(LogSigner::new(origin, signer)?);
        Ok(self)
    }

    /// The log's signer (origin and key), for its verifier key string;
    /// `None` when read-only.
    pub fn log_signer(&self) -> Option<&LogSigner> {
        self.log.as_ref()
    }

    /// Runs `f` in one read transaction on the reader connection, if
    /// the store has the tree.
    fn in_read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        self.read_tx(|conn| {
            if crate::tlog::tree::has_tree(conn).map_err(|e| self.err(e))? {
                f(conn)
            } else {
                Err(TreeError::NoTree.into())
            }
        })
    }

    /// How many leaves the tree has.
    pub fn tree_size(&self) -> Result<u64, Error> {
        self.in_read(|c| crate::tlog::tree::size(c).map_err(|e| self.err(e)))
    }

    /// The root of the tree's first `size` leaves.
    pub fn tree_root(&self, size: u64) -> Result<TreeHash, Error> {
        self.in_read(|c| Ok(crate::tlog::tree::root(c, size)?))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>, Error> {
        self.in_read(|c| Ok(crate::tlog::tree::inclusion_proof(c, index, size)?))
    }

    /// The consistency proof from the tree of `old` leaves to `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, Error> {
        self.in_read(|c| Ok(crate::tlog::tree::consistency_proof(c, old, new)?))
    }

    /// The leaf index of `act`'s event `seq`, if in the tree.
    pub fn event_leaf(&self, act: ActId, seq: u64) -> Result<Option<u64>, Error> {
        self.in_read(|c| {
            let Some(id) = self
                .event_rows(c, act)?
                .into_iter()
                .find(|(s, _)| *s == seq)
                .map(|(_, id)| id)
            else {
                return Ok(None);
            };
            crate::tlog::tree::leaf_of(c, LeafKind::Event, id).map_err(|e| self.err(e))
        })
    }

    /// Signs and stores a checkpoint of the tree as it is; if the tree
    /// has not grown since the newest stored checkpoint, returns that one.
    /// Durable when it returns. The server calls it every few seconds
    /// while events arrive and at each act's conclusion.
    pub fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, Error> {
        let log = self.log.as_ref().ok_or(Error::ReadOnly)?;
        let err = |e| self.err(e);
        self.immediate(|conn| {
            let size = crate::tlog::tree::size(conn).map_err(err)?;
            if let Some(last) = latest_tree_checkpoint(conn).map_err(err)?
                && last.size == size
            {
                return Ok(last);
            }
            let root = crate::tlog::tree::root(conn, size)?;
            let signed = log.sign(size, root, now)?;
            conn.prepare_cached(
                "INSERT INTO tlog_checkpoints (size, at, note) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![size as i64, now.as_micros(), signed.note]))
            .map_err(err)?;
            Ok(signed)
        })
    }

    /// Stores a cosigned copy of one of this log's checkpoints (the
    /// witnesses' lines added with [`SignedCheckpoint::with_cosignatures`]),
    /// as a new row: the newest row of a size is what
    /// [`SqliteStore::checkpoint`] and [`SqliteStore::latest_checkpoint`]
    /// return. Refused unless the log's signature verifies and its root is
    /// the tree's at that size. Cosignatures are not checked here (the
    /// caller checked them against its witnesses' keys).
    pub fn add_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), Error> {
        let log = self.log.as_ref().ok_or(Error::ReadOnly)?;
        let verifier = crate::tlog::CheckpointVerifier::parse(&log.verifier_key())?;
        let checkpoint = crate::tlog::note::verify_checkpoint(&cosigned.note, &verifier, &[])?;
        if checkpoint.size() != cosigned.size || *checkpoint.hash() != cosigned.root {
            return Err(TreeError::MalformedCheckpoint.into());
        }
        self.immediate(|conn| {
            if crate::tlog::tree::root(conn, cosigned.size)? != cosigned.root {
                return Err(TreeError::RootMismatch {
                    size: cosigned.size,
                }
                .into());
            }
            conn.prepare_cached(
                "INSERT INTO tlog_checkpoints (size, at, note) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    cosigned.size as i64,
                    cosigned.at.as_micros(),
                    cosigned.note
                ])
            })
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// The newest stored checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, Error> {
        self.in_read(|c| latest_tree_checkpoint(c).map_err(|e| self.err(e)))
    }

    /// `act`'s receipt against `checkpoint` (one of this store's): every
    /// event of the act as stored, with its leaf and inclusion proof in
    /// the checkpoint's tree. Fails if an event is not in that tree.
    pub fn receipt(&self, act: ActId, checkpoint: &SignedCheckpoint) -> Result<Receipt, Error> {
        self.in_read(|c| {
            // One walk of the chain: each record with its row.
            let rows = self.walk_records(c, act)?.unwrap_or_default();
            if rows.is_empty() {
                return Err(TreeError::NothingToProve.into());
            }
            let mut events = Vec::with_capacity(rows.len());
            for (record, id) in &rows {
                let leaf = crate::tlog::tree::leaf_of(c, LeafKind::Event, *id)
                    .map_err(|e| self.err(e))?
                    .filter(|&l| l < checkpoint.size)
                    .ok_or(TreeError::EventNotInTree { seq: record.seq })?;
                let proof = crate::tlog::tree::inclusion_proof(c, leaf, checkpoint.size)?;
                events.push(ReceiptEvent::of(record, leaf, proof));
            }
            Ok(Receipt {
                act,
                events,
                checkpoint: checkpoint.note.clone(),
            })
        })
    }

    /// Checks the tree against a rebuild from its leaves and every stored
    /// checkpoint (see [`crate::tlog::tree`]); `None` for a store without
    /// the tree.
    pub fn check_tree(&self, trusted: &TrustedKeys) -> Result<Option<TreeReport>, Error> {
        self.read_tx(|conn| crate::tlog::tree::check(conn, trusted).map_err(|e| self.err(e)))
    }
}

/// The newest row of `tlog_checkpoints`.
fn latest_tree_checkpoint(conn: &Connection) -> rusqlite::Result<Option<SignedCheckpoint>> {
    conn.prepare_cached("SELECT size, at, note FROM tlog_checkpoints ORDER BY no DESC LIMIT 1")?
        .query_row([], |r| {
            let size = r.get::<_, i64>(0)? as u64;
            let note: Vec<u8> = r.get(2)?;
            let root = signed_note::Note::from_bytes(&note)
                .ok()
                .and_then(|n| tlog_tiles::Checkpoint::from_bytes(n.text()).ok())
                .map(|c| *c.hash())
                .unwrap_or(TreeHash([0; 32]));
            Ok(SignedCheckpoint {
                size,
                root,
                at: Timestamp::from_micros(r.get(1)?),
                note,
            })
        })
        .optional()
}
