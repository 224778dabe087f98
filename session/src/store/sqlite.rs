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

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{
    Appended, DocumentInfo, OnAppended, Snapshot, StoredDocument, TraceStore, attachment_of,
};
use crate::Error;
use crate::document::{DocumentType, Upload};
use crate::event::Event;
use crate::ids::{ActId, Sha256};
use crate::keys::{DataKey, HeadSigner, KeyId, TrustedKeys};
use crate::timestamp::Timestamp;
use crate::tlog::tree::{NewLeaf, TreeReport};
use crate::tlog::{
    DEFAULT_ORIGIN, LeafKind, LogSigner, Receipt, ReceiptEvent, SignedCheckpoint, TreeError,
    TreeHash,
};
use crate::trace::document::{seal_document, seal_name};
use crate::trace::{
    Checkpoint, Hash, Head, PreparedEvent, TraceRecord, decode_heads, encode_heads, genesis,
};

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

/// The documents table, added to stores made before it: run by every
/// writer at open, a no-op once it exists.
const DOCUMENTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    act BLOB NOT NULL,
    sha256 BLOB NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sealed_name BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (act, sha256)
);
CREATE TRIGGER IF NOT EXISTS documents_no_update BEFORE UPDATE ON documents BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
CREATE TRIGGER IF NOT EXISTS documents_no_delete BEFORE DELETE ON documents BEGIN SELECT RAISE(ABORT, 'the trace is append-only'); END;
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

struct AppendRequest {
    act: ActId,
    expected_len: Option<u64>,
    events: Pending,
    /// A document the events record, sealed; written with them or not at
    /// all.
    document: Option<SealedDocument>,
    /// Who learns the outcome.
    reply: Reply,
}

/// A document's row, sealed on the caller's thread.
struct SealedDocument {
    sha256: Sha256,
    media_type: DocumentType,
    size: u64,
    sealed_name: Vec<u8>,
    sealed: Vec<u8>,
}

/// An append's events. Sealed blobs are bound to their seq, so events are
/// sealed on the caller's thread when the caller states the act's length,
/// and on the writer thread, once the seq is known, for a blind append.
enum Pending {
    Sealed(Vec<PreparedEvent>),
    Blind(Vec<Event>),
}

/// How a caller learns its outcome.
enum Reply {
    /// A blocked thread waiting in [`Acks`] under this ticket.
    Ticket(u64),
    /// A callback, run on the writer thread after the commit.
    Then(OnAppended),
}

/// Where the writer leaves each request's outcome, and callers wait for
/// theirs. One `notify_all` per commit wakes the whole batch at once: a
/// wake-up call per caller cost the writer more than the commit's inserts.
#[derive(Debug, Default)]
struct Acks {
    state: Mutex<AckState>,
    done: Condvar,
    next_ticket: AtomicU64,
}

#[derive(Debug, Default)]
struct AckState {
    outcomes: HashMap<u64, Result<Appended, Error>>,
    /// Set when the writer thread has stopped, so no caller waits forever.
    writer_gone: bool,
}

impl Acks {
    fn publish(&self, outcomes: impl IntoIterator<Item = (u64, Result<Appended, Error>)>) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .outcomes
            .extend(outcomes);
        self.done.notify_all();
    }

    fn wait(&self, ticket: u64) -> Result<Appended, Error> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                return outcome;
            }
            if state.writer_gone {
                return Err(Error::StoreClosed);
            }
            state = self
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Marks the writer gone when its thread ends, however it ends.
struct WriterGone(Arc<Acks>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        self.0
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .writer_gone = true;
        self.0.done.notify_all();
    }
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
                let state = WriterState {
                    path: path.into(),
                    conn,
                    signer: *signer,
                    data: data.clone(),
                    heads: HashMap::new(),
                    last_checkpoint: None,
                    data_version: None,
                    last_batch: 0,
                    tree,
                    leaves: Vec::new(),
                };
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

