//! The embedded trace store: one SQLite file in WAL mode.
//!
//! Schema (format `teleconsult-trace/1`):
//!
//! `meta(key TEXT PRIMARY KEY, value BLOB)`
//! - `format`: the text `teleconsult-trace/1`;
//! - `data_key_id`: the 8-byte id of the data key the store was created
//!   with, so that a wrong key is refused before anything is written;
//! - `created_at`: creation time, µs since the epoch.
//!
//! `acts(no INTEGER PRIMARY KEY, act BLOB UNIQUE)`: each act's 16-byte
//! UUID and a local number given in creation order. Written once per act.
//!
//! `events` (one row per [`TraceRecord`], in commit order): `id` (row
//! number), `act_no`, `seq`, `prev_id` (the row of the act's previous
//! event, NULL for the first), `at` (µs), `kind`, `public` (JSON bytes),
//! `sealed` (AEAD blob, empty if none), `prev_hash`, `hash` (32 bytes each).
//!
//! `heads(act_no INTEGER PRIMARY KEY, last_id, seq)`: where each act's
//! chain ends. The only table that is updated; it is an index, not
//! evidence, since verification trusts only the signed checkpoints.
//!
//! Why this layout: a commit from many writers touches many acts. Rows
//! stored by act, or an index on `(act, seq)`, would make each commit
//! rewrite one page per act. Here events go at the end of one table, each
//! act is found through its head and the `prev_id` links, and the heads of
//! the acts in progress (created recently, so numbered closely) share a few
//! pages. A commit of 64 writers writes a handful of pages, not 64.
//!
//! `checkpoints` (one row per commit, see [`Checkpoint`]): `no`, `at`,
//! `prev`, `heads` (see [`encode_heads`]), `key_id`, `signature`.
//!
//! `documents(act, sha256, media_type, size, sealed_name, sealed)`, primary
//! key `(act, sha256)`: each document attached to an act, its content and
//! name sealed (see [`crate::trace::document`]). Created when a writer opens
//! a store that lacks it (stores made before documents existed); a reader
//! of such a store sees no documents. A document's row is written in the
//! same transaction as the `attachment_added` event that records it, inside
//! a savepoint, so a refusal or a failure leaves neither.
//!
//! `tlog_leaves`, `tlog_hashes`, `tlog_checkpoints`: the Merkle tree over
//! every event and access-log entry (see [`crate::tlog::tree`]). Each
//! commit appends its events' leaves before it commits; a writer opening a
//! store made before the tree builds it first.
//!
//! Triggers refuse `UPDATE` and `DELETE` on `acts`, `events`,
//! `checkpoints` and `documents`, which stops mistakes; the hash chain and
//! signatures are what detect intent (a document's content by the digest
//! its event names).
//!
//! **Group commit.** Callers seal and encode their events on their own
//! threads, then hand them to one writer thread. It takes every request
//! queued while the previous commit was syncing, chains and writes them in
//! one transaction with one checkpoint, and commits with one fsync of the
//! WAL (`synchronous = FULL`). Each caller is answered only after that
//! commit, so an acknowledged event is durable, and concurrent writers share
//! fsyncs. When the last commit served several writers, the writer waits up
//! to [`GATHER_WINDOW`] for them to come back (PostgreSQL's `commit_delay`
//! idea), which makes batches fuller without slowing a lone writer.
//!
//! **WAL checkpoints** (copying the WAL back into the main file) run on a
//! background thread, so a commit never pays for one.

mod documents;
mod dump;
mod read;
mod tree;
mod writer;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use self::documents::{DOCUMENTS_SCHEMA, no_documents_table};
use self::read::{act_id_from, read_checkpoints};
use self::tree::migrate_tree;
use self::writer::{Acks, AppendRequest, WriterState};
use super::{Appended, DocumentInfo, OnAppended, Snapshot, StoredDocument, TraceStore};
use crate::Error;
use crate::document::Upload;
use crate::event::Event;
use crate::ids::{ActId, Sha256};
use crate::keys::{DataKey, HeadSigner, TrustedKeys};
use crate::timestamp::Timestamp;
use crate::tlog::tree::TreeReport;
use crate::tlog::{DEFAULT_ORIGIN, LogSigner, Receipt, SignedCheckpoint, TreeHash};
#[cfg(doc)]
use crate::trace::encode_heads;
use crate::trace::{Checkpoint, TraceRecord};

