//! Where the trace lives, with the documents attached to its acts.
//! [`TraceStore`] is the seam: the embedded default is [`SqliteStore`], one
//! SQLite file in WAL mode; a PostgreSQL store can implement the same trait
//! for deployments beyond one machine.

pub mod dump;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use sqlite::{SqliteStore, StoreMode};

use crate::Error;
use crate::act::Act;
use crate::document::{DocumentType, Upload};
use crate::event::{ActEvent, Event};
use crate::ids::{ActId, Sha256};
use crate::keys::{DataKey, HeadSigner, KeyDir, KeyId, TrustedKeys};
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::tlog::tree::TreeReport;
use crate::tlog::{LogSigner, Receipt, SignedCheckpoint, TreeHash};
use crate::trace::document::{open_document, open_name};
use crate::trace::{Checkpoint, Head, TraceRecord, VerifyReport, check_read, verify};

/// What an acknowledged append made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the first event written.
    pub first_seq: u64,
    /// The act's new head.
    pub head: Head,
}

/// Runs once an append is durable, or has failed. It runs on the store's
/// writer thread, so it must only hand the outcome over (send it on a
/// channel, wake a task), never block.
pub type OnAppended = Box<dyn FnOnce(Result<Appended, Error>) + Send>;

/// An append-only store of trace records and checkpoints.
pub trait TraceStore: Send + Sync + fmt::Debug {
    /// Appends `events` to `act`'s chain and returns once they are durable.
    ///
    /// `expected_len` is how many events the caller believes the act has
    /// (`Some(0)` for a new act); if the act has moved on, nothing is
    /// written and [`Error::Conflict`] is returned. `None` appends blindly.
    fn append(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
    ) -> Result<Appended, Error>;

    /// The same without blocking: `done` gets the outcome once the events
    /// are durable. An async server awaits a channel that `done` sends on.
    fn append_then(
        &self,
        act: ActId,
        expected_len: Option<u64>,
        events: Vec<Event>,
        done: OnAppended,
    );

    /// The act's records in chain order, following the store's own links
    /// from the act's head. Not verified: readers use [`read_act`], which
    /// checks what this returns; tests use it to look at the raw store.
    fn records(&self, act: ActId) -> Result<Vec<TraceRecord>, Error>;

    /// What [`read_act`] checks, read in one transaction: the act's records
    /// as the store links them, the newest checkpoint naming the act, and
    /// any hole in the checkpoint chain after it.
    fn walk(&self, act: ActId) -> Result<Walk, Error>;

    /// The public keys checkpoints are verified with when an act is read;
    /// `None` when the store was opened without them.
    fn trusted(&self) -> Option<&TrustedKeys>;

    /// The checkpoints and every record as stored (grouped by act, sorted
    /// by seq, whatever the links say), as of one commit; for
    /// verification. `only` restricts the records to one act.
    fn snapshot(&self, only: Option<ActId>) -> Result<Snapshot, Error>;

    /// Every act with at least one record, in id order.
    fn act_ids(&self) -> Result<Vec<ActId>, Error>;

    /// All checkpoints in order.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error>;

    /// Stores `document` sealed and appends `events`, which record it (one
    /// [`ActEvent::AttachmentAdded`] naming its digest, type and size, see
    /// [`attachment_of`]), in one transaction: both are written, or
    /// neither. `expected_len` fences the act as in
    /// [`TraceStore::append`]; a document already stored for the act is
    /// refused likewise. Returns once both are durable.
    ///
    /// The document is sealed on the caller's thread (tens of milliseconds
    /// for 50 MiB in a release build, seconds in a debug one): an async
    /// caller runs this on a blocking thread, or calls
    /// [`TraceStore::attach_then`] from one.
    fn attach(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
    ) -> Result<Appended, Error>;

    /// The same without waiting for the commit: `done` gets the outcome.
    fn attach_then(
        &self,
        act: ActId,
        expected_len: u64,
        document: Upload,
        events: Vec<Event>,
        done: OnAppended,
    );

    /// The document of `act` with this digest, sealed as stored; `None` if
    /// it is not attached to that act. Open it with
    /// [`StoredDocument::open`].
    fn document(&self, act: ActId, sha256: &Sha256) -> Result<Option<StoredDocument>, Error>;

