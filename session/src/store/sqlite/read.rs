//! Reading acts back: an act's chain walked from its head, the newest
//! checkpoint naming it, the whole store for a snapshot, and the rows'
//! decoding.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use crate::Error;
use crate::ids::ActId;
use crate::keys::KeyId;
use crate::timestamp::Timestamp;
#[cfg(doc)]
use crate::trace::encode_heads;
use crate::trace::{Checkpoint, Hash, TraceRecord, decode_heads};

impl SqliteStore {
    /// Every record as stored, grouped by act and sorted by seq, read on
    /// `conn`; and per act the positions of the records its links reach
    /// from its head, in chain order.
    pub(super) fn scan_in(
        &self,
        conn: &Connection,
        only: Option<ActId>,
    ) -> Result<(RecordsByAct, LinksByAct), Error> {
        let err = |e| self.err(e);
        let mut acts: HashMap<i64, ActId> = HashMap::new();
        // Per act: (record, row id, prev_id).
        let mut rows_of: BTreeMap<ActId, Vec<(TraceRecord, i64, Option<i64>)>> = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare_cached("SELECT no, act FROM acts")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(err)?;
            for row in rows {
                let (no, bytes) = row.map_err(err)?;
                let id = act_id_from(&self.path, &bytes)?;
                if only.is_none_or(|a| a == id) {
                    acts.insert(no, id);
                    rows_of.insert(id, Vec::new());
                }
            }
        }
        let mut heads: HashMap<ActId, i64> = HashMap::new();
        {
            let mut stmt = conn
                .prepare_cached("SELECT act_no, last_id FROM heads")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .map_err(err)?;
            for row in rows {
                let (no, last) = row.map_err(err)?;
                if let Some(act) = acts.get(&no) {
                    heads.insert(*act, last);
                }
            }
        }
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT act_no, id, {RECORD_COLUMNS} FROM events ORDER BY id"
            ))
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(row) = rows.next().map_err(err)? {
            let act_no: i64 = row.get(0).map_err(err)?;
            let Some(&act) = acts.get(&act_no) else {
                continue;
            };
            let id: i64 = row.get(1).map_err(err)?;
            let (record, prev_id) = record_from_row_at(act, row, 2).map_err(err)?;
            rows_of.entry(act).or_default().push((record, id, prev_id));
        }
        let mut out = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (act, mut rows) in rows_of {
            rows.sort_by_key(|(r, _, _)| r.seq);
            let at: HashMap<i64, (usize, Option<i64>)> = rows
                .iter()
                .enumerate()
                .map(|(i, (_, id, prev))| (*id, (i, *prev)))
                .collect();
            // The same walk as `records`: back from the head, stopping at a
            // broken link or a loop.
            let mut order = Vec::new();
            let mut seen = std::collections::HashSet::new();
            let mut next = heads.get(&act).copied();
            while let Some(id) = next.filter(|id| seen.insert(*id)) {
                let Some(&(i, prev)) = at.get(&id) else {
                    break;
                };
                order.push(i);
                next = prev;
            }
            order.reverse();
            links.insert(act, order);
            out.insert(act, rows.into_iter().map(|(r, _, _)| r).collect());
        }
        Ok((out, links))
    }

    /// The act's records walked from its head through `prev_id`, on `conn`.
    pub(super) fn walk_links(
        &self,
        conn: &Connection,
        act: ActId,
    ) -> Result<Option<Vec<TraceRecord>>, Error> {
        Ok(self
            .walk_records(conn, act)?
            .map(|rows| rows.into_iter().map(|(record, _)| record).collect()))
    }

    /// The act's records as [`SqliteStore::walk_links`] finds them, each
    /// with its row (its leaf in the Merkle tree names the row).
    pub(super) fn walk_records(
        &self,
        conn: &Connection,
        act: ActId,
    ) -> Result<Option<Vec<(TraceRecord, i64)>>, Error> {
        self.walk_chain(conn, act, RECORD_COLUMNS, |r| record_from_row(act, r))
    }

    /// `(seq, row)` of the act's events, walked as
    /// [`SqliteStore::walk_links`] does but reading only their seq.
    pub(super) fn event_rows(
        &self,
        conn: &Connection,
        act: ActId,
    ) -> Result<Vec<(u64, i64)>, Error> {
        let rows = self.walk_chain(conn, act, "seq, prev_id", |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
        })?;
        Ok(rows.unwrap_or_default())
    }

    /// Walks the act's chain back from its head through `prev_id`, on
    /// `conn`, stopping at a broken link or a loop; oldest first, each
    /// event as `read` takes it from `columns` (it also returns the
    /// `prev_id`) with its row. `None` for an act not in the store.
    fn walk_chain<T>(
        &self,
        conn: &Connection,
        act: ActId,
        columns: &str,
        read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<(T, Option<i64>)>,
    ) -> Result<Option<Vec<(T, i64)>>, Error> {
        let err = |e| self.err(e);
        let found: Option<(i64, Option<i64>)> = conn
            .prepare_cached(
                "SELECT a.no, h.last_id FROM acts a LEFT JOIN heads h ON h.act_no = a.no WHERE a.act = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![act.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(err)?;
        let Some((act_no, mut next)) = found else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {columns} FROM events WHERE id = ?1 AND act_no = ?2"
            ))
            .map_err(err)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = next.filter(|id| seen.insert(*id)) {
            let Some((item, prev_id)) = stmt
                .query_row(params![id, act_no], &read)
                .optional()
                .map_err(err)?
            else {
                break; // A broken link: verification says what is missing.
            };
            out.push((item, id));
            next = prev_id;
        }
        out.reverse();
        Ok(Some(out))
    }

    /// The newest checkpoint naming `act`, scanning back from the newest,
    /// and the first hole met in their numbering on the way.
    pub(super) fn newest_naming(
        &self,
        conn: &Connection,
        act: ActId,
    ) -> Result<(Option<Checkpoint>, Option<Gap>), Error> {
        let err = |e| self.err(e);
        let mut gap = None;
        let found = {
            let mut stmt = conn
                .prepare_cached("SELECT no, heads FROM checkpoints ORDER BY no DESC")
                .map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let mut above: Option<u64> = None;
            let mut found = None;
            while let Some(row) = rows.next().map_err(err)? {
                let no = row.get::<_, i64>(0).map_err(err)? as u64;
                if let Some(above) = above
                    && no + 1 != above
                    && gap.is_none()
                {
                    gap = Some((no + 1, above));
                }
                above = Some(no);
                let heads = row.get_ref(1).map_err(err)?.as_blob().unwrap_or(&[]);
                if heads_name(heads, act) {
                    found = Some(no);
                    break;
                }
            }
            found
        };
        let Some(no) = found else {
            return Ok((None, gap));
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT no, at, prev, heads, key_id, signature FROM checkpoints WHERE no = ?1",
            )
            .map_err(err)?;
        let c = stmt
            .query_row(params![no as i64], checkpoint_from_row)
            .map_err(err)?;
        Ok((Some(c), gap))
    }
}

