//! One act's live session, without IO.
//!
//! The room owns the [`Act`] and knows which connection speaks for which
//! participant. [`Room::handle`] takes one input (a connection said hello,
//! sent a message, or closed) and the time, and returns a [`Step`]: the
//! events to append to the trace, then the frames to send and connections
//! to close. The driver appends the events durably *before* it delivers the
//! outputs, so nothing is said to anyone that the trace does not hold.
//!
//! The consent gate lives here: a participant gets ICE servers (`media`),
//! and its negotiation is relayed (`message::signal`), only while
//! [`Room::media_allowed`] holds for it, which needs the act in
//! performance with the patient's consent standing.
//!
//! The room's concerns, one module each, all `impl Room` blocks over the
//! fields declared here: `presence` (connections, lost participants and
//! their recovery deadline), `media` (the media gate and relay
//! revocation), `incidents` (the two detectors' wiring and the relay's
//! sampling), `message` (one handler per client message), `views` (what
//! each participant is shown). They use this module's vocabulary
//! ([`Step`], [`Output`], [`Room::apply`]) and not each other's items.
//! [`Room::poll_timeout`] says when the driver must wake the room next.

mod incidents;
mod media;
mod message;
mod presence;
#[cfg(test)]
mod testing;
mod views;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use session::act::{Command, LeaveReason};
use session::incident::{Detector, IncidentId, IncidentKey, RelayDetector, RelaySample};
use session::participant::Role;
use session::{Act, ActId, Event, ParticipantId, Timestamp};

use crate::budget::{BudgetLimits, TraceBudget};
use crate::protocol::{ClientMessage, ErrorCode, IceServer, RoomView, ServerMessage};

/// One WebSocket connection, numbered by the server.
pub type ConnId = u64;

/// What happened that the room must handle.
#[derive(Debug)]
pub enum Input {
    /// A connection presented a valid invitation for `participant`.
    Hello {
        conn: ConnId,
        participant: ParticipantId,
        user_agent: String,
    },
    /// A decoded message from a connection that said hello.
    Message { conn: ConnId, msg: ClientMessage },
    /// The connection is gone. `silent_ms`: how long nothing had come from
    /// it before (the idle timeout, when a cut network ended it), so the
    /// outage is known from its real start.
    Closed {
        conn: ConnId,
        reason: LeaveReason,
        silent_ms: u64,
    },
    /// Time passes: lost participants who stay away too long interrupt the
    /// act. The driver sends one when [`Room::poll_timeout`] is due.
    Tick,
    /// A [`Input::Tick`] that also carries what our TURN relay sees of the
    /// participants with a live allocation (the others have none), sent
    /// instead of it when the server runs the relay.
    RelayTraffic(BTreeMap<ParticipantId, RelaySample>),
}

/// What the driver must do.
#[derive(Debug, PartialEq)]
pub enum Output {
    Send {
        conn: ConnId,
        msg: ServerMessage,
    },
    Close {
        conn: ConnId,
        reason: LeaveReason,
    },
    /// A `hello` refused by the join budget: close the connection with the
    /// code that tells the client to wait `retry_after_secs` and join again
    /// (the per-minute budget), or, with `None`, that it may not join this
    /// act again (the total budget). Not a protocol violation: a flapping
    /// network causes it.
    RefuseJoin {
        conn: ConnId,
        retry_after_secs: Option<u32>,
    },
    /// Media stopped for the whole act: revoke these participants' relay
    /// credentials and allocations now.
    RevokeRelay(Vec<ParticipantId>),
    /// Media is allowed again after a revocation: credentials may be issued.
    ReopenRelay,
    /// Media is allowed again for one participant whose credentials were
    /// revoked when they left or were put out: new ones may be issued
    /// (given before the ICE servers that carry them).
    ReopenRelayFor(ParticipantId),
}

/// Gives a participant its ICE servers (with fresh relay credentials) when
/// media becomes allowed for it.
pub type IceProvider = Arc<dyn Fn(ActId, ParticipantId) -> Vec<IceServer> + Send + Sync>;

/// The result of one input: events to append first, then outputs.
#[derive(Debug, Default)]
pub struct Step {
    pub events: Vec<Event>,
    pub outputs: Vec<Output>,
}

