//! The tree in the SQLite store.
//!
//! Tables (created by every writer at open, with the triggers that refuse
//! `UPDATE` and `DELETE`):
//!
//! - `tlog_leaves(idx INTEGER PRIMARY KEY, kind, item)`: leaf `idx` (0,
//!   1, 2...) is the record `item` of `kind`: 0 for a trace event (its
//!   `events.id`), 1 for an access-log entry (its `access_log.seq`). A
//!   unique index on `(kind, item)` finds an event's leaf.
//! - `tlog_hashes(id INTEGER PRIMARY KEY, hash)`: the stored hashes in
//!   `tlog_tiles`' layout (Go's `golang.org/x/mod/sumdb/tlog`): the hashes
//!   of leaf `n` and of the complete subtrees it closes, at
//!   `stored_hash_index(0, n)` onwards.
//! - `tlog_checkpoints(no INTEGER PRIMARY KEY, size, at, note)`: each
//!   checkpoint made, its size, when (µs), and the signed note.
//!
//! Leaves are appended by [`append_leaves`], in the transaction that writes
//! the records (the trace writer's group commit, the access log's
//! `record`), each writer handing over exactly the records it has just
//! written, in the order it wrote them: the leaf order is the commit
//! order. [`migrate`] builds the tree of a store made before it: at a
//! writer's open (the trace store's or the access log's), the records not
//! yet in the tree are added, events in `id` order and then access entries
//! in `seq` order.

use rusqlite::{Connection, OptionalExtension, ToSql, params};
use tlog_tiles::{
    Hash, HashReader, prove_record, prove_tree, stored_hash_count, stored_hash_index,
    stored_hashes_for_record_hash, tree_hash,
};

use super::{LeafKind, TreeError, leaf_hash};
use crate::integrity::Problem;

/// The tree's tables, created if missing.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tlog_leaves (
    idx INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    item INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS tlog_leaves_item ON tlog_leaves (kind, item);
CREATE TABLE IF NOT EXISTS tlog_hashes (
    id INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tlog_checkpoints (
    no INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL,
    note BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS tlog_leaves_no_update BEFORE UPDATE ON tlog_leaves BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_leaves_no_delete BEFORE DELETE ON tlog_leaves BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_hashes_no_update BEFORE UPDATE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_hashes_no_delete BEFORE DELETE ON tlog_hashes BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_checkpoints_no_update BEFORE UPDATE ON tlog_checkpoints BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints BEGIN SELECT RAISE(ABORT, 'the tree is append-only'); END;
";

/// Whether the store has the tree's tables (a store never opened by a
/// writer since the tree exists has not).
pub(crate) fn has_tree(conn: &Connection) -> rusqlite::Result<bool> {
    table_exists(conn, "tlog_leaves")
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Reads stored hashes on a connection, inside whatever transaction it is
/// in (so a commit sees its own leaves).
pub(crate) struct SqlHashes<'a>(pub &'a Connection);

impl HashReader for SqlHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let db = |e: rusqlite::Error| tlog_tiles::Error::InvalidInput(e.to_string());
        let mut stmt = self
            .0
            .prepare_cached("SELECT hash FROM tlog_hashes WHERE id = ?1")
            .map_err(db)?;
        indexes
            .iter()
            .map(|&i| {
                let h: Option<Vec<u8>> = stmt
                    .query_row([i as i64], |r| r.get(0))
                    .optional()
                    .map_err(db)?;
                let h = h.ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                Ok(Hash(
                    h.try_into().map_err(|_| tlog_tiles::Error::MalformedHash)?,
                ))
            })
            .collect()
    }
}

/// Hashes held in memory, indexed as stored; for rebuilds and checks.
pub(crate) struct MemHashes<'a>(pub &'a [Hash]);

impl HashReader for MemHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// How many leaves the tree has.
pub(crate) fn size(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// A record written in the current transaction, to become a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewLeaf {
    pub kind: LeafKind,
    /// The record's row: `events.id` or `access_log.seq`.
    pub item: i64,
    /// The record's stored hash.
    pub record_hash: [u8; 32],
}

