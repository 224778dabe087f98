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
//! Leaves are appended by [`catch_up`], in the transaction that writes the
//! records (the trace writer's group commit, the access log's
//! `record`), so that the leaf order is the commit order. The same
//! function migrates a store made before the tree: at a writer's open, the
//! records not yet in the tree are added, events in `id` order and then
//! access entries in `seq` order.

use rusqlite::{Connection, OptionalExtension, params};
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

/// Stored hashes written in the current transaction, read before the
/// table: a commit's leaves mostly need hashes of the same commit.
struct Overlay<'a> {
    conn: &'a Connection,
    fresh: std::collections::HashMap<u64, Hash>,
}

impl HashReader for Overlay<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        if let Some(all) = indexes
            .iter()
            .map(|i| self.fresh.get(i).copied())
            .collect::<Option<Vec<_>>>()
        {
            return Ok(all);
        }
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            match self.fresh.get(&i) {
                Some(h) => out.push(*h),
                None => out.extend(SqlHashes(self.conn).read_hashes(&[i])?),
            }
        }
        Ok(out)
    }
}

/// Appends leaf `n` (the tree's size) for record `item` of `kind` whose
/// stored hash is `record_hash`.
fn append(
    overlay: &mut Overlay<'_>,
    n: u64,
    kind: LeafKind,
    item: i64,
    record_hash: &[u8; 32],
) -> Result<(), AppendError> {
    let conn = overlay.conn;
    let hashes = stored_hashes_for_record_hash(n, leaf_hash(kind, record_hash), &*overlay)?;
    conn.prepare_cached("INSERT INTO tlog_leaves (idx, kind, item) VALUES (?1, ?2, ?3)")?
        .execute(params![n as i64, kind.code(), item])?;
    let mut insert = conn.prepare_cached("INSERT INTO tlog_hashes (id, hash) VALUES (?1, ?2)")?;
    let first = stored_hash_index(0, n);
    for (i, h) in hashes.iter().enumerate() {
        let id = first + i as u64;
        insert.execute(params![id as i64, h.0.as_slice()])?;
        overlay.fresh.insert(id, *h);
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

/// Appends a leaf for every record not yet in the tree: events in `id`
/// order, then access-log entries in `seq` order. Run inside the
/// transaction that wrote them; at a writer's open it migrates a store
/// made before the tree. Returns how many leaves it added.
pub(crate) fn catch_up(conn: &Connection) -> Result<u64, AppendError> {
    let mut n = size(conn)?;
    let start = n;
    let mut overlay = Overlay {
        conn,
        fresh: std::collections::HashMap::new(),
    };
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
        let rows: Vec<(i64, Vec<u8>)> = conn
            .prepare_cached(&format!(
                "SELECT {key}, hash FROM {table} WHERE {key} > ?1 ORDER BY {key}"
            ))?
            .query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (item, hash) in rows {
            let hash: [u8; 32] = hash.try_into().map_err(|_| AppendError::BadRecordHash)?;
            append(&mut overlay, n, kind, item, &hash)?;
            n += 1;
        }
    }
    Ok(n - start)
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

/// Checks, in one read transaction the caller holds: the leaves are
/// numbered without hole, each names a stored record (events in `id`
/// order, access entries in `seq` order) and every record has one; the
/// stored hashes equal a rebuild from the leaves; and every stored
/// checkpoint is signed by a trusted key under its origin, with a size
/// within the tree and the rebuilt root of that size. `None` for a store
/// without the tree (never opened by a writer since the tree exists).
pub(crate) fn check(
    conn: &Connection,
    trusted: &crate::keys::TrustedKeys,
) -> rusqlite::Result<Option<TreeReport>> {
    use std::collections::{HashMap, HashSet};
    if !has_tree(conn)? {
        return Ok(None);
    }
    let mut found = Vec::new();
    let mut hashes: [HashMap<i64, Vec<u8>>; 2] = [HashMap::new(), HashMap::new()];
    // Where each event is, to name it if the tree left it out.
    let mut event_at: HashMap<i64, (Vec<u8>, i64)> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT e.id, e.hash, a.act, e.seq FROM events e LEFT JOIN acts a ON a.no = e.act_no",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            hashes[0].insert(id, row.get(1)?);
            let act: Option<Vec<u8>> = row.get(2)?;
            event_at.insert(id, (act.unwrap_or_default(), row.get(3)?));
        }
    }
    if table_exists(conn, "access_log")? {
        let mut stmt = conn.prepare("SELECT seq, hash FROM access_log")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            let (k, h) = row?;
            hashes[1].insert(k, h);
        }
    }
    let mut in_tree: [HashSet<i64>; 2] = [HashSet::new(), HashSet::new()];
    let mut leaves = Vec::new();
    let mut last = [0i64; 2];
    {
        let mut stmt = conn.prepare("SELECT idx, kind, item FROM tlog_leaves ORDER BY idx")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (idx, kind, item): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
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
    }
    let mut report = TreeReport {
        size: leaves.len() as u64,
        ..TreeReport::default()
    };
    let mut left_out: Vec<(&Vec<u8>, i64)> = event_at
        .iter()
        .filter(|(id, _)| !in_tree[0].contains(id))
        .map(|(_, (act, seq))| (act, *seq))
        .collect();
    left_out.sort();
    for (act, seq) in left_out {
        let act = <[u8; 16]>::try_from(act.as_slice())
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
        return Ok(Some(report));
    };
    {
        let mut stmt = conn.prepare("SELECT id, hash FROM tlog_hashes ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut i = 0usize;
        while let Some(row) = rows.next()? {
            let (id, h): (i64, Vec<u8>) = (row.get(0)?, row.get(1)?);
            if id != i as i64
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
    let mut stmt = conn.prepare("SELECT no, size, note FROM tlog_checkpoints ORDER BY no")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        report.checkpoints += 1;
        let (no, size, note): (i64, i64, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        if let Err(what) = check_checkpoint(&note, size as u64, &rebuilt, report.size, trusted) {
            found.push(format!("tree checkpoint {no} (size {size}): {what}"));
        }
    }
    report.problems.extend(found.into_iter().map(tree_problem));
    Ok(Some(report))
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
