//! The incident episode: the one small state machine both detectors run
//! for each (participant, kind) pair, and the events it produces.
//!
//! - **clear → pending**: a sample shows the condition (loss above the
//!   threshold, ...). Its onset is remembered.
//! - **pending → open**: the condition held without a clear sample in
//!   between for the kind's *sustain* time (5 s of loss, 2 s of high RTT, 0
//!   for a state change such as ICE failed). An [`IncidentEvent::Open`] is
//!   emitted once, carrying the onset as `started_at`.
//! - **open → clearing**: a sample shows the condition gone. Any bad sample
//!   sends it back to open, so flapping around a threshold stays one
//!   incident.
//! - **clearing → clear**: the condition stayed gone for the clear time
//!   ([`super::Thresholds::clear_after`]). An [`IncidentEvent::Close`] is
//!   emitted once, with `ended_at` the time it first cleared.
//!
//! An `Observation::Unknown` (a sample that says nothing about the
//! condition) leaves the machine where it is.
//!
//! A detector keeps one `Tracker` per kind for each participant it
//! watches (`Watched`); when a participant leaves or the act ends,
//! `leave` and `finish` here close what is open, the same way for both.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ids::ParticipantId;
use crate::incident::Metrics;
use crate::timestamp::Timestamp;
use crate::vocab::IncidentKind;

/// Which incident an event is about: one participant, one kind. At most
/// one incident per key is open at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentKey {
    pub participant: ParticipantId,
    pub kind: IncidentKind,
}

/// What the detector decided.
#[derive(Clone, Debug, PartialEq)]
pub enum IncidentEvent {
    /// A condition held long enough: open an incident now.
    Open {
        key: IncidentKey,
        /// When the condition began (before `now` by its sustain time).
        started_at: Timestamp,
        /// Snapshot of the latest sample, plus `sustained_ms` and the worst
        /// value seen so far.
        metrics: Metrics,
    },
    /// The condition stayed clear long enough: close the key's incident.
    Close {
        key: IncidentKey,
        started_at: Timestamp,
        /// When the condition first cleared.
        ended_at: Timestamp,
        /// Snapshot of the latest sample, plus `episode_ms`, `clear_ms`
        /// and the worst value seen during the episode.
        metrics: Metrics,
    },
}

impl IncidentEvent {
    pub fn key(&self) -> IncidentKey {
        match self {
            IncidentEvent::Open { key, .. } | IncidentEvent::Close { key, .. } => *key,
        }
    }
}

/// What one sample says about one condition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Observation {
    /// The condition holds, and has since `since`; `value` is how bad.
    Bad {
        since: Timestamp,
        value: Option<f64>,
    },
    /// The condition does not hold, since `since`.
    Clear { since: Timestamp },
    /// This sample cannot tell.
    Unknown,
}

/// One (participant, kind) state machine; see the module docs.
#[derive(Clone, Debug, Default)]
pub(super) struct Tracker {
    /// Onset of a bad run not yet long enough to open.
    pending: Option<Timestamp>,
    /// Onset of the open incident.
    pub(super) open: Option<Timestamp>,
    /// While open: when the condition last started to be clear.
    pub(super) clearing: Option<Timestamp>,
    /// Worst value since the onset.
    pub(super) worst: Option<f64>,
}

pub(super) enum Transition {
    Opened {
        started_at: Timestamp,
    },
    Closed {
        started_at: Timestamp,
        ended_at: Timestamp,
    },
}

impl Tracker {
    pub(super) fn step(
        &mut self,
        obs: Observation,
        now: Timestamp,
        sustain: Duration,
        clear_after: Duration,
        higher_is_worse: bool,
    ) -> Option<Transition> {
        match obs {
            Observation::Unknown => None,
            Observation::Bad { since, value } => {
                self.clearing = None;
                if self.open.is_none() && self.pending.is_none() {
                    self.worst = None;
                }
                if let Some(v) = value {
                    self.worst = Some(match self.worst {
                        Some(w) if higher_is_worse => w.max(v),
                        Some(w) => w.min(v),
                        None => v,
                    });
                }
                if self.open.is_some() {
                    return None;
                }
                let onset = *self.pending.get_or_insert(since.min(now));
                if now.since(onset) >= sustain {
                    self.pending = None;
                    self.open = Some(onset);
                    return Some(Transition::Opened { started_at: onset });
                }
                None
            }
            Observation::Clear { since } => {
                self.pending = None;
                let started_at = self.open?;
                let cleared = *self.clearing.get_or_insert(since.clamp(started_at, now));
                if now.since(cleared) >= clear_after {
                    self.open = None;
                    self.clearing = None;
                    return Some(Transition::Closed {
                        started_at,
                        ended_at: cleared,
                    });
                }
                None
            }
        }
    }
}

