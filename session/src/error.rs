//! The crate's one error type. Every message is a sentence an operator can
//! act on; none carries personal data.
//!
//! It sits at the bottom of the crate: it names only the leaves
//! ([`crate::vocab`], [`crate::ids`], [`crate::document`],
//! [`crate::integrity`]), so every other module may return it. A leaf's own
//! error (an id that does not parse, a file that is not a document) is
//! wrapped here with `#[from]`.

use std::path::PathBuf;

use crate::document::DocumentError;
use crate::ids::{ActId, IdError, IncidentId, MessageId, ParticipantId, Sha256, ShareId};
use crate::integrity::Problem;
use crate::vocab::{Phase, Role, UnknownActKind, UnknownUrgency};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- The act's rules -------------------------------------------------
    #[error("cannot {action} while the act is in the {phase} phase")]
    IllegalTransition { phase: Phase, action: &'static str },
    #[error(
        "the patient's consent to the act is not recorded; the act needs it to start or to take documents"
    )]
    ConsentRequired,
    #[error("consent refused: {0}")]
    ConsentNotAllowed(&'static str),
    #[error("participant {0} is not part of this act")]
    UnknownParticipant(ParticipantId),
    #[error("the act already has a participant in the role {0}")]
    RoleTaken(Role),
    #[error("the act already has {0} participants, the most a room holds")]
    RoomFull(usize),
    #[error("incident {0} does not exist in this act")]
    UnknownIncident(IncidentId),
    #[error("incident {0} is already closed")]
    IncidentAlreadyClosed(IncidentId),
    #[error("participant {0} is already admitted")]
    AlreadyAdmitted(ParticipantId),
    #[error("media is not allowed for participant {participant}: {reason}")]
    MediaNotAllowed {
        participant: ParticipantId,
        reason: &'static str,
    },

    // --- A téléexpertise's request and answers ------------------------------
    #[error("only a teleexpertise carries an expertise request")]
    ExpertiseOnlyForTeleexpertise,
    #[error("this act has no expertise request")]
    NoExpertiseRequest,
    #[error("only the act's expert may {action}")]
    NotTheExpert { action: &'static str },
    #[error("the expert has already accepted the request")]
    ExpertiseAlreadyAccepted,
    #[error("the expert has not accepted the request")]
    ExpertiseNotAccepted,
    /// A question, a decline's reason or a request for more is blank.
    #[error("the {what} is empty")]
    TextEmpty { what: &'static str },
    #[error("the {what} is longer than {max} bytes")]
    TextTooLong { what: &'static str, max: usize },

    // --- Attached documents ------------------------------------------------
    #[error("participant {0} is not a professional of this act")]
    NotAProfessional(ParticipantId),
    /// A file that is not an accepted document, too large, or badly named.
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("this document ({0}) is already attached to the act")]
    DuplicateDocument(Sha256),
    #[error("the act's documents would weigh {total} bytes; an act keeps at most {max}")]
    ActDocumentsFull { total: u64, max: u64 },
    #[error("the act already has {0} attached documents, the most it may have")]
    TooManyAttachments(usize),

    // --- What the live session exchanged -----------------------------------
    #[error("participant {reporter} already reported chat message {message}")]
    DuplicateChatReport {
        message: MessageId,
        reporter: ParticipantId,
    },
    #[error("chat message {0} was reported before with another sender")]
    ChatSenderDiffers(MessageId),
    #[error("the act already has {0} chat reports, the most it records")]
    TooManyChatReports(usize),
    #[error("file share {0} was already offered")]
    DuplicateShare(ShareId),
    #[error("no file share {0} in this act")]
    UnknownShare(ShareId),
    #[error("the act already has {0} file shares, the most it records")]
    TooManyShares(usize),
    #[error("the shared file is {size} bytes; at most {max} may be shared")]
    ShareTooLarge { size: u64, max: u64 },
    #[error("file share {0} was cancelled")]
    ShareCancelled(ShareId),
    #[error("participant {by} already confirmed file share {share}")]
    DuplicateShareReceipt { share: ShareId, by: ParticipantId },
    #[error("participant {0} offered this file and does not receive it")]
    OwnShare(ParticipantId),
    #[error("participant {0} is already sharing their screen")]
    AlreadySharingScreen(ParticipantId),
    #[error("participant {0} is not sharing their screen")]
    NotSharingScreen(ParticipantId),

    // --- Input -----------------------------------------------------------
    /// An act id, RPPS number or patient alias that does not parse.
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    ActKind(#[from] UnknownActKind),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Urgency(#[from] UnknownUrgency),
    /// A request the act's rules or a setting refuse, in a sentence for
    /// the person who made it.
    #[error("{0}")]
    InvalidInput(String),

    // --- The trace and its store ------------------------------------------
    #[error("no act {0} in the trace store")]
    UnknownAct(ActId),
    #[error(
        "the act changed concurrently (expected {expected} events, found {found}); reload it and try again"
    )]
    Conflict { expected: u64, found: u64 },
    #[error("the trace holds an event the act's rules reject: {0}")]
    InvalidTrace(String),
    #[error("{path} is not a teleconsult trace store, or is damaged: {reason}")]
    NotATraceStore { path: PathBuf, reason: String },
    #[error("the trace store at {path} failed: {reason}")]
    Database { path: PathBuf, reason: String },
    #[error("the trace store is closed")]
    StoreClosed,
    /// A failure of a trace store kept outside this crate (the PostgreSQL
    /// store of `store-postgres`): that crate's own error, whose message
    /// names the server (never its password).
    #[error(transparent)]
    ExternalStore(Box<dyn std::error::Error + Send + Sync>),
    /// A reader met a chain that does not verify; the finding is the one
    /// `trace verify` prints for it. Boxed to keep the error small.
    #[error("trace integrity: {0}")]
    TraceIntegrity(Box<Problem>),

    /// The keys directory holds keys but the trace store is gone.
    #[error(
        "{keys} holds keys but {db} is missing; restore the trace store from backup, or use a new data directory"
    )]
    StoreMissing { keys: PathBuf, db: PathBuf },
    /// A reader without the public key cannot verify what it reads.
    #[error("the trace cannot be read without the public key to verify it (keys/signing.pub)")]
    NoPublicKey,
    /// The access log was opened to read, and something tried to write.
    #[error("the access log was opened read-only")]
    ReadOnly,

    // --- Keys ------------------------------------------------------------
    /// The system random source failed, so no key, nonce or secret can
    /// be made.
    #[error("the system random source failed: {0}")]
    Randomness(getrandom::Error),
    /// A data key given as text is not one.
    #[error("a data key is 32 bytes written as 64 hex digits or base64")]
    DataKeyFormat,
    /// The data key variable (`var`) is set but holds no key.
    #[error("{var} is set but does not hold a 32-byte key (64 hex digits or base64)")]
    DataKeyVariable { var: &'static str },
    /// The data key comes from the variable `var`, so rotating it is the
    /// operator's job: the message says how.
    #[error(
        "the data key comes from {var}: set the new key there and write the old one to {retired}"
    )]
    DataKeyFromVariable { var: &'static str, retired: PathBuf },
    /// No data key to seal with.
    #[error("no data key to seal the account with")]
    NoDataKey,
    #[error("{path} does not hold a 32-byte key")]
    NotAKey { path: PathBuf },
    #[error("{path} does not hold a 32-byte public key")]
    NotAPublicKey { path: PathBuf },
    #[error("{path} is not a valid Ed25519 public key")]
    InvalidPublicKey { path: PathBuf },
    #[error(
        "the key file {path} is missing; restore it from backup (a new key cannot read or extend the existing trace)"
    )]
    KeyMissing { path: PathBuf },
    /// The signing key and the public key beside it are not a pair.
    #[error("the signing key does not match {public}")]
    SigningKeyMismatch { public: PathBuf },
    #[error(
        "the data key does not match this trace store (store key id {expected}, given key id {given}); check TELECONSULT_DATA_KEY or the keys directory"
    )]
    WrongDataKey { expected: String, given: String },
    /// An account's row disagrees with what the signed access log proves
    /// (its role or state was edited outside the server).
    #[error("account refused: {0}")]
    AccountNotProven(String),
    /// A key file, the store or the data directory is open to other users.
    /// `access` says how, `fix` the command that closes it.
    #[error("{path} is {access} by group or others (mode {mode:03o}); run `{fix}` and start again")]
    Permissions {
        path: PathBuf,
        mode: u32,
        access: &'static str,
        fix: String,
    },
    #[error("sealed data could not be decrypted: wrong data key, or the sealed bytes were changed")]
    Unseal,
    /// A document handed to the store with events that do not record it
    /// (`what` says how), so neither is written.
    #[error("the document does not match its attachment event: {0}")]
    DocumentMismatch(&'static str),
    /// A stored document opened, but its content is not the one its
    /// SHA-256 names.
    #[error("a stored document's content does not match its SHA-256 digest")]
    DocumentDigest,

    /// A document made from the trace (the compte rendu's PDF) could not
    /// be rendered: a fault of the renderer (its fonts, its writer), not
    /// of the trace. `what` names the document.
    #[error("cannot render {what}: {source}")]
    Render {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode or decode an event: {0}")]
    Encoding(#[from] serde_json::Error),
    /// The cipher refused to seal (it does not for inputs this size).
    #[error("could not encode or decode an event: encryption failed")]
    Encryption,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// What went wrong with the transparency log ([`crate::tlog`]): the tree,
/// a checkpoint or a receipt.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the tree has {tree} leaves, fewer than the {size} asked for")]
    SizeBeyondTree { size: u64, tree: u64 },
    #[error("a consistency proof goes from a smaller tree to a larger one, not {old} to {new}")]
    BadRange { old: u64, new: u64 },
    #[error("the Merkle proof does not check: {0}")]
    Proof(#[from] tlog_tiles::Error),
    #[error("the signed note: {0}")]
    Note(#[from] signed_note::NoteError),
    #[error("the checkpoint is malformed")]
    MalformedCheckpoint,
    #[error("the checkpoint's root is not the tree's at size {size}")]
    RootMismatch { size: u64 },
    #[error("the log origin {0:?} is not a valid note key name")]
    BadOrigin(String),
    #[error("the verifier key is malformed: {0}")]
    BadVerifierKey(&'static str),
    #[error("the receipt is malformed: {0}")]
    MalformedReceipt(&'static str),
    #[error("the receipt does not verify: {0}")]
    ReceiptInvalid(&'static str),
    #[error("the checkpoint is not cosigned by witness {0}")]
    MissingCosignature(String),
    #[error("the checkpoint's origin is {found:?}, not the log's {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("the act has no event in the tree up to the checkpoint")]
    NothingToProve,
    #[error("event #{seq} of the act is not in the tree")]
    EventNotInTree { seq: u64 },
    #[error("the store has no Merkle tree (opened read-only before its first writer)")]
    NoTree,
}