pub struct Room {
    act: Act,
    /// Current connection of each connected participant.
    conns: BTreeMap<ParticipantId, ConnId>,
    /// Participants that were told they may send media (and got ICE
    /// servers), so that a change either way is announced once.
    media_on: BTreeSet<ParticipantId>,
    ice: IceProvider,
    /// Whether the act allowed media after the last input, to notice when
    /// it stops or starts again for everyone.
    act_media: bool,
    /// Whether relay credentials were revoked since media last stopped.
    relay_revoked: bool,
    /// The act has ended and its relay credentials were revoked for good.
    relay_ended: bool,
    /// Participants whose relay credentials were revoked when they left by
    /// choice or were put out for breaking the protocol: a participant
    /// removed from the session keeps no way through the relay. They get
    /// new credentials if they come back while media is allowed.
    relay_left: BTreeSet<ParticipantId>,
    /// Participants whose connection dropped (not a choice to leave), since
    /// when; they are expected back.
    lost: BTreeMap<ParticipantId, (Timestamp, u64)>,
    /// How long a lost participant may stay away during the performance
    /// before the act is marked interrupted.
    recovery_timeout: Duration,
    /// Judges the `stats` participants report while media flows.
    detector: Detector,
    /// Judges what the relay sees of participants allowed media.
    relay_detector: RelayDetector,
    /// Participants whose last stats report says their media goes direct:
    /// the relay's view of them is not judged, since an idle allocation is
    /// no stopped media (ICE may leave the relay for a direct pair).
    off_relay: BTreeSet<ParticipantId>,
    /// The act's id of each incident the detectors have open.
    incident_ids: BTreeMap<IncidentKey, IncidentId>,
    /// How many trace events participants' messages may still add.
    budget: TraceBudget,
    /// How often the driver reads the relay's counters while someone's
    /// media may go through it; `None` when the server runs no relay.
    relay_every: Option<Duration>,
    /// The next time on that cadence (kept on one grid from the first
    /// input, as a fixed tick would be).
    relay_due: Option<Timestamp>,
    /// Who the trace left connected when the act's previous room stopped
    /// without closing them (its server killed, or its node lost): recorded
    /// as lost at the first input, then `None` (see `Room::orphaned`).
    orphans: Option<LeftConnected>,
}

/// Who an act's trace shows connected at its end (joined, not left since),
/// and when its last event was recorded: what a room rebuilt after its
/// server died takes over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftConnected {
    pub participants: Vec<ParticipantId>,
    /// The act's last recorded event: the last moment its previous room
    /// is known to have run.
    pub since: Option<Timestamp>,
}

impl LeftConnected {
    /// Reads it from an act's events, in trace order.
    pub fn from_events(events: &[session::Event]) -> LeftConnected {
        let mut left = LeftConnected::default();
        for event in events {
            match &event.body {
                session::ActEvent::Joined { participant, .. }
                    if !left.participants.contains(participant) =>
                {
                    left.participants.push(*participant);
                }
                session::ActEvent::Left { participant, .. } => {
                    left.participants.retain(|p| p != participant);
                }
                _ => {}
            }
            left.since = Some(left.since.map_or(event.at, |s| s.max(event.at)));
        }
        left
    }
}