/// Most rows one `INSERT` writes; larger appends take several, of sizes
/// halving down to one row, so a handful of cached statements serve any
/// count.
const MAX_ROWS_PER_INSERT: usize = 64;

/// Reads stored hashes for an append: the ones it has just computed from
/// memory (they are stored contiguously from `base`), older ones from the
/// table (at most one per level of the tree per append).
struct Appending<'a> {
    conn: &'a Connection,
    base: u64,
    fresh: &'a [Hash],
}

impl HashReader for Appending<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| match i.checked_sub(self.base) {
                Some(k) => self
                    .fresh
                    .get(k as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree),
                None => SqlHashes(self.conn)
                    .read_hashes(&[i])
                    .map(|mut h| h.remove(0)),
            })
            .collect()
    }
}

/// Appends `leaves`, in order, after the tree's current leaves: one read
/// of the size, then the leaf rows and their stored hashes in multi-row
/// inserts. Run inside the transaction that wrote the records, with its
/// records in the order they were written, so that the leaf order is the
/// commit order. Returns the index of the first new leaf.
///
/// A record numbered at or below the newest leaf of its kind is left out,
/// as the migration's "not yet in the tree" would: only a store whose
/// newest rows were deleted behind the tree reuses such numbers, and
/// `trace verify` reports it (the tree's leaf names the old record).
pub(crate) fn append_leaves(conn: &Connection, leaves: &[NewLeaf]) -> Result<u64, AppendError> {
    let (start, newest) = size_and_newest(conn)?;
    let fresh_record = |l: &NewLeaf| l.item > newest[l.kind.code() as usize];
    let kept: Vec<NewLeaf>;
    let leaves = if leaves.iter().all(fresh_record) {
        leaves
    } else {
        kept = leaves.iter().copied().filter(fresh_record).collect();
        &kept
    };
    if leaves.is_empty() {
        return Ok(start);
    }
    let base = stored_hash_index(0, start);
    let mut fresh: Vec<Hash> = Vec::with_capacity(2 * leaves.len());
    for (n, leaf) in (start..).zip(leaves) {
        let reader = Appending {
            conn,
            base,
            fresh: &fresh,
        };
        let new =
            stored_hashes_for_record_hash(n, leaf_hash(leaf.kind, &leaf.record_hash), &reader)?;
        fresh.extend(new);
    }
    let idx: Vec<i64> = (start..).take(leaves.len()).map(|n| n as i64).collect();
    let codes: Vec<i64> = leaves.iter().map(|l| l.kind.code()).collect();
    let mut row_values: Vec<&dyn ToSql> = Vec::with_capacity(3 * leaves.len());
    for ((n, code), leaf) in idx.iter().zip(&codes).zip(leaves) {
        row_values.extend([n as &dyn ToSql, code, &leaf.item]);
    }
    insert_rows(conn, "tlog_leaves (idx, kind, item)", 3, &row_values)?;
    let ids: Vec<i64> = (base..).take(fresh.len()).map(|i| i as i64).collect();
    let blobs: Vec<&[u8]> = fresh.iter().map(|h| h.0.as_slice()).collect();
    let mut hash_values: Vec<&dyn ToSql> = Vec::with_capacity(2 * fresh.len());
    for (id, blob) in ids.iter().zip(&blobs) {
        hash_values.extend([id as &dyn ToSql, blob]);
    }
    insert_rows(conn, "tlog_hashes (id, hash)", 2, &hash_values)?;
    Ok(start)
}

/// The tree's size and the newest record of each kind in it (by
/// [`LeafKind::code`]), in one statement.
fn size_and_newest(conn: &Connection) -> rusqlite::Result<(u64, [i64; 2])> {
    conn.prepare_cached(
        "SELECT COALESCE(MAX(idx) + 1, 0),
            (SELECT COALESCE(MAX(item), 0) FROM tlog_leaves WHERE kind = ?1),
            (SELECT COALESCE(MAX(item), 0) FROM tlog_leaves WHERE kind = ?2)
         FROM tlog_leaves",
    )?
    .query_row([LeafKind::Event.code(), LeafKind::Access.code()], |r| {
        Ok((r.get::<_, i64>(0)? as u64, [r.get(1)?, r.get(2)?]))
    })
}

