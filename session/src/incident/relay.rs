//! Incident detection from what our own TURN relay sees of each
//! participant: its live allocations and the datagrams they relay.
//!
//! Sans-IO, like [`super::detector`], and running the same
//! [`super::episode`] machine: [`RelayDetector::observe`] takes one
//! participant's [`RelaySample`] (the relay's counters, read by the server
//! about once a second) and the server's `now`, and returns
//! [`IncidentEvent`]s. The server only feeds participants allowed media
//! (act in performance, consent standing, connected); when media stops for
//! a participant it calls [`RelayDetector::leave`], which closes what is
//! open. So the allocations the server itself revokes (consent withdrawn,
//! act ended) never look lost.
//!
//! An allocation counts only once it **carried media**: at least
//! [`Thresholds::relay_in_use_packets`] datagrams from the participant
//! relayed through it while watched. A participant on a direct path whose
//! browser also made a relay allocation (ICE gathers one per listener) is
//! not judged on it.
//!
//! Two conditions per participant, each an episode of
//! [`super::episode`] (one incident per episode):
//!
//! - **`relay_allocation_lost`**: the participant's allocations, which
//!   carried media, are all gone (expired without refresh, or deleted by a
//!   Refresh with lifetime 0). Opens at the first sample without them;
//!   closes as soon as the participant has an allocation again.
//! - **`relay_media_stopped`**: no datagram from the participant for
//!   [`Thresholds::relay_silence`] while its allocation lives. Its onset is
//!   the last datagram relayed. It clears at the first datagram after the
//!   silence (the relay marks it to the millisecond), or when a new set of
//!   allocations replaces the old one, and closes after
//!   [`Thresholds::clear_after`] clear: traffic that stops again within
//!   that time is the same incident. While the participant has no
//!   allocation it stays as it is (the loss is its own incident).
//!
//! As with the client-side detector, the trace stamps an incident when it
//! was decided; the metrics carry `sustained_ms` on opening and
//! `episode_ms` (onset to end, the problem's own duration) and `clear_ms`
//! on closing, besides the relay's counters (`sent_packets`,
//! `sent_bytes`, `received_packets`, `received_bytes`, `sent_pps`,
//! `allocations`, `silent_ms`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::episode::{
    self, IncidentEvent, IncidentKey, Observation, Tracker, Transition, Watched, close_event, ms,
};
use super::thresholds::Thresholds;
use crate::error::Error;
use crate::ids::ParticipantId;
use crate::incident::Metrics;
use crate::timestamp::Timestamp;
use crate::vocab::IncidentKind;

/// What the relay says of one participant at one moment. "Sent" is what
/// the participant sent through its allocations to its peers; "received"
/// what the peers sent it. The counters are those of the current
/// `generation` of allocations and restart from zero with the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelaySample {
    /// Live allocations (0: none; the other fields are then zero).
    pub allocations: u64,
    /// Changes when all allocations closed and new ones were made.
    pub generation: u64,
    pub sent_packets: u64,
    pub sent_bytes: u64,
    pub received_packets: u64,
    pub received_bytes: u64,
    /// When the last datagram from the participant was relayed.
    pub last_sent_at: Option<Timestamp>,
    /// When the first datagram after the latest pause (250 ms or more)
    /// was relayed.
    pub resumed_at: Option<Timestamp>,
}

/// The kinds this detector decides, in the order it reports them.
pub const RELAY_KINDS: [IncidentKind; 2] = [
    IncidentKind::RelayAllocationLost,
    IncidentKind::RelayMediaStopped,
];

/// The allocations of one generation, as watched.
#[derive(Clone, Copy, Debug)]
struct Generation {
    id: u64,
    /// When the detector first saw it.
    seen_at: Timestamp,
    /// Its `sent_packets` when first seen: what it relayed before it was
    /// watched does not count towards "carried media".
    baseline: u64,
    /// Datagrams from the participant it relayed while watched.
    relayed: u64,
}

