//! The group-commit writer: callers seal their appends and queue them; one
//! task takes every request queued while the previous commit was in flight
//! and writes them in one transaction: the tree lock, the heads of their
//! acts, then (pipelined) the events, documents, tree rows and checkpoint,
//! and `COMMIT` (with `synchronous_commit = on`). Each caller is answered
//! after the commit.
//!
//! **Multi-row insert: `unnest`, not `COPY`.** Each table gets one
//! `INSERT ... SELECT * FROM unnest($1::..[], ...)` per commit, one
//! statement prepared once however many rows. Measured
//! (`examples/insert_measure.rs`, 2026-12-05, debug build, the test
//! cluster of `scripts/services.sh` on this 2-core machine under load, one
//! committed transaction of `events`-shaped rows each, µs per commit):
//!
//! | rows | unnest | binary COPY |
//! |---:|---:|---:|
//! | 1 | 5,900-7,200 | 6,000-8,200 |
//! | 16 | 5,050 | 4,300 |
//! | 64 | 7,000-7,600 | 5,000-5,700 |
//! | 256 | 13,100-13,600 | 10,700-12,200 |
//!
//! The commit's fsync dominates; COPY saves 10-25 % from 16 rows on. We
//! keep `unnest`: the events insert needs `ON CONFLICT (act, seq) DO
//! NOTHING RETURNING id` (the fence says which acts lost, and the rest of
//! the batch is retried without them), which `COPY` cannot do; and an
//! `INSERT` is pipelined with the batch's other inserts in one round trip,
//! where `COPY` holds the connection in its own sub-protocol.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use session::document::{DocumentType, Upload};
use session::event::Event;
use session::ids::{ActId, Sha256};
use session::keys::{DataKey, HeadSigner};
use session::store::{Appended, OnAppended, attachment_of};
use session::timestamp::Timestamp;
use session::trace::document::{seal_document, seal_name};
use session::trace::{Checkpoint, Hash, Head, PreparedEvent, encode_heads, genesis};
use tokio::sync::mpsc;

use crate::server::Server;
use crate::{Error, read, tree};

/// A statement parameter.
type P = dyn tokio_postgres::types::ToSql + Sync;

/// Most requests one commit takes; bounds a commit's latency.
const MAX_BATCH: usize = 1024;
/// How many times a request whose rows the fence refused is retried (the
/// next attempt reads the act's new head; a stale `expected_len` then gets
/// [`session::Error::Conflict`], a blind append goes on after it).
const FENCE_RETRIES: u8 = 2;

/// The writer's handle, held by the store.
#[derive(Debug)]
pub struct Writer {
    data: DataKey,
    tx: std::sync::Mutex<Option<mpsc::UnboundedSender<Request>>>,
    commits: Arc<AtomicU64>,
    /// Set by the writer task when it ends, so `close` can wait for it.
    done: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

struct Request {
    act: ActId,
    expected_len: Option<u64>,
    events: Pending,
    document: Option<SealedDocument>,
    done: OnAppended,
    /// Times the fence refused this request's rows.
    fenced: u8,
}

/// An append's events: sealed by the caller when it states the act's
/// length, by the writer (once the seq is known) for a blind append.
enum Pending {
    Sealed(Vec<PreparedEvent>),
    Blind(Vec<Event>),
}

struct SealedDocument {
    sha256: Sha256,
    media_type: DocumentType,
    size: u64,
    sealed_name: Vec<u8>,
    sealed: Vec<u8>,
}

impl Writer {
    pub(crate) fn start(
        runtime: &tokio::runtime::Runtime,
        pool: Pool,
        server: Server,
        signer: HeadSigner,
        data: DataKey,
    ) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        let task = Task {
            pool,
            server,
            signer,
            data: data.clone(),
            commits: commits.clone(),
        };
        runtime.spawn(async move {
            task.run(rx).await;
            let _ = done_tx.send(());
        });
        Writer {
            data,
            tx: std::sync::Mutex::new(Some(tx)),
            commits,
            done: std::sync::Mutex::new(Some(done_rx)),
        }
    }

    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Stops taking appends and waits for the queued ones to commit.
    pub(crate) fn close(&self) {
        self.tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(done) = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = done.recv();
        }
    }

    /// Checks and seals an append (and its document) on the caller's
    /// thread, then queues it; `done` gets the outcome.
    pub(crate) fn submit(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        document: Option<Upload>,
        done: OnAppended,
    ) {
        let request = (|| {
            if events.is_empty() {
                return Err(session::Error::InvalidInput("nothing to append".into()));
            }
            let document = match document {
                Some(upload) => {
                    let name = attachment_of(&upload, &events)?;
                    let sha256 = upload.sha256();
                    Some(SealedDocument {
                        sha256,
                        media_type: upload.media_type(),
                        size: upload.size(),
                        sealed_name: seal_name(act, &sha256, name.expose(), &self.data)?,
                        sealed: seal_document(act, &upload, &self.data)?,
                    })
                }
                None => None,
            };
            let events = match expected_len {
                Some(len) => Pending::Sealed(
                    events
                        .iter()
                        .zip(len + 1..)
                        .map(|(e, seq)| PreparedEvent::seal(act, seq, e, &self.data))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => Pending::Blind(events),
            };
            Ok((events, document))
        })();
        let (events, document) = match request {
            Ok(r) => r,
            Err(e) => return done(Err(e)),
        };
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(tx) = tx else {
            return done(Err(session::Error::StoreClosed));
        };
        if let Err(mpsc::error::SendError(r)) = tx.send(Request {
            act,
            expected_len,
            events,
            document,
            done,
            fenced: 0,
        }) {
            (r.done)(Err(session::Error::StoreClosed));
        }
    }
}