/// Inserts rows of `width` values each (`values` flat, row after row)
/// into `into` (`table (columns)`): statements of [`MAX_ROWS_PER_INSERT`]
/// rows while there are as many, then at most one of each halved size
/// (32, 16 ... 1 rows), so seven statements, each prepared once per
/// connection, serve any count.
fn insert_rows(
    conn: &Connection,
    into: &str,
    width: usize,
    values: &[&dyn ToSql],
) -> rusqlite::Result<()> {
    let row = format!("({})", vec!["?"; width].join(", "));
    let mut rest = values;
    let mut chunk = MAX_ROWS_PER_INSERT;
    while !rest.is_empty() {
        while chunk * width > rest.len() {
            chunk /= 2;
        }
        let sql = format!(
            "INSERT INTO {into} VALUES {}",
            vec![row.as_str(); chunk].join(", ")
        );
        let (now, later) = rest.split_at(chunk * width);
        conn.prepare_cached(&sql)?.execute(now)?;
        rest = later;
    }
    Ok(())
}

/// Why a leaf could not be appended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Tree(#[from] tlog_tiles::Error),
    #[error("a stored record hash is not 32 bytes")]
    BadRecordHash,
}

/// The migration of a store made before the tree (or written by a writer
/// without it): creates the tree's tables if missing and appends a leaf
/// for every record not yet in the tree, events in `id` order, then
/// access-log entries in `seq` order. Run by every writer at open, inside
/// a write transaction the caller holds; commits append their own leaves
/// with [`append_leaves`]. Returns how many leaves it added.
pub(crate) fn migrate(conn: &Connection) -> Result<u64, AppendError> {
    conn.execute_batch(SCHEMA)?;
    catch_up(conn)
}

/// Appends a leaf for every record not yet in the tree: events in `id`
/// order, then access-log entries in `seq` order.
fn catch_up(conn: &Connection) -> Result<u64, AppendError> {
    let mut missing = Vec::new();
    for (kind, table, key) in [
        (LeafKind::Event, "events", "id"),
        (LeafKind::Access, "access_log", "seq"),
    ] {
        if !table_exists(conn, table)? {
            continue;
        }
        let last: i64 = conn
            .prepare_cached("SELECT COALESCE(MAX(item), 0) FROM tlog_leaves WHERE kind = ?1")?
            .query_row([kind.code()], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {key}, hash FROM {table} WHERE {key} > ?1 ORDER BY {key}"
        ))?;
        let mut rows = stmt.query([last])?;
        while let Some(row) = rows.next()? {
            let hash: Vec<u8> = row.get(1)?;
            missing.push(NewLeaf {
                kind,
                item: row.get(0)?,
                record_hash: hash.try_into().map_err(|_| AppendError::BadRecordHash)?,
            });
        }
    }
    append_leaves(conn, &missing)?;
    Ok(missing.len() as u64)
}

/// The root of the tree's first `size` leaves.
pub(crate) fn root(conn: &Connection, size: u64) -> Result<Hash, TreeError> {
    check_size(conn, size)?;
    Ok(tree_hash(size, &SqlHashes(conn))?)
}

fn check_size(conn: &Connection, asked: u64) -> Result<u64, TreeError> {
    let tree = size(conn).map_err(|_| TreeError::NoTree)?;
    if asked > tree {
        return Err(TreeError::SizeBeyondTree { size: asked, tree });
    }
    Ok(tree)
}

