//! Incident detection from the media stats each client reports.
//!
//! Sans-IO: [`Detector::observe`] takes one participant's [`Sample`] and the
//! server's `now` (the client's clock is not trusted) and returns the
//! [`IncidentEvent`]s it decided, which map one to one onto
//! [`crate::act::Command::OpenIncident`] and
//! [`crate::act::Command::CloseIncident`] ([`IncidentEvent::to_command`]).
//!
//! Each (participant, kind) pair runs the episode state machine of
//! [`super::episode`]: an incident opens once its condition held for the
//! kind's sustain time, and closes once it stayed clear for
//! [`Thresholds::clear_after`].
//!
//! A sample that says nothing about a condition (no packets in the
//! interval, ICE still checking after a restart, a counter reset) leaves its
//! machine where it is. Counters that go backwards mean the client made a
//! new peer connection: they become the new baseline and that interval is
//! not judged.
//!
//! The trace stamps an incident with the time its command is applied,
//! which is when the detector *decided*, a sustain time after the onset and
//! a clear time after the end. So the metrics also carry `sustained_ms`
//! (onset to opening), and on closing `clear_ms` (end to closing) and
//! `episode_ms` (onset to end, the problem's own duration).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::episode::{self, Observation, Tracker, Transition, Watched, close_event, ms};
pub use super::episode::{IncidentEvent, IncidentKey};
pub use super::thresholds::Thresholds;
use crate::error::Error;
use crate::ids::ParticipantId;
use crate::incident::Metrics;
use crate::timestamp::Timestamp;
use crate::vocab::{IncidentKind, MediaRoute};

/// ICE transport state, as `RTCPeerConnection.iceConnectionState` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceState {
    New,
    Checking,
    Connected,
    Completed,
    Disconnected,
    Failed,
    Closed,
}

/// Peer connection state, as `RTCPeerConnection.connectionState` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerConnectionState {
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

/// One stats report from one participant's client (the browser's
/// `getStats`, or the same from a `webrtc` crate client). Every field is
/// optional: a client reports what it has, and a missing field leaves the
/// conditions that need it undecided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub ice: Option<IceState>,
    pub peer_connection: Option<PeerConnectionState>,
    /// Inbound RTP packets received so far, all streams (cumulative).
    pub packets_received: Option<u64>,
    /// Inbound RTP packets lost so far, all streams (cumulative).
    pub packets_lost: Option<u64>,
    /// Video frames decoded so far (cumulative).
    pub frames_decoded: Option<u64>,
    /// Whether the remote video track is on: a freeze only counts then.
    pub video_on: bool,
    /// Round-trip time of the selected candidate pair.
    pub rtt_ms: Option<f64>,
    /// Inbound bitrate over the client's last reporting interval.
    pub bitrate_kbps: Option<f64>,
    /// Route of the selected candidate pair.
    pub route: Option<MediaRoute>,
}

/// The kinds this detector decides, in the order it reports them.
pub const DETECTED_KINDS: [IncidentKind; 8] = [
    IncidentKind::IceDisconnected,
    IncidentKind::IceFailed,
    IncidentKind::PeerConnectionLost,
    IncidentKind::PacketLoss,
    IncidentKind::VideoFreeze,
    IncidentKind::HighRtt,
    IncidentKind::BitrateCollapse,
    IncidentKind::RelayFallback,
];

/// What the detector remembers of one participant between samples.
#[derive(Clone, Debug, Default)]
struct Peer {
    last_at: Option<Timestamp>,
    /// Packets received and lost so far, and when they were reported.
    packets: Option<(Timestamp, u64, u64)>,
    /// Frames decoded so far, and when they were reported.
    frames: Option<(Timestamp, u64)>,
    video_on: bool,
    /// Last time a decoded frame was seen (or the video came on, or the
    /// decoder was replaced).
    last_frame_at: Option<Timestamp>,
    seen_direct: bool,
    /// Recent healthy bitrates, newest last.
    bitrates: VecDeque<f64>,
    /// The latest sample's metrics.
    snapshot: Metrics,
    trackers: BTreeMap<IncidentKind, Tracker>,
}

/// Turns participants' stats samples into incident open/close events.
#[derive(Clone, Debug, Default)]
pub struct Detector {
    thresholds: Thresholds,
    peers: BTreeMap<ParticipantId, Peer>,
}