/// Milliseconds, as the metrics carry durations.
pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The close of `key`'s episode, decided at `now`: the metrics gain
/// `episode_ms` (onset to end) and `clear_ms` (end to decision).
pub(super) fn close_event(
    key: IncidentKey,
    started_at: Timestamp,
    ended_at: Timestamp,
    now: Timestamp,
    mut metrics: Metrics,
) -> IncidentEvent {
    metrics.insert("episode_ms".into(), ms(ended_at.since(started_at)));
    metrics.insert("clear_ms".into(), ms(now.since(ended_at)));
    IncidentEvent::Close {
        key,
        started_at,
        ended_at,
        metrics,
    }
}

/// What a detector remembers of one participant: the episodes it runs.
pub(super) trait Watched {
    /// When the latest sample was judged.
    fn last_at(&self) -> Option<Timestamp>;
    /// Each kind's tracker, in the order the detector reports them.
    fn trackers(&self) -> Vec<(IncidentKind, &Tracker)>;
    /// The metrics `kind`'s incident closes with when it is cut short.
    fn close_metrics(&self, kind: IncidentKind, tracker: &Tracker) -> Metrics;
}

/// Closes every open episode of `participant`, at `now` or its latest
/// sample if later; an episode already clearing ends when it cleared.
fn close_all<W: Watched>(participant: ParticipantId, w: &W, now: Timestamp) -> Vec<IncidentEvent> {
    let now = w.last_at().map_or(now, |last| now.max(last));
    w.trackers()
        .into_iter()
        .filter_map(|(kind, tracker)| {
            let started_at = tracker.open?;
            let ended_at = tracker.clearing.unwrap_or(now).max(started_at);
            Some(close_event(
                IncidentKey { participant, kind },
                started_at,
                ended_at,
                now,
                w.close_metrics(kind, tracker),
            ))
        })
        .collect()
}

/// Closes every open incident of `participant` and forgets it, so a later
/// return starts afresh.
pub(super) fn leave<W: Watched>(
    watched: &mut BTreeMap<ParticipantId, W>,
    participant: ParticipantId,
    now: Timestamp,
) -> Vec<IncidentEvent> {
    match watched.remove(&participant) {
        Some(w) => close_all(participant, &w, now),
        None => Vec::new(),
    }
}