const FORMAT: &str = "teleconsult-trace/1";
/// Most requests one commit takes; bounds a commit's latency.
const MAX_BATCH: usize = 1024;
/// How long a writer waits for another process holding the write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Page size of new stores, in bytes.
const PAGE_SIZE: i64 = 4096;
/// How long the writer waits to fill a batch when writers are many.
pub const GATHER_WINDOW: Duration = Duration::from_micros(200);
/// How often the background thread copies the WAL into the main file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE acts (
    no INTEGER PRIMARY KEY,
    act BLOB NOT NULL UNIQUE
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    act_no INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    prev_id INTEGER,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    public BLOB NOT NULL,
    sealed BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE heads (
    act_no INTEGER PRIMARY KEY,
    last_id INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE checkpoints (
    no INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    prev BLOB NOT NULL,
    heads BLOB NOT NULL,
    key_id BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER acts_no_update BEFORE UPDATE ON acts BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER acts_no_delete BEFORE DELETE ON acts BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
";

/// How a store is opened.
#[derive(Debug)]
pub enum StoreMode {
    /// Appends allowed; creates the file if it does not exist.
    Write {
        signer: Box<HeadSigner>,
        data: DataKey,
    },
    /// An existing store, read-only; needs no key.
    Read,
}

/// The SQLite trace store. Reads share one connection; appends go through
/// the group-commit writer thread.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    reader: Mutex<Connection>,
    writer: Option<Writer>,
    /// The public keys reads verify checkpoints with; see
    /// [`SqliteStore::with_trusted`].
    trusted: Option<TrustedKeys>,
    /// Signs the Merkle tree's checkpoints; `None` when read-only.
    log: Option<LogSigner>,
}

#[derive(Debug)]
struct Writer {
    /// Seals events in the caller's thread.
    data: DataKey,
    acks: Arc<Acks>,
    tx: Mutex<Option<SyncSender<AppendRequest>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Dropping it stops the checkpointer.
    stop_checkpointer: Mutex<Option<SyncSender<()>>>,
}

impl SqliteStore {
    /// Every row of the store at `path` as stored, read in one snapshot,
    /// for copying it to another back end (`store migrate`). Needs no key.
    pub fn dump(path: &Path) -> Result<crate::store::dump::StoreDump, Error> {
        dump::dump(path)
    }

    pub fn open(path: &Path, mode: StoreMode) -> Result<SqliteStore, Error> {
        Self::open_with_tree(path, mode, true)
    }

    /// For the append benchmark only: a writer that keeps the Merkle tree
    /// out of its commits (tree on against off). A store written so fails
    /// `trace verify` until a normal writer opens it and catches up.
    #[doc(hidden)]
    pub fn open_without_tree(path: &Path, mode: StoreMode) -> Result<SqliteStore, Error> {
        Self::open_with_tree(path, mode, false)
    }

    fn open_with_tree(path: &Path, mode: StoreMode, tree: bool) -> Result<SqliteStore, Error> {
        let exists = path.exists();
        if exists {
            check_file_header(path)?;
        } else if matches!(mode, StoreMode::Read) {
            return Err(Error::NotATraceStore {
                path: path.into(),
                reason: "the file does not exist".into(),
            });
        }
        match mode {
            StoreMode::Read => {
                let reader = open_conn(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                check_meta(path, &reader, None)?;
                Ok(SqliteStore {
                    path: path.into(),
                    reader: Mutex::new(reader),
                    writer: None,
                    trusted: None,
                    log: None,
                })
            }
            StoreMode::Write { signer, data } => {
                let flags = if exists {
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                } else {
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
                };
                let conn = open_conn(path, flags)?;
                let db_err = |e: rusqlite::Error| db_error(path, e);
                if !exists {
                    // Set before WAL mode, which fixes it for good.
                    conn.pragma_update(None, "page_size", PAGE_SIZE)
                        .map_err(db_err)?;
                }
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(db_err)?;
                if !exists {
                    create_schema(path, &conn, &data)?;
                }
                check_meta(path, &conn, Some(&data))?;
                conn.execute_batch(DOCUMENTS_SCHEMA).map_err(db_err)?;
                // The Merkle tree's tables, and the migration of a store
                // made before it: its records become leaves, in one
                // transaction.
                migrate_tree(path, &conn)?;
                let log = LogSigner::new(DEFAULT_ORIGIN, &signer)?;
                conn.pragma_update(None, "wal_autocheckpoint", 0)
                    .map_err(db_err)?;
                // Every statement of a commit stays prepared (the tree's
                // multi-row inserts are up to 14 of them).
                conn.set_prepared_statement_cache_capacity(64);
                let reader = open_conn(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
                let checkpointer = open_conn(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
                let (tx, rx) = mpsc::sync_channel::<AppendRequest>(MAX_BATCH);
                let acks = Arc::new(Acks::default());
                let writer_acks = acks.clone();
                let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(1);
                let state = WriterState::new(path.into(), conn, *signer, data.clone(), tree);
                let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
                    std::thread::Builder::new()
                        .name(name.into())
                        .spawn(f)
                        .map_err(|e| Error::io("cannot start a trace store thread", e))
                };
                let threads = vec![
                    spawn("trace-writer", Box::new(move || state.run(rx, writer_acks)))?,
                    spawn(
                        "trace-checkpoint",
                        Box::new(move || run_checkpointer(checkpointer, stop_rx)),
                    )?,
                ];
                Ok(SqliteStore {
                    path: path.into(),
                    reader: Mutex::new(reader),
                    writer: Some(Writer {
                        data,
                        acks,
                        tx: Mutex::new(Some(tx)),
                        threads: Mutex::new(threads),
                        stop_checkpointer: Mutex::new(Some(stop_tx)),
                    }),
                    trusted: None,
                    log: Some(log),
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the public keys every read of an act verifies its checkpoint
    /// with ([`crate::store::read_act`]); without them reads are refused.
    pub fn with_trusted(mut self, trusted: TrustedKeys) -> SqliteStore {
        self.trusted = Some(trusted);
        self
    }

    /// Runs SQLite's own structural check (`PRAGMA quick_check`).
    pub fn check_file(&self) -> Result<(), Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let result: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(Error::NotATraceStore {
                path: self.path.clone(),
                reason: format!("SQLite reports damage: {result}"),
            })
        }
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// Runs `f` in one read transaction on the reader connection, so that
    /// all it reads is of one commit while the writer goes on.
    fn read_tx<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = f(&conn);
        let _ = conn.execute_batch("COMMIT");
        result
    }

    /// Runs `f` in a write transaction on the reader connection (see
    /// [`write_tx`]); the tree's checkpoints are written so, beside the
    /// group-commit writer.
    fn immediate<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        write_tx(&self.path, &conn, f)
    }

    /// Stops the writer after the queued appends are committed.
    pub fn close(&self) {
        if let Some(w) = &self.writer {
            w.tx.lock().unwrap_or_else(PoisonError::into_inner).take();
            w.stop_checkpointer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let threads =
                std::mem::take(&mut *w.threads.lock().unwrap_or_else(PoisonError::into_inner));
            for t in threads {
                let _ = t.join();
            }
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl TraceStore for SqliteStore {
    fn tree_report(&self, trusted: &TrustedKeys) -> Result<Option<TreeReport>, Error> {
        self.check_tree(trusted)
    }

    fn log_signer(&self) -> Option<&LogSigner> {
        SqliteStore::log_signer(self)
    }

    fn tree_size(&self) -> Result<u64, Error> {
        SqliteStore::tree_size(self)
    }

    fn tree_root(&self, size: u64) -> Result<TreeHash, Error> {
        SqliteStore::tree_root(self, size)
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, Error> {
        SqliteStore::consistency_proof(self, old, new)
    }

    fn event_leaf(&self, act: ActId, seq: u64) -> Result<Option<u64>, Error> {
        SqliteStore::event_leaf(self, act, seq)
    }

    fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, Error> {
        SqliteStore::checkpoint(self, now)
    }

    fn add_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), Error> {
        SqliteStore::add_cosigned(self, cosigned)
    }

    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, Error> {
        SqliteStore::latest_checkpoint(self)
    }

    fn receipt(&self, act: ActId, checkpoint: &SignedCheckpoint) -> Result<Receipt, Error> {
        SqliteStore::receipt(self, act, checkpoint)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn check_storage(&self) -> Result<(), Error> {
        self.check_file()
    }

    fn close(&self) {
        SqliteStore::close(self)
    }

    fn append(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
    ) -> Result<Appended, Error> {
        self.submit_and_wait(act, expected_len, events, None)
    }

    fn append_then(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        done: OnAppended,
    ) {
        self.submit_then(act, expected_len, events, None, done);
    }

    fn records(&self, act: ActId) -> Result<Vec<TraceRecord>, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(self.walk_links(&conn, act)?.unwrap_or_default())
    }

    fn walk(&self, act: ActId) -> Result<super::Walk, Error> {
        // One read transaction: the records and the checkpoint that signs
        // their head are from the same commit while the writer goes on.
        self.read_tx(|conn| {
            let Some(records) = self.walk_links(conn, act)? else {
                // Not in the store: no scan of every checkpoint for an id
                // nobody wrote (`trace verify` reports a deleted act).
                return Ok(super::Walk::default());
            };
            let (signed, gap) = self.newest_naming(conn, act)?;
            Ok(super::Walk {
                records,
                signed,
                gap,
            })
        })
    }

    fn trusted(&self) -> Option<&TrustedKeys> {
        self.trusted.as_ref()
    }

    fn snapshot(&self, only: Option<ActId>) -> Result<Snapshot, Error> {
        // One read transaction, so that checkpoints and events are from the
        // same commit even while the writer goes on.
        self.read_tx(|conn| {
            let checkpoints = read_checkpoints(
                conn,
                "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no",
            )
            .map_err(|e| self.err(e))?;
            let (records, links) = self.scan_in(conn, only)?;
            Ok(Snapshot {
                checkpoints,
                records,
                links,
            })
        })
    }

    fn act_ids(&self) -> Result<Vec<ActId>, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stmt = conn
            .prepare_cached("SELECT act FROM acts ORDER BY act")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(act_id_from(&self.path, &row.map_err(|e| self.err(e))?)?);
        }
        Ok(out)
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        read_checkpoints(
            &conn,
            "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no",
        )
        .map_err(|e| self.err(e))
    }

    fn attach(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
    ) -> Result<Appended, Error> {
        self.submit_and_wait(act, Some(expected_len), events, Some(document))
    }

    fn attach_then(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
        done: OnAppended,
    ) {
        self.submit_then(act, Some(expected_len), events, Some(document), done);
    }

    fn document(&self, act: ActId, sha256: &Sha256) -> Result<Option<StoredDocument>, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let row = conn
            .prepare_cached(
                "SELECT media_type, size, sealed_name, sealed FROM documents WHERE act = ?1 AND sha256 = ?2",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![act.as_bytes(), sha256.as_bytes()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, Vec<u8>>(3)?,
                        ))
                    },
                )
                .optional()
            });
        let row = match row {
            Err(e) if no_documents_table(&e) => None,
            other => other.map_err(|e| self.err(e))?,
        };
        let Some((media_type, size, sealed_name, sealed)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredDocument {
            act,
            sha256: *sha256,
            media_type: self.media_type(&media_type)?,
            size: size as u64,
            sealed_name,
            sealed,
        }))
    }

    fn documents(&self, act: ActId) -> Result<Vec<DocumentInfo>, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = conn
            .prepare_cached(
                "SELECT sha256, media_type, size FROM documents WHERE act = ?1 ORDER BY rowid",
            )
            .and_then(|mut s| {
                s.query_map(params![act.as_bytes()], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            });
        let rows = match rows {
            Err(e) if no_documents_table(&e) => Vec::new(),
            other => other.map_err(|e| self.err(e))?,
        };
        rows.into_iter()
            .map(|(sha256, media_type, size)| {
                let sha256: [u8; 32] = sha256.try_into().map_err(|_| Error::NotATraceStore {
                    path: self.path.clone(),
                    reason: "a document has a malformed digest".into(),
                })?;
                Ok(DocumentInfo {
                    sha256: Sha256::from_bytes(sha256),
                    media_type: self.media_type(&media_type)?,
                    size: size as u64,
                })
            })
            .collect()
    }
}