/// The RFC 6962 inclusion proof of leaf `index` in the tree of `size`.
pub(crate) fn inclusion_proof(
    conn: &Connection,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError> {
    check_size(conn, size)?;
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    Ok(prove_record(size, index, &SqlHashes(conn))?)
}

/// The RFC 6962 consistency proof from the tree of `old` leaves to the
/// tree of `new`; empty from the empty tree (RFC 6962 defines none, and
/// C2SP tlog-witness sends none for `old 0`).
pub(crate) fn consistency_proof(
    conn: &Connection,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, TreeError> {
    check_size(conn, new)?;
    if old > new {
        return Err(TreeError::BadRange { old, new });
    }
    if old == 0 {
        return Ok(Vec::new());
    }
    Ok(prove_tree(new, old, &SqlHashes(conn))?)
}

/// The leaf of event `events.id = item`, if in the tree.
pub(crate) fn leaf_of(
    conn: &Connection,
    kind: LeafKind,
    item: i64,
) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT idx FROM tlog_leaves WHERE kind = ?1 AND item = ?2")?
        .query_row(params![kind.code(), item], |r| r.get::<_, i64>(0))
        .optional()
        .map(|i| i.map(|i| i as u64))
}

/// Rebuilds the stored hashes of a tree from its leaf hashes, in order.
pub fn rebuild(leaves: &[Hash]) -> Result<Vec<Hash>, tlog_tiles::Error> {
    let mut stored = Vec::with_capacity(stored_hash_count(leaves.len() as u64) as usize);
    for (n, leaf) in leaves.iter().enumerate() {
        let new = stored_hashes_for_record_hash(n as u64, *leaf, &MemHashes(&stored))?;
        stored.extend(new);
    }
    Ok(stored)
}

/// The root of the first `size` leaves of a tree whose stored hashes are
/// `stored` (as [`rebuild`] gives them).
pub fn root_of(stored: &[Hash], size: u64) -> Result<Hash, tlog_tiles::Error> {
    tree_hash(size, &MemHashes(stored))
}

/// What `trace verify` found about the tree and its checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TreeReport {
    /// Leaves in the tree.
    pub size: u64,
    /// Checkpoints stored.
    pub checkpoints: u64,
    /// Empty when the tree is the rebuild of its leaves and every
    /// checkpoint verifies. Each `what` starts with `Merkle tree: `; an
    /// event left out of the tree names its act and seq.
    pub problems: Vec<Problem>,
}

/// Checks, in one read transaction the caller holds, what [`check_rows`]
/// checks. `None` for a store without the tree (never opened by a writer
/// since the tree exists).
pub(crate) fn check(
    conn: &Connection,
    trusted: &crate::keys::TrustedKeys,
) -> rusqlite::Result<Option<TreeReport>> {
    if !has_tree(conn)? {
        return Ok(None);
    }
    let mut rows = TreeRows::default();
    {
        let mut stmt = conn.prepare(
            "SELECT e.id, e.hash, a.act, e.seq FROM events e LEFT JOIN acts a ON a.no = e.act_no",
        )?;
        let mut r = stmt.query([])?;
        while let Some(row) = r.next()? {
            rows.events.push(TreeEventRow {
                id: row.get(0)?,
                hash: row.get(1)?,
                act: row.get(2)?,
                seq: row.get(3)?,
            });
        }
    }
    if table_exists(conn, "access_log")? {
        let mut stmt = conn.prepare("SELECT seq, hash FROM access_log")?;
        let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in r {
            rows.access.push(row?);
        }
    }
    {
        let mut stmt = conn.prepare("SELECT idx, kind, item FROM tlog_leaves ORDER BY idx")?;
        let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        for row in r {
            rows.leaves.push(row?);
        }
    }
    {
        let mut stmt = conn.prepare("SELECT id, hash FROM tlog_hashes ORDER BY id")?;
        let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in r {
            rows.hashes.push(row?);
        }
    }
    {
        let mut stmt = conn.prepare("SELECT no, size, note FROM tlog_checkpoints ORDER BY no")?;
        let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        for row in r {
            rows.checkpoints.push(row?);
        }
    }
    Ok(Some(check_rows(&rows, trusted)))
}

/// One trace event as the tree's check needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeEventRow {
    /// The event's row number, which its leaf names (`item`).
    pub id: i64,
    /// The record's stored hash.
    pub hash: Vec<u8>,
    /// Its act's 16-byte id (`None` if the store lost the act's row), to
    /// name an event left out of the tree.
    pub act: Option<Vec<u8>>,
    pub seq: i64,
}