/// Closes every open incident (the act ended) and forgets everyone.
pub(super) fn finish<W: Watched>(
    watched: &mut BTreeMap<ParticipantId, W>,
    now: Timestamp,
) -> Vec<IncidentEvent> {
    std::mem::take(watched)
        .into_iter()
        .flat_map(|(participant, w)| close_all(participant, &w, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUSTAIN: Duration = Duration::from_secs(5);
    const CLEAR: Duration = Duration::from_secs(3);

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(s * 1_000_000)
    }

    fn bad(s: i64) -> Observation {
        Observation::Bad {
            since: t(s),
            value: Some(s as f64),
        }
    }

    fn clear(s: i64) -> Observation {
        Observation::Clear { since: t(s) }
    }

    /// Feeds one observation a second and returns what each second decided.
    fn run(tracker: &mut Tracker, seconds: &[(i64, Observation)]) -> Vec<(i64, &'static str)> {
        seconds
            .iter()
            .filter_map(|(s, obs)| {
                let transition = tracker.step(*obs, t(*s), SUSTAIN, CLEAR, true)?;
                Some((
                    *s,
                    match transition {
                        Transition::Opened { .. } => "opened",
                        Transition::Closed { .. } => "closed",
                    },
                ))
            })
            .collect()
    }

    #[test]
    fn opens_after_its_sustain_time_and_closes_after_its_clear_time() {
        let mut tracker = Tracker::default();
        let mut seconds: Vec<(i64, Observation)> = (10..=20).map(|s| (s, bad(s))).collect();
        seconds.extend((21..=30).map(|s| (s, clear(s))));
        assert_eq!(
            run(&mut tracker, &seconds),
            [(15, "opened"), (24, "closed")]
        );
        assert!(tracker.open.is_none() && tracker.clearing.is_none());
    }

    #[test]
    fn a_bad_run_shorter_than_its_sustain_time_opens_nothing() {
        let mut tracker = Tracker::default();
        let seconds = [(10, bad(10)), (12, bad(12)), (13, clear(13)), (20, bad(20))];
        assert!(run(&mut tracker, &seconds).is_empty());
    }

    #[test]
    fn flapping_while_open_stays_one_episode_and_unknown_changes_nothing() {
        let mut tracker = Tracker::default();
        let seconds = [
            (0, bad(0)),
            (5, bad(5)),
            (6, clear(6)),
            (7, Observation::Unknown),
            (8, bad(8)),
            (9, clear(9)),
            (11, Observation::Unknown),
            (12, clear(12)),
        ];
        assert_eq!(run(&mut tracker, &seconds), [(5, "opened"), (12, "closed")]);
    }

    #[test]
    fn the_close_carries_the_onset_the_end_and_the_worst_value() {
        let mut tracker = Tracker::default();
        for s in [10, 12, 15] {
            tracker.step(bad(s), t(s), SUSTAIN, CLEAR, true);
        }
        assert_eq!(tracker.worst, Some(15.0));
        let closed = [16, 19]
            .into_iter()
            .find_map(|s| tracker.step(clear(s), t(s), SUSTAIN, CLEAR, true));
        let Some(Transition::Closed {
            started_at,
            ended_at,
        }) = closed
        else {
            panic!("no close");
        };
        assert_eq!((started_at, ended_at), (t(10), t(16)));
        let key = IncidentKey {
            participant: ParticipantId(1),
            kind: IncidentKind::PacketLoss,
        };
        let IncidentEvent::Close { metrics, .. } =
            close_event(key, started_at, ended_at, t(19), Metrics::new())
        else {
            panic!("not a close");
        };
        assert_eq!(metrics["episode_ms"], 6000.0);
        assert_eq!(metrics["clear_ms"], 3000.0);
    }

    /// A participant with one tracker, as a detector keeps it.
    #[derive(Default)]
    struct One {
        last_at: Option<Timestamp>,
        tracker: Tracker,
    }

    impl Watched for One {
        fn last_at(&self) -> Option<Timestamp> {
            self.last_at
        }
        fn trackers(&self) -> Vec<(IncidentKind, &Tracker)> {
            vec![(IncidentKind::Other, &self.tracker)]
        }
        fn close_metrics(&self, _: IncidentKind, _: &Tracker) -> Metrics {
            Metrics::new()
        }
    }

    #[test]
    fn leave_and_finish_close_what_is_open_and_forget() {
        let mut watched = BTreeMap::new();
        for p in [1, 2, 3] {
            let mut one = One::default();
            one.tracker.step(bad(0), t(0), Duration::ZERO, CLEAR, true);
            if p == 3 {
                // Already clearing: the episode ended when it cleared.
                one.tracker
                    .step(clear(2), t(2), Duration::ZERO, CLEAR, true);
            }
            one.last_at = Some(t(2));
            watched.insert(ParticipantId(p), one);
        }
        let left = leave(&mut watched, ParticipantId(1), t(4));
        assert_eq!(left.len(), 1);
        assert!(leave(&mut watched, ParticipantId(1), t(5)).is_empty());
        let rest = finish(&mut watched, t(6));
        assert!(watched.is_empty());
        let ends: Vec<_> = rest
            .iter()
            .map(|e| match e {
                IncidentEvent::Close { key, ended_at, .. } => (key.participant, *ended_at),
                IncidentEvent::Open { .. } => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(ends, [(ParticipantId(2), t(6)), (ParticipantId(3), t(2))]);
    }
}
