//! The telemedicine act and its trace.
//!
//! This crate is the domain: plain types, no async runtime and no sockets.
//! - [`vocab`], [`ids`]: the shared vocabulary (phases, kinds, roles,
//!   reasons, modes) and identifiers, leaves every other module may use;
//! - [`act`]: the act's lifecycle state machine ([`Act::handle`]);
//! - [`participant`], [`consent`], [`incident`], [`conclusion`]: what an act
//!   records, as decree 2010-1229 (art. R.6316-4) asks;
//! - [`mode`]: video, audio-only or phone route, and the call-back number;
//! - [`expertise`]: a téléexpertise's request and the expert's answers;
//! - [`document`]: the documents an act may carry, told by content;
//! - [`event`]: the typed events every change produces;
//! - [`trace`]: the hash-chained, signed, partly sealed record of events;
//! - [`store`]: where the trace lives (SQLite by default);
//! - [`tlog`]: the Merkle tree over every record, its signed checkpoints
//!   and the acts' receipts;
//! - [`keys`]: the signing and data keys, kept outside the database;
//! - [`access`]: professional accounts and the signed access log.

pub mod access;
pub mod act;
pub mod conclusion;
pub mod consent;
pub mod document;
mod error;
pub mod event;
pub mod expertise;
pub mod ids;
pub mod incident;
pub mod integrity;
pub mod keys;
pub mod mode;
pub mod participant;
mod pii;
pub mod precall;
pub mod store;
pub mod timestamp;
pub mod tlog;
pub mod trace;
pub mod vocab;

pub use act::{Act, ActKind, CancelReason, Command, Phase};
pub use error::Error;
pub use event::{ActEvent, Event};
pub use ids::{
    ActId, IdError, IncidentId, MessageId, ParticipantId, PatientAlias, Rpps, Sha256, ShareId,
};
pub use pii::{PII_KEY, Pii};
pub use store::{DataDir, SqliteStore, TraceStore};
pub use timestamp::Timestamp;
