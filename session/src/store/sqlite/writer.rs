//! The group-commit writer: callers seal their appends and queue them; one
//! thread chains a batch, writes it (with its tree leaves) and its
//! checkpoint in one transaction, and answers every caller after the fsync.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};

use super::documents::SealedDocument;
use super::read::{read_checkpoints, to_hash};
use super::{GATHER_WINDOW, MAX_BATCH, SqliteStore, Writer, db_error};
use crate::Error;
use crate::document::Upload;
use crate::event::Event;
use crate::ids::ActId;
use crate::keys::{DataKey, HeadSigner};
use crate::store::{Appended, OnAppended, attachment_of};
use crate::timestamp::Timestamp;
use crate::tlog::LeafKind;
use crate::tlog::tree::NewLeaf;
use crate::trace::document::{seal_document, seal_name};
use crate::trace::{Checkpoint, Hash, Head, PreparedEvent, encode_heads, genesis};

pub(super) struct AppendRequest {
    act: ActId,
    expected_len: Option<u64>,
    events: Pending,
    /// A document the events record, sealed; written with them or not at
    /// all.
    document: Option<SealedDocument>,
    /// Who learns the outcome.
    reply: Reply,
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
pub(super) struct Acks {
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

impl SqliteStore {
    pub(super) fn submit_and_wait(
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

    pub(super) fn submit_then(
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
pub(super) struct WriterState {
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
    /// A writer on `conn` (the store at `path`), appending to the tree or
    /// not (`tree`).
    pub(super) fn new(
        path: PathBuf,
        conn: Connection,
        signer: HeadSigner,
        data: DataKey,
        tree: bool,
    ) -> WriterState {
        WriterState {
            path,
            conn,
            signer,
            data,
            heads: HashMap::new(),
            last_checkpoint: None,
            data_version: None,
            last_batch: 0,
            tree,
            leaves: Vec::new(),
        }
    }

    /// Runs a statement without parameters (`BEGIN IMMEDIATE`, `COMMIT`,
    /// savepoints), prepared once.
    fn exec(&self, sql: &str) -> Result<(), Error> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(|e| db_error(&self.path, e))
    }

    pub(super) fn run(mut self, rx: Receiver<AppendRequest>, acks: Arc<Acks>) {
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
        self.exec("BEGIN IMMEDIATE")?;
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
        self.exec("COMMIT")?;
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
        self.exec("SAVEPOINT attach")?;
        let written = self.leaves.len();
        let outcome = self.append_one(req, touched);
        if outcome.is_err() {
            self.exec("ROLLBACK TO attach")?;
            self.leaves.truncate(written);
        }
        self.exec("RELEASE attach")?;
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
