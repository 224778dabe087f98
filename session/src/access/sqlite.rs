//! [`AccessTables`] in the trace store's SQLite file: the embedded default.
//!
//! The tables `accounts` and `access_log` (format `teleconsult-access/1`,
//! see the module above and `docs/TRACE_FORMAT.md`) are created on first
//! use by a writable opening; triggers refuse UPDATE and DELETE on
//! `access_log`. Each entry's Merkle tree leaf is appended in the entry's
//! own transaction, through [`crate::tlog::tree`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::Error;
use crate::ids::ActId;
use crate::keys::KeyId;
use crate::timestamp::Timestamp;
use crate::trace::Hash;

use super::account::AccountRole;
use super::log::{AccessEntry, access_genesis};
use super::tables::{AccessTables, AccountRow, Append, EntryMatch, NewAccountRow};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER,
    password TEXT NOT NULL,
    secrets BLOB NOT NULL,
    totp_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS access_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    act BLOB NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    key_id BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_outcome ON access_log (outcome);
CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
";

/// The columns an entry is read from, in [`entry_of`]'s order.
const ENTRY_COLUMNS: &str =
    "seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature";

/// The columns an account row is read from, in [`account_of`]'s order.
const ACCOUNT_COLUMNS: &str =
    "id, login, role, created_at, disabled_at, password, secrets, totp_step";

/// The access tables on their own connection to the trace store's file.
pub struct SqliteAccessTables {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteAccessTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteAccessTables({})", self.path.display())
    }
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| Error::Database {
        path: path.into(),
        reason: e.to_string(),
    }
}

impl SqliteAccessTables {
    /// Opens the store file at `db` to write, creating the access tables
    /// if needed, and the Merkle tree's tables with, for a store made
    /// before the tree, its records as leaves (the trace store's writer
    /// does the same): each entry then appends only its own leaf.
    pub fn open(db: &Path) -> Result<SqliteAccessTables, Error> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(db_err(db))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db_err(db))?;
        conn.execute_batch(SCHEMA).map_err(db_err(db))?;
        let tx =
            rusqlite::Transaction::new_unchecked(&conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(db_err(db))?;
        crate::tlog::tree::migrate(&tx).map_err(|e| Error::Database {
            path: db.into(),
            reason: format!("cannot build the Merkle tree: {e}"),
        })?;
        tx.commit().map_err(db_err(db))?;
        Ok(SqliteAccessTables {
            path: db.into(),
            conn: Mutex::new(conn),
        })
    }

    /// Opens the store file at `db` read-only, for verification: nothing
    /// is created, and a store older than the access log reads as an
    /// empty log.
    pub fn open_reader(db: &Path) -> Result<SqliteAccessTables, Error> {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(db_err(db))?;
        Ok(SqliteAccessTables {
            path: db.into(),
            conn: Mutex::new(conn),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        db_err(&self.path)
    }

    /// The entries `clause` (a `WHERE ... ORDER BY ...` with `?` numbered
    /// parameters) picks; none when the store predates the access log.
    fn entries_where(
        &self,
        clause: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AccessEntry>, Error> {
        let conn = self.conn();
        let exists: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'access_log'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(&format!("SELECT {ENTRY_COLUMNS} FROM access_log {clause}"))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params, raw_entry)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.into_iter().map(entry_of).collect()
    }

    fn accounts_where(
        &self,
        clause: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AccountRow>, Error> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts {clause}"))
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params, account_of)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }
}

/// An `access_log` row as SQLite gives it, before its sizes are checked.
type RawEntry = (
    i64,
    i64,
    String,
    String,
    Vec<u8>,
    String,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
);

fn raw_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn entry_of(raw: RawEntry) -> Result<AccessEntry, Error> {
    let (seq, at, actor, action, act, outcome, prev, hash, key_id, sig) = raw;
    let bad = |what: &str| Error::InvalidTrace(format!("access log: {what}"));
    Ok(AccessEntry {
        seq: seq as u64,
        at: Timestamp::from_micros(at),
        actor,
        action,
        act: match act.len() {
            0 => None,
            16 => Some(ActId::from_bytes(
                act.try_into().map_err(|_| bad("act id"))?,
            )),
            _ => return Err(bad("an act id is not 16 bytes")),
        },
        outcome,
        prev_hash: prev.try_into().map_err(|_| bad("prev hash"))?,
        hash: hash.try_into().map_err(|_| bad("hash"))?,
        key_id: KeyId(key_id.try_into().map_err(|_| bad("key id"))?),
        signature: sig.try_into().map_err(|_| bad("signature"))?,
    })
}