fn gauge(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

fn median(values: &VecDeque<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// The name of the worst value kept for a kind, if it has one.
fn worst_name(kind: IncidentKind) -> Option<(&'static str, bool)> {
    match kind {
        IncidentKind::PacketLoss => Some(("worst_loss_pct", true)),
        IncidentKind::HighRtt => Some(("worst_rtt_ms", true)),
        IncidentKind::BitrateCollapse => Some(("worst_bitrate_kbps", false)),
        IncidentKind::VideoFreeze => Some(("worst_freeze_ms", true)),
        _ => None,
    }
}

/// The latest sample's metrics, with the worst value of `kind`'s episode.
fn snapshot_with_worst(snapshot: &Metrics, kind: IncidentKind, worst: Option<f64>) -> Metrics {
    let mut metrics = snapshot.clone();
    if let (Some((name, _)), Some(w)) = (worst_name(kind), worst) {
        metrics.insert(name.into(), w);
    }
    metrics
}

impl Detector {
    pub fn new(thresholds: Thresholds) -> Result<Detector, Error> {
        thresholds.validate()?;
        Ok(Detector {
            thresholds,
            peers: BTreeMap::new(),
        })
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The participants whose samples the detector holds.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.peers.keys().copied()
    }

    /// Whether `key`'s incident is open now.
    pub fn is_open(&self, key: IncidentKey) -> bool {
        self.peers
            .get(&key.participant)
            .and_then(|p| p.trackers.get(&key.kind))
            .is_some_and(|t| t.open.is_some())
    }

    /// Judges one sample from `participant`, received at `now`. A sample
    /// older than the participant's previous one is ignored.
    pub fn observe(
        &mut self,
        participant: ParticipantId,
        sample: &Sample,
        now: Timestamp,
    ) -> Vec<IncidentEvent> {
        let Detector { thresholds, peers } = self;
        let th: &Thresholds = thresholds;
        let peer = peers.entry(participant).or_default();
        if peer.last_at.is_some_and(|last| now < last) {
            return Vec::new();
        }
        let mut snapshot = Metrics::new();
        let observations = [
            (
                IncidentKind::IceDisconnected,
                ice(sample, now, IceState::Disconnected),
            ),
            (IncidentKind::IceFailed, ice(sample, now, IceState::Failed)),
            (
                IncidentKind::PeerConnectionLost,
                peer_connection(sample, now),
            ),
            (
                IncidentKind::PacketLoss,
                loss(peer, sample, now, th, &mut snapshot),
            ),
            (
                IncidentKind::VideoFreeze,
                freeze(peer, sample, now, th, &mut snapshot),
            ),
            (IncidentKind::HighRtt, rtt(sample, now, th, &mut snapshot)),
            (
                IncidentKind::BitrateCollapse,
                bitrate(peer, sample, now, th, &mut snapshot),
            ),
            (
                IncidentKind::RelayFallback,
                route(peer, sample, now, &mut snapshot),
            ),
        ];
        peer.last_at = Some(now);
        peer.video_on = sample.video_on;
        snapshot.insert("video_on".into(), f64::from(u8::from(sample.video_on)));
        peer.snapshot = snapshot;

        let mut events = Vec::new();
        for (kind, obs) in observations {
            let higher_is_worse = worst_name(kind).is_none_or(|(_, higher)| higher);
            let tracker = peer.trackers.entry(kind).or_default();
            let Some(transition) =
                tracker.step(obs, now, th.sustain(kind), th.clear_after, higher_is_worse)
            else {
                continue;
            };
            let key = IncidentKey { participant, kind };
            let mut metrics = snapshot_with_worst(&peer.snapshot, kind, tracker.worst);
            match transition {
                Transition::Opened { started_at } => {
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
                    tracker.worst = None;
                    events.push(close_event(key, started_at, ended_at, now, metrics));
                }
            }
        }
        events
    }

    /// Closes every open incident of `participant` (it left the act) and
    /// forgets it, so a later return starts afresh.
    pub fn leave(&mut self, participant: ParticipantId, now: Timestamp) -> Vec<IncidentEvent> {
        episode::leave(&mut self.peers, participant, now)
    }

    /// Closes every open incident (the act ended) and forgets everyone.
    pub fn finish(&mut self, now: Timestamp) -> Vec<IncidentEvent> {
        episode::finish(&mut self.peers, now)
    }
}

impl Watched for Peer {
    fn last_at(&self) -> Option<Timestamp> {
        self.last_at
    }

    fn trackers(&self) -> Vec<(IncidentKind, &Tracker)> {
        DETECTED_KINDS
            .iter()
            .filter_map(|kind| Some((*kind, self.trackers.get(kind)?)))
            .collect()
    }

    fn close_metrics(&self, kind: IncidentKind, tracker: &Tracker) -> Metrics {
        snapshot_with_worst(&self.snapshot, kind, tracker.worst)
    }
}

/// ICE in `bad` state; connected or completed clears it.
fn ice(sample: &Sample, now: Timestamp, bad: IceState) -> Observation {
    match sample.ice {
        Some(s) if s == bad => Observation::Bad {
            since: now,
            value: None,
        },
        Some(IceState::Connected | IceState::Completed) => Observation::Clear { since: now },
        _ => Observation::Unknown,
    }
}

/// A failed peer connection, or one closed while its client still reports
/// (a client stops reporting when it hangs up), is lost.
fn peer_connection(sample: &Sample, now: Timestamp) -> Observation {
    match sample.peer_connection {
        Some(PeerConnectionState::Failed | PeerConnectionState::Closed) => Observation::Bad {
            since: now,
            value: None,
        },
        Some(PeerConnectionState::Connected) => Observation::Clear { since: now },
        _ => Observation::Unknown,
    }
}

/// Loss over the interval since the previous sample, from the counters.
/// The interval is judged as a whole, so its start is the onset or end.
fn loss(
    peer: &mut Peer,
    sample: &Sample,
    now: Timestamp,
    th: &Thresholds,
    snapshot: &mut Metrics,
) -> Observation {
    let (Some(received), Some(lost)) = (sample.packets_received, sample.packets_lost) else {
        return Observation::Unknown;
    };
    snapshot.insert("packets_received".into(), received as f64);
    snapshot.insert("packets_lost".into(), lost as f64);
    let Some((prev_at, prev_received, prev_lost)) = peer.packets.replace((now, received, lost))
    else {
        return Observation::Unknown;
    };
    if received < prev_received {
        // A new peer connection restarted the counters: a new baseline.
        return Observation::Unknown;
    }
    // Loss can shrink a little when late packets arrive: count it as none.
    let d_lost = lost.saturating_sub(prev_lost);
    let d_received = received - prev_received;
    let total = d_received.saturating_add(d_lost);
    if total < th.loss_min_packets.max(1) {
        return Observation::Unknown;
    }
    let pct = d_lost as f64 * 100.0 / total as f64;
    snapshot.insert("loss_pct".into(), pct);
    if pct > th.loss_pct {
        Observation::Bad {
            since: prev_at,
            value: Some(pct),
        }
    } else {
        Observation::Clear { since: prev_at }
    }
}

/// No decoded frame for [`Thresholds::freeze_after`] while the video is on.
fn freeze(
    peer: &mut Peer,
    sample: &Sample,
    now: Timestamp,
    th: &Thresholds,
    snapshot: &mut Metrics,
) -> Observation {
    let Some(frames) = sample.frames_decoded else {
        return Observation::Unknown;
    };
    snapshot.insert("frames_decoded".into(), frames as f64);
    let prev = peer.frames.replace((now, frames));
    if !sample.video_on {
        peer.last_frame_at = None;
        return Observation::Clear { since: now };
    }
    let Some((prev_at, prev)) = prev else {
        // First count, or the video just came on: grace from now.
        peer.last_frame_at = Some(now);
        return Observation::Unknown;
    };
    if frames < prev || !peer.video_on || peer.last_frame_at.is_none() {
        // A new decoder restarted the count, or the video just came on.
        peer.last_frame_at = Some(now);
        return Observation::Unknown;
    }
    if frames > prev {
        peer.last_frame_at = Some(now);
        return Observation::Clear { since: prev_at };
    }
    let last = peer.last_frame_at.unwrap_or(now);
    let frozen = now.since(last);
    snapshot.insert("freeze_ms".into(), ms(frozen));
    if frozen >= th.freeze_after {
        Observation::Bad {
            since: last,
            value: Some(ms(frozen)),
        }
    } else {
        Observation::Unknown
    }
}

fn rtt(sample: &Sample, now: Timestamp, th: &Thresholds, snapshot: &mut Metrics) -> Observation {
    let Some(rtt) = gauge(sample.rtt_ms) else {
        return Observation::Unknown;
    };
    snapshot.insert("rtt_ms".into(), rtt);
    if rtt > th.rtt_ms {
        Observation::Bad {
            since: now,
            value: Some(rtt),
        }
    } else {
        Observation::Clear { since: now }
    }
}

/// Bitrate against the median of recent healthy samples. The video
/// turning on or off changes what is normal, so it restarts the baseline.
fn bitrate(
    peer: &mut Peer,
    sample: &Sample,
    now: Timestamp,
    th: &Thresholds,
    snapshot: &mut Metrics,
) -> Observation {
    if sample.video_on != peer.video_on {
        peer.bitrates.clear();
    }
    let Some(kbps) = gauge(sample.bitrate_kbps) else {
        return Observation::Unknown;
    };
    snapshot.insert("bitrate_kbps".into(), kbps);
    let baseline = median(&peer.bitrates).filter(|_| peer.bitrates.len() >= th.bitrate_min_samples);
    let obs = match baseline {
        Some(base) if base >= th.bitrate_min_baseline_kbps => {
            snapshot.insert("bitrate_baseline_kbps".into(), base);
            if kbps < base * th.bitrate_ratio {
                Observation::Bad {
                    since: now,
                    value: Some(kbps),
                }
            } else {
                Observation::Clear { since: now }
            }
        }
        _ => Observation::Unknown,
    };
    // Only healthy samples feed the baseline, so a long collapse does not
    // become the new normal.
    if !matches!(obs, Observation::Bad { .. }) {
        peer.bitrates.push_back(kbps);
        while peer.bitrates.len() > th.bitrate_window {
            peer.bitrates.pop_front();
        }
    }
    obs
}

/// Relay after direct is a fall back; a call that started on the relay is
/// not one.
fn route(peer: &mut Peer, sample: &Sample, now: Timestamp, snapshot: &mut Metrics) -> Observation {
    match sample.route {
        Some(MediaRoute::Direct) => {
            peer.seen_direct = true;
            snapshot.insert("relay".into(), 0.0);
            Observation::Clear { since: now }
        }
        Some(MediaRoute::Relay) => {
            snapshot.insert("relay".into(), 1.0);
            if peer.seen_direct {
                Observation::Bad {
                    since: now,
                    value: None,
                }
            } else {
                Observation::Unknown
            }
        }
        None => Observation::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::act::{Act, Command};
    use crate::event::ActEvent;
    use crate::ids::ActId;
    use crate::ids::IncidentId;
    use crate::participant::{Identity, Role};
    use crate::pii::Pii;
    use crate::{ActKind, Event};

    const P: ParticipantId = ParticipantId(2);
    const Q: ParticipantId = ParticipantId(3);

    /// Second `s` of a call, as the server's clock.
    fn t(s: f64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000 + (s * 1e6) as i64)
    }

    /// How a client's network behaves for a while.
    #[derive(Clone, Copy, Debug)]
    struct Net {
        loss_pct: f64,
        fps: u64,
        video_on: bool,
        rtt_ms: f64,
        kbps: f64,
        ice: IceState,
        pc: PeerConnectionState,
        route: MediaRoute,
    }

    fn healthy() -> Net {
        Net {
            loss_pct: 0.0,
            fps: 30,
            video_on: true,
            rtt_ms: 40.0,
            kbps: 1200.0,
            ice: IceState::Connected,
            pc: PeerConnectionState::Connected,
            route: MediaRoute::Direct,
        }
    }

    /// A client reporting once a second: cumulative counters it advances
    /// by what [`Net`] says, 200 packets sent a second.
    struct Client {
        who: ParticipantId,
        sent: u64,
        received: u64,
        frames: u64,
    }

    /// The detector fed by clients, with every event and when it came.
    struct Sim {
        det: Detector,
        events: Vec<(Timestamp, IncidentEvent)>,
    }

    impl Sim {
        fn new() -> Sim {
            Sim::with(Thresholds::default())
        }

        fn with(th: Thresholds) -> Sim {
            Sim {
                det: Detector::new(th).expect("valid thresholds"),
                events: Vec::new(),
            }
        }

        fn sample(&mut self, c: &mut Client, at: f64, net: Net) {
            c.sent += 200;
            c.received += (200.0 * (1.0 - net.loss_pct / 100.0)).round() as u64;
            c.frames += net.fps;
            let sample = Sample {
                ice: Some(net.ice),
                peer_connection: Some(net.pc),
                packets_received: Some(c.received),
                packets_lost: Some(c.sent - c.received),
                frames_decoded: Some(c.frames),
                video_on: net.video_on,
                rtt_ms: Some(net.rtt_ms),
                bitrate_kbps: Some(net.kbps),
                route: Some(net.route),
            };
            self.feed(c.who, &sample, at);
        }

        fn feed(&mut self, who: ParticipantId, sample: &Sample, at: f64) {
            let now = t(at);
            for e in self.det.observe(who, sample, now) {
                self.events.push((now, e));
            }
        }

        /// One sample a second for each whole second in `from..=to`.
        fn run(&mut self, c: &mut Client, from: u32, to: u32, net: Net) {
            for s in from..=to {
                self.sample(c, f64::from(s), net);
            }
        }

        fn finish(&mut self, at: f64) {
            let now = t(at);
            for e in self.det.finish(now) {
                self.events.push((now, e));
            }
        }

        fn of(&self, kind: IncidentKind) -> Vec<&(Timestamp, IncidentEvent)> {
            self.events
                .iter()
                .filter(|(_, e)| e.key().kind == kind)
                .collect()
        }
    }

    /// One participant's call: healthy, then `bad` in samples
    /// `first..=last`, then healthy for 20 s, then the end.
    fn episode(th: Thresholds, who: ParticipantId, bad: Net, first: u32, last: u32) -> Sim {
        let mut sim = Sim::with(th);
        let mut c = client(who);
        sim.run(&mut c, 0, first - 1, healthy());
        sim.run(&mut c, first, last, bad);
        sim.run(&mut c, last + 1, last + 20, healthy());
        sim.finish(f64::from(last + 21));
        sim
    }

    fn client(who: ParticipantId) -> Client {
        Client {
            who,
            sent: 0,
            received: 0,
            frames: 0,
        }
    }

    /// Asserts `kind` produced exactly one incident: opened at `opened`
    /// with onset `start`, closed at `closed` with end `end` (seconds).
    /// Returns the open and close metrics.
    fn one_incident(
        sim: &Sim,
        kind: IncidentKind,
        start: f64,
        opened: f64,
        end: f64,
        closed: f64,
    ) -> (Metrics, Metrics) {
        let evs = sim.of(kind);
        assert_eq!(evs.len(), 2, "{kind}: {:#?}", sim.events);
        let open = match &evs[0] {
            (
                at,
                IncidentEvent::Open {
                    started_at,
                    metrics,
                    ..
                },
            ) => {
                assert_eq!((*started_at, *at), (t(start), t(opened)), "{kind} opening");
                metrics.clone()
            }
            other => panic!("{kind}: expected an open first, got {other:?}"),
        };
        let close = match &evs[1] {
            (
                at,
                IncidentEvent::Close {
                    started_at,
                    ended_at,
                    metrics,
                    ..
                },
            ) => {
                assert_eq!(*started_at, t(start), "{kind} start");
                assert_eq!((*ended_at, *at), (t(end), t(closed)), "{kind} closing");
                metrics.clone()
            }
            other => panic!("{kind}: expected a close second, got {other:?}"),
        };
        assert_eq!(
            close["episode_ms"],
            (end - start) * 1000.0,
            "{kind} episode"
        );
        assert_eq!(close["clear_ms"], (closed - end) * 1000.0, "{kind} clear");
        assert_eq!(open["sustained_ms"], (opened - start) * 1000.0, "{kind}");
        (open, close)
    }

    #[test]
    fn healthy_call_raises_nothing() {
        let mut sim = Sim::new();
        let (mut a, mut b) = (client(P), client(Q));
        for s in 0..120 {
            sim.sample(&mut a, f64::from(s), healthy());
            sim.sample(&mut b, f64::from(s) + 0.5, healthy());
        }
        sim.finish(121.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn loss_episode_is_one_incident_with_its_start_and_end() {
        let lossy = Net {
            loss_pct: 10.0,
            ..healthy()
        };
        // Samples 11..=20 report the lossy seconds 10..20.
        let sim = episode(Thresholds::default(), P, lossy, 11, 20);
        // Opens once 5 s of loss are seen; closes 3 s after it ended.
        let (open, close) = one_incident(&sim, IncidentKind::PacketLoss, 10.0, 15.0, 20.0, 23.0);
        assert_eq!(open["loss_pct"], 10.0);
        assert_eq!(close["worst_loss_pct"], 10.0);
        assert_eq!(close["loss_pct"], 0.0);
        assert_eq!(sim.events.len(), 2, "only the loss: {:#?}", sim.events);
    }

    #[test]
    fn loss_shorter_than_its_sustain_time_is_no_incident() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let lossy = Net {
            loss_pct: 30.0,
            ..healthy()
        };
        sim.run(&mut c, 0, 10, healthy());
        sim.run(&mut c, 11, 14, lossy);
        sim.run(&mut c, 15, 20, healthy());
        // Bursts of 4 s, each broken by a clean second, never add up.
        for burst in 0..5 {
            let at = 21 + burst * 5;
            sim.run(&mut c, at, at + 3, lossy);
            sim.run(&mut c, at + 4, at + 4, healthy());
        }
        sim.finish(60.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn loss_flapping_around_the_threshold_is_one_incident() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let above = Net {
            loss_pct: 6.0,
            ..healthy()
        };
        let below = Net {
            loss_pct: 4.0,
            ..healthy()
        };
        sim.run(&mut c, 0, 10, healthy());
        sim.run(&mut c, 11, 20, above);
        // Once open, 2 s below then 1 s above, for 30 s: never 3 s clear.
        for s in 0..10 {
            let at = 21 + s * 3;
            sim.run(&mut c, at, at + 1, below);
            sim.run(&mut c, at + 2, at + 2, above);
        }
        sim.run(&mut c, 51, 70, healthy());
        sim.finish(71.0);
        one_incident(&sim, IncidentKind::PacketLoss, 10.0, 15.0, 50.0, 53.0);
        assert_eq!(sim.events.len(), 2, "{:#?}", sim.events);
    }

    #[test]
    fn rtt_flapping_around_the_threshold_is_one_incident() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let at_rtt = |rtt_ms| Net {
            rtt_ms,
            ..healthy()
        };
        sim.run(&mut c, 0, 9, healthy());
        sim.run(&mut c, 10, 12, at_rtt(450.0));
        for s in 13..40 {
            let rtt = if s % 2 == 0 { 410.0 } else { 390.0 };
            sim.run(&mut c, s, s, at_rtt(rtt));
        }
        sim.run(&mut c, 40, 50, healthy());
        sim.finish(51.0);
        // Opens after 2 s above 400 ms, closes 3 s after the last spike (39).
        let (_, close) = one_incident(&sim, IncidentKind::HighRtt, 10.0, 12.0, 39.0, 42.0);
        assert_eq!(close["worst_rtt_ms"], 450.0);
        assert_eq!(sim.events.len(), 2, "{:#?}", sim.events);
    }

    #[test]
    fn video_freeze_starts_at_the_last_decoded_frame() {
        let frozen = Net {
            fps: 0,
            ..healthy()
        };
        // No frame decoded in seconds 10..20; sample 21 sees frames again.
        let sim = episode(Thresholds::default(), P, frozen, 11, 20);
        let (open, close) = one_incident(&sim, IncidentKind::VideoFreeze, 10.0, 12.0, 20.0, 23.0);
        assert_eq!(open["freeze_ms"], 2000.0);
        assert_eq!(close["worst_freeze_ms"], 10_000.0);
        assert_eq!(sim.events.len(), 2, "{:#?}", sim.events);
    }

    /// The bitrate falling with the video off is no collapse either: the
    /// video turning off or on restarts the bitrate baseline.
    #[test]
    fn no_frames_while_the_video_is_off_is_no_freeze() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let off = Net {
            fps: 0,
            video_on: false,
            kbps: 40.0,
            ..healthy()
        };
        sim.run(&mut c, 0, 10, healthy());
        sim.run(&mut c, 11, 40, off);
        // The video comes back on: its first frames get the grace time.
        sim.run(
            &mut c,
            41,
            41,
            Net {
                fps: 0,
                ..healthy()
            },
        );
        sim.run(&mut c, 42, 60, healthy());
        sim.finish(61.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn bitrate_collapse_against_the_recent_median() {
        let collapsed = Net {
            kbps: 150.0,
            ..healthy()
        };
        let sim = episode(Thresholds::default(), P, collapsed, 10, 29);
        // 150 < 20 % of 1200: opens after 5 s, and a long collapse does not
        // become the new median (it stays open to the end of it).
        let (open, close) =
            one_incident(&sim, IncidentKind::BitrateCollapse, 10.0, 15.0, 30.0, 33.0);
        assert_eq!(open["bitrate_baseline_kbps"], 1200.0);
        assert_eq!(close["worst_bitrate_kbps"], 150.0);
        // A drop to 30 % is not a collapse.
        let dropped = Net {
            kbps: 360.0,
            ..healthy()
        };
        let sim = episode(Thresholds::default(), P, dropped, 10, 29);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn ice_and_peer_connection_states_are_incidents() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let with = |ice, pc| Net {
            ice,
            pc,
            fps: 0,
            kbps: 0.0,
            loss_pct: 100.0,
            ..healthy()
        };
        sim.run(&mut c, 0, 9, healthy());
        sim.run(
            &mut c,
            10,
            12,
            with(IceState::Disconnected, PeerConnectionState::Disconnected),
        );
        sim.run(
            &mut c,
            13,
            15,
            with(IceState::Failed, PeerConnectionState::Failed),
        );
        // An ICE restart: checking says nothing, then connected again.
        sim.run(
            &mut c,
            16,
            16,
            with(IceState::Checking, PeerConnectionState::Connecting),
        );
        sim.run(&mut c, 17, 30, healthy());
        sim.finish(31.0);
        one_incident(&sim, IncidentKind::IceDisconnected, 10.0, 10.0, 17.0, 20.0);
        one_incident(&sim, IncidentKind::IceFailed, 13.0, 13.0, 17.0, 20.0);
        one_incident(
            &sim,
            IncidentKind::PeerConnectionLost,
            13.0,
            13.0,
            17.0,
            20.0,
        );
    }

    #[test]
    fn relay_after_direct_is_a_fallback_but_relay_from_the_start_is_not() {
        let relay = Net {
            route: MediaRoute::Relay,
            ..healthy()
        };
        let sim = episode(Thresholds::default(), P, relay, 10, 20);
        one_incident(&sim, IncidentKind::RelayFallback, 10.0, 10.0, 21.0, 24.0);
        assert_eq!(sim.events.len(), 2, "{:#?}", sim.events);

        let mut sim = Sim::new();
        let mut c = client(Q);
        sim.run(&mut c, 0, 30, relay);
        sim.finish(31.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn counters_going_backwards_are_a_new_baseline_not_an_incident() {
        let mut sim = Sim::new();
        let mut c = client(P);
        sim.run(&mut c, 0, 10, healthy());
        // The client reconnected: a new peer connection counts from zero.
        let mut fresh = client(P);
        sim.run(&mut fresh, 11, 30, healthy());
        // Lost counter shrinking a little (late packets) is no loss either.
        let sample = |received, lost, frames| Sample {
            packets_received: Some(received),
            packets_lost: Some(lost),
            frames_decoded: Some(frames),
            video_on: true,
            ..Sample::default()
        };
        sim.feed(P, &sample(10_000, 50, 900), 31.0);
        sim.feed(P, &sample(10_200, 45, 930), 32.0);
        sim.finish(33.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    #[test]
    fn a_reconnect_during_loss_keeps_the_one_incident() {
        let mut sim = Sim::new();
        let mut c = client(P);
        let lossy = Net {
            loss_pct: 20.0,
            ..healthy()
        };
        sim.run(&mut c, 0, 10, healthy());
        sim.run(&mut c, 11, 20, lossy);
        let mut fresh = client(P);
        sim.run(&mut fresh, 21, 30, lossy);
        sim.run(&mut fresh, 31, 40, healthy());
        sim.finish(41.0);
        // The reset interval (20..21) is not judged, so loss goes on.
        one_incident(&sim, IncidentKind::PacketLoss, 10.0, 15.0, 30.0, 33.0);
    }

    #[test]
    fn participants_are_judged_apart() {
        let mut sim = Sim::new();
        let (mut a, mut b) = (client(P), client(Q));
        let lossy = Net {
            loss_pct: 10.0,
            ..healthy()
        };
        for s in 0..=40 {
            let net = if (11..=20).contains(&s) {
                lossy
            } else {
                healthy()
            };
            sim.sample(&mut a, f64::from(s), net);
            sim.sample(&mut b, f64::from(s), healthy());
        }
        sim.finish(41.0);
        one_incident(&sim, IncidentKind::PacketLoss, 10.0, 15.0, 20.0, 23.0);
        assert!(sim.events.iter().all(|(_, e)| e.key().participant == P));
    }

    #[test]
    fn thresholds_are_configurable() {
        let lossy = Net {
            loss_pct: 10.0,
            ..healthy()
        };
        let episode = |th| episode(th, P, lossy, 11, 20);
        let sim = episode(Thresholds {
            loss_pct: 15.0,
            ..Thresholds::default()
        });
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
        let sim = episode(Thresholds {
            loss_sustain: Duration::from_secs(1),
            clear_after: Duration::from_secs(10),
            ..Thresholds::default()
        });
        one_incident(&sim, IncidentKind::PacketLoss, 10.0, 11.0, 20.0, 30.0);
        let sim = episode(Thresholds {
            loss_sustain: Duration::from_secs(20),
            ..Thresholds::default()
        });
        assert!(sim.events.is_empty(), "{:#?}", sim.events);

        let mut sim = Sim::with(Thresholds {
            rtt_ms: 100.0,
            rtt_sustain: Duration::ZERO,
            clear_after: Duration::ZERO,
            ..Thresholds::default()
        });
        let mut c = client(P);
        sim.run(&mut c, 0, 4, healthy());
        sim.run(
            &mut c,
            5,
            6,
            Net {
                rtt_ms: 150.0,
                ..healthy()
            },
        );
        sim.run(&mut c, 7, 9, healthy());
        one_incident(&sim, IncidentKind::HighRtt, 5.0, 5.0, 7.0, 7.0);
    }

    #[test]
    fn nonsense_thresholds_are_refused() {
        for th in [
            Thresholds {
                loss_pct: f64::NAN,
                ..Thresholds::default()
            },
            Thresholds {
                bitrate_ratio: 1.5,
                ..Thresholds::default()
            },
            Thresholds {
                bitrate_window: 0,
                ..Thresholds::default()
            },
            Thresholds {
                bitrate_min_samples: 20,
                ..Thresholds::default()
            },
            Thresholds {
                freeze_after: Duration::ZERO,
                ..Thresholds::default()
            },
        ] {
            let err = Detector::new(th.clone()).expect_err("refused");
            assert!(matches!(err, Error::InvalidInput(_)), "{th:?}: {err}");
        }
    }

    #[test]
    fn finish_and_leave_close_what_is_open() {
        let mut sim = Sim::new();
        let (mut a, mut b) = (client(P), client(Q));
        let bad = Net {
            loss_pct: 50.0,
            rtt_ms: 900.0,
            ..healthy()
        };
        sim.run(&mut a, 0, 5, healthy());
        sim.run(&mut b, 0, 5, healthy());
        sim.run(&mut a, 6, 15, bad);
        sim.run(&mut b, 6, 15, bad);
        assert!(sim.det.is_open(IncidentKey {
            participant: P,
            kind: IncidentKind::PacketLoss
        }));
        let left = sim.det.leave(P, t(16.0));
        let kinds: Vec<_> = left.iter().map(|e| e.key()).collect();
        assert_eq!(
            kinds,
            [IncidentKind::PacketLoss, IncidentKind::HighRtt].map(|kind| IncidentKey {
                participant: P,
                kind
            })
        );
        for e in &left {
            let IncidentEvent::Close { ended_at, .. } = e else {
                panic!("leave only closes: {e:?}");
            };
            assert_eq!(*ended_at, t(16.0));
        }
        // Q's loss interval 15..16 was clean, and its RTT at 16, but not
        // for 3 s yet: they end there, not at the finish.
        sim.run(&mut b, 16, 16, healthy());
        let finished = sim.det.finish(t(17.0));
        let ends: Vec<_> = finished
            .iter()
            .map(|e| match e {
                IncidentEvent::Close { key, ended_at, .. } => {
                    (key.participant, key.kind, *ended_at)
                }
                IncidentEvent::Open { .. } => panic!("finish only closes: {e:?}"),
            })
            .collect();
        assert_eq!(
            ends,
            [
                (Q, IncidentKind::PacketLoss, t(15.0)),
                (Q, IncidentKind::HighRtt, t(16.0))
            ]
        );
        assert!(sim.det.finish(t(18.0)).is_empty());
    }

    #[test]
    fn samples_from_the_past_are_ignored() {
        let mut sim = Sim::new();
        let mut c = client(P);
        sim.run(&mut c, 0, 10, healthy());
        let stale = Sample {
            ice: Some(IceState::Failed),
            ..Sample::default()
        };
        sim.feed(P, &stale, 5.0);
        assert!(sim.events.is_empty(), "{:#?}", sim.events);
    }

    /// Registers a companion on a fresh act, for the command mapping.
    fn act_with_participant() -> (Act, ParticipantId) {
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0.0));
        let events = act
            .handle(
                Command::Register {
                    role: Role::Companion,
                    identity: Identity::Companion {
                        name: Pii::new("Fixture Companion".into()),
                    },
                },
                t(0.0),
            )
            .expect("registered");
        let ActEvent::ParticipantRegistered(p) = &events[0].body else {
            panic!("{events:?}");
        };
        (act, p.id)
    }

    #[test]
    fn events_become_act_commands_with_the_act_duration() {
        let (mut act, who) = act_with_participant();
        let lossy = Net {
            loss_pct: 10.0,
            ..healthy()
        };
        let sim = episode(Thresholds::default(), who, lossy, 11, 20);
        let mut ids: BTreeMap<IncidentKey, IncidentId> = BTreeMap::new();
        let mut trace: Vec<Event> = Vec::new();
        for (at, e) in &sim.events {
            let command = e.to_command(ids.get(&e.key()).copied()).expect("a command");
            let events = act.handle(command, *at).expect("the act accepts it");
            if let ActEvent::IncidentOpened { incident, .. } = events[0].body {
                ids.insert(e.key(), incident);
            }
            trace.extend(events);
        }
        let [open, close] = &trace[..] else {
            panic!("{trace:#?}");
        };
        let ActEvent::IncidentOpened {
            kind, participant, ..
        } = &open.body
        else {
            panic!("{open:?}");
        };
        assert_eq!((*kind, *participant), (IncidentKind::PacketLoss, Some(who)));
        let ActEvent::IncidentClosed {
            duration_ms,
            metrics,
            ..
        } = &close.body
        else {
            panic!("{close:?}");
        };
        // The act measures decision to decision (15 to 23); the episode
        // itself (10 to 20) is in the metrics.
        assert_eq!(*duration_ms, 8000);
        assert_eq!(metrics["episode_ms"], 10_000.0);
        assert!(act.incidents.iter().all(|i| i.closed_at.is_some()));
        // A close without the act's id cannot become a command.
        assert!(sim.events[1].1.to_command(None).is_none());
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::test_runner::RngSeed;

        use super::*;

        fn ice_state() -> impl Strategy<Value = Option<IceState>> {
            proptest::option::of(proptest::sample::select(vec![
                IceState::New,
                IceState::Checking,
                IceState::Connected,
                IceState::Completed,
                IceState::Disconnected,
                IceState::Failed,
                IceState::Closed,
            ]))
        }

        fn pc_state() -> impl Strategy<Value = Option<PeerConnectionState>> {
            proptest::option::of(proptest::sample::select(vec![
                PeerConnectionState::New,
                PeerConnectionState::Connecting,
                PeerConnectionState::Connected,
                PeerConnectionState::Disconnected,
                PeerConnectionState::Failed,
                PeerConnectionState::Closed,
            ]))
        }

        /// Counters that mostly grow, sometimes reset; gauges around the
        /// thresholds, sometimes missing or not finite.
        fn sample() -> impl Strategy<Value = Sample> {
            (
                (ice_state(), pc_state()),
                (
                    proptest::option::of(0u64..2_000),
                    proptest::option::of(0u64..400),
                    proptest::option::of(0u64..600),
                    any::<bool>(),
                ),
                (
                    proptest::option::of(prop_oneof![0.0f64..1000.0, Just(f64::NAN), Just(-1.0)]),
                    proptest::option::of(prop_oneof![0.0f64..3000.0, Just(f64::INFINITY)]),
                    proptest::option::of(proptest::sample::select(vec![
                        MediaRoute::Direct,
                        MediaRoute::Relay,
                    ])),
                ),
            )
                .prop_map(
                    |((ice, pc), (rx, lost, frames, video_on), (rtt, kbps, route))| Sample {
                        ice,
                        peer_connection: pc,
                        packets_received: rx,
                        packets_lost: lost,
                        frames_decoded: frames,
                        video_on,
                        rtt_ms: rtt,
                        bitrate_kbps: kbps,
                        route,
                    },
                )
        }

        /// Steps: who reports, how long after the previous step (ms, zero
        /// and backwards included), and what.
        fn steps() -> impl Strategy<Value = Vec<(u32, i64, Sample)>> {
            proptest::collection::vec((1u32..=3, -500i64..4_000, sample()), 0..120)
        }

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: 256,
                rng_seed: RngSeed::Fixed(0x1c1d_e475),
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// Per (participant, kind), opens and closes alternate starting
            /// with an open; times are ordered; after `finish` all is
            /// closed, and a second `finish` has nothing left.
            #[test]
            fn opens_and_closes_alternate_and_finish_closes_all(
                steps in steps(),
                counters_grow in any::<bool>(),
            ) {
                let mut det = Detector::default();
                let mut now_ms: i64 = 0;
                let mut latest_ms: i64 = 0;
                let mut totals: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
                let mut events = Vec::new();
                for (who, dt, mut s) in steps {
                    now_ms += dt;
                    latest_ms = latest_ms.max(now_ms);
                    if counters_grow {
                        // Cumulative counters, as real clients report.
                        let tot = totals.entry(who).or_default();
                        tot.0 += s.packets_received.unwrap_or(0);
                        tot.1 += s.packets_lost.unwrap_or(0);
                        tot.2 += s.frames_decoded.unwrap_or(0);
                        s.packets_received = s.packets_received.map(|_| tot.0);
                        s.packets_lost = s.packets_lost.map(|_| tot.1);
                        s.frames_decoded = s.frames_decoded.map(|_| tot.2);
                    }
                    let now = Timestamp::from_micros(now_ms * 1000);
                    for e in det.observe(ParticipantId(who), &s, now) {
                        events.push((now, e));
                    }
                }
                // The server's clock at the end is past every sample.
                let end = Timestamp::from_micros((latest_ms + 1) * 1000);
                for e in det.finish(end) {
                    events.push((end, e));
                }
                prop_assert!(det.finish(end).is_empty());

                let mut open: BTreeMap<IncidentKey, Timestamp> = BTreeMap::new();
                for (at, e) in &events {
                    match e {
                        IncidentEvent::Open { key, started_at, metrics } => {
                            prop_assert!(
                                open.insert(*key, *started_at).is_none(),
                                "{key:?} opened twice"
                            );
                            prop_assert!(started_at <= at);
                            prop_assert!(metrics.values().all(|v| v.is_finite()));
                        }
                        IncidentEvent::Close { key, started_at, ended_at, metrics } => {
                            let opened = open.remove(key);
                            prop_assert_eq!(opened, Some(*started_at), "{:?} closed unopened", key);
                            prop_assert!(started_at <= ended_at && ended_at <= at);
                            prop_assert!(metrics.values().all(|v| v.is_finite()));
                            prop_assert!(metrics["episode_ms"] >= 0.0);
                        }
                    }
                }
                prop_assert!(open.is_empty(), "left open: {open:?}");
            }
        }
    }
}
