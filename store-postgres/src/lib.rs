//! The act trace on PostgreSQL: [`PgStore`], a second implementation of
//! [`session::TraceStore`] for deployments beyond one machine. Same
//! records, chain hashes, checkpoints and Merkle tree as the SQLite store,
//! so `session::store::verify_store`, `read_act` and `load_act` work on it
//! unchanged. Schema: `migrations/0001_trace.sql`, documented field by
//! field in `docs/TRACE_POSTGRES.md`.
//!
//! - **Durable.** Every connection runs with `synchronous_commit = on`; an
//!   append is acknowledged only after its `COMMIT` returned.
//! - **Group commit.** Callers seal their events on their own threads and
//!   queue them; one writer task takes everything queued while the
//!   previous commit was in flight and writes it in one transaction with
//!   one checkpoint (see [`writer`]).
//! - **One chain per act across nodes.** Each write transaction first takes
//!   an advisory lock on the tree, then reads the heads of its acts: a
//!   stale `expected_len` gets [`session::Error::Conflict`]. A unique
//!   `(act, seq)` is the fence should anything write around the lock.
//! - **Append-only.** Triggers and grants refuse `UPDATE` and `DELETE`.
//! - **Access log beside the trace.** [`PgAccessTables`] keeps the
//!   professional accounts and the access log
//!   ([`session::access::AccessTables`]) in the same database
//!   (`migrations/0002_access.sql`); each entry's Merkle leaf joins the
//!   trace's in commit order, under the same tree lock.
//!
//! The `session` crate has no async runtime and [`session::TraceStore`] is
//! synchronous: the store runs its own tokio runtime (two worker threads)
//! and callers wait on a channel, from any thread, async ones included.

mod access;
mod error;
mod import;
mod proofs;
mod read;
mod schema;
mod server;
mod tree;
pub mod writer;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use session::document::Upload;
use session::event::Event;
use session::ids::{ActId, Sha256};
use session::keys::{DataKey, HeadSigner, TrustedKeys};
use session::store::{
    Appended, DocumentInfo, OnAppended, Snapshot, StoredDocument, TraceStore, Walk,
};
use session::timestamp::Timestamp;
use session::tlog::tree::TreeReport;
use session::tlog::{DEFAULT_ORIGIN, LogSigner, Receipt, SignedCheckpoint, TreeHash};
use session::trace::Checkpoint;
use session::trace::TraceRecord;

pub use access::PgAccessTables;
pub use error::{Error, describe};
pub use schema::{FORMAT, MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION};
use server::Server;
pub use tree::TREE_LOCK;

/// How long a connection attempt may take before the store says the
/// server does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the pool keeps at most: the writer's, and readers'.
const POOL_SIZE: usize = 8;

/// How a store is opened.
#[derive(Debug)]
pub enum PgMode {
    /// Appends allowed; creates the schema in an empty database.
    Write {
        signer: Box<HeadSigner>,
        data: DataKey,
    },
    /// An existing trace, read-only; needs no key.
    Read,
}

/// The PostgreSQL trace store.
#[derive(Debug)]
pub struct PgStore {
    server: Server,
    pool: Pool,
    /// Owns the store's tasks; shut down when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    writer: Option<writer::Writer>,
    trusted: Option<TrustedKeys>,
    /// Signs the Merkle tree's checkpoints; `None` when read-only.
    log: Option<LogSigner>,
}