fn account_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: r.get(0)?,
        login: r.get(1)?,
        role: r.get(2)?,
        created_at: Timestamp::from_micros(r.get(3)?),
        disabled_at: r.get::<_, Option<i64>>(4)?.map(Timestamp::from_micros),
        password_hash: r.get(5)?,
        sealed: r.get(6)?,
        totp_step: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
    })
}

impl AccessTables for SqliteAccessTables {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn insert_account(&self, new: &NewAccountRow) -> Result<Option<i64>, Error> {
        let conn = self.conn();
        let n = conn
            .execute(
                "INSERT INTO accounts (login, role, created_at, password, secrets) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (login) DO NOTHING",
                params![
                    new.login,
                    new.role.as_str(),
                    new.created_at.as_micros(),
                    new.password_hash,
                    new.sealed
                ],
            )
            .map_err(self.err())?;
        Ok((n == 1).then(|| conn.last_insert_rowid()))
    }

    fn account(&self, login: &str) -> Result<Option<AccountRow>, Error> {
        Ok(self.accounts_where("WHERE login = ?1", &[&login])?.pop())
    }

    fn accounts(&self) -> Result<Vec<AccountRow>, Error> {
        self.accounts_where("ORDER BY id", &[])
    }

    fn is_enabled(&self, id: i64) -> Result<bool, Error> {
        let v: Option<bool> = self
            .conn()
            .query_row(
                "SELECT disabled_at IS NULL FROM accounts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        Ok(v == Some(true))
    }

    fn set_role(&self, id: i64, role: AccountRole) -> Result<(), Error> {
        self.conn()
            .execute(
                "UPDATE accounts SET role = ?2 WHERE id = ?1",
                params![id, role.as_str()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn set_disabled(&self, login: &str, disabled_at: Option<Timestamp>) -> Result<bool, Error> {
        let conn = self.conn();
        let n = match disabled_at {
            Some(at) => conn.execute(
                "UPDATE accounts SET disabled_at = ?2 WHERE login = ?1 AND disabled_at IS NULL",
                params![login, at.as_micros()],
            ),
            None => conn.execute(
                "UPDATE accounts SET disabled_at = NULL WHERE login = ?1 AND disabled_at IS NOT NULL",
                params![login],
            ),
        }
        .map_err(self.err())?;
        Ok(n == 1)
    }

    fn use_totp_step(&self, id: i64, step: u64) -> Result<bool, Error> {
        let step = i64::try_from(step).map_err(|_| Error::InvalidInput("TOTP step".into()))?;
        let n = self
            .conn()
            .execute(
                "UPDATE accounts SET totp_step = ?2 WHERE id = ?1 AND totp_step < ?2",
                params![id, step],
            )
            .map_err(self.err())?;
        Ok(n == 1)
    }

    fn head(&self) -> Result<Option<(u64, Hash)>, Error> {
        head_on(&self.conn(), &self.path)
    }

    fn append(&self, entry: &AccessEntry) -> Result<Append, Error> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.err())?;
        let extends = match head_on(&tx, &self.path)? {
            Some((seq, hash)) => entry.seq == seq + 1 && entry.prev_hash == hash,
            None => entry.seq == 1 && entry.prev_hash == access_genesis(),
        };
        if !extends {
            return Ok(Append::Stale);
        }
        let seq = i64::try_from(entry.seq)
            .map_err(|_| Error::InvalidInput("an access log seq beyond i64".into()))?;
        let act = entry.act.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
        tx.execute(
            "INSERT INTO access_log (seq, at, actor, action, act, outcome, prev_hash, hash, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                seq,
                entry.at.as_micros(),
                entry.actor,
                entry.action,
                act,
                entry.outcome,
                entry.prev_hash.as_slice(),
                entry.hash.as_slice(),
                entry.key_id.0.as_slice(),
                entry.signature.as_slice()
            ],
        )
        .map_err(self.err())?;
        // The entry's leaf in the Merkle tree, in the same transaction.
        let leaf = crate::tlog::tree::NewLeaf {
            kind: crate::tlog::LeafKind::Access,
            item: seq,
            record_hash: entry.hash,
        };
        crate::tlog::tree::append_leaves(&tx, &[leaf]).map_err(|e| Error::Database {
            path: self.path.clone(),
            reason: format!("cannot append to the Merkle tree: {e}"),
        })?;
        tx.commit().map_err(self.err())?;
        Ok(Append::Written)
    }

    fn entries(&self) -> Result<Vec<AccessEntry>, Error> {
        self.entries_where("ORDER BY seq", &[])
    }

    fn entry(&self, seq: u64) -> Result<Option<AccessEntry>, Error> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        Ok(self.entries_where("WHERE seq = ?1", &[&seq])?.pop())
    }