/// Each act's records, sorted by seq.
pub(super) type RecordsByAct = BTreeMap<ActId, Vec<TraceRecord>>;
/// Each act's records in the order its links give, as positions in
/// [`RecordsByAct`].
pub(super) type LinksByAct = BTreeMap<ActId, Vec<usize>>;
/// A hole in the checkpoint numbering: the first number missing and the
/// next one present.
pub(super) type Gap = (u64, u64);

/// Whether encoded heads (see [`encode_heads`]) name `act`, without
/// decoding them.
fn heads_name(bytes: &[u8], act: ActId) -> bool {
    bytes
        .get(4..)
        .unwrap_or(&[])
        .chunks_exact(56)
        .any(|c| c[..16] == act.as_bytes()[..])
}

/// The `events` columns a [`TraceRecord`] is read from, in order.
const RECORD_COLUMNS: &str = "seq, prev_id, at, kind, public, sealed, prev_hash, hash";

fn record_from_row(
    act: ActId,
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(TraceRecord, Option<i64>)> {
    record_from_row_at(act, r, 0)
}

/// Reads [`RECORD_COLUMNS`] starting at column `at`; also returns `prev_id`.
fn record_from_row_at(
    act: ActId,
    r: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<(TraceRecord, Option<i64>)> {
    let record = TraceRecord {
        act,
        seq: r.get::<_, i64>(at)? as u64,
        at: Timestamp::from_micros(r.get(at + 2)?),
        kind: r.get(at + 3)?,
        public: r.get(at + 4)?,
        sealed: r.get(at + 5)?,
        // A wrong length is itself tampering; verification reports it as a
        // hash mismatch rather than failing the read.
        prev_hash: to_hash(&r.get::<_, Vec<u8>>(at + 6)?),
        hash: to_hash(&r.get::<_, Vec<u8>>(at + 7)?),
    };
    Ok((record, r.get(at + 1)?))
}

pub(super) fn act_id_from(path: &Path, bytes: &[u8]) -> Result<ActId, Error> {
    let id: [u8; 16] = bytes.try_into().map_err(|_| Error::NotATraceStore {
        path: path.into(),
        reason: "an act has a malformed id".into(),
    })?;
    Ok(ActId::from_bytes(id))
}

pub(super) fn read_checkpoints(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Checkpoint>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], checkpoint_from_row)?;
    rows.collect()
}

/// A checkpoint from the columns `no, at, prev, heads, key_id, signature`.
fn checkpoint_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Checkpoint> {
    let heads: Vec<u8> = r.get(3)?;
    let key_id: Vec<u8> = r.get(4)?;
    let sig: Vec<u8> = r.get(5)?;
    let mut kid = [0u8; 8];
    if key_id.len() == 8 {
        kid.copy_from_slice(&key_id);
    }
    let mut signature = [0u8; 64];
    if sig.len() == 64 {
        signature.copy_from_slice(&sig);
    }
    Ok(Checkpoint {
        no: r.get::<_, i64>(0)? as u64,
        at: Timestamp::from_micros(r.get(1)?),
        prev: to_hash(&r.get::<_, Vec<u8>>(2)?),
        // Malformed heads verify as an empty list, whose signature fails.
        heads: decode_heads(&heads).unwrap_or_default(),
        key_id: KeyId(kid),
        signature,
    })
}

pub(super) fn to_hash(bytes: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    if bytes.len() == 32 {
        h.copy_from_slice(bytes);
    }
    h
}
