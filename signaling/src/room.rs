//! One act's live session, without IO.
//!
//! The room owns the [`Act`] and knows which connection speaks for which
//! participant. [`Room::handle`] takes one input (a connection said hello,
//! sent a message, or closed) and the time, and returns a [`Step`]: the
//! events to append to the trace, then the frames to send and connections
//! to close. The driver appends the events durably *before* it delivers the
//! outputs, so nothing is said to anyone that the trace does not hold.
//!
//! The consent gate lives here: a participant gets ICE servers, and its
//! negotiation is relayed, only while [`Room::media_allowed`] holds for it,
//! which needs the act in performance with the patient's consent standing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use session::act::{Command, LeaveReason, MediaPath, MediaRoute, Phase};
use session::conclusion::{Conclusion, Prescription};
use session::consent::{Consent, ConsentMethod, ConsentScope};
use session::incident::{
    Detector, IncidentEvent, IncidentId, IncidentKey, IncidentKind, RelayDetector, RelaySample,
};
use session::mode::PhoneNumber;
use session::participant::{Identity, Role};
use session::{Act, ActId, Event, ParticipantId, Pii, Timestamp};

use crate::budget::{BudgetLimits, Exhausted, TraceBudget};
use crate::consent_text;
use crate::live::{self, Audience};
use crate::protocol::{
    ActView, ClientMessage, ErrorCode, IceServer, ParticipantView, RoomView, ServerMessage, VERSION,
};

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