    /// The documents stored for `act`, in the order they were attached.
    fn documents(&self, act: ActId) -> Result<Vec<DocumentInfo>, Error>;

    /// The Merkle tree checked against a rebuild from its leaves, with
    /// its checkpoints (see [`crate::tlog::tree`]); `None` for a store
    /// without the tree.
    fn tree_report(&self, trusted: &TrustedKeys) -> Result<Option<TreeReport>, Error> {
        let _ = trusted;
        Ok(None)
    }

    // --- The Merkle tree over the trace (see [`crate::tlog`]) -------------
    // What the server signs, proves and has witnessed: checkpoints for the
    // witnesses, receipts for an act. Every store keeps the tree.

    /// The log's signer (origin and key), for its verifier key string;
    /// `None` when read-only.
    fn log_signer(&self) -> Option<&LogSigner>;

    /// How many leaves the tree has.
    fn tree_size(&self) -> Result<u64, Error>;

    /// The root of the tree's first `size` leaves.
    fn tree_root(&self, size: u64) -> Result<TreeHash, Error>;

    /// The consistency proof from the tree of `old` leaves to `new`.
    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, Error>;

    /// The leaf index of `act`'s event `seq`, if in the tree.
    fn event_leaf(&self, act: ActId, seq: u64) -> Result<Option<u64>, Error>;

    /// Signs and stores a checkpoint of the tree as it is; if the tree
    /// has not grown since the newest stored checkpoint, returns that one.
    /// Durable when it returns; [`Error::ReadOnly`] without a signer.
    fn checkpoint(&self, now: Timestamp) -> Result<SignedCheckpoint, Error>;

    /// Stores a cosigned copy of one of this log's checkpoints, which
    /// becomes the newest of its size. Refused unless the log's signature
    /// verifies and its root is the tree's at that size.
    fn add_cosigned(&self, cosigned: &SignedCheckpoint) -> Result<(), Error>;

    /// The newest stored checkpoint, if any.
    fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, Error>;

    /// `act`'s receipt against `checkpoint` (one of this store's): every
    /// event of the act with its leaf and inclusion proof in the
    /// checkpoint's tree; [`crate::tlog::TreeError::EventNotInTree`] if an
    /// event is not in that tree.
    fn receipt(&self, act: ActId, checkpoint: &SignedCheckpoint) -> Result<Receipt, Error>;

    // --- Life of the store -------------------------------------------------

    /// Where the store is, for messages: a file path, or a database URL
    /// without its password. Never a secret.
    fn location(&self) -> String;

    /// Whether the store answers, for `/healthz`: a cheap read. The
    /// default reads the records of an act that does not exist.
    fn ping(&self) -> Result<(), Error> {
        self.records(ActId::random()).map(|_| ())
    }

    /// The storage engine's own structural check, which `trace verify`
    /// runs before the chain's (SQLite's `quick_check`); the default has
    /// none to run.
    fn check_storage(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Stops taking appends and returns once those already queued are
    /// durable (at shutdown, or before another process uses the store).
    /// The default has nothing queued.
    fn close(&self) {}
}

/// The one [`ActEvent::AttachmentAdded`] among `events`, checked against
/// `document`'s digest, type and size; what [`TraceStore::attach`] stores
/// the document under (its sealed name comes from the event).
pub fn attachment_of<'a>(document: &Upload, events: &'a [Event]) -> Result<&'a Pii<String>, Error> {
    let mut found = events.iter().filter_map(|e| match &e.body {
        ActEvent::AttachmentAdded {
            document,
            media_type,
            size,
            name,
            ..
        } => Some((document, media_type, size, name)),
        _ => None,
    });
    let (sha256, media_type, size, name) = found.next().ok_or(Error::DocumentMismatch(
        "no attachment_added event records it",
    ))?;
    if found.next().is_some() {
        return Err(Error::DocumentMismatch(
            "more than one attachment_added event",
        ));
    }
    if *sha256 != document.sha256() {
        return Err(Error::DocumentMismatch("the event names another digest"));
    }
    if *media_type != document.media_type() || *size != document.size() {
        return Err(Error::DocumentMismatch(
            "the event names another type or size",
        ));
    }
    Ok(name)
}

