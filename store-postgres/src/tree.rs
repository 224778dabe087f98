//! The Merkle tree on PostgreSQL: the same RFC 6962 tree as the SQLite
//! store's (`session::tlog::tree`), in `tlog_leaves`, `tlog_hashes` and
//! `tlog_checkpoints`, appended in each commit under the tree lock so that
//! the leaf order is the commit order across every node. Its leaves are
//! trace events (kind 0, written by the group-commit writer) and
//! access-log entries (kind 1, written by [`crate::PgAccessTables`]),
//! interleaved in commit order.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use session::tlog::tree::{TreeEventRow, TreeRows};
use session::tlog::{LeafKind, TreeHash, leaf_hash};
use tlog_tiles::{HashReader, stored_hash_index, stored_hashes_for_record_hash};
use tokio_postgres::GenericClient;

/// The advisory lock every write transaction takes first (`'tctree'` in
/// ASCII): commits, across nodes, one at a time, so that event ids, leaf
/// indexes and checkpoint numbers follow the commit order.
pub const TREE_LOCK: i64 = 0x7463_7472_6565;

/// Reads stored hashes from a map; a hash it lacks is recorded and read
/// as zeros, so a first run learns which hashes a computation needs (which
/// depends only on the tree's shape), and a second, with them fetched,
/// gives the right result.
pub struct Prefetch<'a> {
    known: &'a HashMap<u64, TreeHash>,
    missing: Mutex<HashSet<u64>>,
}

impl HashReader for Prefetch<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, tlog_tiles::Error> {
        Ok(indexes
            .iter()
            .map(|i| match self.known.get(i) {
                Some(h) => *h,
                None => {
                    self.missing
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(*i);
                    TreeHash([0; 32])
                }
            })
            .collect())
    }
}

/// Runs `f` over the stored hashes of `client`'s tree, fetching the ones it
/// reads: at most a few rounds (one per level of dependent reads, in
/// practice one).
pub async fn with_hashes<C: GenericClient, T>(
    client: &C,
    mut known: HashMap<u64, TreeHash>,
    f: impl Fn(&Prefetch<'_>) -> Result<T, tlog_tiles::Error>,
) -> Result<Result<T, tlog_tiles::Error>, tokio_postgres::Error> {
    loop {
        let reader = Prefetch {
            known: &known,
            missing: Mutex::new(HashSet::new()),
        };
        let out = f(&reader);
        let missing: Vec<i64> = reader
            .missing
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let rows = client
            .query(
                "SELECT id, hash FROM tlog_hashes WHERE id = ANY($1)",
                &[&missing],
            )
            .await?;
        if rows.is_empty() {
            return Ok(Err(tlog_tiles::Error::IndexesNotInTree));
        }
        for r in rows {
            let h: Vec<u8> = r.get(1);
            let h = h.try_into().map_err(|_| tlog_tiles::Error::MalformedHash);
            match h {
                Ok(h) => known.insert(r.get::<_, i64>(0) as u64, TreeHash(h)),
                Err(e) => return Ok(Err(e)),
            };
        }
        // Whatever is still missing is read as absent next round.
        for i in &missing {
            known.entry(*i as u64).or_insert(TreeHash([0; 32]));
        }
    }
}

/// The rows a commit adds to the tree: its leaves and their stored hashes.
#[derive(Debug, Default)]
pub struct TreeRowsToAdd {
    pub leaf_idx: Vec<i64>,
    pub leaf_kind: Vec<i16>,
    pub leaf_item: Vec<i64>,
    pub hash_id: Vec<i64>,
    pub hash: Vec<Vec<u8>>,
}

/// What `tlog_leaves.kind` holds for a leaf of `kind`.
pub fn kind_code(kind: LeafKind) -> i16 {
    match kind {
        LeafKind::Event => 0,
        LeafKind::Access => 1,
    }
}

/// The leaves of `kind` for `events` (`(item, record hash)`: for trace
/// events `(events.id, hash)` in id order, for access entries
/// `(seq, hash)`) after a tree of `start` leaves, with their stored hashes.
pub async fn leaves_for<C: GenericClient>(
    client: &C,
    start: u64,
    kind: LeafKind,
    events: &[(i64, [u8; 32])],
) -> Result<Result<TreeRowsToAdd, tlog_tiles::Error>, tokio_postgres::Error> {
    let base = stored_hash_index(0, start);
    let fresh = with_hashes(client, HashMap::new(), |old| {
        let mut fresh: Vec<TreeHash> = Vec::with_capacity(2 * events.len());
        for (n, (_, hash)) in (start..).zip(events) {
            let reader = Appending {
                old,
                base,
                fresh: &fresh,
            };
            let new = stored_hashes_for_record_hash(n, leaf_hash(kind, hash), &reader)?;
            fresh.extend(new);
        }
        Ok(fresh)
    })
    .await?;
    Ok(fresh.map(|fresh| TreeRowsToAdd {
        leaf_idx: (start..).take(events.len()).map(|n| n as i64).collect(),
        leaf_kind: vec![kind_code(kind); events.len()],
        leaf_item: events.iter().map(|(id, _)| *id).collect(),
        hash_id: (base..).take(fresh.len()).map(|i| i as i64).collect(),
        hash: fresh.iter().map(|h| h.0.to_vec()).collect(),
    }))
}

/// Hashes for an append: those it has just computed from memory (stored
/// contiguously from `base`), older ones from `old`.
struct Appending<'a> {
    old: &'a Prefetch<'a>,
    base: u64,
    fresh: &'a [TreeHash],
}

impl HashReader for Appending<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| match i.checked_sub(self.base) {
                Some(k) => self
                    .fresh
                    .get(k as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree),
                None => self.old.read_hashes(&[i]).map(|mut h| h.remove(0)),
            })
            .collect()
    }
}

/// How many leaves the tree has.
pub async fn size<C: GenericClient>(client: &C) -> Result<u64, tokio_postgres::Error> {
    let n: i64 = client
        .query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves", &[])
        .await?
        .get(0);
    Ok(n as u64)
}

/// Everything the tree's check reads, in the caller's transaction.
pub async fn rows<C: GenericClient>(client: &C) -> Result<TreeRows, tokio_postgres::Error> {
    let events = client
        .query("SELECT id, hash, act, seq FROM events", &[])
        .await?
        .into_iter()
        .map(|r| TreeEventRow {
            id: r.get(0),
            hash: r.get(1),
            act: Some(r.get(2)),
            seq: r.get(3),
        })
        .collect();
    // A database older than the access log (schema version 1, opened
    // read-only) has none.
    let has_access: bool = client
        .query_one("SELECT to_regclass('access_log') IS NOT NULL", &[])
        .await?
        .get(0);
    let access = if has_access {
        client
            .query("SELECT seq, hash FROM access_log", &[])
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    } else {
        Vec::new()
    };
    let leaves = client
        .query("SELECT idx, kind, item FROM tlog_leaves ORDER BY idx", &[])
        .await?
        .into_iter()
        .map(|r| (r.get(0), i64::from(r.get::<_, i16>(1)), r.get(2)))
        .collect();
    let hashes = client
        .query("SELECT id, hash FROM tlog_hashes ORDER BY id", &[])
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let checkpoints = client
        .query(
            "SELECT no, size, note FROM tlog_checkpoints ORDER BY no",
            &[],
        )
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    Ok(TreeRows {
        events,
        access,
        leaves,
        hashes,
        checkpoints,
    })
}