impl SqliteStore {
    /// Every record as stored, grouped by act and sorted by seq, read on
    /// `conn`; and per act the positions of the records its links reach
    /// from its head, in chain order.
    fn scan_in(
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
    fn walk_links(&self, conn: &Connection, act: ActId) -> Result<Option<Vec<TraceRecord>>, Error> {
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
        // Walk the act's chain backwards from its head through `prev_id`.
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM events WHERE id = ?1 AND act_no = ?2"
            ))
            .map_err(err)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = next.filter(|id| seen.insert(*id)) {
            let Some((record, prev_id)) = stmt
                .query_row(params![id, act_no], |r| record_from_row(act, r))
                .optional()
                .map_err(err)?
            else {
                break; // A broken link: verification says what is missing.
            };
            out.push(record);
            next = prev_id;
        }
        out.reverse();
        Ok(Some(out))
    }

    /// The newest checkpoint naming `act`, scanning back from the newest,
    /// and the first hole met in their numbering on the way.
    fn newest_naming(
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
type RecordsByAct = BTreeMap<ActId, Vec<TraceRecord>>;
/// Each act's records in the order its links give, as positions in
/// [`RecordsByAct`].
type LinksByAct = BTreeMap<ActId, Vec<usize>>;
/// A hole in the checkpoint numbering: the first number missing and the
/// next one present.
type Gap = (u64, u64);

/// Whether encoded heads (see [`encode_heads`]) name `act`, without
/// decoding them.
fn heads_name(bytes: &[u8], act: ActId) -> bool {
    bytes
        .get(4..)
        .unwrap_or(&[])
        .chunks_exact(56)
        .any(|c| c[..16] == act.as_bytes()[..])
}

impl SqliteStore {
    /// Checks and seals an append (and the document its events record) on
    /// the caller's thread, then queues it.
    fn submit(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        document: Option<Upload>,
        reply: impl FnOnce(&Writer) -> Reply,
    ) -> Result<(), Error> {
        if events.is_empty() {
            return Err(Error::InvalidInput("nothing to append".into()));
        }
        let writer = self.writer.as_ref().ok_or_else(|| Error::Database {
            path: self.path.clone(),
            reason: "the store is open read-only".into(),
        })?;
        let tx = writer
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Error::StoreClosed)?;
        let document = match document {
            Some(upload) => {
                let name = attachment_of(&upload, &events)?;
                let sha256 = upload.sha256();
                Some(SealedDocument {
                    sha256,
                    media_type: upload.media_type(),
                    size: upload.size(),
                    sealed_name: seal_name(act, &sha256, name.expose(), &writer.data)?,
                    sealed: seal_document(act, &upload, &writer.data)?,
                })
            }
            None => None,
        };
        let events = match expected_len {
            Some(len) => Pending::Sealed(
                events
                    .iter()
                    .zip(len + 1..)
                    .map(|(e, seq)| PreparedEvent::seal(act, seq, e, &writer.data))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => Pending::Blind(events),
        };
        tx.send(AppendRequest {
            act,
            expected_len,
            events,
            document,
            reply: reply(writer),
        })
        .map_err(|_| Error::StoreClosed)
    }
}

impl TraceStore for SqliteStore {
    fn tree_report(&self, trusted: &TrustedKeys) -> Result<Option<TreeReport>, Error> {
        self.check_tree(trusted)
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
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        // One read transaction: the records and the checkpoint that signs
        // their head are from the same commit while the writer goes on.
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = self.walk_links(&conn, act).and_then(|records| {
            let Some(records) = records else {
                // Not in the store: no scan of every checkpoint for an id
                // nobody wrote (`trace verify` reports a deleted act).
                return Ok(super::Walk::default());
            };
            let (signed, gap) = self.newest_naming(&conn, act)?;
            Ok(super::Walk {
                records,
                signed,
                gap,
            })
        });
        let _ = conn.execute_batch("COMMIT");
        result
    }

    fn trusted(&self) -> Option<&TrustedKeys> {
        self.trusted.as_ref()
    }

    fn snapshot(&self, only: Option<ActId>) -> Result<Snapshot, Error> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        // One read transaction, so that checkpoints and events are from the
        // same commit even while the writer goes on.
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let result = read_checkpoints(
            &conn,
            "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no",
        )
        .map_err(|e| self.err(e))
        .and_then(|checkpoints| {
            let (records, links) = self.scan_in(&conn, only)?;
            Ok(Snapshot {
                checkpoints,
                records,
                links,
            })
        });
        let _ = conn.execute_batch("COMMIT");
        result
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

impl SqliteStore {
    fn submit_and_wait(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        document: Option<Upload>,
    ) -> Result<Appended, Error> {
        let mut ticket = None;
        self.submit(act, expected_len, events, document, |w| {
            let t = w.acks.next_ticket.fetch_add(1, Ordering::Relaxed);
            ticket = Some((t, w.acks.clone()));
            Reply::Ticket(t)
        })?;
        let (ticket, acks) = ticket.ok_or(Error::StoreClosed)?;
        acks.wait(ticket)
    }

    fn submit_then(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        document: Option<Upload>,
        done: OnAppended,
    ) {
        let slot = std::cell::Cell::new(Some(done));
        if let Err(e) = self.submit(act, expected_len, events, document, |_| {
            Reply::Then(slot.take().expect("taken once"))
        }) && let Some(done) = slot.take()
        {
            done(Err(e));
        }
    }

    /// A stored document's type, from its `media_type` column.
    fn media_type(&self, stored: &str) -> Result<DocumentType, Error> {
        DocumentType::from_media_type(stored).ok_or_else(|| Error::NotATraceStore {
            path: self.path.clone(),
            reason: "a document has an unknown media type".into(),
        })
    }
}

/// A read of a store made before documents existed, opened read-only.
fn no_documents_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("no such table: documents"))
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

fn act_id_from(path: &Path, bytes: &[u8]) -> Result<ActId, Error> {
    let id: [u8; 16] = bytes.try_into().map_err(|_| Error::NotATraceStore {
        path: path.into(),
        reason: "an act has a malformed id".into(),
    })?;
    Ok(ActId::from_bytes(id))
}

fn read_checkpoints(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Checkpoint>> {
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

fn to_hash(bytes: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    if bytes.len() == 32 {
        h.copy_from_slice(bytes);
    }
    h
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
    if size_valid && len < page_size * pages {
        return Err(not_store(format!(
            "the file is truncated: its header says {} bytes, it holds {len}",
            page_size * pages
        )));
    }
    Ok(())
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

/// The end of one act's chain, as the writer needs it.
#[derive(Clone, Copy, Debug)]
struct ChainEnd {
    act_no: i64,
    seq: u64,
    hash: Hash,
    /// Row of the last event; `None` before the first.
    last_id: Option<i64>,
}

/// The writer thread's state.
struct WriterState {
    path: PathBuf,
    conn: Connection,
    signer: HeadSigner,
    /// Seals the events of blind appends, whose seq only the writer knows.
    data: DataKey,
    /// Where each act's chain ends, as of our last commit, so an append
    /// does not read it back. Dropped when another process commits (see
    /// `data_version`) or a commit fails.
    heads: HashMap<ActId, ChainEnd>,
    /// The last checkpoint's number and digest, likewise cached.
    last_checkpoint: Option<(u64, Hash)>,
    /// SQLite's `data_version`, which changes when another connection
    /// commits: then the caches above may be stale.
    data_version: Option<i64>,
    /// Size of the last batch, to decide whether to wait for a fuller one.
    last_batch: usize,
    /// Whether commits append the events to the Merkle tree (always, but
    /// for the benchmark's "off" side).
    tree: bool,
    /// The events the current commit has written, in row order: its
    /// leaves of the Merkle tree.
    leaves: Vec<NewLeaf>,
}

impl WriterState {
    fn run(mut self, rx: Receiver<AppendRequest>, acks: Arc<Acks>) {
        let _gone = WriterGone(acks.clone());
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            if self.last_batch > 1 && batch.len() < self.last_batch {
                let deadline = Instant::now() + GATHER_WINDOW;
                while batch.len() < self.last_batch {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
            }
            self.last_batch = batch.len();
            let results = self.commit(&mut batch);
            let mut tickets = Vec::with_capacity(batch.len());
            for (req, result) in batch.into_iter().zip(results) {
                match req.reply {
                    Reply::Ticket(t) => tickets.push((t, result)),
                    Reply::Then(done) => done(result),
                }
            }
            if !tickets.is_empty() {
                acks.publish(tickets);
            }
        }
    }

    /// Writes a batch in one transaction. A request that fails its own
    /// checks writes nothing and gets its error; if the commit fails, all
    /// fail.
    fn commit(&mut self, batch: &mut [AppendRequest]) -> Vec<Result<Appended, Error>> {
        match self.try_commit(batch) {
            Ok(results) => results,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.heads.clear();
                self.last_checkpoint = None;
                self.data_version = None;
                let reason = e.to_string();
                tracing::error!(error = %reason, "trace commit failed");
                batch
                    .iter()
                    .map(|_| {
                        Err(Error::Database {
                            path: self.path.clone(),
                            reason: reason.clone(),
                        })
                    })
                    .collect()
            }
        }
    }

    fn try_commit(
        &mut self,
        batch: &mut [AppendRequest],
    ) -> Result<Vec<Result<Appended, Error>>, Error> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| db_error(&path, e);
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(err)?;
        self.leaves.clear();
        if self.data_version != Some(version) {
            self.heads.clear();
            self.last_checkpoint = None;
            self.data_version = Some(version);
        }
        let mut touched: HashMap<ActId, ChainEnd> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        for req in batch.iter_mut() {
            let outcome = if req.document.is_some() {
                self.attach_one(req, &mut touched)?
            } else {
                self.append_one(req, &mut touched)
            };
            results.push(outcome);
        }
        if touched.is_empty() {
            self.conn.execute_batch("ROLLBACK").map_err(err)?;
            return Ok(results);
        }
        let (no, prev) = match self.last_checkpoint {
            Some((no, digest)) => (no + 1, digest),
            None => {
                let last = read_checkpoints(
                    &self.conn,
                    "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no DESC LIMIT 1",
                )
                .map_err(err)?;
                match last.first() {
                    Some(c) => (c.no + 1, c.digest()),
                    None => (1, [0; 32]),
                }
            }
        };
        {
            // Most acts in a batch already have a head: a plain UPDATE by
            // primary key is cheaper than an upsert.
            let mut update = self
                .conn
                .prepare_cached("UPDATE heads SET last_id = ?2, seq = ?3 WHERE act_no = ?1")
                .map_err(err)?;
            let mut insert = self
                .conn
                .prepare_cached("INSERT INTO heads (act_no, last_id, seq) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for end in touched.values() {
                let row = params![end.act_no, end.last_id, end.seq as i64];
                if update.execute(row).map_err(err)? == 0 {
                    insert.execute(row).map_err(err)?;
                }
            }
        }
        if self.tree {
            // The batch's events become leaves in this transaction, in
            // row order: the tree's order is the commit order.
            crate::tlog::tree::append_leaves(&self.conn, &self.leaves).map_err(|e| {
                Error::Database {
                    path: self.path.clone(),
                    reason: format!("cannot append to the Merkle tree: {e}"),
                }
            })?;
        }
        let heads: Vec<Head> = touched
            .iter()
            .map(|(act, end)| Head {
                act: *act,
                seq: end.seq,
                hash: end.hash,
            })
            .collect();
        let c = Checkpoint::sign(no, Timestamp::now(), prev, heads, &self.signer);
        self.conn
            .prepare_cached(
                "INSERT INTO checkpoints (no, at, prev, heads, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    c.no as i64,
                    c.at.as_micros(),
                    c.prev.as_slice(),
                    encode_heads(&c.heads),
                    c.key_id.0.as_slice(),
                    c.signature.as_slice()
                ])
            })
            .map_err(err)?;
        self.conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        // Only now, with the commit durable, do the caches move forward.
        self.heads.extend(touched);
        self.last_checkpoint = Some((c.no, c.digest()));
        Ok(results)
    }

    /// [`WriterState::append_one`] for a request that carries a document,
    /// inside a savepoint: if anything fails after the first write (the
    /// document already stored, an insert failing), its rows are rolled
    /// back and the rest of the batch goes on. An error of the savepoint
    /// itself fails the whole commit.
    fn attach_one(
        &mut self,
        req: &mut AppendRequest,
        touched: &mut HashMap<ActId, ChainEnd>,
    ) -> Result<Result<Appended, Error>, Error> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| db_error(&path, e);
        self.conn
            .prepare_cached("SAVEPOINT attach")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        let written = self.leaves.len();
        let outcome = self.append_one(req, touched);
        if outcome.is_err() {
            self.conn
                .prepare_cached("ROLLBACK TO attach")
                .and_then(|mut s| s.execute([]))
                .map_err(err)?;
            self.leaves.truncate(written);
        }
        self.conn
            .prepare_cached("RELEASE attach")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        Ok(outcome)
    }

    /// Chains and inserts one request's events, and its document if it has
    /// one. Its checks come before any write, so a refused request leaves
    /// nothing behind (and [`WriterState::attach_one`] undoes a document's
    /// request that fails after writing).
    fn append_one(
        &mut self,
        req: &mut AppendRequest,
        touched: &mut HashMap<ActId, ChainEnd>,
    ) -> Result<Appended, Error> {
        let path = self.path.clone();
        let err = |e: rusqlite::Error| db_error(&path, e);
        let cached = touched
            .get(&req.act)
            .or_else(|| self.heads.get(&req.act))
            .copied();
        let known = match cached {
            Some(end) => Some(end),
            None => self.read_chain_end(req.act)?,
        };
        let found = known.map_or(0, |e| e.seq);
        if let Some(expected) = req.expected_len
            && expected != found
        {
            return Err(Error::Conflict { expected, found });
        }
        if let Some(doc) = req.document.take() {
            self.conn
                .prepare_cached(
                    "INSERT INTO documents (act, sha256, media_type, size, sealed_name, sealed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        req.act.as_bytes(),
                        doc.sha256.as_bytes(),
                        doc.media_type.media_type(),
                        doc.size as i64,
                        doc.sealed_name,
                        doc.sealed
                    ])
                })
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        Error::DuplicateDocument(doc.sha256)
                    }
                    e => err(e),
                })?;
        }
        let events = match std::mem::replace(&mut req.events, Pending::Blind(Vec::new())) {
            Pending::Sealed(events) => events,
            Pending::Blind(events) => events
                .iter()
                .zip(found + 1..)
                .map(|(e, seq)| PreparedEvent::seal(req.act, seq, e, &self.data))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut end = match known {
            Some(end) => end,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO acts (act) VALUES (?1)")
                    .and_then(|mut s| s.execute(params![req.act.as_bytes()]))
                    .map_err(err)?;
                ChainEnd {
                    act_no: self.conn.last_insert_rowid(),
                    seq: 0,
                    hash: genesis(req.act),
                    last_id: None,
                }
            }
        };
        let first_seq = end.seq + 1;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO events (act_no, seq, prev_id, at, kind, public, sealed, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(err)?;
        for event in events {
            // The expected length was checked above, so each event was
            // sealed for the seq it gets.
            debug_assert_eq!(event.seq, end.seq + 1);
            let r = event.chain(req.act, &end.hash);
            stmt.execute(params![
                end.act_no,
                r.seq as i64,
                end.last_id,
                r.at.as_micros(),
                r.kind,
                r.public,
                r.sealed,
                r.prev_hash.as_slice(),
                r.hash.as_slice()
            ])
            .map_err(err)?;
            end.seq = r.seq;
            end.hash = r.hash;
            let id = self.conn.last_insert_rowid();
            end.last_id = Some(id);
            // Each row written, even if a later one fails: what the
            // transaction holds is what becomes leaves.
            if self.tree {
                self.leaves.push(NewLeaf {
                    kind: LeafKind::Event,
                    item: id,
                    record_hash: r.hash,
                });
            }
        }
        touched.insert(req.act, end);
        Ok(Appended {
            first_seq,
            head: Head {
                act: req.act,
                seq: end.seq,
                hash: end.hash,
            },
        })
    }

    /// Reads where an act's chain ends; `None` for an act not yet stored.
    fn read_chain_end(&self, act: ActId) -> Result<Option<ChainEnd>, Error> {
        let err = |e: rusqlite::Error| db_error(&self.path, e);
        self.conn
            .prepare_cached(
                "SELECT a.no, h.last_id, h.seq, e.hash FROM acts a
                 LEFT JOIN heads h ON h.act_no = a.no
                 LEFT JOIN events e ON e.id = h.last_id
                 WHERE a.act = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![act.as_bytes()], |r| {
                    let last_id: Option<i64> = r.get(1)?;
                    let seq: Option<i64> = r.get(2)?;
                    let hash: Option<Vec<u8>> = r.get(3)?;
                    Ok(ChainEnd {
                        act_no: r.get(0)?,
                        seq: seq.unwrap_or(0) as u64,
                        hash: match (&last_id, hash) {
                            (Some(_), Some(h)) => to_hash(&h),
                            _ => genesis(act),
                        },
                        last_id,
                    })
                })
                .optional()
            })
            .map_err(err)
    }
}

/// Creates the Merkle tree's tables if missing and adds the records not
/// yet in it (all of them for a store made before the tree), in one
/// transaction.
fn migrate_tree(path: &Path, conn: &Connection) -> Result<(), Error> {
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