/// A document as the store keeps it: its content and file name sealed
/// with the data key (see [`crate::trace::document`]).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub act: ActId,
    pub sha256: Sha256,
    pub media_type: DocumentType,
    pub size: u64,
    pub sealed_name: Vec<u8>,
    pub sealed: Vec<u8>,
}

impl StoredDocument {
    /// The content, opened with whichever of `keys` sealed it and checked
    /// against its SHA-256: [`Error::Unseal`] if the blob was changed,
    /// moved or sealed with another key, [`Error::DocumentDigest`] if it
    /// opens to other content, [`Error::DocumentMismatch`] if its size is
    /// not the stored one.
    pub fn open(&self, keys: &[DataKey]) -> Result<Vec<u8>, Error> {
        let bytes = open_document(self.act, &self.sha256, &self.sealed, keys)?;
        if bytes.len() as u64 != self.size {
            return Err(Error::DocumentMismatch(
                "the stored size is not the content's",
            ));
        }
        Ok(bytes)
    }

    /// The file name, opened.
    pub fn name(&self, keys: &[DataKey]) -> Result<Pii<String>, Error> {
        open_name(self.act, &self.sha256, &self.sealed_name, keys)
    }

    /// What a listing shows of it.
    pub fn info(&self) -> DocumentInfo {
        DocumentInfo {
            sha256: self.sha256,
            media_type: self.media_type,
            size: self.size,
        }
    }
}

impl fmt::Debug for StoredDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredDocument")
            .field("act", &self.act)
            .field("sha256", &self.sha256)
            .field("media_type", &self.media_type)
            .field("size", &self.size)
            .field("sealed_bytes", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

/// One stored document, as listed: no name, no content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentInfo {
    pub sha256: Sha256,
    pub media_type: DocumentType,
    pub size: u64,
}

/// A consistent view of the store for verification.
#[derive(Debug)]
pub struct Snapshot {
    pub checkpoints: Vec<Checkpoint>,
    pub records: BTreeMap<ActId, Vec<TraceRecord>>,
    /// Per act, the positions in `records[act]` of the records the store's
    /// links reach from the act's head, in chain order; what a reader walks.
    pub links: BTreeMap<ActId, Vec<usize>>,
}

/// One act as the store links it, with what vouches for it; see
/// [`TraceStore::walk`]. Unverified until [`check_read`] passes.
#[derive(Debug, Default)]
pub struct Walk {
    /// The records reached from the act's head through the links, in chain
    /// order (oldest first).
    pub records: Vec<TraceRecord>,
    /// The newest checkpoint whose heads name the act.
    pub signed: Option<Checkpoint>,
    /// A hole in the checkpoint chain between `signed` and the newest
    /// checkpoint: the first missing number and the next one present.
    pub gap: Option<(u64, u64)>,
}

/// The one way an act is read for use (a room, an export, a display, an
/// access decision): its records in chain order, refused with
/// [`Error::TraceIntegrity`] unless the chain the store links verifies —
/// each hash, the hash links, the sequence from 1 without gap, and a head
/// equal to the one the newest checkpoint naming the act signed. The
/// refusal carries the finding `trace verify` reports for the same damage.
///
/// Cost: one indexed read per event of the act, and a backward scan of the
/// checkpoints written since the act's last append.
pub fn read_act(store: &dyn TraceStore, act: ActId) -> Result<Vec<TraceRecord>, Error> {
    let trusted = store.trusted().ok_or(Error::NoPublicKey)?;
    let walk = store.walk(act)?;
    if walk.records.is_empty() && walk.signed.is_none() {
        return Err(Error::UnknownAct(act));
    }
    let problems = check_read(act, &walk.records, walk.signed.as_ref(), walk.gap, trusted);
    if let Some(first) = problems.into_iter().next() {
        return Err(Error::TraceIntegrity(Box::new(first)));
    }
    Ok(walk.records)
}

/// Rebuilds an act from its verified trace (see [`read_act`]); also
/// returns its event count, for the next append's `expected_len`.
pub fn load_act(store: &dyn TraceStore, act: ActId, keys: &[DataKey]) -> Result<(Act, u64), Error> {
    let events = load_events(store, act, keys)?;
    Ok((Act::replay(act, &events)?, events.len() as u64))
}