/// Longest user agent kept, in characters.
const MAX_USER_AGENT: usize = 256;
/// Most candidate types or codecs recorded for one media path.
const MAX_MEDIA_ITEMS: usize = 8;

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

    /// The same room, asking for the relay's view of the participants
    /// every `every` while media may flow through it (see
    /// [`Room::relay_sample_due`]).
    pub fn with_relay_sampling(mut self, every: Duration) -> Room {
        self.relay_every = Some(every).filter(|d| !d.is_zero());
        self
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

    pub fn handle(&mut self, input: Input, now: Timestamp) -> Step {
        let mut step = Step::default();
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
            } => {
                // Lets the driver drop the connection's queue.
                step.outputs.push(Output::Close { conn, reason });
                if let Some(p) = self.participant_of(conn) {
                    self.conns.remove(&p);
                    self.apply(
                        Command::Leave {
                            participant: p,
                            reason,
                        },
                        now,
                        &mut step,
                    );
                    if reason == LeaveReason::ConnectionLost {
                        self.lose(p, now, silent_ms, &mut step);
                    }
                    if reason == LeaveReason::ProtocolViolation {
                        self.revoke_relay_of(p, &mut step);
                    }
                    self.broadcast_state(&mut step);
                }
            }
            Input::Tick => self.tick(now, &mut step),
            Input::RelayTraffic(traffic) => {
                self.tick(now, &mut step);
                self.relay_traffic(&traffic, now, &mut step);
            }
        }
        self.announce_media(&mut step);
        self.close_incidents_without_media(now, &mut step);
        self.notify_live(&mut step);
        self.schedule_relay(now);
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

    /// Moves the relay's next read to the first point of its grid after
    /// `now` (the grid starts at the room's first input).
    fn schedule_relay(&mut self, now: Timestamp) {
        let Some(every) = self.relay_every else {
            return;
        };
        let due = *self.relay_due.get_or_insert(now);
        if due <= now {
            let every_us = every.as_micros().max(1);
            let behind = now.since(due).as_micros() / every_us + 1;
            let step = u64::try_from(every_us * behind).unwrap_or(u64::MAX);
            self.relay_due = Some(due.plus(Duration::from_micros(step)));
        }
    }
    fn hello(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        user_agent: String,
        now: Timestamp,
        step: &mut Step,
    ) {
        if self.act.phase.is_terminal() {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::Ended {
                    reason: format!("this consultation has ended ({})", self.act.phase),
                },
            });
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ActEnded,
            });
            return;
        }
        let Some(role) = self.role(p) else {
            step.outputs.push(error(
                conn,
                ErrorCode::Forbidden,
                "not a participant of this act",
            ));
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ProtocolViolation,
            });
            return;
        };
        // Each join is recorded (and a lost connection before it is an
        // incident): a reconnection loop is held by its own budget.
        if let Err(spent) = self.budget.join(p, now) {
            let retry_after_secs = matches!(spent, Exhausted::JoinsMinute(_))
                .then(|| self.budget.join_retry_after(p, now));
            let message = match retry_after_secs {
                Some(secs) => format!("{spent} (try again in {secs} s)"),
                None => spent.to_string(),
            };
            step.outputs.push(error(conn, ErrorCode::Refused, &message));
            step.outputs.push(Output::RefuseJoin {
                conn,
                retry_after_secs,
            });
            return;
        }
        // A reload or reconnect resumes the same participant.
        if let Some(old) = self.conns.insert(p, conn) {
            step.outputs.push(Output::Close {
                conn: old,
                reason: LeaveReason::Replaced,
            });
            self.media_on.remove(&p);
            self.apply(
                Command::Leave {
                    participant: p,
                    reason: LeaveReason::Replaced,
                },
                now,
                step,
            );
        }
        self.returned(p, now, step);
        let user_agent: String = user_agent.chars().take(MAX_USER_AGENT).collect();
        self.apply(
            Command::Join {
                participant: p,
                user_agent: Pii::new(user_agent),
            },
            now,
            step,
        );
        if self.act.phase == Phase::Request {
            self.apply(Command::Prepare, now, step);
        }
        let consent_texts = match role {
            Role::Patient | Role::Companion => consent_text::patient_texts(),
            Role::Requester if !self.act.patient_present => consent_text::attestation_texts(),
            _ => Vec::new(),
        };
        step.outputs.push(Output::Send {
            conn,
            msg: ServerMessage::Welcome {
                v: VERSION,
                participant: p.0,
                role,
                act: ActView {
                    id: self.act.id.to_string(),
                    kind: self.act.kind,
                    patient_present: self.act.patient_present,
                },
                consent_texts,
            },
        });
        self.broadcast_state(step);
    }

    /// A participant's message, within its budget of trace events: a
    /// message that records something is refused (`refused`, nothing
    /// appended) once the participant's or the act's budget is spent,
    /// except those that must always be recorded (withdrawal, conclusion,
    /// cancellation, leaving) or are bounded by the act's rules (admitting
    /// a participant, the act's first consent). Whatever a message appends is charged.
    fn message(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        msg: ClientMessage,
        now: Timestamp,
        step: &mut Step,
    ) {
        // The act's first consent always passes: a flood must not cost
        // the patient the consent to their own consultation. Repeated
        // consents (one standing, or after a withdrawal) are budgeted.
        let first_consent =
            !self.act.consent.allows_media() && self.act.consent.withdrawals.is_empty();
        let budgeted = match &msg {
            ClientMessage::Consent { accept: true, .. } | ClientMessage::AttestConsent { .. } => {
                !first_consent
            }
            other => matches!(
                other,
                ClientMessage::MediaPath { .. }
                    | ClientMessage::Mode { .. }
                    | ClientMessage::CallbackNumber { .. }
            ),
        };
        // A call-back number resent unchanged (its confirmation lost with
        // the connection) is already recorded: nothing to do, no error.
        if let ClientMessage::CallbackNumber { number } = &msg
            && let Ok(number) = PhoneNumber::parse(number)
            && self
                .act
                .callback_number(p)
                .is_some_and(|stored| *stored.expose() == number)
        {
            return;
        }
        if budgeted && let Err(spent) = self.budget.check(p, now) {
            step.outputs
                .push(error(conn, ErrorCode::Refused, &spent.to_string()));
            return;
        }
        let before = step.events.len();
        self.handle_message(conn, p, msg, now, step);
        self.budget
            .charge(p, step.events.len().saturating_sub(before), now);
    }

    fn handle_message(
        &mut self,
        conn: ConnId,
        p: ParticipantId,
        msg: ClientMessage,
        now: Timestamp,
        step: &mut Step,
    ) {
        let role = self.role(p).unwrap_or(Role::Patient);
        let forbidden = |step: &mut Step, what: &str| {
            step.outputs.push(error(
                conn,
                ErrorCode::Forbidden,
                &format!("your role may not {what}"),
            ));
        };
        match msg {
            ClientMessage::Hello { .. } => {
                step.outputs
                    .push(error(conn, ErrorCode::Refused, "hello was already said"));
                return;
            }
            ClientMessage::Ping {} => {
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::Pong,
                });
                return;
            }
            ClientMessage::Signal { to, data } => {
                let to = ParticipantId(to);
                if !self.media_allowed(p) || !self.media_allowed(to) {
                    step.outputs.push(error(
                        conn,
                        ErrorCode::Refused,
                        "media is not allowed between these participants now",
                    ));
                } else if let Some(&target) = self.conns.get(&to) {
                    step.outputs.push(Output::Send {
                        conn: target,
                        msg: ServerMessage::Signal { from: p.0, data },
                    });
                }
                return;
            }
            ClientMessage::Consent {
                accept,
                language: _,
                text_sha256,
            } => {
                if !matches!(role, Role::Patient | Role::Companion) {
                    return forbidden(step, "give the patient's consent");
                }
                let texts = consent_text::patient_texts();
                let Some(language) = consent_text::language_of(&texts, &text_sha256) else {
                    step.outputs.push(error(
                        conn,
                        ErrorCode::Refused,
                        "this consent text is not the one the server shows",
                    ));
                    return;
                };
                // A consent that already stands is not recorded again: a
                // client whose connection died before the server's answer
                // sends it once more after the return (docs/PROTOCOL.md).
                let standing = self.act.consent.has(ConsentScope::TelemedicineAct)
                    && self.act.consent.has(ConsentScope::DataHosting);
                if accept && !standing {
                    self.apply(
                        Command::GiveConsent(Consent {
                            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                            given_by: p,
                            method: ConsentMethod::Electronic {
                                text_sha256,
                                language,
                            },
                        }),
                        now,
                        step,
                    );
                    self.maybe_start(now, step);
                }
            }
            ClientMessage::AttestConsent { text_sha256 } => {
                if role != Role::Requester {
                    return forbidden(step, "attest consent");
                }
                if consent_text::language_of(&consent_text::attestation_texts(), &text_sha256)
                    .is_none()
                {
                    step.outputs.push(error(
                        conn,
                        ErrorCode::Refused,
                        "this attestation text is not the one the server shows",
                    ));
                    return;
                }
                self.apply(
                    Command::GiveConsent(Consent {
                        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
                        given_by: p,
                        method: ConsentMethod::AttestedByProfessional { text_sha256 },
                    }),
                    now,
                    step,
                );
                self.maybe_start(now, step);
            }
            ClientMessage::WithdrawConsent {} => {
                if !matches!(role, Role::Patient | Role::Companion | Role::Requester) {
                    return forbidden(step, "withdraw consent");
                }
                self.apply(
                    Command::WithdrawConsent {
                        scopes: vec![ConsentScope::TelemedicineAct],
                        by: p,
                    },
                    now,
                    step,
                );
            }
            ClientMessage::Admit { participant } => {
                if !role.is_professional() {
                    return forbidden(step, "admit participants");
                }
                if self.apply(
                    Command::Admit {
                        participant: ParticipantId(participant),
                        by: p,
                    },
                    now,
                    step,
                ) {
                    self.maybe_start(now, step);
                }
            }
            ClientMessage::MediaPath {
                route,
                candidate_types,
                codecs,
            } => {
                let clip = |v: Vec<String>| -> Vec<String> {
                    v.into_iter()
                        .take(MAX_MEDIA_ITEMS)
                        .map(|s| {
                            s.chars()
                                .filter(|c| c.is_ascii_graphic())
                                .take(32)
                                .collect()
                        })
                        .collect()
                };
                self.apply(
                    Command::RecordMedia(MediaPath {
                        participant: p,
                        route,
                        candidate_types: clip(candidate_types),
                        codecs: clip(codecs),
                    }),
                    now,
                    step,
                );
                return;
            }
            ClientMessage::Conclude {
                report,
                prescriptions,
            } => {
                if !role.is_professional() {
                    return forbidden(step, "conclude the act");
                }
                let conclusion = Conclusion {
                    report: Pii::new(report),
                    prescriptions: prescriptions
                        .into_iter()
                        .map(|x| Prescription {
                            kind: x.kind,
                            text: Pii::new(x.text),
                        })
                        .collect(),
                };
                if self.apply_as(Some(p), Command::Conclude(conclusion), now, step) {
                    self.end_for_all(step);
                }
            }
            ClientMessage::Cancel { reason } => {
                if !role.is_professional() {
                    return forbidden(step, "cancel the act");
                }
                if self.apply_as(Some(p), Command::Cancel(reason), now, step) {
                    self.end_for_all(step);
                }
            }
            ClientMessage::Stats(report) => {
                // A report racing with the end of media is moot, not wrong.
                if self.media_allowed(p) {
                    let sample = report.to_sample();
                    let events = self.detector.observe(p, &sample, now);
                    self.record_incidents(events, now, step);
                    self.follow_route(p, sample.route, now, step);
                }
                return;
            }
            ClientMessage::Mode {
                mode,
                cause,
                participant,
            } => {
                let target = participant.map_or(p, ParticipantId);
                self.apply_as(
                    Some(p),
                    Command::ChangeMode {
                        participant: target,
                        mode,
                        cause,
                        by: p,
                    },
                    now,
                    step,
                );
                return;
            }
            ClientMessage::CallbackNumber { number } => {
                match PhoneNumber::parse(&number) {
                    Ok(number) => {
                        self.apply(
                            Command::GiveCallbackNumber {
                                participant: p,
                                number: Pii::new(number),
                            },
                            now,
                            step,
                        );
                    }
                    Err(e) => step
                        .outputs
                        .push(error(conn, ErrorCode::Refused, &e.to_string())),
                }
                return;
            }
            ClientMessage::Leave {} => {
                self.conns.remove(&p);
                self.media_on.remove(&p);
                self.revoke_relay_of(p, step);
                self.apply(
                    Command::Leave {
                        participant: p,
                        reason: LeaveReason::LeftByChoice,
                    },
                    now,
                    step,
                );
                step.outputs.push(Output::Close {
                    conn,
                    reason: LeaveReason::LeftByChoice,
                });
            }
        }
        self.broadcast_state(step);
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

    /// A participant's connection dropped: an incident opens, and the
    /// clock of [`Room::tick`] starts.
    fn lose(&mut self, p: ParticipantId, now: Timestamp, silent_ms: u64, step: &mut Step) {
        if self.act.phase.is_terminal() || self.lost.contains_key(&p) {
            return;
        }
        self.lost.insert(p, (now, silent_ms));
        self.apply(
            Command::OpenIncident {
                kind: IncidentKind::SignalingDisconnected,
                participant: Some(p),
                metrics: [("silent_before_ms".to_string(), silent_ms as f64)].into(),
            },
            now,
            step,
        );
    }

    /// A lost participant is back: their incident closes (its duration is
    /// the time they were away) and an interruption they caused ends.
    fn returned(&mut self, p: ParticipantId, now: Timestamp, step: &mut Step) {
        let Some((since, silent_ms)) = self.lost.remove(&p) else {
            return;
        };
        let open = self.act.incidents.iter().rev().find(|i| {
            i.kind == IncidentKind::SignalingDisconnected
                && i.participant == Some(p)
                && i.closed_at.is_none()
        });
        if let Some(incident) = open.map(|i| i.id) {
            self.apply(
                Command::CloseIncident {
                    incident,
                    metrics: [
                        (
                            "reconnected_after_ms".to_string(),
                            millis(since, now) as f64,
                        ),
                        // From the last frame heard to the return.
                        (
                            "outage_ms".to_string(),
                            (millis(since, now) + silent_ms) as f64,
                        ),
                    ]
                    .into(),
                },
                now,
                step,
            );
        }
        if self.act.is_interrupted_by(p) {
            self.apply(Command::Resume { participant: p }, now, step);
        }
    }

    /// The earliest time a participant lost during the performance will
    /// have stayed away for the recovery timeout (see [`Room::tick`]).
    fn recovery_deadline(&self) -> Option<Timestamp> {
        if self.act.phase != Phase::Performance {
            return None;
        }
        self.lost
            .iter()
            .filter(|(p, _)| !self.act.is_interrupted_by(**p))
            .map(|(_, (since, _))| since.plus(self.recovery_timeout))
            .min()
    }

    /// Marks the act interrupted when a participant lost during the
    /// performance stays away longer than the recovery timeout.
    fn tick(&mut self, now: Timestamp, step: &mut Step) {
        if self.act.phase != Phase::Performance {
            return;
        }
        let limit = u64::try_from(self.recovery_timeout.as_millis()).unwrap_or(u64::MAX);
        let overdue: Vec<(ParticipantId, u64)> = self
            .lost
            .iter()
            .filter(|(p, _)| !self.act.is_interrupted_by(**p))
            .map(|(p, (since, _))| (*p, millis(*since, now)))
            .filter(|(_, ms)| *ms >= limit)
            .collect();
        for &(participant, lost_for_ms) in &overdue {
            self.apply(
                Command::Interrupt {
                    participant,
                    lost_for_ms,
                },
                now,
                step,
            );
        }
        if !overdue.is_empty() {
            self.broadcast_state(step);
        }
    }

    /// Judges the relay's view of every participant allowed media (those
    /// absent from `traffic` have no allocation). Participants not allowed
    /// media are not judged: the allocations the server revokes when
    /// consent is withdrawn or the act ends are not lost ones.
    fn relay_traffic(
        &mut self,
        traffic: &BTreeMap<ParticipantId, RelaySample>,
        now: Timestamp,
        step: &mut Step,
    ) {
        let watched: Vec<ParticipantId> = self.relay_watched().collect();
        for p in watched {
            let sample = traffic.get(&p).copied().unwrap_or_default();
            let events = self.relay_detector.observe(p, &sample, now);
            self.record_incidents(events, now, step);
        }
    }

    /// The participants whose relay traffic is judged: allowed media, and
    /// not reported on a direct pair.
    fn relay_watched(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.conns
            .keys()
            .copied()
            .filter(|p| self.media_allowed(*p) && !self.off_relay.contains(p))
    }

    /// Follows the route a participant's client reports. Moving to a direct
    /// pair ends the relay's watch of them (closing what it had open: the
    /// media did not stop, it moved); moving back starts a fresh watch.
    fn follow_route(
        &mut self,
        p: ParticipantId,
        route: Option<MediaRoute>,
        now: Timestamp,
        step: &mut Step,
    ) {
        match route {
            // Only the first direct report after the relay ends the watch.
            Some(MediaRoute::Direct) if self.off_relay.insert(p) => {
                let events = self.relay_detector.leave(p, now);
                self.record_incidents(events, now, step);
            }
            Some(MediaRoute::Relay) => {
                self.off_relay.remove(&p);
            }
            _ => {}
        }
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

    /// Records the detector's decisions in the act. A close whose incident
    /// the act already closed (the act ended meanwhile) has nothing to do.
    fn record_incidents(&mut self, events: Vec<IncidentEvent>, now: Timestamp, step: &mut Step) {
        for event in events {
            let key = event.key();
            let opened_as = match event {
                IncidentEvent::Open { .. } => None,
                IncidentEvent::Close { .. } => {
                    let Some(id) = self.incident_ids.remove(&key) else {
                        continue;
                    };
                    if self
                        .act
                        .incidents
                        .iter()
                        .any(|i| i.id == id && i.closed_at.is_some())
                    {
                        continue;
                    }
                    Some(id)
                }
            };
            let Some(command) = event.to_command(opened_as) else {
                continue;
            };
            if self.apply(command, now, step)
                && opened_as.is_none()
                && let Some(opened) = self.act.incidents.last()
            {
                self.incident_ids.insert(key, opened.id);
            }
        }
    }

    /// A participant whose media stopped (gone, consent withdrawn, act
    /// ended) reports no more, and its relay allocations are not watched:
    /// its open incidents end now.
    fn close_incidents_without_media(&mut self, now: Timestamp, step: &mut Step) {
        let gone: Vec<ParticipantId> = self
            .detector
            .participants()
            .filter(|p| !self.media_allowed(*p))
            .collect();
        for p in gone {
            let events = self.detector.leave(p, now);
            self.record_incidents(events, now, step);
        }
        let gone: Vec<ParticipantId> = self
            .relay_detector
            .participants()
            .filter(|p| !self.media_allowed(*p))
            .collect();
        for p in gone {
            let events = self.relay_detector.leave(p, now);
            self.record_incidents(events, now, step);
        }
    }

    /// Tells professionals (and, for mode changes, everyone) what the
    /// step's events mean live; see [`crate::live`].
    fn notify_live(&self, step: &mut Step) {
        for (audience, msg) in live::notifications(&self.act, &step.events) {
            for (&viewer, &conn) in &self.conns {
                let pro = self.role(viewer).is_some_and(Role::is_professional);
                if audience == Audience::Everyone || pro {
                    step.outputs.push(Output::Send {
                        conn,
                        msg: msg.clone(),
                    });
                }
            }
        }
    }

    /// Starts the performance once consent stands and the patient, if
    /// present, was admitted.
    fn maybe_start(&mut self, now: Timestamp, step: &mut Step) {
        if self.act.phase != Phase::Preparation || !self.act.consent.allows_media() {
            return;
        }
        let patient_in = match self.act.participant_with_role(Role::Patient) {
            Some(patient) if self.act.patient_present => self.act.admitted.contains(&patient.id),
            _ => true,
        };
        if patient_in {
            self.apply(Command::StartPerformance, now, step);
        }
    }

    /// The act is over: tell everyone and close. (The trace's terminal
    /// event marks the end; no leave is recorded after it.)
    fn end_for_all(&mut self, step: &mut Step) {
        let reason = format!("the act is {}", self.act.phase);
        let conns = std::mem::take(&mut self.conns);
        self.media_on.clear();
        for conn in conns.into_values() {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::StopMedia {
                    reason: reason.clone(),
                },
            });
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::Ended {
                    reason: reason.clone(),
                },
            });
            step.outputs.push(Output::Close {
                conn,
                reason: LeaveReason::ActEnded,
            });
        }
    }

    /// A participant left the session by choice, or was put out: their
    /// relay credentials (call and connection test) and allocations go now,
    /// not at the act's end.
    fn revoke_relay_of(&mut self, p: ParticipantId, step: &mut Step) {
        if !self.relay_ended && self.relay_left.insert(p) {
            step.outputs.push(Output::RevokeRelay(vec![p]));
        }
    }

    /// Sends ICE servers to whoever just became allowed media, and
    /// `stop_media` to whoever just lost it.
    fn announce_media(&mut self, step: &mut Step) {
        let connected: Vec<(ParticipantId, ConnId)> =
            self.conns.iter().map(|(p, c)| (*p, *c)).collect();
        for (p, conn) in connected {
            let allowed = self.media_allowed(p);
            if allowed && self.media_on.insert(p) {
                if self.relay_left.remove(&p) {
                    step.outputs.push(Output::ReopenRelayFor(p));
                }
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::IceServers {
                        servers: (self.ice)(self.act.id, p),
                    },
                });
            } else if !allowed && self.media_on.remove(&p) {
                step.outputs.push(Output::Send {
                    conn,
                    msg: ServerMessage::StopMedia {
                        reason: "media is no longer allowed (consent withdrawn)".into(),
                    },
                });
            }
        }
        // Participants no longer connected lose their media status.
        let conns = &self.conns;
        self.media_on.retain(|p| conns.contains_key(p));
        // Relay access follows the act's permission as a whole.
        // An act that ends revokes every credential issued for it, its
        // connection-test ones included, whether media ever flowed or not.
        let act_media = self.act.media_allowed();
        let ended = self.act.phase.is_terminal();
        if (self.act_media && !act_media) || (ended && !self.relay_ended) {
            step.outputs.push(Output::RevokeRelay(
                self.act.participants.iter().map(|p| p.id).collect(),
            ));
            self.relay_revoked = true;
            self.relay_ended = ended;
        } else if !self.act_media && act_media && self.relay_revoked {
            step.outputs.push(Output::ReopenRelay);
            self.relay_revoked = false;
        }
        self.act_media = act_media;
    }

    fn broadcast_state(&self, step: &mut Step) {
        for (&viewer, &conn) in &self.conns {
            step.outputs.push(Output::Send {
                conn,
                msg: ServerMessage::State(self.view_for(viewer)),
            });
        }
    }

    /// The room as `viewer` may see it: professionals' names for everyone,
    /// the patient's alias and a companion's name for professionals only.
    pub fn view_for(&self, viewer: ParticipantId) -> RoomView {
        let viewer_is_pro = self.role(viewer).is_some_and(Role::is_professional);
        let participants = self
            .act
            .participants
            .iter()
            .map(|x| {
                let display_name = match &x.identity {
                    Identity::Professional { name, .. } => Some(name.expose().clone()),
                    Identity::Patient { alias } if viewer_is_pro => {
                        Some(alias.expose().as_str().to_string())
                    }
                    Identity::Companion { name } if viewer_is_pro => Some(name.expose().clone()),
                    _ => None,
                };
                ParticipantView {
                    id: x.id.0,
                    role: x.role,
                    display_name,
                    connected: self.conns.contains_key(&x.id),
                    admitted: x.role.is_professional() || self.act.admitted.contains(&x.id),
                    connection: self.act.connection_verdict(x.id).filter(|_| viewer_is_pro),
                    reconnecting: self.lost.contains_key(&x.id),
                }
            })
            .collect();
        RoomView {
            phase: self.act.phase,
            participants,
            consent_given: self.act.consent.allows_media(),
            interrupted: !self.act.interrupted.is_empty(),
            media_allowed: self.media_allowed(viewer),
        }
    }
}