/// The tree's tables and the records they cover, read from a store in one
/// transaction, for [`check_rows`]: any store keeping the tree (SQLite,
/// PostgreSQL) reads these and shares the one check.
#[derive(Clone, Debug, Default)]
pub struct TreeRows {
    /// Every trace event, in any order.
    pub events: Vec<TreeEventRow>,
    /// Every access-log entry: `(seq, hash)`.
    pub access: Vec<(i64, Vec<u8>)>,
    /// Every leaf `(idx, kind, item)`, by `idx`.
    pub leaves: Vec<(i64, i64, i64)>,
    /// Every stored hash `(id, hash)`, by `id`.
    pub hashes: Vec<(i64, Vec<u8>)>,
    /// Every checkpoint `(no, size, note)`, by `no`.
    pub checkpoints: Vec<(i64, i64, Vec<u8>)>,
}

/// Checks: the leaves are numbered without hole, each names a stored
/// record (events in `id` order, access entries in `seq` order) and every
/// record has one; the stored hashes equal a rebuild from the leaves; and
/// every stored checkpoint is signed by a trusted key under its origin,
/// with a size within the tree and the rebuilt root of that size.
pub fn check_rows(rows: &TreeRows, trusted: &crate::keys::TrustedKeys) -> TreeReport {
    use std::collections::{HashMap, HashSet};
    let mut found = Vec::new();
    let mut hashes: [HashMap<i64, &Vec<u8>>; 2] = [HashMap::new(), HashMap::new()];
    // Where each event is, to name it if the tree left it out.
    let mut event_at: HashMap<i64, (&[u8], i64)> = HashMap::new();
    for e in &rows.events {
        hashes[0].insert(e.id, &e.hash);
        event_at.insert(e.id, (e.act.as_deref().unwrap_or_default(), e.seq));
    }
    for (k, h) in &rows.access {
        hashes[1].insert(*k, h);
    }
    let mut in_tree: [HashSet<i64>; 2] = [HashSet::new(), HashSet::new()];
    let mut leaves = Vec::new();
    let mut last = [0i64; 2];
    for &(idx, kind, item) in &rows.leaves {
        let n = leaves.len() as i64;
        if idx != n {
            found.push(format!("leaf {n} is missing (the next is {idx})"));
            break;
        }
        let (slot, kind) = match kind {
            0 => (0, LeafKind::Event),
            1 => (1, LeafKind::Access),
            _ => {
                found.push(format!("leaf {n} has an unknown kind"));
                leaves.push(Hash([0; 32]));
                continue;
            }
        };
        if item <= last[slot] {
            found.push(format!("leaf {n} is out of commit order"));
        }
        last[slot] = last[slot].max(item);
        let record: Option<[u8; 32]> = hashes[slot]
            .get(&item)
            .and_then(|h| h.as_slice().try_into().ok());
        match record {
            Some(h) => {
                in_tree[slot].insert(item);
                leaves.push(leaf_hash(kind, &h));
            }
            None => {
                found.push(format!("leaf {n} names a record that is not in the store"));
                leaves.push(Hash([0; 32]));
            }
        }
    }
    let mut report = TreeReport {
        size: leaves.len() as u64,
        ..TreeReport::default()
    };
    let mut left_out: Vec<(&[u8], i64)> = event_at
        .iter()
        .filter(|(id, _)| !in_tree[0].contains(id))
        .map(|(_, (act, seq))| (*act, *seq))
        .collect();
    left_out.sort();
    for (act, seq) in left_out {
        let act = <[u8; 16]>::try_from(act)
            .map(|a| crate::ids::ActId::from_bytes(a).to_string())
            .ok();
        report.problems.push(Problem {
            act,
            seq: Some(seq as u64),
            checkpoint: None,
            what: "Merkle tree: the event is not in the tree (written around it)".into(),
        });
    }
    let missing = hashes[1].len().saturating_sub(in_tree[1].len());
    if missing > 0 {
        found.push(format!("{missing} access-log entries are not in the tree"));
    }
    let rebuilt = rebuild(&leaves);
    let Ok(rebuilt) = rebuilt else {
        found.push("the tree cannot be rebuilt".into());
        report.problems.extend(found.into_iter().map(tree_problem));
        return report;
    };
    {
        let mut i = 0usize;
        for (id, h) in &rows.hashes {
            if *id != i as i64
                || rebuilt
                    .get(i)
                    .is_none_or(|r| r.0.as_slice() != h.as_slice())
            {
                found.push(format!(
                    "stored tree hash {id} is not the rebuild's (leaves and hashes disagree)"
                ));
                break;
            }
            i += 1;
        }
        if i < rebuilt.len() && found.is_empty() {
            found.push(format!(
                "the tree stores {i} hashes, the rebuild has {}",
                rebuilt.len()
            ));
        }
    }
    for (no, size, note) in &rows.checkpoints {
        report.checkpoints += 1;
        if let Err(what) = check_checkpoint(note, *size as u64, &rebuilt, report.size, trusted) {
            found.push(format!("tree checkpoint {no} (size {size}): {what}"));
        }
    }
    report.problems.extend(found.into_iter().map(tree_problem));
    report
}

