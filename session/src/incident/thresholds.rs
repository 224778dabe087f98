//! When a condition becomes an incident and when it ends, for both
//! detectors.

use std::time::Duration;

use crate::error::Error;
use crate::vocab::IncidentKind;

/// When a condition becomes an incident and when it ends. Defaults are the
/// issue's: loss above 5 % for 5 s, no decoded frame for 2 s while the
/// video is on, RTT above 400 ms, bitrate below 20 % of the recent median
/// for 5 s, any ICE disconnection or failure, a lost peer connection, a
/// fall back from direct to relay; and 3 s clear before closing. For the
/// relay's own view: 3 s without a datagram from a participant whose
/// allocation carried at least 50.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Loss above this share of packets (percent) is bad.
    pub loss_pct: f64,
    /// How long loss must stay bad before opening.
    pub loss_sustain: Duration,
    /// An interval with fewer packets than this says nothing about loss,
    /// so a handful of packets cannot make 50 %.
    pub loss_min_packets: u64,
    /// No decoded frame for this long while the video is on is a freeze.
    pub freeze_after: Duration,
    /// RTT above this (ms) is bad.
    pub rtt_ms: f64,
    /// How long RTT must stay high before opening, so one spike is not an
    /// incident.
    pub rtt_sustain: Duration,
    /// Bitrate below this fraction of the recent median is a collapse.
    pub bitrate_ratio: f64,
    /// How long a collapse must last before opening.
    pub bitrate_sustain: Duration,
    /// How many recent healthy samples the median is taken over.
    pub bitrate_window: usize,
    /// How many healthy samples are needed before a collapse can be judged.
    pub bitrate_min_samples: usize,
    /// A median below this (kbit/s) is too low to collapse from (an
    /// audio-only call is not a collapsed video call).
    pub bitrate_min_baseline_kbps: f64,
    /// How long a condition must stay clear before its incident closes.
    pub clear_after: Duration,
    /// No datagram from a participant through our relay for this long,
    /// while its allocation lives and carried media, is an incident
    /// ([`super::relay`]).
    pub relay_silence: Duration,
    /// Datagrams a participant must have relayed through its current
    /// allocations before they count as its media path: ICE checks on a
    /// relay candidate the call never used are a handful, audio alone is
    /// 50 a second. Below this, silence and loss of the allocations are
    /// not incidents.
    pub relay_in_use_packets: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            loss_pct: 5.0,
            loss_sustain: Duration::from_secs(5),
            loss_min_packets: 10,
            freeze_after: Duration::from_secs(2),
            rtt_ms: 400.0,
            rtt_sustain: Duration::from_secs(2),
            bitrate_ratio: 0.2,
            bitrate_sustain: Duration::from_secs(5),
            bitrate_window: 10,
            bitrate_min_samples: 3,
            bitrate_min_baseline_kbps: 100.0,
            clear_after: Duration::from_secs(3),
            relay_silence: Duration::from_secs(3),
            relay_in_use_packets: 50,
        }
    }
}

impl Thresholds {
    /// Refuses values that would make the detector meaningless.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::InvalidInput(format!("incident threshold: {what}")));
        if !(self.loss_pct.is_finite() && (0.0..100.0).contains(&self.loss_pct)) {
            return bad("loss_pct must be in [0, 100)");
        }
        if !(self.rtt_ms.is_finite() && self.rtt_ms > 0.0) {
            return bad("rtt_ms must be positive");
        }
        if !(self.bitrate_ratio.is_finite() && self.bitrate_ratio > 0.0 && self.bitrate_ratio < 1.0)
        {
            return bad("bitrate_ratio must be in (0, 1)");
        }
        if !(self.bitrate_min_baseline_kbps.is_finite() && self.bitrate_min_baseline_kbps >= 0.0) {
            return bad("bitrate_min_baseline_kbps must be non-negative");
        }
        if self.bitrate_window == 0 || self.bitrate_window > 1000 {
            return bad("bitrate_window must be in 1..=1000");
        }
        if self.bitrate_min_samples == 0 || self.bitrate_min_samples > self.bitrate_window {
            return bad("bitrate_min_samples must be in 1..=bitrate_window");
        }
        if self.freeze_after.is_zero() {
            return bad("freeze_after must be positive");
        }
        // The relay marks the end of pauses of 250 ms or more.
        if self.relay_silence < Duration::from_millis(500) {
            return bad("relay_silence must be at least 500 ms");
        }
        if self.relay_in_use_packets == 0 {
            return bad("relay_in_use_packets must be at least 1");
        }
        Ok(())
    }

    /// How long a kind's condition must hold before its incident opens.
    /// A freeze's wait is built into its condition ([`Self::freeze_after`]).
    pub(super) fn sustain(&self, kind: IncidentKind) -> Duration {
        match kind {
            IncidentKind::PacketLoss => self.loss_sustain,
            IncidentKind::HighRtt => self.rtt_sustain,
            IncidentKind::BitrateCollapse => self.bitrate_sustain,
            _ => Duration::ZERO,
        }
    }
}
