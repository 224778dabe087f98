//! Technical incidents during an act (art. R.6316-4, 5°: every technical
//! incident is recorded). An incident is opened once and closed once, so a
//! continuing problem is one trace entry pair, never a flood.
//!
//! [`detector`] turns the stats clients report into such incidents;
//! [`relay`] does the same with what our TURN relay sees of each
//! participant (its allocations and the datagrams they relay).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Numbers an incident is opened or closed with (loss %, RTT ms, ...).
/// Non-finite values are dropped, since the trace stores JSON.
pub type Metrics = BTreeMap<String, f64>;

/// Keeps only finite values.
pub fn clean_metrics(metrics: Metrics) -> Metrics {
    metrics.into_iter().filter(|(_, v)| v.is_finite()).collect()
}

/// Number of an incident within its act: 1, 2, 3...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub u32);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    SignalingDisconnected,
    IceDisconnected,
    IceFailed,
    PeerConnectionLost,
    PacketLoss,
    VideoFreeze,
    HighRtt,
    BitrateCollapse,
    /// The media path fell back from direct to the relay.
    RelayFallback,
    /// A participant's allocation on our TURN relay, which carried its
    /// media, went away (expired or deleted) while media was allowed.
    RelayAllocationLost,
    /// No datagram from a participant through our relay, while its
    /// allocation lived and had carried its media.
    RelayMediaStopped,
    /// The pre-call connection test failed.
    ConnectionTestFailed,
    Other,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::SignalingDisconnected => "signaling_disconnected",
            IncidentKind::IceDisconnected => "ice_disconnected",
            IncidentKind::IceFailed => "ice_failed",
            IncidentKind::PeerConnectionLost => "peer_connection_lost",
            IncidentKind::PacketLoss => "packet_loss",
            IncidentKind::VideoFreeze => "video_freeze",
            IncidentKind::HighRtt => "high_rtt",
            IncidentKind::BitrateCollapse => "bitrate_collapse",
            IncidentKind::RelayFallback => "relay_fallback",
            IncidentKind::RelayAllocationLost => "relay_allocation_lost",
            IncidentKind::RelayMediaStopped => "relay_media_stopped",
            IncidentKind::ConnectionTestFailed => "connection_test_failed",
            IncidentKind::Other => "other",
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub mod detector;
pub mod relay;

pub use detector::{
    Detector, IceState, IncidentEvent, IncidentKey, PeerConnectionState, Sample, Thresholds,
};
pub use relay::{RelayDetector, RelaySample};
