//! The Merkle tree's glue: its migration at a writer's open, and what the
//! server reads, proves and signs (see [`crate::tlog`]).

use std::path::Path;
use std::sync::PoisonError;

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, db_error};
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
    let db_err = |e: rusqlite::Error| db_error(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    let done = crate::tlog::tree::migrate(conn).map_err(|e| Error::Database {
        path: path.into(),
        reason: format!("cannot build the Merkle tree: {e}"),
    });
    match done {
        Ok(added) => {
            conn.execute_batch("COMMIT").map_err(db_err)?;
            if added > 0 {
                tracing::info!(leaves = added, "Merkle tree: records added");
            }
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
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

    /// Runs `f` in one read transaction on the reader connection.
    fn in_read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = crate::tlog::tree::has_tree(&conn)
            .map_err(|e| self.err(e))
            .and_then(|has| {
                if has {
                    f(&conn)
                } else {
                    Err(TreeError::NoTree.into())
                }
            });
        let _ = conn.execute_batch("COMMIT");
        result
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

    /// `(seq, row)` of `act`'s events, walked from its head back through
    /// the links, oldest first.
    fn event_rows(&self, conn: &Connection, act: ActId) -> Result<Vec<(u64, i64)>, Error> {
        let err = |e| self.err(e);
        let head: Option<Option<i64>> = conn
            .prepare_cached(
                "SELECT h.last_id FROM acts a LEFT JOIN heads h ON h.act_no = a.no WHERE a.act = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![act.as_bytes()], |r| r.get(0))
                    .optional()
            })
            .map_err(err)?;
        let mut next = head.flatten();
        let mut stmt = conn
            .prepare_cached("SELECT seq, prev_id FROM events WHERE id = ?1")
            .map_err(err)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = next.filter(|id| seen.insert(*id)) {
            let Some((seq, prev)) = stmt
                .query_row([id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .optional()
                .map_err(err)?
            else {
                break;
            };
            out.push((seq as u64, id));
            next = prev;
        }
        out.reverse();
        Ok(out)
    }

    /// Signs and stores a checkpoint of the tree as it is; if the tree
    /// has not grown since the newest stored checkpoint, returns that one.
    /// Durable when it returns. The server calls it every few seconds
    /// while events arrive and at each act's conclusion.
    pub fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, Error> {
        let log = self.log.as_ref().ok_or(Error::ReadOnly)?;
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let err = |e| self.err(e);
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let result = (|| {
            let size = crate::tlog::tree::size(&conn).map_err(err)?;
            if let Some(last) = latest_tree_checkpoint(&conn).map_err(err)?
                && last.size == size
            {
                return Ok(last);
            }
            let root = crate::tlog::tree::root(&conn, size)?;
            let signed = log.sign(size, root, now)?;
            conn.prepare_cached(
                "INSERT INTO tlog_checkpoints (size, at, note) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![size as i64, now.as_micros(), signed.note]))
            .map_err(err)?;
            Ok(signed)
        })();
        match result {
            Ok(c) => {
                conn.execute_batch("COMMIT").map_err(err)?;
                Ok(c)
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
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
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let err = |e| self.err(e);
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let result = crate::tlog::tree::root(&conn, cosigned.size)
            .map_err(Error::from)
            .and_then(|root| {
                if root != cosigned.root {
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
                .map(|_| ())
                .map_err(err)
            });
        match result {
            Ok(()) => conn.execute_batch("COMMIT").map_err(err),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
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
            let records = self.walk_links(c, act)?.unwrap_or_default();
            let rows = self.event_rows(c, act)?;
            if records.is_empty() {
                return Err(TreeError::NothingToProve.into());
            }
            let mut events = Vec::with_capacity(records.len());
            for (record, (seq, id)) in records.iter().zip(rows) {
                let leaf = crate::tlog::tree::leaf_of(c, LeafKind::Event, id)
                    .map_err(|e| self.err(e))?
                    .filter(|&l| l < checkpoint.size && record.seq == seq)
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
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = crate::tlog::tree::check(&conn, trusted).map_err(|e| self.err(e));
        let _ = conn.execute_batch("COMMIT");
        result
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