/// A finding about the tree as a whole.
fn tree_problem(what: String) -> Problem {
    Problem {
        act: None,
        seq: None,
        checkpoint: None,
        what: format!("Merkle tree: {what}"),
    }
}

/// One stored checkpoint against the rebuilt tree.
fn check_checkpoint(
    note: &[u8],
    size: u64,
    rebuilt: &[Hash],
    tree_size: u64,
    trusted: &crate::keys::TrustedKeys,
) -> Result<(), String> {
    let parsed = signed_note::Note::from_bytes(note).map_err(|e| e.to_string())?;
    let text = tlog_tiles::Checkpoint::from_bytes(parsed.text())
        .map_err(|_| "the checkpoint is malformed".to_string())?;
    let signed = trusted.keys().any(|key| {
        super::note::CheckpointVerifier::parse(&super::note::verifier_key(text.origin(), key))
            .ok()
            .is_some_and(|v| super::note::verify_checkpoint(note, &v, &[]).is_ok())
    });
    if !signed {
        return Err("not signed by a trusted key".into());
    }
    if text.size() != size {
        return Err(format!("the note says size {}", text.size()));
    }
    if size > tree_size {
        return Err(format!("the tree has only {tree_size} leaves"));
    }
    let root = root_of(rebuilt, size).map_err(|e| e.to_string())?;
    if root != *text.hash() {
        return Err("its root is not the tree's".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};
    use tlog_tiles::{check_record, check_tree, record_hash};

    use super::*;

    /// The RFC 6962 test leaves of certificate-transparency-go and Go's
    /// tlog tests (`testonly/constants.go`).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Their roots for sizes 0 to 8.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(hex_digits: &str) -> Hash {
        Hash(hex::decode(hex_digits).unwrap().try_into().unwrap())
    }

    fn tree() -> Vec<Hash> {
        let leaves: Vec<Hash> = LEAVES
            .iter()
            .map(|l| record_hash(&hex::decode(l).unwrap()))
            .collect();
        rebuild(&leaves).unwrap()
    }

    #[test]
    fn roots_are_rfc_6962s() {
        let stored = tree();
        for (size, root) in ROOTS.iter().enumerate() {
            assert_eq!(
                root_of(&stored, size as u64).unwrap(),
                h(root),
                "size {size}"
            );
        }
    }

    #[test]
    fn inclusion_proofs_are_rfc_6962s() {
        let stored = tree();
        let cases: [(u64, u64, &[&str]); 3] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (index, size, path) in cases {
            let proof = prove_record(size, index, &MemHashes(&stored)).unwrap();
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(proof, want, "leaf {index} of {size}");
            let leaf = record_hash(&hex::decode(LEAVES[index as usize]).unwrap());
            check_record(&proof, size, h(ROOTS[size as usize]), index, leaf).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_are_rfc_6962s() {
        let stored = tree();
        let cases: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, path) in cases {
            let proof = prove_tree(new, old, &MemHashes(&stored)).unwrap();
            let want: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            assert_eq!(proof, want, "{old} to {new}");
            check_tree(
                &proof,
                new,
                h(ROOTS[new as usize]),
                old,
                h(ROOTS[old as usize]),
            )
            .unwrap();
        }
    }

    /// Appends of every size up to past two full inserts, one after the
    /// other, give the tree a rebuild gives; the leaves keep their order.
    #[test]
    fn batched_appends_are_the_rebuild() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let mut leaves = Vec::new();
        let mut item = 0i64;
        for batch in (0..=2 * MAX_ROWS_PER_INSERT + 3).chain([1, 1, 7]) {
            let new: Vec<NewLeaf> = (0..batch)
                .map(|_| {
                    item += 1;
                    let kind = if item % 3 == 0 {
                        LeafKind::Access
                    } else {
                        LeafKind::Event
                    };
                    NewLeaf {
                        kind,
                        item,
                        record_hash: Sha256::digest(item.to_be_bytes()).into(),
                    }
                })
                .collect();
            let first = append_leaves(&conn, &new).unwrap();
            assert_eq!(first, leaves.len() as u64);
            leaves.extend(new.iter().map(|l| leaf_hash(l.kind, &l.record_hash)));
            assert_eq!(size(&conn).unwrap(), leaves.len() as u64);
        }
        let stored = rebuild(&leaves).unwrap();
        let in_table: Vec<Hash> = conn
            .prepare("SELECT hash FROM tlog_hashes ORDER BY id")
            .unwrap()
            .query_map([], |r| {
                Ok(Hash(r.get::<_, Vec<u8>>(0)?.try_into().unwrap()))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(in_table, stored);
        let n = leaves.len() as u64;
        assert_eq!(root(&conn, n).unwrap(), root_of(&stored, n).unwrap());
        assert_eq!(leaf_of(&conn, LeafKind::Access, 3).unwrap(), Some(2));
        // A number already in the tree (rows deleted behind it) is left
        // out, as the migration leaves it out; a fresh one goes on.
        let stale = NewLeaf {
            kind: LeafKind::Access,
            item: 3,
            record_hash: [0; 32],
        };
        let next = NewLeaf {
            item: item + 1,
            ..stale
        };
        assert_eq!(append_leaves(&conn, &[stale, next]).unwrap(), n);
        assert_eq!(size(&conn).unwrap(), n + 1);
        assert_eq!(leaf_of(&conn, LeafKind::Access, item + 1).unwrap(), Some(n));
    }

    #[test]
    fn the_sql_tree_is_the_memory_tree() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "CREATE TABLE acts (no INTEGER PRIMARY KEY, act BLOB NOT NULL);
             CREATE TABLE events (id INTEGER PRIMARY KEY, act_no INTEGER, seq INTEGER, hash BLOB NOT NULL);",
        )
        .unwrap();
        let mut leaves = Vec::new();
        for i in 1..=37u8 {
            let hash = [i; 32];
            conn.execute(
                "INSERT INTO events (id, act_no, seq, hash) VALUES (?1, 1, ?1, ?2)",
                params![i, hash.as_slice()],
            )
            .unwrap();
            leaves.push(leaf_hash(LeafKind::Event, &hash));
            if i % 5 == 0 {
                catch_up(&conn).unwrap();
            }
        }
        assert_eq!(catch_up(&conn).unwrap(), 2);
        let stored = rebuild(&leaves).unwrap();
        for size in 0..=37 {
            assert_eq!(root(&conn, size).unwrap(), root_of(&stored, size).unwrap());
        }
        assert!(matches!(
            root(&conn, 38),
            Err(TreeError::SizeBeyondTree { size: 38, tree: 37 })
        ));
        assert_eq!(leaf_of(&conn, LeafKind::Event, 9).unwrap(), Some(8));
        let report = check(&conn, &crate::keys::TrustedKeys::default())
            .unwrap()
            .unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.size, 37);
    }
}
