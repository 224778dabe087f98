//! The load-testing harness, `teleconsult-load`, and the synthetic
//! participant it is built from.
//!
//! - [`participant`]: one participant that uses the product exactly as a
//!   browser does — the signaling protocol over WebSocket, consent,
//!   admission — with its media on the `webrtc` crate;
//! - [`stats`]: the media stats it reports over signaling, as a browser does.
//!
//! The harness itself (scenarios, encoded media, measures, charts) is still
//! to be built; see the issue "Load-testing harness with real encoded media".

pub mod participant;
pub mod stats;