/// How long a lost participant may stay away, by default, before the act
/// is marked interrupted.
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("act", &self.act.id)
            .field("phase", &self.act.phase)
            .field("connected", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl Room {
    /// A room whose participants all get the same ICE servers.
    pub fn new(act: Act, ice_servers: Vec<IceServer>) -> Room {
        Room::with_ice_provider(act, Arc::new(move |_, _| ice_servers.clone()))
    }

    /// The room takes over an act whose trace left `left` connected: at
    /// its first input they are recorded as lost (see `Room::orphaned`).
    pub fn with_left_connected(mut self, left: LeftConnected) -> Room {
        self.orphans = Some(left);
        self
    }

    /// A room that asks `ice` for each participant's ICE servers.
    pub fn with_ice_provider(act: Act, ice: IceProvider) -> Room {
        let act_media = act.media_allowed();
        Room {
            act,
            conns: BTreeMap::new(),
            media_on: BTreeSet::new(),
            ice,
            act_media,
            relay_revoked: false,
            relay_left: BTreeSet::new(),
            relay_ended: false,
            lost: BTreeMap::new(),
            orphans: None,
            recovery_timeout: DEFAULT_RECOVERY_TIMEOUT,
            detector: Detector::default(),
            relay_detector: RelayDetector::default(),
            off_relay: BTreeSet::new(),
            incident_ids: BTreeMap::new(),
            budget: TraceBudget::new(BudgetLimits::default()),
            relay_every: None,
            relay_due: None,
        }
    }

    /// The same room, with these budgets of trace events.
    pub fn with_budget(mut self, limits: BudgetLimits) -> Room {
        self.budget = TraceBudget::new(limits);
        self
    }

    /// Sets how long a lost participant may stay away before the act is
    /// marked interrupted.
    pub fn with_recovery_timeout(mut self, timeout: Duration) -> Room {
        self.recovery_timeout = timeout;
        self
    }

    /// The same room, detecting incidents with `detector`'s thresholds
    /// (for the relay's view too).
    pub fn with_detector(mut self, detector: Detector) -> Room {
        // The thresholds were checked when `detector` was made.
        self.relay_detector = RelayDetector::new(detector.thresholds().clone()).unwrap_or_default();
        self.detector = detector;
        self
    }

    /// The same room, asking for the relay's view of the participants
    /// every `every` while media may flow through it (see
    /// [`Room::relay_sample_due`]).
    pub fn with_relay_sampling(mut self, every: Duration) -> Room {
        self.relay_every = Some(every).filter(|d| !d.is_zero());
        self
    }

    pub fn act(&self) -> &Act {
        &self.act
    }

    pub fn connected(&self) -> usize {
        self.conns.len()
    }

    fn participant_of(&self, conn: ConnId) -> Option<ParticipantId> {
        self.conns
            .iter()
            .find(|(_, c)| **c == conn)
            .map(|(p, _)| *p)
    }

    fn role(&self, p: ParticipantId) -> Option<Role> {
        self.act.participant(p).ok().map(|x| x.role)
    }

    /// Whether `p` may send and receive media now: the act's rule, and
    /// connected.
    pub fn media_allowed(&self, p: ParticipantId) -> bool {
        self.conns.contains_key(&p) && self.act.media_allowed_for(p)
    }

    /// Handles one input at `now`; then media, incidents, live notices and
    /// the next wake-up follow what it changed.
    pub fn handle(&mut self, input: Input, now: Timestamp) -> Step {
        let mut step = Step::default();
        if let Some(left) = self.orphans.take() {
            self.orphaned(left, now, &mut step);
        }
        let sampled = matches!(input, Input::RelayTraffic(_));
        match input {
            Input::Hello {
                conn,
                participant,
                user_agent,
            } => self.hello(conn, participant, user_agent, now, &mut step),
            Input::Message { conn, msg } => match self.participant_of(conn) {
                Some(p) => self.message(conn, p, msg, now, &mut step),
                None => step.outputs.push(error(
                    conn,
                    ErrorCode::HelloFirst,
                    "send hello with your invitation first",
                )),
            },
            Input::Closed {
                conn,
                reason,
                silent_ms,
            } => self.closed(conn, reason, silent_ms, now, &mut step),
            Input::Tick => self.tick(now, &mut step),
            Input::RelayTraffic(traffic) => {
                self.tick(now, &mut step);
                self.relay_traffic(&traffic, now, &mut step);
            }
        }
        self.announce_media(&mut step);
        self.close_incidents_without_media(now, &mut step);
        self.notify_live(&mut step);
        self.schedule_relay(now, sampled);
        step
    }

    /// When the room next needs [`Input::Tick`] (or, if
    /// [`Room::relay_sample_due`] then, [`Input::RelayTraffic`]): the
    /// earliest of a lost participant's recovery deadline during the
    /// performance and the next read of the relay while someone is watched
    /// on it. `None`: nothing to wait for but the next input. Like str0m's
    /// `poll_timeout`, it changes only with an input: ask again after each.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let relay = self
            .relay_due
            .filter(|_| self.relay_watched().next().is_some());
        self.recovery_deadline().into_iter().chain(relay).min()
    }

    /// Whether the driver should read the relay's counters now, and send
    /// them as [`Input::RelayTraffic`] rather than [`Input::Tick`].
    pub fn relay_sample_due(&self, now: Timestamp) -> bool {
        self.relay_due.is_some_and(|due| due <= now) && self.relay_watched().next().is_some()
    }

    /// The room as `viewer` may see it: professionals' names for everyone,
    /// the patient's alias and a companion's name for professionals only.
    pub fn view_for(&self, viewer: ParticipantId) -> RoomView {
        self.view(viewer)
    }

    /// Records a participant's pre-call connection test (sent over HTTP,
    /// not over a connection), and shows its verdict to the professionals.
    pub fn record_connection_test(
        &mut self,
        test: session::precall::ConnectionTest,
        now: Timestamp,
    ) -> Result<Step, session::Error> {
        let mut step = Step {
            events: self.act.handle(Command::RecordConnectionTest(test), now)?,
            outputs: Vec::new(),
        };
        self.broadcast_state(&mut step);
        Ok(step)
    }

    /// Runs a command asked over HTTP, not by a connection (a
    /// téléexpertise's answer, an attachment, a review, a report...) on the
    /// room's act, so that a live session and the routes never fork it:
    /// the act has one writer, its room. Whoever is connected is shown the
    /// new state; an act that ended closes their connections. A refusal
    /// changes nothing and goes back to the caller.
    pub fn command(&mut self, command: Command, now: Timestamp) -> Result<Step, session::Error> {
        let mut step = Step {
            events: self.act.handle(command, now)?,
            outputs: Vec::new(),
        };
        if self.act.phase.is_terminal() {
            self.end_for_all(&mut step);
        }
        self.announce_media(&mut step);
        self.close_incidents_without_media(now, &mut step);
        self.notify_live(&mut step);
        self.broadcast_state(&mut step);
        self.schedule_relay(now, false);
        Ok(step)
    }

    /// Runs a command on the act; on refusal, tells whoever asked. Returns
    /// whether it was applied.
    fn apply(&mut self, command: Command, now: Timestamp, step: &mut Step) -> bool {
        self.apply_as(None, command, now, step)
    }

    /// Like [`Room::apply`], telling `asker` (or, by default, the
    /// participant the command names) why a refusal happened.
    fn apply_as(
        &mut self,
        asker: Option<ParticipantId>,
        command: Command,
        now: Timestamp,
        step: &mut Step,
    ) -> bool {
        let named = match &command {
            Command::Join { participant, .. }
            | Command::Leave { participant, .. }
            | Command::Admit {
                by: participant, ..
            } => Some(*participant),
            Command::GiveConsent(c) => Some(c.given_by),
            Command::WithdrawConsent { by, .. } => Some(*by),
            Command::RecordMedia(m) => Some(m.participant),
            _ => None,
        };
        let asker = asker.or(named);
        match self.act.handle(command, now) {
            Ok(events) => {
                step.events.extend(events);
                true
            }
            Err(e) => {
                if let Some(conn) = asker.and_then(|p| self.conns.get(&p)) {
                    step.outputs
                        .push(error(*conn, ErrorCode::Refused, &e.to_string()));
                }
                false
            }
        }
    }
}