/// The writer task's state.
struct Task {
    pool: Pool,
    server: Server,
    signer: HeadSigner,
    data: DataKey,
    commits: Arc<AtomicU64>,
}

/// What one request became in an attempt.
enum Outcome {
    /// Refused before any write (stale length, duplicate document...).
    Refused(session::Error),
    /// Written in the transaction, acknowledged once it commits.
    Written(Appended),
}

/// Rows of one commit, column by column for `unnest`.
#[derive(Default)]
struct Rows {
    id: Vec<i64>,
    act: Vec<Vec<u8>>,
    seq: Vec<i64>,
    at: Vec<i64>,
    kind: Vec<String>,
    public: Vec<Vec<u8>>,
    sealed: Vec<Vec<u8>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    /// Which request wrote each row.
    owner: Vec<usize>,
    doc_act: Vec<Vec<u8>>,
    doc_sha: Vec<Vec<u8>>,
    doc_type: Vec<String>,
    doc_size: Vec<i64>,
    doc_name: Vec<Vec<u8>>,
    doc_sealed: Vec<Vec<u8>>,
    doc_owner: Vec<usize>,
}

impl Task {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
        }
    }

    /// Commits a batch, retrying without what the fence refused; answers
    /// every request.
    async fn commit(&self, mut batch: Vec<Request>) {
        loop {
            match self.try_commit(&mut batch).await {
                Ok(Ok(outcomes)) => {
                    for (req, outcome) in batch.into_iter().zip(outcomes) {
                        (req.done)(match outcome {
                            Outcome::Refused(e) => Err(e),
                            Outcome::Written(a) => Ok(a),
                        });
                    }
                    return;
                }
                Ok(Err(fenced)) => {
                    // Rolled back: fail what was refused too often, retry
                    // the rest.
                    let mut rest = Vec::with_capacity(batch.len());
                    for (i, mut req) in batch.into_iter().enumerate() {
                        if fenced.contains(&i) {
                            req.fenced += 1;
                            if req.fenced > FENCE_RETRIES {
                                let expected = req.expected_len.unwrap_or(0);
                                (req.done)(Err(session::Error::Conflict {
                                    expected,
                                    found: expected + 1,
                                }));
                                continue;
                            }
                        }
                        rest.push(req);
                    }
                    if rest.is_empty() {
                        return;
                    }
                    batch = rest;
                }
                Err(e) => {
                    tracing::error!(error = %e, "trace commit failed");
                    let reason = e.to_string();
                    for req in batch {
                        (req.done)(Err(Error::CommitFailed {
                            reason: reason.clone(),
                        }
                        .into()));
                    }
                    return;
                }
            }
        }
    }

    /// One attempt: `Ok(Ok(outcomes))` committed (or nothing to write),
    /// `Ok(Err(requests))` rolled back because the fence refused those
    /// requests' rows, `Err` failed.
    async fn try_commit(
        &self,
        batch: &mut [Request],
    ) -> Result<Result<Vec<Outcome>, HashSet<usize>>, Error> {
        let server = &self.server;
        let q = |e| server.query(e);
        let mut client = self.pool.get().await.map_err(|e| server.pool(e))?;
        let tx = client.transaction().await.map_err(q)?;
        let acts: Vec<Vec<u8>> = batch
            .iter()
            .map(|r| r.act.as_bytes().to_vec())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let docs: Vec<(Vec<u8>, Vec<u8>)> = batch
            .iter()
            .filter_map(|r| {
                r.document
                    .as_ref()
                    .map(|d| (r.act.as_bytes().to_vec(), d.sha256.as_bytes().to_vec()))
            })
            .collect();
        let (doc_acts, doc_shas): (Vec<Vec<u8>>, Vec<Vec<u8>>) = docs.into_iter().unzip();
        // Pipelined: the lock first; PostgreSQL runs the reads after it
        // is granted, each with a snapshot taken then (READ COMMITTED),
        // so they see every commit before ours.
        let lock: [&P; 1] = [&tree::TREE_LOCK];
        let acts_p: [&P; 1] = [&acts];
        let docs_p: [&P; 2] = [&doc_acts, &doc_shas];
        let (_, heads, last, sizes, stored_docs) = futures_util::try_join!(
            tx.execute("SELECT pg_advisory_xact_lock($1)", &lock),
            tx.query(
                "SELECT DISTINCT ON (act) act, seq, hash FROM events WHERE act = ANY($1) ORDER BY act, seq DESC",
                &acts_p,
            ),
            tx.query_opt(
                "SELECT no, at, prev, heads, key_id, signature FROM checkpoints ORDER BY no DESC LIMIT 1",
                &[],
            ),
            tx.query_one(
                "SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM tlog_leaves), (SELECT COALESCE(MAX(id), 0) FROM events)",
                &[],
            ),
            tx.query(
                "SELECT d.act, d.sha256 FROM documents d JOIN unnest($1::bytea[], $2::bytea[]) AS n(act, sha256)
                 ON d.act = n.act AND d.sha256 = n.sha256",
                &docs_p,
            ),
        )
        .map_err(q)?;
        let mut ends: HashMap<ActId, (u64, Hash)> = heads
            .iter()
            .filter_map(|r| {
                let act = <[u8; 16]>::try_from(r.get::<_, &[u8]>(0)).ok()?;
                let hash = <[u8; 32]>::try_from(r.get::<_, &[u8]>(2)).unwrap_or([0; 32]);
                Some((ActId::from_bytes(act), (r.get::<_, i64>(1) as u64, hash)))
            })
            .collect();
        let mut stored: HashSet<(ActId, Sha256)> = stored_docs
            .iter()
            .filter_map(|r| {
                let act = <[u8; 16]>::try_from(r.get::<_, &[u8]>(0)).ok()?;
                let sha = <[u8; 32]>::try_from(r.get::<_, &[u8]>(1)).ok()?;
                Some((ActId::from_bytes(act), Sha256::from_bytes(sha)))
            })
            .collect();
        let tree_start = sizes.get::<_, i64>(0) as u64;
        let mut next_id = sizes.get::<_, i64>(1) + 1;

        let mut rows = Rows::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut touched: HashMap<ActId, Head> = HashMap::new();
        for (i, req) in batch.iter().enumerate() {
            let (found, mut prev) = ends.get(&req.act).copied().unwrap_or((0, genesis(req.act)));
            if let Some(expected) = req.expected_len
                && expected != found
            {
                outcomes.push(Outcome::Refused(session::Error::Conflict {
                    expected,
                    found,
                }));
                continue;
            }
            if let Some(d) = &req.document
                && !stored.insert((req.act, d.sha256))
            {
                outcomes.push(Outcome::Refused(session::Error::DuplicateDocument(
                    d.sha256,
                )));
                continue;
            }
            let events = match &req.events {
                Pending::Sealed(events) => events.clone(),
                Pending::Blind(events) => match events
                    .iter()
                    .zip(found + 1..)
                    .map(|(e, seq)| PreparedEvent::seal(req.act, seq, e, &self.data))
                    .collect::<Result<Vec<_>, _>>()
                {
                    Ok(events) => events,
                    Err(e) => {
                        outcomes.push(Outcome::Refused(e));
                        continue;
                    }
                },
            };
            if let Some(d) = &req.document {
                rows.doc_act.push(req.act.as_bytes().to_vec());
                rows.doc_sha.push(d.sha256.as_bytes().to_vec());
                rows.doc_type.push(d.media_type.media_type().to_string());
                rows.doc_size.push(d.size as i64);
                rows.doc_name.push(d.sealed_name.clone());
                rows.doc_sealed.push(d.sealed.clone());
                rows.doc_owner.push(i);
            }
            let mut seq = found;
            for event in events {
                let r = event.chain(req.act, &prev);
                rows.id.push(next_id);
                next_id += 1;
                rows.act.push(req.act.as_bytes().to_vec());
                rows.seq.push(r.seq as i64);
                rows.at.push(r.at.as_micros());
                rows.kind.push(r.kind);
                rows.public.push(r.public);
                rows.sealed.push(r.sealed);
                rows.prev_hash.push(r.prev_hash.to_vec());
                rows.hash.push(r.hash.to_vec());
                rows.owner.push(i);
                prev = r.hash;
                seq = r.seq;
            }
            ends.insert(req.act, (seq, prev));
            let head = Head {
                act: req.act,
                seq,
                hash: prev,
            };
            touched.insert(req.act, head);
            outcomes.push(Outcome::Written(Appended {
                first_seq: found + 1,
                head,
            }));
        }
        if touched.is_empty() {
            tx.rollback().await.map_err(q)?;
            return Ok(Ok(outcomes));
        }
        let (no, prev) = match last {
            Some(r) => {
                let c = read_checkpoint(&r);
                (c.no + 1, c.digest())
            }
            None => (1, [0; 32]),
        };
        let c = Checkpoint::sign(
            no,
            Timestamp::now(),
            prev,
            touched.into_values().collect(),
            &self.signer,
        );
        let leaves: Vec<(i64, [u8; 32])> = rows
            .id
            .iter()
            .zip(&rows.hash)
            .map(|(id, h)| (*id, h.as_slice().try_into().unwrap_or([0; 32])))
            .collect();
        let tree_rows = tree::leaves_for(&*tx, tree_start, session::tlog::LeafKind::Event, &leaves)
            .await
            .map_err(q)?
            .map_err(Error::Tree)?;
        let heads = encode_heads(&c.heads);
        let (cp_no, cp_at) = (c.no as i64, c.at.as_micros());
        let ev_p: [&P; 9] = [
            &rows.id,
            &rows.act,
            &rows.seq,
            &rows.at,
            &rows.kind,
            &rows.public,
            &rows.sealed,
            &rows.prev_hash,
            &rows.hash,
        ];
        let doc_p: [&P; 6] = [
            &rows.doc_act,
            &rows.doc_sha,
            &rows.doc_type,
            &rows.doc_size,
            &rows.doc_name,
            &rows.doc_sealed,
        ];
        let leaf_p: [&P; 3] = [
            &tree_rows.leaf_idx,
            &tree_rows.leaf_kind,
            &tree_rows.leaf_item,
        ];
        let hash_p: [&P; 2] = [&tree_rows.hash_id, &tree_rows.hash];
        let (prev_s, key_s, sig_s) = (c.prev.to_vec(), c.key_id.0.to_vec(), c.signature.to_vec());
        let cp_p: [&P; 6] = [&cp_no, &cp_at, &prev_s, &heads, &key_s, &sig_s];
        let (inserted, docs_inserted, _, _, _) = futures_util::try_join!(
            tx.query(
                "INSERT INTO events (id, act, seq, at, kind, public, sealed, prev_hash, hash)
                 SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::int8[], $5::text[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[])
                 ON CONFLICT (act, seq) DO NOTHING RETURNING id",
                &ev_p,
            ),
            tx.query(
                "INSERT INTO documents (act, sha256, media_type, size, sealed_name, sealed)
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::int8[], $5::bytea[], $6::bytea[])
                 ON CONFLICT (act, sha256) DO NOTHING RETURNING act, sha256",
                &doc_p,
            ),
            tx.execute(
                "INSERT INTO tlog_leaves (idx, kind, item) SELECT * FROM unnest($1::int8[], $2::int2[], $3::int8[])",
                &leaf_p,
            ),
            tx.execute(
                "INSERT INTO tlog_hashes (id, hash) SELECT * FROM unnest($1::int8[], $2::bytea[])",
                &hash_p,
            ),
            tx.execute(
                "INSERT INTO checkpoints (no, at, prev, heads, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)",
                &cp_p,
            ),
        )
        .map_err(q)?;
        // The fence: rows the database refused name their requests.
        let written: HashSet<i64> = inserted.iter().map(|r| r.get(0)).collect();
        let mut fenced: HashSet<usize> = rows
            .id
            .iter()
            .zip(&rows.owner)
            .filter(|(id, _)| !written.contains(id))
            .map(|(_, owner)| *owner)
            .collect();
        if docs_inserted.len() != rows.doc_act.len() {
            let written: HashSet<(Vec<u8>, Vec<u8>)> =
                docs_inserted.iter().map(|r| (r.get(0), r.get(1))).collect();
            for ((act, sha), owner) in rows.doc_act.iter().zip(&rows.doc_sha).zip(&rows.doc_owner) {
                if !written.contains(&(act.clone(), sha.clone())) {
                    fenced.insert(*owner);
                }
            }
        }
        if !fenced.is_empty() {
            tx.rollback().await.map_err(q)?;
            return Ok(Err(fenced));
        }
        tx.commit().await.map_err(q)?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(Ok(outcomes))
    }
}

fn read_checkpoint(r: &tokio_postgres::Row) -> Checkpoint {
    read::checkpoint_row(r)
}