    fn newest(&self) -> Result<Option<AccessEntry>, Error> {
        Ok(self.entries_where("ORDER BY seq DESC LIMIT 1", &[])?.pop())
    }

    fn entries_with_outcome(&self, outcome: &str) -> Result<Vec<AccessEntry>, Error> {
        self.entries_where("WHERE outcome = ?1 ORDER BY seq", &[&outcome])
    }

    fn first_matching(&self, filter: &EntryMatch<'_>) -> Result<Option<AccessEntry>, Error> {
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for actor in filter.actors {
            values.push((*actor).into());
            conditions.push(format!("actor = ?{}", values.len()));
        }
        for action in filter.actions {
            values.push((*action).into());
            conditions.push(format!("action = ?{}", values.len()));
        }
        for prefix in filter.action_prefixes {
            // `substr` on a BLOB cast compares bytes, case-sensitively,
            // with no wildcard to escape in the prefix.
            values.push((*prefix).into());
            let n = values.len();
            conditions.push(format!(
                "substr(CAST(action AS BLOB), 1, length(CAST(?{n} AS BLOB))) = CAST(?{n} AS BLOB)"
            ));
        }
        if conditions.is_empty() {
            return Ok(None);
        }
        let clause = format!("WHERE {} ORDER BY seq LIMIT 1", conditions.join(" OR "));
        let conn_params: Vec<&dyn rusqlite::ToSql> =
            values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
        Ok(self.entries_where(&clause, &conn_params)?.pop())
    }

    fn count_from(&self, from: u64) -> Result<(u64, Option<u64>), Error> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let (count, max): (i64, Option<i64>) = self
            .conn()
            .query_row(
                "SELECT COUNT(*), MAX(seq) FROM access_log WHERE seq >= ?1",
                [from],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        Ok((count as u64, max.map(|m| m as u64)))
    }
}

