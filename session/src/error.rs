//! The crate's one error type. Every message is a sentence an operator can
//! act on; none carries personal data.
//!
//! It sits at the bottom of the crate: it names only the leaves
//! ([`crate::vocab`], [`crate::ids`], [`crate::integrity`]), so every other
//! module may return it. A leaf's own error (an id that does not parse) is
//! wrapped here with `#[from]`.

use std::path::PathBuf;

use crate::ids::{IdError, IncidentId, ParticipantId};
use crate::integrity::Problem;
use crate::vocab::{Phase, Role, UnknownActKind};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- The act's rules -------------------------------------------------
    #[error("cannot {action} while the act is in the {phase} phase")]
    IllegalTransition { phase: Phase, action: &'static str },
    #[error("the patient has not consented to the act, so it cannot start")]
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

    // --- Input -----------------------------------------------------------
    /// An act id, RPPS number or patient alias that does not parse.
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    ActKind(#[from] UnknownActKind),
    #[error("{0}")]
    InvalidInput(String),

    // --- The trace and its store ------------------------------------------
    #[error("no act {0} in the trace store")]
    UnknownAct(String),
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
    /// A reader met a chain that does not verify; the finding is the one
    /// `trace verify` prints for it. Boxed to keep the error small.
    #[error("trace integrity: {0}")]
    TraceIntegrity(Box<Problem>),

    // --- Keys ------------------------------------------------------------
    #[error("{0}")]
    Key(String),
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

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode or decode an event: {0}")]
    Encoding(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}