impl Room {
    /// Starts the performance once consent stands, the patient, if
    /// present, was admitted, and, for a téléexpertise request, the expert
    /// is connected: its live performance is the two professionals
    /// meeting, so a requester who joins alone (having attested consent
    /// with the request) waits for the expert. Called when consent is
    /// given, when someone is admitted, and when someone joins.
    fn maybe_start(&mut self, now: Timestamp, step: &mut Step) {
        if self.act.phase != session::Phase::Preparation || !self.act.consent.allows_media() {
            return;
        }
        let patient_in = match self.act.participant_with_role(Role::Patient) {
            Some(patient) if self.act.patient_present => self.act.admitted.contains(&patient.id),
            _ => true,
        };
        let expert_in = self.act.expertise.is_none()
            || self
                .act
                .participant_with_role(Role::Expert)
                .is_some_and(|expert| self.conns.contains_key(&expert.id));
        if patient_in && expert_in {
            self.apply(Command::StartPerformance, now, step);
        }
    }

    /// `p`'s device leaves the session for `reason`: a screen they were
    /// sharing stops first (the act leaves that to the room), then the
    /// leave is recorded.
    fn depart(&mut self, p: ParticipantId, reason: LeaveReason, now: Timestamp, step: &mut Step) {
        if self.act.is_sharing_screen(p) {
            self.apply(Command::StopScreenShare { participant: p }, now, step);
        }
        self.apply(
            Command::Leave {
                participant: p,
                reason,
            },
            now,
            step,
        );
    }
}

