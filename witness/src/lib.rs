//! A transparency-log witness (C2SP `tlog-witness`), apart from the log it
//! watches: it holds, per log origin, the latest checkpoint it cosigned, and
//! cosigns a new checkpoint only with a consistency proof from that one. The
//! server submits its trace log's checkpoints to one or more witnesses; a
//! restored older copy of the server's store is then inconsistent with what the
//! witnesses hold (issue 15).
//!
//! Layers, each its own module and none depending on a later one:
//! - [`key`]: the witness's own Ed25519 cosigning key, in `DATA/witness.key`;
//! - [`cosignature`]: C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519, type
//!   0x04): signing and verifying, and the verifier-key form;
//! - [`request`]: the `add-checkpoint` request body (parse and encode);
//! - [`refusal`]: why a request is refused, with the spec's status codes;
//! - [`witness`]: the sans-IO state machine ([`Witness`]), taking `now`;
//! - [`store`]: the durable state in the data directory (one file per log);
//! - [`state`]: [`WitnessState`], the witness and its store behind one lock,
//!   so that check, persist and answer happen atomically;
//! - [`server`]: the axum driver; [`client`]: what a log uses to submit.
//!
//! Wire format and files, field by field: docs/WITNESS.md.

pub mod client;
pub mod cosignature;
mod error;
pub mod key;
pub mod refusal;
pub mod request;
pub mod server;
pub mod state;
pub mod store;
pub mod witness;

pub use error::Error;
pub use key::WitnessKey;
pub use refusal::Refusal;
pub use state::WitnessState;
pub use witness::{Accepted, LogConfig, Witness};

/// Merkle tree hashes and checkpoints, as the witness and its clients use
/// them (re-exported from `tlog_tiles`).
pub use tlog_tiles::{Checkpoint, EMPTY_HASH, Hash};
