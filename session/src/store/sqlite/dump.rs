//! Reading an embedded store's rows as stored ([`StoreDump`]).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Row};

use super::{check_file_header, check_meta, db_error, open_conn};
use crate::Error;
use crate::store::dump::{
    DumpAccess, DumpAccount, DumpCheckpoint, DumpDocument, DumpEvent, DumpLeaf, DumpTreeCheckpoint,
    StoreDump,
};

/// Every row of the store at `path`, read in one read transaction (a
/// consistent snapshot while a writer appends). The tree's and access
/// tables, absent from a store no writer of theirs opened, read as empty.
pub(crate) fn dump(path: &Path) -> Result<StoreDump, Error> {
    check_file_header(path)?;
    let mut conn = open_conn(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    check_meta(path, &conn, None)?;
    let e = |err| db_error(path, err);
    let tx = conn.transaction().map_err(e)?;
    let meta = |key: &str| -> Result<Option<rusqlite::types::Value>, Error> {
        match tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)) {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(err) => Err(e(err)),
        }
    };
    use rusqlite::types::Value;
    let data_key_id = match meta("data_key_id")? {
        Some(Value::Blob(b)) => b,
        _ => Vec::new(),
    };
    let created_at = match meta("created_at")? {
        Some(Value::Integer(i)) => Some(i),
        Some(Value::Text(t)) => t.parse().ok(),
        _ => None,
    };
    let dump = StoreDump {
        data_key_id,
        created_at,
        events: rows(
            &tx,
            path,
            "events",
            "SELECT e.id, a.act, e.seq, e.at, e.kind, e.public, e.sealed, e.prev_hash, e.hash
             FROM events e JOIN acts a ON a.no = e.act_no ORDER BY e.id",
            |r| {
                Ok(DumpEvent {
                    id: r.get(0)?,
                    act: r.get(1)?,
                    seq: r.get(2)?,
                    at: r.get(3)?,
                    kind: r.get(4)?,
                    public: r.get(5)?,
                    sealed: r.get(6)?,
                    prev_hash: r.get(7)?,
                    hash: r.get(8)?,
                })
            },
        )?,
        checkpoints: rows(
            &tx,
            path,
            "checkpoints",
            "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no",
            |r| {
                Ok(DumpCheckpoint {
                    no: r.get(0)?,
                    at: r.get(1)?,
                    prev: r.get(2)?,
                    heads: r.get(3)?,
                    key_id: r.get(4)?,
                    signature: r.get(5)?,
                })
            },
        )?,
        documents: rows(
            &tx,
            path,
            "documents",
            "SELECT act, sha256, media_type, size, sealed_name, sealed FROM documents ORDER BY rowid",
            |r| {
                Ok(DumpDocument {
                    act: r.get(0)?,
                    sha256: r.get(1)?,
                    media_type: r.get(2)?,
                    size: r.get(3)?,
                    sealed_name: r.get(4)?,
                    sealed: r.get(5)?,
                })
            },
        )?,
        tree_leaves: rows(
            &tx,
            path,
            "tlog_leaves",
            "SELECT idx, kind, item FROM tlog_leaves ORDER BY idx",
            |r| {
                Ok(DumpLeaf {
                    idx: r.get(0)?,
                    kind: r.get(1)?,
                    item: r.get(2)?,
                })
            },
        )?,
        tree_hashes: rows(
            &tx,
            path,
            "tlog_hashes",
            "SELECT id, hash FROM tlog_hashes ORDER BY id",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?,
        tree_checkpoints: rows(
            &tx,
            path,
            "tlog_checkpoints",
            "SELECT no, size, at, note FROM tlog_checkpoints ORDER BY no",
            |r| {
                Ok(DumpTreeCheckpoint {
                    no: r.get(0)?,
                    size: r.get(1)?,
                    at: r.get(2)?,
                    note: r.get(3)?,
                })
            },
        )?,
        accounts: rows(
            &tx,
            path,
            "accounts",
            "SELECT id, login, role, created_at, disabled_at, password, secrets, totp_step
             FROM accounts ORDER BY id",
            |r| {
                Ok(DumpAccount {
                    id: r.get(0)?,
                    login: r.get(1)?,
                    role: r.get(2)?,
                    created_at: r.get(3)?,
                    disabled_at: r.get(4)?,
                    password: r.get(5)?,
                    secrets: r.get(6)?,
                    totp_step: r.get(7)?,
                })
            },
        )?,
        access_log: rows(
            &tx,
            path,
            "access_log",
            "SELECT seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature
             FROM access_log ORDER BY seq",
            |r| {
                Ok(DumpAccess {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    act: r.get(4)?,
                    outcome: r.get(5)?,
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                    key_id: r.get(8)?,
                    signature: r.get(9)?,
                })
            },
        )?,
    };
    tx.finish().map_err(e)?;
    Ok(dump)
}

/// The rows `sql` selects from `table`, none when the table is absent.
fn rows<T>(
    conn: &Connection,
    path: &Path,
    table: &str,
    sql: &str,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, Error> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )
        .map_err(|e| db_error(path, e))?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(sql).map_err(|e| db_error(path, e))?;
    let out = stmt
        .query_map([], f)
        .map_err(|e| db_error(path, e))?
        .collect::<rusqlite::Result<Vec<T>>>()
        .map_err(|e| db_error(path, e))?;
    Ok(out)
}