/// Milliseconds from `since` to `now`, zero if the clock went back.
fn millis(since: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(now.since(since).as_millis()).unwrap_or(u64::MAX)
}

/// An `error` frame for `conn`.
fn error(conn: ConnId, code: ErrorCode, message: &str) -> Output {
    Output::Send {
        conn,
        msg: ServerMessage::Error {
            code,
            message: message.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use session::act::Phase;

    use super::testing::*;
    use super::*;

    #[test]
    fn consultation_runs_from_hello_to_conclusion() {
        let mut r = room();
        let s = hello(&mut r, 10, PRO);
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Welcome { participant: 1, .. }
        ));
        assert_eq!(
            r.act().phase,
            Phase::Preparation,
            "the first join starts preparation"
        );
        let s = hello(&mut r, 20, PATIENT);
        let ServerMessage::Welcome { consent_texts, .. } = sent_to(&s, 20)[0] else {
            panic!("welcome first");
        };
        assert_eq!(consent_texts.len(), 2, "French and English");

        // Before consent: no ICE servers, no relaying.
        let s = say(
            &mut r,
            10,
            ClientMessage::Signal {
                to: 2,
                data: offer(),
            },
        );
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }
        ));
        assert!(sent_to(&s, 20).is_empty());

        let s = consent(&mut r, 20);
        assert!(s.events.iter().any(|e| e.body.kind() == "consent_given"));
        assert_eq!(r.act().phase, Phase::Preparation, "waits for admission");
        let s = say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        assert_eq!(r.act().phase, Phase::Performance);
        let kinds: Vec<_> = s.events.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds, ["admitted", "phase_entered"]);
        for conn in [10, 20] {
            assert!(
                sent_to(&s, conn)
                    .iter()
                    .any(|m| matches!(m, ServerMessage::IceServers { .. })),
                "conn {conn} gets ICE servers once media is allowed"
            );
        }

        let s = say(
            &mut r,
            10,
            ClientMessage::Signal {
                to: 2,
                data: offer(),
            },
        );
        assert_eq!(
            sent_to(&s, 20),
            [&ServerMessage::Signal {
                from: 1,
                data: offer()
            }]
        );

        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: "RAS".into(),
                prescriptions: vec![],
            },
        );
        assert_eq!(r.act().phase, Phase::Closed);
        assert!(s.outputs.contains(&Output::Close {
            conn: 20,
            reason: LeaveReason::ActEnded
        }));
        assert!(s.outputs.contains(&Output::Close {
            conn: 10,
            reason: LeaveReason::ActEnded
        }));
        // A late join to an ended act is told so and closed.
        let s = hello(&mut r, 30, PATIENT);
        assert!(matches!(sent_to(&s, 30)[0], ServerMessage::Ended { .. }));
    }

    #[test]
    fn a_command_from_a_route_shows_everyone_and_an_end_closes_them() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        // Refused: nothing recorded, nothing said, the act unchanged.
        let before = r.act().clone();
        let e = r.command(Command::StartPerformance, t(2));
        assert!(matches!(e, Err(session::Error::ConsentRequired)), "{e:?}");
        assert_eq!(r.act(), &before);
        // Applied: everyone connected sees the new state.
        let s = r
            .command(
                Command::GiveCallbackNumber {
                    participant: PATIENT,
                    number: session::Pii::new(
                        session::mode::PhoneNumber::parse("+33612345678").unwrap(),
                    ),
                },
                t(3),
            )
            .unwrap();
        assert_eq!(s.events.len(), 1);
        for conn in [10, 20] {
            assert!(
                sent_to(&s, conn)
                    .iter()
                    .any(|m| matches!(m, ServerMessage::State(_))),
                "conn {conn}"
            );
        }
        // An act the command ends closes every connection.
        let s = r
            .command(Command::Cancel(session::CancelReason::ByProfessional), t(4))
            .unwrap();
        assert_eq!(r.act().phase, Phase::Cancelled);
        for conn in [10, 20] {
            assert!(s.outputs.contains(&Output::Close {
                conn,
                reason: LeaveReason::ActEnded
            }));
        }
        assert_eq!(r.connected(), 0);
    }
}