/// An act's events from its verified trace (see [`read_act`]), opened
/// with `keys`: for a reader that needs more than the act's state (a room
/// rebuilt after its server died looks at who was left connected).
pub fn load_events(
    store: &dyn TraceStore,
    act: ActId,
    keys: &[DataKey],
) -> Result<Vec<Event>, Error> {
    read_act(store, act)?.iter().map(|r| r.open(keys)).collect()
}

/// Verifies the whole store, or one act, with public keys only. The whole
/// store's check includes the Merkle tree (rebuilt from its leaves) and
/// its signed checkpoints; one act's does not (an export checks its act
/// without reading every record).
pub fn verify_store(
    store: &dyn TraceStore,
    trusted: &TrustedKeys,
    only: Option<ActId>,
) -> Result<VerifyReport, Error> {
    let Snapshot {
        checkpoints,
        records,
        links,
    } = store.snapshot(only)?;
    if let Some(act) = only {
        let known = records.contains_key(&act)
            || checkpoints
                .iter()
                .any(|c| c.heads.iter().any(|h| h.act == act));
        if !known {
            return Err(Error::UnknownAct(act));
        }
    }
    let mut report = verify(&checkpoints, &records, trusted, only);
    // What readers walk: the store's links. Where they do not give the
    // records in seq order, run the readers' own check, so that every
    // refusal a reader would make is in the report.
    for (act, order) in &links {
        let stored = records.get(act).map(Vec::as_slice).unwrap_or(&[]);
        if order.iter().copied().eq(0..stored.len()) {
            continue;
        }
        let walked: Vec<TraceRecord> = order.iter().map(|&i| stored[i].clone()).collect();
        let signed = checkpoints
            .iter()
            .rev()
            .find(|c| c.heads.iter().any(|h| h.act == *act));
        for p in check_read(*act, &walked, signed, None, trusted) {
            if !report.problems.contains(&p) {
                report.problems.push(p);
            }
        }
    }
    if only.is_none()
        && let Some(tree) = store.tree_report(trusted)?
    {
        report.tree_size = Some(tree.size);
        report.tree_checkpoints = tree.checkpoints;
        report.problems.extend(tree.problems);
    }
    Ok(report)
}

/// A data directory: `trace.db` and its WAL, and the `keys/` directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    /// The embedded store's file when it is not `root/trace.db` (see
    /// [`DataDir::with_db_path`]).
    db: Option<PathBuf>,
}

/// The keys a writer needs.
#[derive(Debug)]
pub struct WriterKeys {
    pub signer: HeadSigner,
    pub data: DataKey,
    pub trusted: TrustedKeys,
}