/// What the detector remembers of one participant between samples.
#[derive(Clone, Debug, Default)]
struct Watch {
    last_at: Option<Timestamp>,
    /// The previous sample and its time, for rates.
    previous: Option<(Timestamp, RelaySample)>,
    /// The live generation, if the participant has allocations.
    current: Option<Generation>,
    /// The latest sample's metrics.
    snapshot: Metrics,
    lost: Tracker,
    stopped: Tracker,
    /// While `relay_media_stopped` is open: the generation it opened in.
    stopped_in: Option<u64>,
}

/// Turns the relay's per-participant counters into incident events.
#[derive(Clone, Debug, Default)]
pub struct RelayDetector {
    thresholds: Thresholds,
    watches: BTreeMap<ParticipantId, Watch>,
}

impl RelayDetector {
    pub fn new(thresholds: Thresholds) -> Result<RelayDetector, Error> {
        thresholds.validate()?;
        Ok(RelayDetector {
            thresholds,
            watches: BTreeMap::new(),
        })
    }

    /// The participants being watched.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.watches.keys().copied()
    }

    /// Whether `key`'s incident is open now.
    pub fn is_open(&self, key: IncidentKey) -> bool {
        self.watches.get(&key.participant).is_some_and(|w| {
            let tracker = match key.kind {
                IncidentKind::RelayAllocationLost => &w.lost,
                IncidentKind::RelayMediaStopped => &w.stopped,
                _ => return false,
            };
            tracker.open.is_some()
        })
    }

    /// Judges one sample of `participant`'s relay traffic, read at `now`.
    /// A sample older than the participant's previous one is ignored.
    pub fn observe(
        &mut self,
        participant: ParticipantId,
        sample: &RelaySample,
        now: Timestamp,
    ) -> Vec<IncidentEvent> {
        let th = &self.thresholds;
        let w = self.watches.entry(participant).or_default();
        if w.last_at.is_some_and(|last| now < last) {
            return Vec::new();
        }
        let previous_snapshot = std::mem::take(&mut w.snapshot);
        w.snapshot = metrics_of(sample, w.previous.as_ref(), now);
        let gone = w.follow_generation(sample, now);
        let lost = w.lost_observation(sample, now, gone, th);
        let stopped = w.stopped_observation(sample, now, th);

        let mut events = Vec::new();
        let steps = [
            (
                IncidentKind::RelayAllocationLost,
                lost,
                Duration::ZERO,
                &mut w.lost,
            ),
            (
                IncidentKind::RelayMediaStopped,
                stopped,
                th.clear_after,
                &mut w.stopped,
            ),
        ];
        for (kind, obs, clear_after, tracker) in steps {
            let Some(transition) = tracker.step(obs, now, Duration::ZERO, clear_after, true) else {
                continue;
            };
            let key = IncidentKey { participant, kind };
            let mut metrics = w.snapshot.clone();
            match transition {
                Transition::Opened { started_at } => {
                    if kind == IncidentKind::RelayAllocationLost {
                        // What the lost allocations had done, from the
                        // last sample that had them.
                        metrics = previous_snapshot.clone();
                        metrics.insert("allocations".into(), 0.0);
                        if let Some(g) = gone {
                            metrics.insert("relayed_packets".into(), g.relayed as f64);
                            metrics
                                .insert("allocation_watched_ms".into(), ms(now.since(g.seen_at)));
                        }
                    } else if let Some(g) = w.current {
                        w.stopped_in = Some(g.id);
                    }
                    metrics.insert("sustained_ms".into(), ms(now.since(started_at)));
                    events.push(IncidentEvent::Open {
                        key,
                        started_at,
                        metrics,
                    });
                }
                Transition::Closed {
                    started_at,
                    ended_at,
                } => {
                    if kind == IncidentKind::RelayMediaStopped {
                        w.stopped_in = None;
                    }
                    events.push(close_event(key, started_at, ended_at, now, metrics));
                }
            }
        }
        w.last_at = Some(now);
        w.previous = Some((now, *sample));
        events
    }

    /// Closes every open incident of `participant` (its media stopped: it
    /// left, consent was withdrawn, the act ended) and forgets it, so the
    /// relay allocations the server then revokes are not judged.
    pub fn leave(&mut self, participant: ParticipantId, now: Timestamp) -> Vec<IncidentEvent> {
        episode::leave(&mut self.watches, participant, now)
    }

    /// Closes every open incident (the act ended) and forgets everyone.
    pub fn finish(&mut self, now: Timestamp) -> Vec<IncidentEvent> {
        episode::finish(&mut self.watches, now)
    }
}

