//! What the server reads, proves and signs from the Merkle tree, as the
//! SQLite store offers it: the tree's root, inclusion and consistency
//! proofs, an event's leaf, an act's receipt, cosigned checkpoints.

use session::ids::ActId;
use session::tlog::{
    CheckpointVerifier, Receipt, ReceiptEvent, SignedCheckpoint, TreeError, TreeHash,
};
use tokio_postgres::GenericClient;

use crate::{Error, PgStore, read, tree};

impl PgStore {
    /// The root of the tree's first `size` leaves.
    pub fn tree_root(&self, size: u64) -> Result<TreeHash, session::Error> {
        self.in_snapshot(move |tree_size, c| {
            Box::pin(async move {
                check_size(size, tree_size)?;
                prove(c, move |r| tlog_tiles::tree_hash(size, r)).await
            })
        })
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>, session::Error> {
        self.in_snapshot(move |tree_size, c| {
            Box::pin(async move {
                check_size(size, tree_size)?;
                if index >= size {
                    return Err(TreeError::IndexOutOfRange { index, size }.into());
                }
                prove(c, move |r| tlog_tiles::prove_record(size, index, r)).await
            })
        })
    }

    /// The consistency proof from the tree of `old` leaves to `new`; empty
    /// from the empty tree.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, session::Error> {
        self.in_snapshot(move |tree_size, c| {
            Box::pin(async move {
                check_size(new, tree_size)?;
                if old > new {
                    return Err(TreeError::BadRange { old, new }.into());
                }
                if old == 0 {
                    return Ok(Vec::new());
                }
                prove(c, move |r| tlog_tiles::prove_tree(new, old, r)).await
            })
        })
    }

    /// The leaf index of `act`'s event `seq`, if in the tree.
    pub fn event_leaf(&self, act: ActId, seq: u64) -> Result<Option<u64>, session::Error> {
        let server = self.server.clone();
        self.in_snapshot(move |_, c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT l.idx FROM events e JOIN tlog_leaves l ON l.kind = 0 AND l.item = e.id
                         WHERE e.act = $1 AND e.seq = $2",
                        &[&act.as_bytes().as_slice(), &(seq as i64)],
                    )
                    .await
                    .map_err(|e| server.query(e))?;
                Ok(row.map(|r| r.get::<_, i64>(0) as u64))
            })
        })
    }

    /// `act`'s receipt against `checkpoint` (one of this store's): every
    /// event of the act, with its leaf and inclusion proof in the
    /// checkpoint's tree. Fails if an event is not in that tree.
    pub fn receipt(
        &self,
        act: ActId,
        checkpoint: &SignedCheckpoint,
    ) -> Result<Receipt, session::Error> {
        let server = self.server.clone();
        let checkpoint = checkpoint.clone();
        self.in_snapshot(move |tree_size, c| {
            Box::pin(async move {
                check_size(checkpoint.size, tree_size)?;
                let rows = c
                    .query(
                        "SELECT e.act, e.seq, e.at, e.kind, e.public, e.sealed, e.prev_hash, e.hash, l.idx
                         FROM events e LEFT JOIN tlog_leaves l ON l.kind = 0 AND l.item = e.id
                         WHERE e.act = $1 ORDER BY e.seq",
                        &[&act.as_bytes().as_slice()],
                    )
                    .await
                    .map_err(|e| server.query(e))?;
                if rows.is_empty() {
                    return Err(TreeError::NothingToProve.into());
                }
                let mut events = Vec::with_capacity(rows.len());
                for r in &rows {
                    let record = read::record_row(r)
                        .ok_or_else(|| server.not_a_trace("an act has a malformed id"))?;
                    let leaf = r
                        .get::<_, Option<i64>>(8)
                        .map(|l| l as u64)
                        .filter(|&l| l < checkpoint.size)
                        .ok_or(TreeError::EventNotInTree { seq: record.seq })?;
                    let size = checkpoint.size;
                    let proof = prove(c, move |h| tlog_tiles::prove_record(size, leaf, h)).await?;
                    events.push(ReceiptEvent::of(&record, leaf, proof));
                }
                Ok(Receipt {
                    act,
                    events,
                    checkpoint: checkpoint.note.clone(),
                })
            })
        })
    }

    /// Stores a cosigned copy of one of this log's checkpoints; refused
    /// unless the log's signature verifies and its root is the tree's at
    /// that size (cosignatures are the caller's to check).
    pub fn add_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), session::Error> {
        let log = self.log.as_ref().ok_or(session::Error::ReadOnly)?;
        let verifier = CheckpointVerifier::parse(&log.verifier_key())?;
        let parsed = session::tlog::note::verify_checkpoint(&cosigned.note, &verifier, &[])?;
        if parsed.size() != cosigned.size || *parsed.hash() != cosigned.root {
            return Err(TreeError::MalformedCheckpoint.into());
        }
        if self.tree_root(cosigned.size)? != cosigned.root {
            return Err(TreeError::RootMismatch {
                size: cosigned.size,
            }
            .into());
        }
        let (pool, server, c) = (self.pool.clone(), self.server.clone(), cosigned.clone());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            client
                .execute(
                    "INSERT INTO tlog_checkpoints (size, at, note) VALUES ($1, $2, $3)",
                    &[&(c.size as i64), &c.at.as_micros(), &c.note],
                )
                .await
                .map_err(|e| server.query(e))?;
            Ok(())
        })
    }
}

fn check_size(asked: u64, tree: u64) -> Result<(), session::Error> {
    if asked > tree {
        return Err(TreeError::SizeBeyondTree { size: asked, tree }.into());
    }
    Ok(())
}

/// Runs a proof over the stored hashes `c` reads.
async fn prove<C: GenericClient, T>(
    c: &C,
    f: impl Fn(&tree::Prefetch<'_>) -> Result<T, tlog_tiles::Error>,
) -> Result<T, session::Error> {
    let out = tree::with_hashes(c, Default::default(), f)
        .await
        .map_err(|e| {
            session::Error::from(Error::Tree(tlog_tiles::Error::InvalidInput(e.to_string())))
        })?;
    Ok(out.map_err(TreeError::Proof)?)
}
