//! What the relay sees of one participant's media: its live allocations and
//! what they relayed, so the server can notice an allocation that goes away
//! or media that stops while the allocation lives (issue 5: incidents from
//! the relay's own counters).
//!
//! The counters sit on the per-packet path, so they are relaxed atomics
//! only: two `fetch_add`s, a clock read and a `swap` per datagram, no lock
//! and no allocation. The allocation count and the map from participant to
//! counters live in `quota::Admission`, touched only when an
//! allocation opens or closes and when the server samples (once a second
//! per act).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A gap at least this long between two datagrams from a participant marks
/// the next datagram as a resumption ([`TrafficSnapshot::resumed_ago`]), so
/// the end of a silence is known to the millisecond, not to the sampling
/// period. Shorter than any sensible silence threshold.
pub const RESUME_GAP: Duration = Duration::from_millis(250);

/// "No datagram yet" in the millisecond slots.
const NEVER: u64 = u64::MAX;

/// The counters of one participant (one act, one participant id), shared
/// by all of its allocations, created with its first live allocation and
/// dropped with its last.
#[derive(Debug)]
pub(crate) struct ParticipantTraffic {
    /// Tells these counters from those of an earlier or later set of
    /// allocations of the same participant (they restart from zero).
    generation: u64,
    /// The relay's clock origin; the millisecond slots count from it.
    epoch: Instant,
    sent_packets: AtomicU64,
    sent_bytes: AtomicU64,
    received_packets: AtomicU64,
    received_bytes: AtomicU64,
    /// Milliseconds since `epoch` of the last datagram from the
    /// participant relayed to a peer, or [`NEVER`].
    last_sent_ms: AtomicU64,
    /// Milliseconds since `epoch` of the first datagram after the latest
    /// gap of at least [`RESUME_GAP`], or [`NEVER`].
    resumed_ms: AtomicU64,
}

/// A plain copy of one participant's relay traffic, taken when the server
/// samples the relay. "Sent" is what the participant sent through its
/// allocations to its peers; "received" what its peers sent to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    /// Live allocations (0 when the participant has none: every other
    /// field is then zero too).
    pub allocations: usize,
    /// Changes when the participant's allocations all closed and new ones
    /// were made; the counters restarted from zero then.
    pub generation: u64,
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub received_packets: u64,
    pub received_bytes: u64,
    /// How long ago the last datagram from the participant was relayed.
    pub last_sent_ago: Option<Duration>,
    /// How long ago the first datagram after the latest pause of at least
    /// [`RESUME_GAP`] was relayed.
    pub resumed_ago: Option<Duration>,
}

impl ParticipantTraffic {
    pub(crate) fn new(generation: u64, epoch: Instant) -> Self {
        ParticipantTraffic {
            generation,
            epoch,
            sent_packets: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            received_packets: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            last_sent_ms: AtomicU64::new(NEVER),
            resumed_ms: AtomicU64::new(NEVER),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    /// A datagram of `bytes` from the participant was relayed to a peer.
    #[inline]
    pub(crate) fn on_sent(&self, bytes: usize) {
        self.sent_at(bytes, self.now_ms());
    }

    fn sent_at(&self, bytes: usize, now_ms: u64) {
        self.sent_packets.fetch_add(1, Ordering::Relaxed);
        self.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let previous = self.last_sent_ms.swap(now_ms, Ordering::Relaxed);
        if previous != NEVER && now_ms.saturating_sub(previous) >= RESUME_GAP.as_millis() as u64 {
            self.resumed_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    /// A datagram of `bytes` from a peer was relayed to the participant.
    #[inline]
    pub(crate) fn on_received(&self, bytes: usize) {
        self.received_packets.fetch_add(1, Ordering::Relaxed);
        self.received_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, allocations: usize) -> TrafficSnapshot {
        self.snapshot_at(allocations, self.now_ms())
    }

    fn snapshot_at(&self, allocations: usize, now_ms: u64) -> TrafficSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let ago = |ms: u64| (ms != NEVER).then(|| Duration::from_millis(now_ms.saturating_sub(ms)));
        TrafficSnapshot {
            allocations,
            generation: self.generation,
            sent_packets: r(&self.sent_packets),
            sent_bytes: r(&self.sent_bytes),
            received_packets: r(&self.received_packets),
            received_bytes: r(&self.received_bytes),
            last_sent_ago: ago(r(&self.last_sent_ms)),
            resumed_ago: ago(r(&self.resumed_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_both_ways_and_marks_the_end_of_a_pause() {
        let t = ParticipantTraffic::new(7, Instant::now());
        assert_eq!(t.snapshot_at(1, 0).last_sent_ago, None);
        // 20 ms apart: no pause.
        for i in 0..10 {
            t.sent_at(100, 1_000 + i * 20);
        }
        t.on_received(60);
        let s = t.snapshot_at(1, 1_200);
        assert_eq!((s.generation, s.sent_packets, s.sent_bytes), (7, 10, 1_000));
        assert_eq!((s.received_packets, s.received_bytes), (1, 60));
        assert_eq!(s.last_sent_ago, Some(Duration::from_millis(20)));
        assert_eq!(s.resumed_ago, None, "the first datagram ends no pause");
        // 3 s of silence, then traffic again: the first datagram after it
        // is the resumption, the later ones are not.
        t.sent_at(100, 4_180);
        t.sent_at(100, 4_200);
        t.sent_at(100, 4_220);
        let s = t.snapshot_at(1, 4_500);
        assert_eq!(s.resumed_ago, Some(Duration::from_millis(320)));
        assert_eq!(s.last_sent_ago, Some(Duration::from_millis(280)));
        // A pause shorter than RESUME_GAP moves nothing.
        t.sent_at(100, 4_220 + RESUME_GAP.as_millis() as u64 - 1);
        assert_eq!(
            t.snapshot_at(1, 4_500).resumed_ago,
            Some(Duration::from_millis(320))
        );
    }
}