impl DataDir {
    pub const DB_FILE: &str = "trace.db";

    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir {
            root: root.into(),
            db: None,
        }
    }

    /// The same keys with the embedded store in another file (an
    /// operator's `--store PATH`).
    pub fn with_db_path(mut self, db: impl Into<PathBuf>) -> DataDir {
        self.db = Some(db.into());
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> PathBuf {
        match &self.db {
            Some(db) => db.clone(),
            None => self.root.join(Self::DB_FILE),
        }
    }

    pub fn key_dir(&self) -> KeyDir {
        KeyDir::new(self.root.join("keys"))
    }

    /// Refuses to start on a data directory others may change, or a trace
    /// store (with its WAL) others may write; key files are checked as they
    /// are read (see [`crate::keys::check_private_file`]). A store others
    /// may read is tightened to 0600 when opened for writing: the sealed
    /// fields are encrypted, but kinds and times are not.
    pub fn check_permissions(&self) -> Result<(), Error> {
        crate::keys::check_not_shared_writable(&self.root, "700")?;
        crate::keys::check_not_shared_writable(self.key_dir().path(), "700")?;
        for file in self.db_files() {
            crate::keys::check_not_shared_writable(&file, "600")?;
        }
        Ok(())
    }

    /// `trace.db` and the WAL files SQLite keeps beside it.
    fn db_files(&self) -> [PathBuf; 3] {
        let db = self.db_path();
        let with = |suffix: &str| {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [with(""), with("-wal"), with("-shm")]
    }

    /// Sets the store's files to 0600.
    fn restrict_db_files(&self) -> Result<(), Error> {
        #[cfg(unix)]
        for file in self.db_files() {
            use std::os::unix::fs::PermissionsExt;
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot restrict {}", file.display()), e)),
            }
        }
        Ok(())
    }

    /// Opens the store for writing, creating the store and its keys on first
    /// use (the data directory 0700, the store 0600). Never replaces an
    /// existing file.
    pub fn open_writer(&self) -> Result<(SqliteStore, WriterKeys), Error> {
        self.check_permissions()?;
        let db = self.db_path();
        let keys = self.key_dir();
        if !db.exists() {
            if keys.path().join("signing.key").exists() {
                return Err(Error::StoreMissing {
                    keys: keys.path().to_path_buf(),
                    db,
                });
            }
            crate::keys::create_private_dir(&self.root)?;
            keys.create(std::env::var_os(crate::keys::DATA_KEY_ENV).is_some())?;
        } else {
            // Refuse a damaged or foreign file before touching any key.
            drop(SqliteStore::open(&db, StoreMode::Read)?);
        }
        let writer = self.writer_keys()?;
        let store = SqliteStore::open(
            &db,
            StoreMode::Write {
                signer: Box::new(writer.signer.clone()),
                data: writer.data.clone(),
            },
        )?
        .with_trusted(writer.trusted.clone());
        self.restrict_db_files()?;
        Ok((store, writer))
    }

    /// The keys a writer of a store outside the data directory (a
    /// database server) needs, created on first use with the directory
    /// (0700). The embedded store's writer uses [`DataDir::open_writer`],
    /// which also refuses keys without their store.
    pub fn open_keys(&self) -> Result<WriterKeys, Error> {
        let keys = self.key_dir();
        if !keys.path().join("signing.key").exists() {
            crate::keys::create_private_dir(&self.root)?;
            keys.create(std::env::var_os(crate::keys::DATA_KEY_ENV).is_some())?;
        }
        crate::keys::check_not_shared_writable(&self.root, "700")?;
        crate::keys::check_not_shared_writable(keys.path(), "700")?;
        self.writer_keys()
    }

    /// The signing, data and public keys of `keys/`, the signer checked
    /// to be among the trusted keys.
    fn writer_keys(&self) -> Result<WriterKeys, Error> {
        let keys = self.key_dir();
        let writer = WriterKeys {
            signer: keys.signer()?,
            data: keys.data_key()?,
            trusted: keys.trusted()?,
        };
        if !writer.trusted.ids().any(|id| id == writer.signer.id()) {
            return Err(Error::SigningKeyMismatch {
                public: keys.path().join("signing.pub"),
            });
        }
        Ok(writer)
    }

    /// Rotates the data key: the old one is kept under `keys/retired/`,
    /// the store is told the new key's id, and new events are sealed with
    /// the new key. Run it with the server stopped. Returns the old and new
    /// key ids.
    pub fn rotate_data_key(&self) -> Result<(KeyId, KeyId), Error> {
        let keys = self.key_dir();
        let (old, new) = keys.rotate_data()?;
        sqlite::set_data_key_id(&self.db_path(), &old, &new)?;
        keys.install_data_key(&new)?;
        Ok((old.id(), new.id()))
    }

    /// Opens an existing store read-only; no private key is needed. Reads
    /// of an act verify it with the public keys of `keys/` when present
    /// (see [`read_act`]); give others with [`SqliteStore::with_trusted`].
    pub fn open_reader(&self) -> Result<SqliteStore, Error> {
        self.check_permissions()?;
        let store = SqliteStore::open(&self.db_path(), StoreMode::Read)?;
        Ok(match self.key_dir().trusted() {
            Ok(trusted) => store.with_trusted(trusted),
            Err(_) => store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_keys_makes_the_keys_once_and_no_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let first = data.open_keys().unwrap();
        assert!(!data.db_path().exists(), "keys only");
        let again = data.open_keys().unwrap();
        assert_eq!(first.signer.id(), again.signer.id());
        assert_eq!(first.data.id(), again.data.id());
    }

    #[test]
    fn a_store_path_keeps_the_keys_in_the_directory() {
        let data = DataDir::new("/data").with_db_path("/elsewhere/trace.db");
        assert_eq!(data.db_path(), Path::new("/elsewhere/trace.db"));
        assert_eq!(data.key_dir().path(), Path::new("/data/keys"));
        assert_eq!(DataDir::new("/data").db_path(), Path::new("/data/trace.db"));
    }
}
