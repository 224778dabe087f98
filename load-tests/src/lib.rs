//! The load-testing harness, `teleconsult-load`, and the synthetic
//! participant it is built from.
//!
//! - [`participant`]: one participant that uses the product exactly as a
//!   browser does — the signaling protocol over WebSocket, consent,
//!   admission — with its media on the `webrtc` crate;
//! - [`stats`]: the media stats it reports over signaling, as a browser does;
//! - [`media_source`]: the AV1 test pattern and Opus tone, encoded once;
//! - [`clip_cache`]: the encoded clip kept on disk between runs;
//! - [`packetize`]: RTP payload formats (AV1, Opus) and the send-time
//!   trailer, sans IO;
//! - [`metrics`]: percentiles, loss, jitter, `/proc` readings, sans IO;
//! - [`slo`]: objectives and the capacity search, sans IO;
//! - [`turn_client`]: a small TURN client for relay-stress;
//! - [`delay_proxy`]: a UDP hop adding delay on a participant's direct
//!   path, for the fault tests (this kernel has no netem);
//! - [`error`]: the library's one error type ([`Error`]).

pub mod clip_cache;
pub mod delay_proxy;
pub mod error;
pub mod media_source;
pub mod metrics;
pub mod packetize;
pub mod participant;
pub mod receiver;
pub mod relay_stress;
pub mod report;
pub mod scenario;
pub mod slo;
pub mod stats;
pub mod turn_client;

pub use error::{Error, Result};