impl Watched for Watch {
    fn last_at(&self) -> Option<Timestamp> {
        self.last_at
    }

    fn trackers(&self) -> Vec<(IncidentKind, &Tracker)> {
        vec![
            (IncidentKind::RelayAllocationLost, &self.lost),
            (IncidentKind::RelayMediaStopped, &self.stopped),
        ]
    }

    fn close_metrics(&self, _kind: IncidentKind, _tracker: &Tracker) -> Metrics {
        self.snapshot.clone()
    }
}

impl Watch {
    /// Notes which generation of allocations is live and what it relayed
    /// while watched; returns the generation that just went away, if the
    /// participant has none left.
    fn follow_generation(&mut self, sample: &RelaySample, now: Timestamp) -> Option<Generation> {
        let watched_before = self.last_at.is_some();
        if sample.allocations == 0 {
            return self.current.take();
        }
        match &mut self.current {
            Some(g) if g.id == sample.generation => {
                g.relayed = sample.sent_packets.saturating_sub(g.baseline);
            }
            current => {
                // Made after the previous sample, if there was one:
                // all it relayed was relayed while watched.
                let baseline = if watched_before {
                    0
                } else {
                    sample.sent_packets
                };
                *current = Some(Generation {
                    id: sample.generation,
                    seen_at: now,
                    baseline,
                    relayed: sample.sent_packets - baseline,
                });
            }
        }
        None
    }

    /// `relay_allocation_lost`: bad while allocations that carried media
    /// are gone, clear as soon as there is one again.
    fn lost_observation(
        &self,
        sample: &RelaySample,
        now: Timestamp,
        gone: Option<Generation>,
        th: &Thresholds,
    ) -> Observation {
        if sample.allocations > 0 {
            Observation::Clear { since: now }
        } else if gone.is_some_and(|g| carried_media(&g, th)) || self.lost.open.is_some() {
            Observation::Bad {
                since: now,
                value: None,
            }
        } else {
            Observation::Unknown
        }
    }

    /// `relay_media_stopped`: bad after [`Thresholds::relay_silence`]
    /// without a datagram from an allocation that carried media.
    fn stopped_observation(
        &self,
        sample: &RelaySample,
        now: Timestamp,
        th: &Thresholds,
    ) -> Observation {
        match (self.current, self.stopped.open, self.stopped_in) {
            // No allocation: the loss is its own incident.
            (None, _, _) => Observation::Unknown,
            // Open: a new generation, or a datagram since the onset,
            // clears it; silence again is the same episode.
            (Some(g), Some(onset), Some(id)) => {
                if g.id != id {
                    Observation::Clear { since: g.seen_at }
                } else if !sent_since(sample, self.previous.as_ref()) {
                    // Still silent, or silent again after a burst: the
                    // same episode goes on.
                    Observation::Bad {
                        since: onset,
                        value: None,
                    }
                } else {
                    // The relay marks the first datagram after a pause;
                    // without that mark, the previous sample bounds it.
                    let resumed = sample
                        .resumed_at
                        .filter(|at| *at > onset && *at <= now)
                        .or(self.previous.map(|(at, _)| at))
                        .unwrap_or(now);
                    Observation::Clear { since: resumed }
                }
            }
            (Some(g), _, _) if !carried_media(&g, th) => Observation::Unknown,
            (Some(_), _, _) => match (sample.last_sent_at, silent_for(sample, now)) {
                (Some(last), Some(silent)) if silent >= th.relay_silence => Observation::Bad {
                    since: last,
                    value: None,
                },
                (Some(_), _) => Observation::Clear { since: now },
                (None, _) => Observation::Unknown,
            },
        }
    }
}

/// Whether a generation relayed enough while watched to be the
/// participant's media path ([`Thresholds::relay_in_use_packets`]).
fn carried_media(g: &Generation, th: &Thresholds) -> bool {
    g.relayed >= th.relay_in_use_packets
}