/// Milliseconds from `since` to `now`, zero if the clock went back.
fn millis(since: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(now.since(since).as_millis()).unwrap_or(u64::MAX)
}

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
    use super::*;
    use crate::protocol::SignalData;
    use session::act::ActKind;
    use session::{ActEvent, ActId, PatientAlias};

    const PRO: ParticipantId = ParticipantId(1);
    const PATIENT: ParticipantId = ParticipantId(2);

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
    }

    fn room() -> Room {
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
        act.handle(
            Command::Register {
                role: Role::Requester,
                identity: Identity::Professional {
                    name: Pii::new("Dr Fictif".into()),
                    rpps: Pii::new("10000000009".parse().unwrap()),
                },
            },
            t(0),
        )
        .unwrap();
        act.handle(
            Command::Register {
                role: Role::Patient,
                identity: Identity::Patient {
                    alias: Pii::new("dossier-1".parse::<PatientAlias>().unwrap()),
                },
            },
            t(0),
        )
        .unwrap();
        Room::new(act, vec![])
    }

    fn hello(room: &mut Room, conn: ConnId, p: ParticipantId) -> Step {
        room.handle(
            Input::Hello {
                conn,
                participant: p,
                user_agent: "test".into(),
            },
            t(1),
        )
    }

    fn say(room: &mut Room, conn: ConnId, msg: ClientMessage) -> Step {
        room.handle(Input::Message { conn, msg }, t(2))
    }

    fn sent_to(step: &Step, conn: ConnId) -> Vec<&ServerMessage> {
        step.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { conn: c, msg } if *c == conn => Some(msg),
                _ => None,
            })
            .collect()
    }

    fn consent(room: &mut Room, conn: ConnId) -> Step {
        let sha = consent_text::patient_texts()[0].sha256.clone();
        say(
            room,
            conn,
            ClientMessage::Consent {
                accept: true,
                language: "fr".into(),
                text_sha256: sha,
            },
        )
    }

    fn offer() -> SignalData {
        SignalData::Offer { sdp: "v=0".into() }
    }

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

    /// A room in performance: the professional on conn 10, the patient on
    /// 20, consent given and the patient admitted.
    fn live_room(timeout_s: u64) -> Room {
        let mut r = room().with_recovery_timeout(Duration::from_secs(timeout_s));
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        assert_eq!(r.act().phase, Phase::Performance);
        r
    }

    fn kinds(step: &Step) -> Vec<&'static str> {
        step.events.iter().map(|e| e.body.kind()).collect()
    }

    #[test]
    fn a_lost_connection_waits_then_interrupts_and_the_return_resumes() {
        let mut r = live_room(30);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left", "incident_opened"]);
        let view = r.view_for(PRO);
        assert!(
            view.participants
                .iter()
                .any(|p| p.id == 2 && p.reconnecting)
        );
        // Ticks before the timeout change nothing; the one after it
        // interrupts, once.
        for at in [11, 20, 39] {
            assert!(r.handle(Input::Tick, t(at)).events.is_empty(), "at {at}");
        }
        let s = r.handle(Input::Tick, t(40));
        assert_eq!(kinds(&s), ["interrupted"]);
        assert!(matches!(
            s.events[0].body,
            ActEvent::Interrupted {
                lost_for_ms: 30_000,
                ..
            }
        ));
        assert!(r.view_for(PRO).interrupted);
        assert!(r.handle(Input::Tick, t(41)).events.is_empty());
        // Back 50 s after the loss: the incident closes, the act resumes.
        let s = r.handle(
            Input::Hello {
                conn: 21,
                participant: PATIENT,
                user_agent: "test".into(),
            },
            t(60),
        );
        assert_eq!(kinds(&s)[..3], ["incident_closed", "resumed", "joined"]);
        assert!(matches!(
            s.events[0].body,
            ActEvent::IncidentClosed {
                duration_ms: 50_000,
                ..
            }
        ));
        assert!(matches!(
            s.events[1].body,
            ActEvent::Resumed {
                interrupted_ms: 20_000,
                ..
            }
        ));
        let view = r.view_for(PRO);
        assert!(!view.interrupted);
        assert!(view.participants.iter().all(|p| !p.reconnecting));
    }

    #[test]
    fn the_room_asks_to_be_woken_at_its_recovery_deadline() {
        let mut r = live_room(30);
        assert_eq!(r.poll_timeout(), None, "nothing to wait for");
        let lost = |conn| Input::Closed {
            conn,
            reason: LeaveReason::ConnectionLost,
            silent_ms: 0,
        };
        r.handle(lost(20), t(10));
        assert_eq!(r.poll_timeout(), Some(t(40)));
        r.handle(lost(10), t(15));
        assert_eq!(r.poll_timeout(), Some(t(40)), "the earliest deadline");
        assert_eq!(kinds(&r.handle(Input::Tick, t(40))), ["interrupted"]);
        assert_eq!(r.poll_timeout(), Some(t(45)));
        r.handle(Input::Tick, t(45));
        assert_eq!(r.poll_timeout(), None, "both interrupted");

        // In the waiting room, a drop is waited for by no deadline.
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        r.handle(lost(20), t(10));
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn the_relay_is_read_every_second_while_someone_may_use_it() {
        let mut r = room().with_relay_sampling(Duration::from_secs(1));
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        assert_eq!(r.poll_timeout(), None, "no media yet");
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        // On the grid of the first input (1 s), the next point after 2 s.
        assert_eq!(r.poll_timeout(), Some(t(3)));
        assert!(!r.relay_sample_due(t(2)));
        assert!(r.relay_sample_due(t(3)));
        r.handle(relay(Some(10), 3), t(3));
        assert_eq!(r.poll_timeout(), Some(t(4)));
        // A late wake keeps the grid.
        r.handle(relay(Some(20), 5), t(5).plus(Duration::from_millis(500)));
        assert_eq!(r.poll_timeout(), Some(t(6)));
        // Everyone on a direct pair: nothing to read.
        say(&mut r, 10, route_report(MediaRoute::Direct));
        say(&mut r, 20, route_report(MediaRoute::Direct));
        assert_eq!(r.poll_timeout(), None);
        // Without a relay, nothing is read either.
        assert_eq!(live_room(30).poll_timeout(), None);
    }

    #[test]
    fn leaving_by_choice_or_before_the_call_is_no_interruption() {
        let mut r = live_room(5);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::LeftByChoice,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left"], "a choice is no incident");
        assert!(r.handle(Input::Tick, t(100)).events.is_empty());

        // In the waiting room, a drop is an incident but never interrupts.
        let mut r = room().with_recovery_timeout(Duration::from_secs(5));
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(10),
        );
        assert_eq!(kinds(&s), ["left", "incident_opened"]);
        assert!(r.handle(Input::Tick, t(100)).events.is_empty());
    }

    /// The patient's relay traffic at `at` seconds: `sent` datagrams so
    /// far, the last one at `last` seconds; `None`: no allocation.
    fn relay(sent: Option<u64>, last: i64) -> Input {
        let mut traffic = BTreeMap::new();
        if let Some(sent) = sent {
            traffic.insert(
                PATIENT,
                RelaySample {
                    allocations: 1,
                    generation: 1,
                    sent_packets: sent,
                    sent_bytes: sent * 1000,
                    last_sent_at: Some(t(last)),
                    ..RelaySample::default()
                },
            );
        }
        Input::RelayTraffic(traffic)
    }

    #[test]
    fn the_relay_s_view_opens_incidents_but_not_for_what_the_server_revokes() {
        let mut r = live_room(30);
        // The allocation appears, carries media, then is deleted: one
        // incident, closed by a new allocation.
        r.handle(relay(None, 0), t(3));
        for at in 4..8 {
            assert!(
                r.handle(relay(Some(50 * (at - 3) as u64), at), t(at))
                    .events
                    .is_empty()
            );
        }
        let s = r.handle(relay(None, 0), t(8));
        assert_eq!(kinds(&s), ["incident_opened"]);
        let ActEvent::IncidentOpened {
            kind, participant, ..
        } = &s.events[0].body
        else {
            panic!("{s:?}");
        };
        assert_eq!(
            (*kind, *participant),
            (IncidentKind::RelayAllocationLost, Some(PATIENT))
        );
        assert!(
            r.handle(relay(None, 0), t(9)).events.is_empty(),
            "one incident"
        );
        let s = r.handle(relay(Some(0), 0), t(10));
        assert_eq!(kinds(&s), ["incident_closed"]);
        // Media on the new allocation, then consent withdrawn: the server
        // revokes the allocations, which is no incident.
        for at in 11..15 {
            r.handle(relay(Some(50 * (at - 10) as u64), at), t(at));
        }
        let s = say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
        for at in 15..25 {
            let s = r.handle(relay(None, 0), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        assert_eq!(r.act().incidents.len(), 1);
    }

    fn route_report(route: MediaRoute) -> ClientMessage {
        ClientMessage::Stats(crate::protocol::StatsReport {
            route: Some(route),
            ..Default::default()
        })
    }

    #[test]
    fn media_moving_off_the_relay_is_no_stopped_media() {
        let mut r = live_room(30);
        for at in 3..8 {
            r.handle(relay(Some(50 * (at - 2) as u64), at), t(at));
        }
        // The relayed media stops: an incident opens...
        let mut opened = None;
        for at in 8..13 {
            let s = r.handle(relay(Some(250), 7), t(at));
            if !s.events.is_empty() {
                opened = Some(kinds(&s));
            }
        }
        assert_eq!(opened.as_deref(), Some(&["incident_opened"][..]));
        // ...and the client says its pair is now direct: the media moved, so
        // the incident ends, and the idle allocation is no longer judged.
        let s = say(&mut r, 20, route_report(MediaRoute::Direct));
        assert_eq!(kinds(&s), ["incident_closed"]);
        for at in 13..30 {
            let s = r.handle(relay(Some(250), 7), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        // Back on the relay (the client's detector records that fall back),
        // a fresh watch: media flowing is no incident.
        say(&mut r, 20, route_report(MediaRoute::Relay));
        for at in 30..36 {
            let s = r.handle(relay(Some(250 + 50 * (at - 29) as u64), at), t(at));
            assert!(s.events.is_empty(), "at {at}: {:?}", kinds(&s));
        }
        let stopped = r
            .act()
            .incidents
            .iter()
            .filter(|i| i.kind == IncidentKind::RelayMediaStopped)
            .count();
        assert_eq!(stopped, 1);
    }

    #[test]
    fn a_consent_sent_twice_is_recorded_once() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let given = |s: &Step| {
            s.events
                .iter()
                .filter(|e| e.body.kind() == "consent_given")
                .count()
        };
        assert_eq!(given(&consent(&mut r, 20)), 1);
        // The same frame again (resent after a lost connection): nothing
        // is recorded, and it is no error.
        let s = consent(&mut r, 20);
        assert_eq!(given(&s), 0, "{:?}", s.events);
        assert!(
            !sent_to(&s, 20)
                .iter()
                .any(|m| matches!(m, ServerMessage::Error { .. })),
            "{:?}",
            s.outputs
        );
        assert!(r.act().consent.allows_media());
        // After a withdrawal, a new consent is recorded.
        say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert_eq!(given(&consent(&mut r, 20)), 1);
    }

    #[test]
    fn withdrawal_stops_media_at_once() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        let s = say(&mut r, 20, ClientMessage::WithdrawConsent {});
        assert!(
            s.events
                .iter()
                .any(|e| e.body.kind() == "consent_withdrawn")
        );
        for conn in [10, 20] {
            assert!(
                sent_to(&s, conn)
                    .iter()
                    .any(|m| matches!(m, ServerMessage::StopMedia { .. }))
            );
        }
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])),
            "relay credentials are revoked for the whole act"
        );
        let s = say(
            &mut r,
            10,
            ClientMessage::Signal {
                to: 2,
                data: offer(),
            },
        );
        assert!(sent_to(&s, 20).is_empty(), "no relaying after withdrawal");
        // Consent given anew: credentials may be issued again.
        let s = consent(&mut r, 20);
        assert!(s.outputs.contains(&Output::ReopenRelay), "{:?}", s.outputs);
        // The act's end revokes them for good.
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: "RAS".into(),
                prescriptions: vec![],
            },
        );
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
    }

    #[test]
    fn a_participant_who_leaves_or_is_put_out_loses_relay_access_until_back() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        consent(&mut r, 20);
        say(&mut r, 10, ClientMessage::Admit { participant: 2 });
        let revokes = |s: &Step| {
            s.outputs
                .iter()
                .filter(|o| matches!(o, Output::RevokeRelay(_)))
                .count()
        };
        // A dropped connection keeps its relay path: they are expected back.
        let s = r.handle(
            Input::Closed {
                conn: 20,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(2),
        );
        assert_eq!(revokes(&s), 0, "{:?}", s.outputs);
        hello(&mut r, 21, PATIENT);
        // Leaving by choice revokes that participant's credentials only.
        let s = say(&mut r, 21, ClientMessage::Leave {});
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PATIENT])),
            "{:?}",
            s.outputs
        );
        assert_eq!(revokes(&s), 1);
        // Back while media is allowed: reopened before the ICE servers that
        // carry the new credentials.
        let s = hello(&mut r, 22, PATIENT);
        let reopen = s
            .outputs
            .iter()
            .position(|o| *o == Output::ReopenRelayFor(PATIENT))
            .expect("the returning participant is reopened");
        let ice = s
            .outputs
            .iter()
            .position(|o| {
                matches!(
                    o,
                    Output::Send {
                        conn: 22,
                        msg: ServerMessage::IceServers { .. }
                    }
                )
            })
            .expect("the returning participant gets ICE servers");
        assert!(reopen < ice, "{:?}", s.outputs);
        // Put out for breaking the protocol: revoked as well.
        let s = r.handle(
            Input::Closed {
                conn: 22,
                reason: LeaveReason::ProtocolViolation,
                silent_ms: 0,
            },
            t(2),
        );
        assert!(
            s.outputs.contains(&Output::RevokeRelay(vec![PATIENT])),
            "{:?}",
            s.outputs
        );
        // The professional was never revoked.
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: "RAS".into(),
                prescriptions: vec![],
            },
        );
        assert!(s.outputs.contains(&Output::RevokeRelay(vec![PRO, PATIENT])));
    }

    #[test]
    fn roles_are_enforced() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let s = say(&mut r, 20, ClientMessage::Admit { participant: 2 });
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = say(
            &mut r,
            20,
            ClientMessage::Cancel {
                reason: session::CancelReason::ByProfessional,
            },
        );
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = consent(&mut r, 10);
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        // An unknown consent text is refused.
        let s = say(
            &mut r,
            20,
            ClientMessage::Consent {
                accept: true,
                language: "fr".into(),
                text_sha256: "00".into(),
            },
        );
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }
        ));
        assert!(!r.act().consent.allows_media());
    }

    #[test]
    fn patient_sees_the_doctor_but_not_its_own_alias_listed_to_others() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        hello(&mut r, 20, PATIENT);
        let patient_view = r.view_for(PATIENT);
        assert_eq!(
            patient_view.participants[0].display_name.as_deref(),
            Some("Dr Fictif")
        );
        assert_eq!(patient_view.participants[1].display_name, None);
        let pro_view = r.view_for(PRO);
        assert_eq!(
            pro_view.participants[1].display_name.as_deref(),
            Some("dossier-1")
        );
    }

    #[test]
    fn reconnect_replaces_the_old_connection() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = hello(&mut r, 11, PRO);
        assert!(s.outputs.contains(&Output::Close {
            conn: 10,
            reason: LeaveReason::Replaced
        }));
        assert_eq!(r.connected(), 1);
        let kinds: Vec<_> = s.events.iter().map(|e| e.body.kind()).collect();
        assert_eq!(kinds, ["left", "joined"]);
        // The old connection closing later changes nothing.
        let s = r.handle(
            Input::Closed {
                conn: 10,
                reason: LeaveReason::ConnectionLost,
                silent_ms: 0,
            },
            t(3),
        );
        assert!(s.events.is_empty());
        assert_eq!(r.connected(), 1);
    }

    #[test]
    fn teleexpertise_without_patient_starts_on_attested_consent() {
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleexpertise, false, t(0));
        for (role, rpps) in [
            (Role::Requester, "10000000009"),
            (Role::Expert, "10101010105"),
        ] {
            act.handle(
                Command::Register {
                    role,
                    identity: Identity::Professional {
                        name: Pii::new("Dr Fictif".into()),
                        rpps: Pii::new(rpps.parse().unwrap()),
                    },
                },
                t(0),
            )
            .unwrap();
        }
        act.handle(
            Command::Register {
                role: Role::Patient,
                identity: Identity::Patient {
                    alias: Pii::new("dossier-2".parse::<PatientAlias>().unwrap()),
                },
            },
            t(0),
        )
        .unwrap();
        let mut r = Room::new(act, vec![]);
        let s = hello(&mut r, 10, PRO);
        let ServerMessage::Welcome { consent_texts, .. } = sent_to(&s, 10)[0] else {
            panic!("welcome first");
        };
        assert_eq!(consent_texts.len(), 1, "the attestation text");
        hello(&mut r, 11, ParticipantId(2));
        // The expert may not attest; the requester may.
        let sha = consent_texts[0].sha256.clone();
        let s = say(
            &mut r,
            11,
            ClientMessage::AttestConsent {
                text_sha256: sha.clone(),
            },
        );
        assert!(matches!(
            sent_to(&s, 11)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = say(
            &mut r,
            10,
            ClientMessage::AttestConsent { text_sha256: sha },
        );
        assert_eq!(r.act().phase, Phase::Performance);
        assert!(s.events.iter().any(|e| e.body.kind() == "consent_given"));
        assert!(r.media_allowed(PRO) && r.media_allowed(ParticipantId(2)));
    }

    #[test]
    fn refusals_reach_whoever_asked() {
        let mut r = room();
        hello(&mut r, 10, PRO);
        let s = say(
            &mut r,
            10,
            ClientMessage::Conclude {
                report: " ".into(),
                prescriptions: vec![],
            },
        );
        assert!(matches!(
            sent_to(&s, 10)[0],
            ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }
        ));
        assert!(s.events.is_empty());
    }

    #[test]
    fn a_spent_budget_refuses_records_but_never_a_first_consent_or_a_withdrawal() {
        let mut room = room().with_budget(BudgetLimits {
            participant_per_minute: 2,
            participant_total: 2,
            act_per_minute: 10,
            act_total: 10,
            ..BudgetLimits::default()
        });
        hello(&mut room, 10, PATIENT);
        let mode = |m| ClientMessage::Mode {
            mode: m,
            cause: session::mode::ModeCause::Automatic,
            participant: None,
        };
        use session::mode::MediaMode;
        assert_eq!(
            say(&mut room, 10, mode(MediaMode::AudioOnly)).events.len(),
            1
        );
        assert_eq!(say(&mut room, 10, mode(MediaMode::Video)).events.len(), 1);
        let refused = say(&mut room, 10, mode(MediaMode::AudioOnly));
        assert!(refused.events.is_empty(), "nothing appended");
        assert!(matches!(
            sent_to(&refused, 10)[..],
            [ServerMessage::Error {
                code: ErrorCode::Refused,
                ..
            }]
        ));
        // The first consent and its withdrawal still pass.
        let given = consent(&mut room, 10);
        assert!(
            given
                .events
                .iter()
                .any(|e| matches!(e.body, ActEvent::ConsentGiven(_)))
        );
        let withdrawn = say(&mut room, 10, ClientMessage::WithdrawConsent {});
        assert!(
            withdrawn
                .events
                .iter()
                .any(|e| matches!(e.body, ActEvent::ConsentWithdrawn { .. }))
        );
        // A consent after a withdrawal is budgeted (else consent/withdraw
        // cycles would be an unbounded flood).
        assert!(consent(&mut room, 10).events.is_empty());
    }

    #[test]
    fn a_call_back_number_resent_unchanged_is_recorded_once() {
        // Budget of two events: the resends below must not spend it.
        let mut room = room().with_budget(BudgetLimits {
            participant_per_minute: 2,
            participant_total: 2,
            ..BudgetLimits::default()
        });
        hello(&mut room, 10, PATIENT);
        let number = |n: &str| ClientMessage::CallbackNumber { number: n.into() };
        let recorded = |step: &Step| {
            step.events
                .iter()
                .filter(|e| matches!(e.body, ActEvent::CallbackNumberGiven { .. }))
                .count()
        };
        assert_eq!(recorded(&say(&mut room, 10, number("06 12 34 56 78"))), 1);
        // Resent after a lost confirmation (same digits, other spacing):
        // no event, no error, no budget spent.
        for _ in 0..3 {
            let again = say(&mut room, 10, number("0612345678"));
            assert!(
                again.events.is_empty(),
                "recorded twice: {:?}",
                again.events
            );
            assert!(sent_to(&again, 10).is_empty(), "{:?}", again.outputs);
        }
        // A different number is recorded.
        assert_eq!(recorded(&say(&mut room, 10, number("06 98 76 54 32"))), 1);
    }

    #[test]
    fn a_join_refused_by_its_budget_says_when_to_retry_or_that_it_is_spent() {
        let mut room = room().with_budget(BudgetLimits {
            joins_per_minute: 2,
            joins_total: 3,
            ..BudgetLimits::default()
        });
        let join = |room: &mut Room, conn: ConnId, at: i64| {
            room.handle(
                Input::Hello {
                    conn,
                    participant: PATIENT,
                    user_agent: "test".into(),
                },
                t(at),
            )
        };
        let refusal = |step: &Step| {
            step.outputs.iter().find_map(|o| match o {
                Output::RefuseJoin {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                Output::Close {
                    reason: LeaveReason::ProtocolViolation,
                    ..
                } => panic!("closed as a violation"),
                _ => None,
            })
        };
        assert_eq!(refusal(&join(&mut room, 20, 1)), None);
        assert_eq!(refusal(&join(&mut room, 21, 11)), None);
        // The minute that began at 1 s ends at 61 s: 50 s from 11 s.
        let later = join(&mut room, 22, 11);
        assert_eq!(refusal(&later), Some(Some(50)));
        assert!(matches!(
            sent_to(&later, 22)[..],
            [ServerMessage::Error { code: ErrorCode::Refused, message }]
                if message.contains("try again in 50 s")
        ));
        assert!(later.events.is_empty());
        assert_eq!(refusal(&join(&mut room, 23, 61)), None);
        // The act's total is spent: no retry to offer.
        assert_eq!(refusal(&join(&mut room, 24, 200)), Some(None));
    }

    #[test]
    fn messages_before_hello_are_refused() {
        let mut r = room();
        let s = say(&mut r, 99, ClientMessage::Ping {});
        assert!(matches!(
            sent_to(&s, 99)[0],
            ServerMessage::Error {
                code: ErrorCode::HelloFirst,
                ..
            }
        ));
        assert!(s.events.is_empty());
    }
}