/// Runs `f` in a write transaction on `conn` (`BEGIN IMMEDIATE`, so that
/// it waits for other writers up front): committed if `f` succeeds, rolled
/// back if it fails or the commit does.
fn write_tx<T>(
    path: &Path,
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, Error>,
) -> Result<T, Error> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| db_error(path, e))?;
    let result = f(conn).and_then(|value| {
        conn.execute_batch("COMMIT")
            .map_err(|e| db_error(path, e))?;
        Ok(value)
    });
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| db_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_error(path, e))?;
    Ok(conn)
}

/// Refuses files that are not SQLite databases, or that are shorter than
/// their header says, before SQLite is let near them.
fn check_file_header(path: &Path) -> Result<(), Error> {
    let not_store = |reason: String| Error::NotATraceStore {
        path: path.into(),
        reason,
    };
    let mut f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .len();
    let mut header = [0u8; 100];
    if len < 100 || f.read_exact(&mut header).is_err() {
        return Err(not_store(format!(
            "the file is only {len} bytes long (truncated or empty)"
        )));
    }
    if &header[..16] != b"SQLite format 3\0" {
        return Err(not_store("the file is not an SQLite database".into()));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let size_valid = header[24..28] == header[92..96];
    // A process killed while checkpointing its write-ahead log may leave
    // page 1 (with the new size) written and the file not yet extended:
    // the log still holds every page, and SQLite replays it at the next
    // opening. Only without such a log is a short file truncated.
    if size_valid && !wal_holds_frames(path) && len < page_size * pages {
        return Err(not_store(format!(
            "the file is truncated: its header says {} bytes, it holds {len}",
            page_size * pages
        )));
    }
    Ok(())
}

/// Whether `path`'s write-ahead log (`PATH-wal`) holds at least one frame
/// (a 32-byte header, then frames).
fn wal_holds_frames(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(Path::new(&wal)).is_ok_and(|m| m.len() > 32)
}

fn create_schema(path: &Path, conn: &Connection, data: &DataKey) -> Result<(), Error> {
    let batch = format!("BEGIN; {SCHEMA} INSERT INTO meta VALUES ('format', '{FORMAT}'); COMMIT;");
    conn.execute_batch(&batch).map_err(|e| db_error(path, e))?;
    conn.execute(
        "INSERT INTO meta VALUES ('data_key_id', ?1), ('created_at', ?2)",
        params![data.id().0.as_slice(), Timestamp::now().as_micros()],
    )
    .map_err(|e| db_error(path, e))?;
    Ok(())
}

/// Checks the file is a trace store of a known format and, when a data
/// key is given, that it is the store's.
fn check_meta(path: &Path, conn: &Connection, data: Option<&DataKey>) -> Result<(), Error> {
    let format: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                Error::NotATraceStore {
                    path: path.into(),
                    reason: "it is an SQLite database without the trace tables".into(),
                }
            }
            other => db_error(path, other),
        })?;
    match format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(Error::NotATraceStore {
                path: path.into(),
                reason: format!("unknown format {other:?}; this program reads {FORMAT}"),
            });
        }
        None => {
            return Err(Error::NotATraceStore {
                path: path.into(),
                reason: "its format marker is missing".into(),
            });
        }
    }
    if let Some(data) = data {
        let id: Vec<u8> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'data_key_id'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| db_error(path, e))?;
        if id.as_slice() != data.id().0 {
            return Err(Error::WrongDataKey {
                expected: hex::encode(&id),
                given: data.id().to_string(),
            });
        }
    }
    Ok(())
}