/// Whether the participant sent anything since `previous`, through the
/// same allocations.
fn sent_since(sample: &RelaySample, previous: Option<&(Timestamp, RelaySample)>) -> bool {
    previous.is_none_or(|(_, p)| {
        p.generation != sample.generation || sample.sent_packets > p.sent_packets
    })
}

/// How long since the last datagram from the participant, if any.
fn silent_for(sample: &RelaySample, now: Timestamp) -> Option<Duration> {
    sample.last_sent_at.map(|at| now.since(at))
}

/// The sample's counters, with the send rate since the previous sample of
/// the same generation and how long the participant has been silent.
fn metrics_of(
    sample: &RelaySample,
    previous: Option<&(Timestamp, RelaySample)>,
    now: Timestamp,
) -> Metrics {
    let mut m = Metrics::new();
    m.insert("allocations".into(), sample.allocations as f64);
    m.insert("sent_packets".into(), sample.sent_packets as f64);
    m.insert("sent_bytes".into(), sample.sent_bytes as f64);
    m.insert("received_packets".into(), sample.received_packets as f64);
    m.insert("received_bytes".into(), sample.received_bytes as f64);
    if let Some(silent) = silent_for(sample, now) {
        m.insert("silent_ms".into(), ms(silent));
    }
    if let Some((at, p)) = previous
        && p.allocations > 0
        && sample.allocations > 0
        && p.generation == sample.generation
        && now > *at
    {
        let packets = sample.sent_packets.saturating_sub(p.sent_packets);
        m.insert(
            "sent_pps".into(),
            packets as f64 / now.since(*at).as_secs_f64(),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ParticipantId = ParticipantId(2);

    fn t(s: f64) -> Timestamp {
        Timestamp::from_micros((s * 1_000_000.0).round() as i64)
    }

    /// A relay as the detector sees it: one participant's allocations and
    /// the datagrams they relay, sampled at chosen times.
    struct Relay {
        allocations: u64,
        generation: u64,
        sent: u64,
        last_sent: Option<f64>,
        resumed: Option<f64>,
    }

    impl Relay {
        fn new() -> Relay {
            Relay {
                allocations: 0,
                generation: 0,
                sent: 0,
                last_sent: None,
                resumed: None,
            }
        }

        /// A fresh generation of `n` allocations.
        fn allocate(&mut self, n: u64) {
            if self.allocations == 0 {
                self.generation += 1;
                self.sent = 0;
                self.last_sent = None;
                self.resumed = None;
            }
            self.allocations = n;
        }

        fn lose(&mut self) {
            self.allocations = 0;
        }

        /// 50 datagrams a second from `from` to `to` (seconds).
        fn send(&mut self, from: f64, to: f64) {
            let (from, to) = ((from * 1000.0).round() as u64, (to * 1000.0).round() as u64);
            for ms in (from..to).step_by(20) {
                let at = ms as f64 / 1000.0;
                if self.last_sent.is_some_and(|l| at - l >= 0.25) {
                    self.resumed = Some(at);
                }
                self.sent += 1;
                self.last_sent = Some(at);
            }
        }

        fn sample(&self) -> RelaySample {
            if self.allocations == 0 {
                return RelaySample::default();
            }
            RelaySample {
                allocations: self.allocations,
                generation: self.generation,
                sent_packets: self.sent,
                sent_bytes: self.sent * 1000,
                received_packets: self.sent,
                received_bytes: self.sent * 1000,
                last_sent_at: self.last_sent.map(t),
                resumed_at: self.resumed.map(t),
            }
        }
    }

    /// Events with the time they were decided.
    type Log = Vec<(f64, IncidentEvent)>;

    fn observe(det: &mut RelayDetector, relay: &Relay, at: f64, log: &mut Log) {
        for e in det.observe(P, &relay.sample(), t(at)) {
            log.push((at, e));
        }
    }

    /// Sends from `from` to `to` while sampling every second.
    fn run(det: &mut RelayDetector, relay: &mut Relay, from: u32, to: u32, log: &mut Log) {
        for s in from..to {
            relay.send(f64::from(s), f64::from(s + 1));
            observe(det, relay, f64::from(s + 1), log);
        }
    }

    /// Samples every second from `from` to `to` without sending.
    fn idle(det: &mut RelayDetector, relay: &Relay, from: u32, to: u32, log: &mut Log) {
        for s in from..to {
            observe(det, relay, f64::from(s + 1), log);
        }
    }

    fn kinds(log: &Log) -> Vec<(f64, &'static str, IncidentKind)> {
        log.iter()
            .map(|(at, e)| match e {
                IncidentEvent::Open { key, .. } => (*at, "open", key.kind),
                IncidentEvent::Close { key, .. } => (*at, "close", key.kind),
            })
            .collect()
    }

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn steady_relayed_media_raises_nothing() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 60, &mut log);
        assert!(log.is_empty(), "{log:?}");
        assert!(det.finish(t(61.0)).is_empty());
    }

    #[test]
    fn media_stopping_is_one_incident_from_the_last_datagram_to_the_first_again() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        idle(&mut det, &relay, 10, 18, &mut log);
        // Back at 18.5, not on a sampling instant.
        relay.send(18.5, 19.0);
        observe(&mut det, &relay, 19.0, &mut log);
        run(&mut det, &mut relay, 19, 30, &mut log);
        assert_eq!(
            kinds(&log),
            [
                // 9.98 + 3 s of silence, seen at the next sample.
                (13.0, "open", IncidentKind::RelayMediaStopped),
                // 18.5 + 3 s clear, seen at the next sample.
                (22.0, "close", IncidentKind::RelayMediaStopped),
            ]
        );
        let IncidentEvent::Open {
            started_at,
            metrics,
            ..
        } = &log[0].1
        else {
            unreachable!()
        };
        assert_eq!(*started_at, t(9.98));
        assert_eq!(metrics["sent_packets"], 500.0);
        assert!((metrics["silent_ms"] - 3020.0).abs() < 1.0, "{metrics:?}");
        assert!((metrics["sustained_ms"] - 3020.0).abs() < 1.0);
        let IncidentEvent::Close {
            started_at,
            ended_at,
            metrics,
            ..
        } = &log[1].1
        else {
            unreachable!()
        };
        assert_eq!((*started_at, *ended_at), (t(9.98), t(18.5)));
        assert!((metrics["episode_ms"] - 8520.0).abs() < 1.0, "{metrics:?}");
        assert!((metrics["sent_pps"] - 50.0).abs() < 1.0, "{metrics:?}");
        assert!(!det.is_open(IncidentKey {
            participant: P,
            kind: IncidentKind::RelayMediaStopped
        }));
    }

    #[test]
    fn a_silence_shorter_than_the_threshold_is_no_incident() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        idle(&mut det, &relay, 10, 12, &mut log);
        run(&mut det, &mut relay, 12, 20, &mut log);
        assert!(log.is_empty(), "{log:?}");
    }

    #[test]
    fn traffic_flickering_back_is_one_incident() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        // A burst every 4 s: never clear for 3 s.
        for s in 10..40u32 {
            let at = f64::from(s);
            if [15, 19, 23, 27].contains(&s) {
                relay.send(at, at + 0.1);
            }
            observe(&mut det, &relay, at + 1.0, &mut log);
        }
        run(&mut det, &mut relay, 40, 50, &mut log);
        assert_eq!(
            kinds(&log),
            [
                (13.0, "open", IncidentKind::RelayMediaStopped),
                (43.0, "close", IncidentKind::RelayMediaStopped),
            ]
        );
        let IncidentEvent::Close { ended_at, .. } = &log[1].1 else {
            unreachable!()
        };
        assert_eq!(*ended_at, t(40.0));
    }

    #[test]
    fn an_allocation_that_never_carried_media_is_not_judged() {
        // A direct call whose browser also allocated on the relay: a few
        // ICE checks went through it, then nothing; then it is freed.
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(3);
        let mut log = Log::new();
        relay.send(0.0, 0.2);
        idle(&mut det, &relay, 0, 20, &mut log);
        relay.lose();
        idle(&mut det, &relay, 20, 30, &mut log);
        assert!(log.is_empty(), "{log:?}");
    }

    #[test]
    fn losing_the_allocation_is_one_incident_until_a_new_one() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        observe(&mut det, &relay, 0.0, &mut log);
        run(&mut det, &mut relay, 0, 10, &mut log);
        // Deleted (or expired) at 10.3: no allocation for 5 samples.
        relay.send(10.0, 10.3);
        relay.lose();
        idle(&mut det, &relay, 10, 15, &mut log);
        relay.allocate(1);
        run(&mut det, &mut relay, 15, 25, &mut log);
        assert_eq!(
            kinds(&log),
            [
                (11.0, "open", IncidentKind::RelayAllocationLost),
                (16.0, "close", IncidentKind::RelayAllocationLost),
            ],
            "and no media_stopped meanwhile"
        );
        let IncidentEvent::Open { metrics, .. } = &log[0].1 else {
            unreachable!()
        };
        // The lost allocation's last counters.
        assert_eq!(metrics["allocations"], 0.0);
        assert_eq!(metrics["sent_packets"], 500.0);
        assert_eq!(metrics["relayed_packets"], 500.0);
        let IncidentEvent::Close {
            started_at,
            ended_at,
            metrics,
            ..
        } = &log[1].1
        else {
            unreachable!()
        };
        assert_eq!(secs(ended_at.since(*started_at)), 5.0);
        assert_eq!(metrics["episode_ms"], 5000.0);
        assert_eq!(metrics["allocations"], 1.0);
    }

    #[test]
    fn one_of_several_allocations_closing_is_no_loss() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(3);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        relay.allocations = 1;
        run(&mut det, &mut relay, 10, 20, &mut log);
        assert!(log.is_empty(), "{log:?}");
    }

    #[test]
    fn media_stopped_then_allocation_lost_then_a_new_one() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        idle(&mut det, &relay, 10, 20, &mut log);
        relay.lose();
        idle(&mut det, &relay, 20, 25, &mut log);
        relay.allocate(1);
        idle(&mut det, &relay, 25, 35, &mut log);
        assert_eq!(
            kinds(&log),
            [
                (13.0, "open", IncidentKind::RelayMediaStopped),
                (21.0, "open", IncidentKind::RelayAllocationLost),
                (26.0, "close", IncidentKind::RelayAllocationLost),
                // The new allocation clears it; 3 s later it closes.
                (29.0, "close", IncidentKind::RelayMediaStopped),
            ]
        );
        let IncidentEvent::Close { ended_at, .. } = &log[3].1 else {
            unreachable!()
        };
        assert_eq!(*ended_at, t(26.0));
    }

    #[test]
    fn leaving_closes_what_is_open_and_forgets() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        idle(&mut det, &relay, 10, 15, &mut log);
        assert_eq!(log.len(), 1);
        let closed = det.leave(P, t(15.5));
        let [
            IncidentEvent::Close {
                key,
                started_at,
                ended_at,
                ..
            },
        ] = &closed[..]
        else {
            panic!("{closed:?}");
        };
        assert_eq!(key.kind, IncidentKind::RelayMediaStopped);
        assert_eq!((*started_at, *ended_at), (t(9.98), t(15.5)));
        assert!(det.participants().next().is_none());
        // The server revokes the allocations after the leave: the
        // detector no longer watches, so that is no loss.
        assert!(det.leave(P, t(16.0)).is_empty());
        assert!(det.finish(t(16.0)).is_empty());
    }

    #[test]
    fn watching_starts_from_what_the_allocation_holds_then() {
        // Consent given again after a withdrawal: the detector starts
        // fresh on an allocation that relayed before; what it relayed
        // before is no proof it carries media now.
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        relay.send(0.0, 10.0);
        let mut log = Log::new();
        idle(&mut det, &relay, 10, 20, &mut log);
        relay.lose();
        idle(&mut det, &relay, 20, 25, &mut log);
        assert!(log.is_empty(), "{log:?}");
    }

    #[test]
    fn thresholds_are_configurable_and_checked() {
        let th = Thresholds {
            relay_silence: Duration::from_secs(1),
            relay_in_use_packets: 10,
            clear_after: Duration::from_secs(1),
            ..Thresholds::default()
        };
        let mut det = RelayDetector::new(th.clone()).unwrap();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        observe(&mut det, &relay, 0.0, &mut log);
        relay.send(0.0, 0.5);
        observe(&mut det, &relay, 1.0, &mut log);
        idle(&mut det, &relay, 1, 3, &mut log);
        run(&mut det, &mut relay, 3, 6, &mut log);
        assert_eq!(
            kinds(&log),
            [
                (2.0, "open", IncidentKind::RelayMediaStopped),
                // Back at 3.0, clear for 1 s.
                (4.0, "close", IncidentKind::RelayMediaStopped),
            ]
        );
        for bad in [
            Thresholds {
                relay_silence: Duration::from_millis(100),
                ..th.clone()
            },
            Thresholds {
                relay_in_use_packets: 0,
                ..th
            },
        ] {
            assert!(RelayDetector::new(bad).is_err());
        }
    }

    #[test]
    fn samples_from_the_past_are_ignored() {
        let mut det = RelayDetector::default();
        let mut relay = Relay::new();
        relay.allocate(1);
        let mut log = Log::new();
        run(&mut det, &mut relay, 0, 10, &mut log);
        relay.lose();
        observe(&mut det, &relay, 5.0, &mut log);
        assert!(log.is_empty());
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::test_runner::RngSeed;

        use super::*;

        /// One second of the relay's life.
        #[derive(Clone, Copy, Debug)]
        enum Second {
            Send,
            Burst,
            Idle,
            Lose,
            Allocate(u64),
        }

        fn second() -> impl Strategy<Value = Second> {
            prop_oneof![
                4 => Just(Second::Send),
                1 => Just(Second::Burst),
                3 => Just(Second::Idle),
                1 => Just(Second::Lose),
                1 => (1u64..4).prop_map(Second::Allocate),
            ]
        }

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 256,
                rng_seed: RngSeed::Fixed(0x7e1a_7000),
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// Per kind, opens and closes alternate starting with an
            /// open, times are ordered, an allocation loss opens only
            /// while there is no allocation, and after `finish` nothing
            /// is left open.
            #[test]
            fn opens_and_closes_alternate(
                life in proptest::collection::vec(second(), 0..200),
                leave_at in proptest::option::of(0usize..200),
            ) {
                let mut det = RelayDetector::default();
                let mut relay = Relay::new();
                let mut events = Vec::new();
                for (i, s) in life.iter().enumerate() {
                    let at = i as f64;
                    match *s {
                        Second::Send => relay.send(at, at + 1.0),
                        Second::Burst => relay.send(at + 0.5, at + 0.6),
                        Second::Idle => {}
                        Second::Lose => relay.lose(),
                        Second::Allocate(n) => relay.allocate(n),
                    }
                    let now = t(at + 1.0);
                    for e in det.observe(P, &relay.sample(), now) {
                        if matches!(
                            e,
                            IncidentEvent::Open { key, .. }
                                if key.kind == IncidentKind::RelayAllocationLost
                        ) {
                            prop_assert_eq!(relay.allocations, 0);
                        }
                        events.push((now, e));
                    }
                    if leave_at == Some(i) {
                        for e in det.leave(P, now) {
                            events.push((now, e));
                        }
                    }
                }
                let end = t(life.len() as f64 + 1.0);
                for e in det.finish(end) {
                    events.push((end, e));
                }
                prop_assert!(det.finish(end).is_empty());
                let mut open: BTreeMap<IncidentKey, Timestamp> = BTreeMap::new();
                for (at, e) in &events {
                    match e {
                        IncidentEvent::Open { key, started_at, metrics } => {
                            prop_assert!(open.insert(*key, *started_at).is_none());
                            prop_assert!(started_at <= at);
                            prop_assert!(metrics.values().all(|v| v.is_finite()));
                        }
                        IncidentEvent::Close { key, started_at, ended_at, metrics } => {
                            prop_assert_eq!(open.remove(key), Some(*started_at));
                            prop_assert!(started_at <= ended_at && ended_at <= at);
                            prop_assert!(metrics["episode_ms"] >= 0.0);
                        }
                    }
                }
                prop_assert!(open.is_empty(), "left open: {open:?}");
            }
        }
    }
}