impl PgStore {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`),
    /// checks the database is a trace of a known schema (creating it, for a
    /// writer, in an empty database) and, for a writer, that `data` is its
    /// data key; then starts the group-commit writer.
    pub fn open(url: &str, mode: PgMode) -> Result<PgStore, session::Error> {
        let Connection {
            server,
            pool,
            runtime,
        } = Connection::open(url)?;
        let data = match &mode {
            PgMode::Write { data, .. } => Some(data.clone()),
            PgMode::Read => None,
        };
        {
            let (pool, server) = (pool.clone(), server.clone());
            run_on(runtime.handle(), async move {
                let mut client = pool.get().await.map_err(|e| server.pool(e))?;
                let mode = match &data {
                    Some(data) => schema::Prepare::Write(data),
                    None => schema::Prepare::Read,
                };
                schema::prepare(&server, &mut client, mode).await
            })?;
        }
        let (writer, log) = match mode {
            PgMode::Write { signer, data } => {
                let log = LogSigner::new(DEFAULT_ORIGIN, &signer)?;
                let w =
                    writer::Writer::start(&runtime, pool.clone(), server.clone(), *signer, data);
                (Some(w), Some(log))
            }
            PgMode::Read => (None, None),
        };
        Ok(PgStore {
            server,
            pool,
            runtime: Some(runtime),
            writer,
            trusted: None,
            log,
        })
    }

    /// Sets the public keys reads verify checkpoints with
    /// ([`session::store::read_act`]); without them reads are refused.
    pub fn with_trusted(mut self, trusted: TrustedKeys) -> PgStore {
        self.trusted = Some(trusted);
        self
    }

    /// Uses `origin` as the Merkle tree's log origin, signing with `signer`.
    pub fn with_log_origin(
        mut self,
        origin: &str,
        signer: &HeadSigner,
    ) -> Result<Self, session::Error> {
        self.log = Some(LogSigner::new(origin, signer)?);
        Ok(self)
    }

    /// The log's signer (origin and key); `None` when read-only.
    pub fn log_signer(&self) -> Option<&LogSigner> {
        self.log.as_ref()
    }

    /// `host:port/database`, as messages name it.
    pub fn server(&self) -> String {
        self.server.to_string()
    }

    /// The access tables (accounts and the access log) of this database,
    /// on this store's connection pool and runtime: one pool per node for
    /// the trace and the access log, and their Merkle leaves interleaved
    /// under the same tree lock. For a writer the schema is already
    /// current; on a read-only store over an older database the access
    /// log reads as empty. The tables work while this store is open; once
    /// it is dropped they answer [`session::Error::StoreClosed`]. Wrap
    /// them in an `Arc` or a `Box` for
    /// [`session::access::AccessStore::with_tables`].
    pub fn access_tables(&self) -> PgAccessTables {
        PgAccessTables::shared(
            self.server.clone(),
            self.pool.clone(),
            self.runtime.as_ref().map(|rt| rt.handle().clone()),
        )
    }

    /// Records `new` as the data key the trace's documents are sealed
    /// with from now on (`trace_meta.data_key_id`), when `old` is the one
    /// recorded: the database's half of `keys rotate data` (the key
    /// directory's half is [`session::keys::KeyDir::rotate_data`]). Refused with
    /// [`session::Error::WrongDataKey`] when `old` is not the recorded key.
    /// Open the store for writing with `old` first, and reopen it with
    /// `new` after: the running writer seals with the key it was given.
    pub fn set_data_key_id(&self, old: &DataKey, new: &DataKey) -> Result<(), session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        let (old_id, new_id) = (old.id(), new.id());
        self.run(async move {
            let q = |e| server.query(e);
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            let changed = client
                .execute(
                    "UPDATE trace_meta SET value = $1 WHERE key = 'data_key_id' AND value = $2",
                    &[&new_id.0.as_slice(), &old_id.0.as_slice()],
                )
                .await
                .map_err(q)?;
            if changed == 1 {
                return Ok(());
            }
            let recorded: Option<Vec<u8>> = client
                .query_opt(
                    "SELECT value FROM trace_meta WHERE key = 'data_key_id'",
                    &[],
                )
                .await
                .map_err(q)?
                .map(|row| row.get(0));
            Err(session::Error::WrongDataKey {
                expected: recorded
                    .unwrap_or_default()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                given: old_id.to_string(),
            })
        })
    }

    /// Copies a trace's rows as stored (read from another store with
    /// [`session::SqliteStore::dump`]) into this database, which must be
    /// empty (no event, checkpoint, document, leaf, account or access
    /// entry: else [`Error::NotEmpty`]) and record the same data key
    /// ([`Error::ImportDataKey`]). One transaction under the tree lock:
    /// all the rows or none. Open the store for writing (which creates
    /// the schema), import, then reopen it: a running writer does not
    /// see the imported rows' ids. For `teleconsult store migrate`.
    pub fn import(&self, dump: session::store::dump::StoreDump) -> Result<(), session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let mut client = pool.get().await.map_err(|e| server.pool(e))?;
            import::import(&server, &mut client, &dump).await
        })
    }

    /// How many write transactions the writer committed, for tests and
    /// metrics (group commit: fewer than the appends when writers are
    /// many).
    pub fn commits(&self) -> u64 {
        self.writer.as_ref().map_or(0, writer::Writer::commits)
    }

    /// Runs `fut` on the store's runtime and waits for it, from any thread.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, session::Error>> + Send + 'static,
    ) -> Result<T, session::Error> {
        let runtime = self.runtime.as_ref().ok_or(session::Error::StoreClosed)?;
        run_on(runtime.handle(), fut)
    }

    /// Runs `f` in a read-only snapshot transaction, with the tree's size
    /// as of it.
    fn in_snapshot<T: Send + 'static>(
        &self,
        f: impl for<'a> FnOnce(
            u64,
            &'a tokio_postgres::Transaction<'a>,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, session::Error>> + Send + 'a>,
        > + Send
        + 'static,
    ) -> Result<T, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let q = |e| server.query(e);
            let mut client = pool.get().await.map_err(|e| server.pool(e))?;
            let tx = read::snapshot_tx(&mut client).await.map_err(q)?;
            let size = tree::size(&*tx).await.map_err(q)?;
            let out = f(size, &tx).await?;
            tx.commit().await.map_err(q)?;
            Ok(out)
        })
    }

    /// A setting of the store's connections as the server reports it
    /// (`synchronous_commit`...), for tests and `/healthz`.
    pub fn connection_setting(&self, name: &str) -> Result<String, session::Error> {
        let (pool, server, name) = (self.pool.clone(), self.server.clone(), name.to_string());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            let row = client
                .query_one("SELECT current_setting($1)", &[&name])
                .await
                .map_err(|e| server.query(e))?;
            Ok(row.get(0))
        })
    }

    /// Stops the writer after the queued appends are committed.
    pub fn close(&self) {
        if let Some(w) = &self.writer {
            w.close();
        }
    }

    /// How many leaves the Merkle tree has.
    pub fn tree_size(&self) -> Result<u64, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            Ok(tree::size(&**client).await.map_err(|e| server.query(e))?)
        })
    }

    /// Signs and stores a checkpoint of the tree as it is; if the tree has
    /// not grown since the newest stored checkpoint, returns that one.
    pub fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, session::Error> {
        let log = self.log.clone().ok_or(session::Error::ReadOnly)?;
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let q = |e| server.query(e);
            let mut client = pool.get().await.map_err(|e| server.pool(e))?;
            let tx = client.transaction().await.map_err(q)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&tree::TREE_LOCK])
                .await
                .map_err(q)?;
            let size = tree::size(&*tx).await.map_err(q)?;
            if let Some(last) = read::latest_tree_checkpoint(&*tx).await.map_err(q)?
                && last.size == size
            {
                return Ok(last);
            }
            let root =
                tree::with_hashes(&*tx, Default::default(), |r| tlog_tiles::tree_hash(size, r))
                    .await
                    .map_err(q)?
                    .map_err(Error::Tree)?;
            let signed = log.sign(size, root, now)?;
            tx.execute(
                "INSERT INTO tlog_checkpoints (size, at, note) VALUES ($1, $2, $3)",
                &[&(size as i64), &now.as_micros(), &signed.note],
            )
            .await
            .map_err(q)?;
            tx.commit().await.map_err(q)?;
            Ok(signed)
        })
    }

    /// The newest stored tree checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            Ok(read::latest_tree_checkpoint(&**client)
                .await
                .map_err(|e| server.query(e))?)
        })
    }
}

/// A pool on one database, with the runtime its connections run on.
struct Connection {
    server: Server,
    pool: Pool,
    runtime: tokio::runtime::Runtime,
}

impl Connection {
    /// Parses `url`, and makes a pool of connections that each run with
    /// `synchronous_commit = on`, driven by a runtime of two threads.
    /// Connects lazily: the caller's first statement says whether the
    /// server answers.
    fn open(url: &str) -> Result<Connection, session::Error> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(Error::Url)?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("teleconsult")
            // Durable on acknowledgement, whatever the server's default.
            .options("-c synchronous_commit=on");
        let server = Server::of(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trace-postgres")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| Error::Pool {
                server: server.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Connection {
            server,
            pool,
            runtime,
        })
    }
}

/// Runs `fut` on `runtime` and waits for its outcome on a channel: unlike
/// `block_on`, this works from a thread that is itself in a runtime.
fn run_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, session::Error>> + Send + 'static,
) -> Result<T, session::Error> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or(Err(session::Error::StoreClosed))
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl TraceStore for PgStore {
    fn append(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
    ) -> Result<Appended, session::Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.append_then(
            act,
            expected_len,
            events,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(session::Error::StoreClosed))
    }

    fn append_then(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        done: OnAppended,
    ) {
        match &self.writer {
            Some(w) => w.submit(act, expected_len, events, None, done),
            None => done(Err(session::Error::ReadOnly)),
        }
    }

    fn records(&self, act: ActId) -> Result<Vec<TraceRecord>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move { read::records(&pool, &server, act).await })
    }

    fn walk(&self, act: ActId) -> Result<Walk, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move { read::walk(&pool, &server, act).await })
    }

    fn trusted(&self) -> Option<&TrustedKeys> {
        self.trusted.as_ref()
    }

    fn snapshot(&self, only: Option<ActId>) -> Result<Snapshot, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move { read::snapshot(&pool, &server, only).await })
    }

    fn act_ids(&self) -> Result<Vec<ActId>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move { read::act_ids(&pool, &server).await })
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move {
            let client = pool.get().await.map_err(|e| server.pool(e))?;
            Ok(read::checkpoints(&**client)
                .await
                .map_err(|e| server.query(e))?)
        })
    }

    fn attach(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
    ) -> Result<Appended, session::Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.attach_then(
            act,
            expected_len,
            document,
            events,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or(Err(session::Error::StoreClosed))
    }

    fn attach_then(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
        done: OnAppended,
    ) {
        match &self.writer {
            Some(w) => w.submit(act, Some(expected_len), events, Some(document), done),
            None => done(Err(session::Error::ReadOnly)),
        }
    }

    fn document(
        &self,
        act: ActId,
        sha256: &Sha256,
    ) -> Result<Option<StoredDocument>, session::Error> {
        let (pool, server, sha256) = (self.pool.clone(), self.server.clone(), *sha256);
        self.run(async move { read::document(&pool, &server, act, sha256).await })
    }

    fn documents(&self, act: ActId) -> Result<Vec<DocumentInfo>, session::Error> {
        let (pool, server) = (self.pool.clone(), self.server.clone());
        self.run(async move { read::documents(&pool, &server, act).await })
    }

    fn tree_report(&self, trusted: &TrustedKeys) -> Result<Option<TreeReport>, session::Error> {
        let (pool, server, trusted) = (self.pool.clone(), self.server.clone(), trusted.clone());
        self.run(async move {
            let q = |e| server.query(e);
            let mut client = pool.get().await.map_err(|e| server.pool(e))?;
            let tx = read::snapshot_tx(&mut client).await.map_err(q)?;
            let rows = tree::rows(&*tx).await.map_err(q)?;
            tx.commit().await.map_err(q)?;
            Ok(Some(session::tlog::tree::check_rows(&rows, &trusted)))
        })
    }

    // The Merkle tree and shutdown, through the trait for the server's
    // witnessing and receipts: the inherent methods above do the work.

    fn log_signer(&self) -> Option<&LogSigner> {
        PgStore::log_signer(self)
    }

    fn tree_size(&self) -> Result<u64, session::Error> {
        PgStore::tree_size(self)
    }

    fn tree_root(&self, size: u64) -> Result<TreeHash, session::Error> {
        PgStore::tree_root(self, size)
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, session::Error> {
        PgStore::consistency_proof(self, old, new)
    }

    fn event_leaf(&self, act: ActId, seq: u64) -> Result<Option<u64>, session::Error> {
        PgStore::event_leaf(self, act, seq)
    }

    fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, session::Error> {
        PgStore::checkpoint(self, now)
    }

    fn add_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), session::Error> {
        PgStore::add_cosigned(self, cosigned)
    }

    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, session::Error> {
        PgStore::latest_checkpoint(self)
    }

    fn receipt(
        &self,
        act: ActId,
        checkpoint: &SignedCheckpoint,
    ) -> Result<Receipt, session::Error> {
        PgStore::receipt(self, act, checkpoint)
    }

    /// `host:port/database`, never the password.
    fn location(&self) -> String {
        self.server()
    }

    fn close(&self) {
        PgStore::close(self)
    }
}