/// Points the store at a new data key, checking it was on `old`.
pub(crate) fn set_data_key_id(path: &Path, old: &DataKey, new: &DataKey) -> Result<(), Error> {
    check_file_header(path)?;
    let conn = open_conn(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    check_meta(path, &conn, Some(old))?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'data_key_id'",
        [new.id().0.as_slice()],
    )
    .map_err(|e| db_error(path, e))?;
    Ok(())
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return Error::NotATraceStore {
                    path: path.into(),
                    reason: format!("SQLite reports: {e}"),
                };
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return Error::Database {
                    path: path.into(),
                    reason: "another process holds the database lock for too long".into(),
                };
            }
            _ => {}
        }
    }
    Error::Database {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// Copies the WAL into the main file now and then, off the commit path.
/// PASSIVE never blocks the writer or readers.
fn run_checkpointer(conn: Connection, stop: Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page file whose header says three pages of 4 KiB.
    fn short_file(dir: &Path) -> std::path::PathBuf {
        let mut page = vec![0u8; 4096];
        page[..16].copy_from_slice(b"SQLite format 3\0");
        page[16..18].copy_from_slice(&4096u16.to_be_bytes());
        page[24..28].copy_from_slice(&7u32.to_be_bytes());
        page[28..32].copy_from_slice(&3u32.to_be_bytes());
        page[92..96].copy_from_slice(&7u32.to_be_bytes());
        let path = dir.join("trace.db");
        std::fs::write(&path, page).unwrap();
        path
    }

    #[test]
    fn a_short_file_is_truncated_unless_its_log_holds_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = short_file(dir.path());
        let e = check_file_header(&path).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        // An empty log (or only its header) changes nothing.
        std::fs::write(dir.path().join("trace.db-wal"), [0u8; 32]).unwrap();
        assert!(check_file_header(&path).is_err());
        // A log with frames: killed mid-checkpoint; SQLite replays it.
        std::fs::write(dir.path().join("trace.db-wal"), [0u8; 32 + 24 + 4096]).unwrap();
        check_file_header(&path).expect("the log holds the missing pages");
    }
}