/// The newest entry's seq and hash, on `conn` (inside whatever transaction
/// it is in).
fn head_on(conn: &Connection, path: &Path) -> Result<Option<(u64, Hash)>, Error> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_err(path))?;
    last.map(|(s, h)| {
        let h: Hash = h
            .try_into()
            .map_err(|_| Error::InvalidTrace("an access log hash is not 32 bytes".into()))?;
        Ok((s as u64, h))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::conformance::{self, Edit, Place};

    /// A store file of its own, in WAL mode as the trace store makes it.
    struct SqlitePlace {
        _dir: tempfile::TempDir,
        db: PathBuf,
    }

    impl SqlitePlace {
        fn new() -> SqlitePlace {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = dir.path().join("trace.sqlite");
            let c = Connection::open(&db).expect("create the store file");
            let mode: String = c
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .expect("WAL mode");
            assert_eq!(mode, "wal");
            SqlitePlace { _dir: dir, db }
        }

        fn raw(&self) -> Connection {
            let c = Connection::open(&self.db).expect("open the store file");
            c.busy_timeout(Duration::from_secs(10))
                .expect("busy timeout");
            c
        }
    }

    fn run(c: &Connection, edit: Edit<'_>) -> rusqlite::Result<usize> {
        match edit {
            Edit::EntryActor { seq, actor } => c.execute(
                "UPDATE access_log SET actor = ?2 WHERE seq = ?1",
                params![seq as i64, actor],
            ),
            Edit::DeleteEntry { seq } => {
                c.execute("DELETE FROM access_log WHERE seq = ?1", [seq as i64])
            }
            Edit::AccountRole { login, role } => c.execute(
                "UPDATE accounts SET role = ?2 WHERE login = ?1",
                params![login, role],
            ),
            Edit::AccountEnabled { login } => c.execute(
                "UPDATE accounts SET disabled_at = NULL WHERE login = ?1",
                [login],
            ),
        }
    }

    impl Place for SqlitePlace {
        fn open(&self) -> Box<dyn AccessTables> {
            Box::new(SqliteAccessTables::open(&self.db).expect("open the access tables"))
        }

        fn try_edit(&self, edit: Edit<'_>) -> Result<(), String> {
            run(&self.raw(), edit).map(drop).map_err(|e| e.to_string())
        }

        fn force(&self, edit: Edit<'_>) {
            let c = self.raw();
            c.execute_batch(
                "DROP TRIGGER access_log_no_update; DROP TRIGGER access_log_no_delete;",
            )
            .expect("drop the triggers");
            let n = run(&c, edit).expect("edit past the triggers");
            assert_eq!(n, 1, "{edit:?} changed {n} rows");
            c.execute_batch(SCHEMA).expect("put the triggers back");
        }

        fn access_leaves(&self) -> Vec<u64> {
            let c = self.raw();
            let mut stmt = c
                .prepare("SELECT item FROM tlog_leaves WHERE kind = ?1 ORDER BY idx")
                .expect("tree leaves");
            stmt.query_map([crate::tlog::LeafKind::Access.code()], |r| {
                r.get::<_, i64>(0)
            })
            .expect("tree leaves")
            .map(|i| i.expect("a leaf") as u64)
            .collect()
        }
    }

    fn check(check: conformance::Check) {
        check(&SqlitePlace::new());
    }

    #[test]
    fn empty_tables_read_empty() {
        check(conformance::empty_tables_read_empty);
    }

    #[test]
    fn logins_are_unique() {
        check(conformance::logins_are_unique);
    }

    #[test]
    fn account_rows_read_back() {
        check(conformance::account_rows_read_back);
    }

    #[test]
    fn roles_and_states_change_once() {
        check(conformance::roles_and_states_change_once);
    }

    #[test]
    fn totp_steps_are_used_once() {
        check(conformance::totp_steps_are_used_once);
    }

    #[test]
    fn the_log_is_one_ordered_chain() {
        check(conformance::the_log_is_one_ordered_chain);
    }

    #[test]
    fn an_append_that_does_not_extend_the_head_writes_nothing() {
        check(conformance::an_append_that_does_not_extend_the_head_writes_nothing);
    }

    #[test]
    fn lookups_pick_the_right_entries() {
        check(conformance::lookups_pick_the_right_entries);
    }

    #[test]
    fn concurrent_writers_keep_one_chain() {
        check(conformance::concurrent_writers_keep_one_chain);
    }

    #[test]
    fn entries_survive_reopening() {
        check(conformance::entries_survive_reopening);
    }

    #[test]
    fn the_log_is_append_only() {
        check(conformance::the_log_is_append_only);
    }

    #[test]
    fn tampering_is_detected() {
        check(conformance::tampering_is_detected);
    }

    #[test]
    fn every_check_has_its_test_here() {
        // The list above and `conformance::CHECKS` name the same checks.
        let here = include_str!("sqlite.rs");
        for (name, _) in conformance::CHECKS {
            assert!(
                here.contains(&format!("check(conformance::{name})")),
                "{name} is not run against SQLite"
            );
        }
    }

    #[test]
    fn a_store_older_than_the_access_log_reads_as_an_empty_log() {
        let place = SqlitePlace::new();
        let reader = SqliteAccessTables::open_reader(&place.db).expect("reader");
        assert!(reader.entries().expect("entries").is_empty());
        assert_eq!(reader.newest().expect("newest"), None);
    }
}
