//! Technical incidents during an act (art. R.6316-4, 5°: every technical
//! incident is recorded). An incident is opened once and closed once, so a
//! continuing problem is one trace entry pair, never a flood.
//!
//! [`detector`] turns the stats clients report into such incidents;
//! [`relay`] does the same with what our TURN relay sees of each
//! participant (its allocations and the datagrams they relay).

//! Both run the episode machine of [`episode`], with the limits of
//! [`Thresholds`]; how an [`IncidentEvent`] becomes an act command is the
//! act's business ([`IncidentEvent::to_command`], in `act`).

use std::collections::BTreeMap;

/// Numbers an incident is opened or closed with (loss %, RTT ms, ...).
/// Non-finite values are dropped, since the trace stores JSON.
pub type Metrics = BTreeMap<String, f64>;

/// Keeps only finite values.
pub fn clean_metrics(metrics: Metrics) -> Metrics {
    metrics.into_iter().filter(|(_, v)| v.is_finite()).collect()
}

pub use crate::ids::IncidentId;
pub use crate::vocab::IncidentKind;

pub mod detector;
pub mod episode;
pub mod relay;
pub mod thresholds;

pub use detector::{Detector, IceState, PeerConnectionState, Sample};
pub use episode::{IncidentEvent, IncidentKey};
pub use relay::{RelayDetector, RelaySample};
pub use thresholds::Thresholds;
