//! The telemedicine act and its lifecycle.
//!
//! An act moves forward through the four phases of the HAS/ANAP generic
//! process (request → preparation → performance → conclusion) and ends
//! closed, or cancelled from any open phase. It never moves back.
//!
//! [`Act::handle`] is the one transition function: it takes a [`Command`] and
//! the current time, checks the rules, and returns the [`Event`]s to append
//! to the trace, having applied them. [`Act::replay`] rebuilds an act from
//! its trace with the same [`Act::apply`], so the trace is the truth.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::conclusion::Conclusion;
use crate::consent::{Consent, ConsentLedger, ConsentMethod, ConsentScope};
use crate::event::{ActEvent, Event};
use crate::ids::{ActId, ParticipantId};
use crate::incident::{IncidentId, IncidentKind, Metrics, clean_metrics};
use crate::mode::{MediaMode, ModeCause, PhoneNumber};
use crate::participant::{Identity, Participant, Role};
use crate::pii::Pii;
use crate::precall::{ConnectionTest, Verdict};
use crate::timestamp::Timestamp;

/// The two kinds of act this product carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActKind {
    /// A professional consults a patient at a distance.
    Teleconsultation,
    /// A requesting professional asks an expert's opinion.
    Teleexpertise,
}

impl ActKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActKind::Teleconsultation => "teleconsultation",
            ActKind::Teleexpertise => "teleexpertise",
        }
    }
}

impl fmt::Display for ActKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "teleconsultation" | "téléconsultation" => Ok(ActKind::Teleconsultation),
            "teleexpertise" | "téléexpertise" => Ok(ActKind::Teleexpertise),
            _ => Err(Error::InvalidInput(format!(
                "{s:?} is not an act kind: use teleconsultation or teleexpertise"
            ))),
        }
    }
}

/// Where an act is in its life. The order of the variants is the order of
/// the lifecycle; `Closed` and `Cancelled` are terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Demande: the need is identified and the act requested.
    Request,
    /// Préparation: participants invited, devices checked, consent collected.
    Preparation,
    /// Réalisation: the live session.
    Performance,
    /// Conclusion: the report and prescriptions are being written.
    Conclusion,
    /// The report is recorded; nothing more can happen.
    Closed,
    /// Ended before its conclusion.
    Cancelled,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Closed | Phase::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Preparation => "preparation",
            Phase::Performance => "performance",
            Phase::Conclusion => "conclusion",
            Phase::Closed => "closed",
            Phase::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an act was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    ByProfessional,
    PatientAbsent,
    ConsentRefused,
    TechnicalFailure,
}

/// What a participant or the system asks of an act.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Register a participant. At most one patient, one requester and one
    /// expert, and at most [`Act::MAX_PARTICIPANTS`] in all.
    Register {
        role: Role,
        identity: Identity,
    },
    /// Request → preparation.
    Prepare,
    GiveConsent(Consent),
    WithdrawConsent {
        scopes: Vec<ConsentScope>,
        by: ParticipantId,
    },
    /// Preparation → performance. Needs consent to the act.
    StartPerformance,
    /// Performance → conclusion.
    EndPerformance,
    /// Record the report and prescriptions and close the act. From
    /// performance it passes through conclusion first.
    Conclude(Conclusion),
    OpenIncident {
        kind: IncidentKind,
        participant: Option<ParticipantId>,
        metrics: Metrics,
    },
    CloseIncident {
        incident: IncidentId,
        metrics: Metrics,
    },
    Cancel(CancelReason),
    /// A participant's device connected to the live session.
    Join {
        participant: ParticipantId,
        /// The browser's or client's user agent, kept as session metadata.
        user_agent: Pii<String>,
    },
    /// A participant's device left, for a named reason.
    Leave {
        participant: ParticipantId,
        reason: LeaveReason,
    },
    /// A professional lets a waiting participant into the call, once.
    /// Professionals need no admission.
    Admit {
        participant: ParticipantId,
        by: ParticipantId,
    },
    /// The media path a participant's connection settled on. Only while
    /// media is allowed for them ([`Act::media_allowed_for`]).
    RecordMedia(MediaPath),
    /// The result of a participant's pre-call connection test. Any open
    /// phase: a patient may test again while waiting.
    RecordConnectionTest(ConnectionTest),
    /// A participant's connection was lost during the performance and did
    /// not come back in time: the act is marked interrupted (it stays
    /// open, so the professional can resume, switch route or conclude).
    Interrupt {
        participant: ParticipantId,
        /// How long they had been gone, in milliseconds.
        lost_for_ms: u64,
    },
    /// The participant whose loss interrupted the act is back.
    Resume {
        participant: ParticipantId,
    },
    /// `participant` changes mode. An automatic change is made by the
    /// participant's own client; a manual one by them or a professional;
    /// the phone route only by a professional, and only for someone who
    /// left a call-back number.
    ChangeMode {
        participant: ParticipantId,
        mode: MediaMode,
        cause: ModeCause,
        by: ParticipantId,
    },
    /// The patient (or companion) leaves a call-back number.
    GiveCallbackNumber {
        participant: ParticipantId,
        number: Pii<PhoneNumber>,
    },
}

/// Why a participant left the live session. Every disconnect has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They chose to leave.
    LeftByChoice,
    /// Their connection dropped.
    ConnectionLost,
    /// A newer connection with the same invitation replaced this one.
    Replaced,
    /// The act ended.
    ActEnded,
    /// The patient withdrew consent, which ends the media at once.
    ConsentWithdrawn,
    /// The server shut down.
    ServerShutdown,
    /// The client broke the protocol (malformed or oversized messages).
    ProtocolViolation,
}

/// How a participant's media flows, as reported once connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPath {
    pub participant: ParticipantId,
    /// `direct` (peer to peer) or `relay` (through the TURN relay).
    pub route: MediaRoute,
    /// ICE candidate types of the selected pair: `host`, `srflx`, `prflx`, `relay`.
    pub candidate_types: Vec<String>,
    /// Negotiated codecs, e.g. `opus`, `VP8`, `AV1`.
    pub codecs: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaRoute {
    Direct,
    Relay,
}

impl Command {
    /// A short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Register { .. } => "register a participant",
            Command::Prepare => "start preparation",
            Command::GiveConsent(_) => "record consent",
            Command::WithdrawConsent { .. } => "withdraw consent",
            Command::StartPerformance => "start the performance",
            Command::EndPerformance => "end the performance",
            Command::Conclude(_) => "conclude",
            Command::OpenIncident { .. } => "open an incident",
            Command::CloseIncident { .. } => "close an incident",
            Command::Cancel(_) => "cancel",
            Command::Join { .. } => "join",
            Command::Leave { .. } => "leave",
            Command::Admit { .. } => "admit a participant",
            Command::RecordMedia(_) => "record the media path",
            Command::RecordConnectionTest(_) => "record a connection test",
            Command::Interrupt { .. } => "mark the act interrupted",
            Command::Resume { .. } => "resume the act",
            Command::ChangeMode { .. } => "change the media mode",
            Command::GiveCallbackNumber { .. } => "record a call-back number",
        }
    }
}

/// What it takes to open an act: its kind and who takes part.
#[derive(Clone, Debug)]
pub struct NewAct {
    pub kind: ActKind,
    /// The requesting professional (the consulting doctor in a
    /// téléconsultation).
    pub requester: Identity,
    /// The expert, for a téléexpertise.
    pub expert: Option<Identity>,
    pub patient: Identity,
    /// False for a téléexpertise held without the patient.
    pub patient_present: bool,
}

/// An incident as the act tracks it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub kind: IncidentKind,
    pub participant: Option<ParticipantId>,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

/// An act's state, folded from its events.
#[derive(Clone, Debug, PartialEq)]
pub struct Act {
    pub id: ActId,
    pub kind: ActKind,
    pub patient_present: bool,
    pub phase: Phase,
    /// When each phase was entered, in order.
    pub phase_times: Vec<(Phase, Timestamp)>,
    pub participants: Vec<Participant>,
    pub consent: ConsentLedger,
    pub incidents: Vec<Incident>,
    pub conclusion: Option<Conclusion>,
    pub cancel_reason: Option<CancelReason>,
    /// Participants a professional let in (professionals need no admission).
    pub admitted: Vec<ParticipantId>,
    /// The verdict of each participant's latest pre-call connection test,
    /// so professionals know what to expect before admitting them.
    pub connection_tests: Vec<(ParticipantId, Verdict)>,
    /// Participants whose lost connection interrupted the act, with when,
    /// until they come back.
    pub interrupted: Vec<(ParticipantId, Timestamp)>,
    /// Each participant's mode, once it changed from video.
    pub modes: Vec<(ParticipantId, MediaMode)>,
    /// The latest call-back number left by the patient or a companion, one
    /// per participant.
    pub callback_numbers: Vec<(ParticipantId, Pii<PhoneNumber>)>,
}

fn duration_ms(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.since(from).as_millis()).unwrap_or(u64::MAX)
}

impl Act {
    /// A room holds the patient, the two professionals and one companion.
    pub const MAX_PARTICIPANTS: usize = 4;

    /// Open a new act in the request phase; returns it with its first event.
    /// Whether `p`'s lost connection interrupted the act.
    pub fn is_interrupted_by(&self, p: ParticipantId) -> bool {
        self.interrupted.iter().any(|(q, _)| *q == p)
    }

    /// The verdict of `p`'s latest connection test, if they ran one.
    pub fn connection_verdict(&self, p: ParticipantId) -> Option<Verdict> {
        self.connection_tests
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| *v)
    }

    pub fn request(
        id: ActId,
        kind: ActKind,
        patient_present: bool,
        now: Timestamp,
    ) -> (Act, Event) {
        let patient_present = patient_present || kind == ActKind::Teleconsultation;
        let event = Event {
            at: now,
            body: ActEvent::Requested {
                kind,
                patient_present,
            },
        };
        let act = Act {
            id,
            kind,
            patient_present,
            phase: Phase::Request,
            phase_times: vec![(Phase::Request, now)],
            participants: Vec::new(),
            consent: ConsentLedger::default(),
            incidents: Vec::new(),
            conclusion: None,
            cancel_reason: None,
            admitted: Vec::new(),
            connection_tests: Vec::new(),
            interrupted: Vec::new(),
            modes: Vec::new(),
            callback_numbers: Vec::new(),
        };
        (act, event)
    }

    /// Opens an act with its participants registered: requester, expert
    /// (for a téléexpertise) and patient, in that order. Returns the act and
    /// the events to append.
    pub fn open(id: ActId, new: NewAct, now: Timestamp) -> Result<(Act, Vec<Event>), Error> {
        match (new.kind, &new.expert) {
            (ActKind::Teleconsultation, Some(_)) => {
                return Err(Error::InvalidInput(
                    "a teleconsultation has no expert; use a teleexpertise".into(),
                ));
            }
            (ActKind::Teleexpertise, None) => {
                return Err(Error::InvalidInput(
                    "a teleexpertise needs an expert".into(),
                ));
            }
            _ => {}
        }
        if new.kind == ActKind::Teleconsultation && !new.patient_present {
            return Err(Error::InvalidInput(
                "a teleconsultation always has the patient".into(),
            ));
        }
        let (mut act, first) = Act::request(id, new.kind, new.patient_present, now);
        let mut events = vec![first];
        let mut register = |role, identity| -> Result<(), Error> {
            events.extend(act.handle(Command::Register { role, identity }, now)?);
            Ok(())
        };
        register(Role::Requester, new.requester)?;
        if let Some(expert) = new.expert {
            register(Role::Expert, expert)?;
        }
        register(Role::Patient, new.patient)?;
        Ok((act, events))
    }

    /// Rebuild an act from its events, checking each against the rules.
    pub fn replay(id: ActId, events: &[Event]) -> Result<Act, Error> {
        let (first, rest) = events
            .split_first()
            .ok_or_else(|| Error::InvalidTrace(format!("act {id} has no events")))?;
        let ActEvent::Requested {
            kind,
            patient_present,
        } = first.body
        else {
            return Err(Error::InvalidTrace(format!(
                "act {id} does not start with a request"
            )));
        };
        let (mut act, _) = Act::request(id, kind, patient_present, first.at);
        for e in rest {
            act.apply(e)?;
        }
        Ok(act)
    }

    /// The one transition function: check `command` against the current
    /// state, apply the resulting events and return them for the trace.
    /// On error nothing changes.
    pub fn handle(&mut self, command: Command, now: Timestamp) -> Result<Vec<Event>, Error> {
        let bodies = self.decide(command, now)?;
        let events: Vec<Event> = bodies
            .into_iter()
            .map(|body| Event { at: now, body })
            .collect();
        let mut next = self.clone();
        for e in &events {
            next.apply(e)?;
        }
        *self = next;
        Ok(events)
    }

    fn decide(&self, command: Command, now: Timestamp) -> Result<Vec<ActEvent>, Error> {
        let illegal = |c: &Command| Error::IllegalTransition {
            phase: self.phase,
            action: c.name(),
        };
        if self.phase.is_terminal() {
            return Err(illegal(&command));
        }
        let events = match command {
            Command::Register { role, identity } => {
                if !matches!(
                    self.phase,
                    Phase::Request | Phase::Preparation | Phase::Performance
                ) {
                    return Err(illegal(&Command::Register { role, identity }));
                }
                let matches_role = matches!(
                    (&identity, role),
                    (
                        Identity::Professional { .. },
                        Role::Requester | Role::Expert
                    ) | (Identity::Patient { .. }, Role::Patient)
                        | (Identity::Companion { .. }, Role::Companion)
                );
                if !matches_role {
                    return Err(Error::InvalidInput(format!(
                        "the identity given does not fit the role {role}"
                    )));
                }
                if role != Role::Companion && self.participants.iter().any(|p| p.role == role) {
                    return Err(Error::RoleTaken(role));
                }
                if self.participants.len() >= Self::MAX_PARTICIPANTS {
                    return Err(Error::RoomFull(Self::MAX_PARTICIPANTS));
                }
                let id = ParticipantId(self.participants.len() as u32 + 1);
                vec![ActEvent::ParticipantRegistered(Participant {
                    id,
                    role,
                    identity,
                })]
            }
            Command::Prepare => {
                if self.phase != Phase::Request {
                    return Err(illegal(&command));
                }
                vec![ActEvent::PhaseEntered {
                    phase: Phase::Preparation,
                }]
            }
            Command::GiveConsent(consent) => {
                if consent.scopes.is_empty() {
                    return Err(Error::InvalidInput(
                        "a consent names at least one scope".into(),
                    ));
                }
                let giver = self.participant(consent.given_by)?;
                match &consent.method {
                    ConsentMethod::Electronic { .. } => {
                        if !matches!(giver.role, Role::Patient | Role::Companion) {
                            return Err(Error::ConsentNotAllowed(
                                "electronic consent is given by the patient or their companion",
                            ));
                        }
                    }
                    ConsentMethod::AttestedByProfessional { .. } => {
                        if self.patient_present || giver.role != Role::Requester {
                            return Err(Error::ConsentNotAllowed(
                                "only the requesting professional attests consent, and only for a téléexpertise without the patient",
                            ));
                        }
                    }
                }
                if self.phase > Phase::Performance {
                    return Err(illegal(&Command::GiveConsent(consent)));
                }
                vec![ActEvent::ConsentGiven(consent)]
            }
            Command::WithdrawConsent { scopes, by } => {
                self.participant(by)?;
                let granted: Vec<ConsentScope> = scopes
                    .into_iter()
                    .filter(|s| self.consent.has(*s))
                    .collect();
                if granted.is_empty() {
                    return Err(Error::ConsentNotAllowed("there is no consent to withdraw"));
                }
                vec![ActEvent::ConsentWithdrawn {
                    scopes: granted,
                    by,
                }]
            }
            Command::StartPerformance => {
                if self.phase != Phase::Preparation {
                    return Err(illegal(&command));
                }
                if !self.consent.allows_media() {
                    return Err(Error::ConsentRequired);
                }
                vec![ActEvent::PhaseEntered {
                    phase: Phase::Performance,
                }]
            }
            Command::EndPerformance => {
                if self.phase != Phase::Performance {
                    return Err(illegal(&command));
                }
                let mut events = self.close_open_incidents(now);
                events.push(ActEvent::PhaseEntered {
                    phase: Phase::Conclusion,
                });
                events
            }
            Command::Conclude(conclusion) => {
                if conclusion.report.expose().trim().is_empty() {
                    return Err(Error::InvalidInput("the report is empty".into()));
                }
                if conclusion.report.expose().len() > Conclusion::MAX_REPORT_LEN {
                    return Err(Error::InvalidInput(format!(
                        "the report is longer than {} bytes",
                        Conclusion::MAX_REPORT_LEN
                    )));
                }
                let mut events = Vec::new();
                match self.phase {
                    Phase::Performance => {
                        events.extend(self.close_open_incidents(now));
                        events.push(ActEvent::PhaseEntered {
                            phase: Phase::Conclusion,
                        });
                    }
                    // Incidents opened while the report was being written
                    // would otherwise stay open in a closed act.
                    Phase::Conclusion => events.extend(self.close_open_incidents(now)),
                    _ => return Err(illegal(&Command::Conclude(conclusion))),
                }
                events.push(ActEvent::Concluded(conclusion));
                events
            }
            Command::OpenIncident {
                kind,
                participant,
                metrics,
            } => {
                if let Some(p) = participant {
                    self.participant(p)?;
                }
                vec![ActEvent::IncidentOpened {
                    incident: IncidentId(self.incidents.len() as u32 + 1),
                    kind,
                    participant,
                    metrics: clean_metrics(metrics),
                }]
            }
            Command::CloseIncident { incident, metrics } => {
                let found = self
                    .incidents
                    .iter()
                    .find(|i| i.id == incident)
                    .ok_or(Error::UnknownIncident(incident))?;
                if found.closed_at.is_some() {
                    return Err(Error::IncidentAlreadyClosed(incident));
                }
                vec![ActEvent::IncidentClosed {
                    incident,
                    duration_ms: duration_ms(found.opened_at, now),
                    metrics: clean_metrics(metrics),
                }]
            }
            Command::Cancel(reason) => {
                let mut events = self.close_open_incidents(now);
                events.push(ActEvent::Cancelled { reason });
                events
            }
            Command::Join {
                participant,
                user_agent,
            } => {
                self.participant(participant)?;
                if self.phase > Phase::Performance {
                    return Err(illegal(&Command::Join {
                        participant,
                        user_agent,
                    }));
                }
                vec![ActEvent::Joined {
                    participant,
                    user_agent,
                }]
            }
            Command::Leave {
                participant,
                reason,
            } => {
                self.participant(participant)?;
                vec![ActEvent::Left {
                    participant,
                    reason,
                }]
            }
            Command::Admit { participant, by } => {
                let admitted = self.participant(participant)?;
                if !self.participant(by)?.role.is_professional() {
                    return Err(Error::InvalidInput(
                        "only a professional admits participants".into(),
                    ));
                }
                if admitted.role.is_professional() {
                    return Err(Error::InvalidInput(format!(
                        "participant {participant} is a professional, and professionals need no admission"
                    )));
                }
                if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
                    return Err(illegal(&Command::Admit { participant, by }));
                }
                if self.admitted.contains(&participant) {
                    return Err(Error::AlreadyAdmitted(participant));
                }
                vec![ActEvent::Admitted { participant, by }]
            }
            Command::RecordMedia(path) => {
                self.participant(path.participant)?;
                if self.phase != Phase::Performance {
                    return Err(illegal(&Command::RecordMedia(path)));
                }
                self.check_media(path.participant)?;
                vec![ActEvent::MediaConnected(path)]
            }
            Command::RecordConnectionTest(test) => {
                self.participant(test.participant)?;
                vec![ActEvent::ConnectionTested(test)]
            }
            Command::Interrupt {
                participant,
                lost_for_ms,
            } => {
                self.participant(participant)?;
                if self.phase != Phase::Performance {
                    return Err(illegal(&Command::Interrupt {
                        participant,
                        lost_for_ms,
                    }));
                }
                if self.is_interrupted_by(participant) {
                    return Err(Error::InvalidInput(format!(
                        "the act is already interrupted by participant {participant}'s absence"
                    )));
                }
                vec![ActEvent::Interrupted {
                    participant,
                    lost_for_ms,
                }]
            }
            Command::Resume { participant } => {
                let since = self
                    .interrupted
                    .iter()
                    .find(|(p, _)| *p == participant)
                    .map(|(_, at)| *at)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "the act is not interrupted by participant {participant}"
                        ))
                    })?;
                vec![ActEvent::Resumed {
                    participant,
                    interrupted_ms: duration_ms(since, now),
                }]
            }
            Command::ChangeMode {
                participant,
                mode,
                cause,
                by,
            } => {
                let who = self.participant(participant)?.role;
                let by_role = self.participant(by)?.role;
                if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
                    return Err(illegal(&Command::ChangeMode {
                        participant,
                        mode,
                        cause,
                        by,
                    }));
                }
                if by != participant && !by_role.is_professional() {
                    return Err(Error::InvalidInput(
                        "only a professional changes another participant's mode".into(),
                    ));
                }
                if cause == ModeCause::Automatic && by != participant {
                    return Err(Error::InvalidInput(
                        "an automatic change comes from the participant's own client".into(),
                    ));
                }
                if mode == MediaMode::Phone {
                    if !by_role.is_professional() {
                        return Err(Error::InvalidInput(
                            "only a professional switches to the phone route".into(),
                        ));
                    }
                    if who.is_professional() || self.callback_number(participant).is_none() {
                        return Err(Error::InvalidInput(format!(
                            "participant {participant} left no call-back number"
                        )));
                    }
                }
                if self.mode_of(participant) == mode {
                    return Err(Error::InvalidInput(format!(
                        "participant {participant} is already in {mode} mode"
                    )));
                }
                vec![ActEvent::ModeChanged {
                    participant,
                    mode,
                    cause,
                    by,
                }]
            }
            Command::GiveCallbackNumber {
                participant,
                number,
            } => {
                let role = self.participant(participant)?.role;
                if !matches!(role, Role::Patient | Role::Companion) {
                    return Err(Error::InvalidInput(
                        "a call-back number is the patient's or a companion's".into(),
                    ));
                }
                if self.phase > Phase::Performance {
                    return Err(illegal(&Command::GiveCallbackNumber {
                        participant,
                        number,
                    }));
                }
                vec![ActEvent::CallbackNumberGiven {
                    participant,
                    number,
                }]
            }
        };
        Ok(events)
    }

    fn close_open_incidents(&self, now: Timestamp) -> Vec<ActEvent> {
        self.incidents
            .iter()
            .filter(|i| i.closed_at.is_none())
            .map(|i| ActEvent::IncidentClosed {
                incident: i.id,
                duration_ms: duration_ms(i.opened_at, now),
                metrics: Metrics::new(),
            })
            .collect()
    }

    /// Fold one event into the state, checking it is legal here. Used both
    /// by [`Act::handle`] and to replay a trace. On error nothing changes.
    ///
    /// These checks are what any trace must satisfy, and may be looser than
    /// [`Act::handle`]'s: a trace written under earlier rules still replays
    /// where the live rules were tightened since (an admitted professional,
    /// a media path recorded without standing consent or admission).
    pub fn apply(&mut self, event: &Event) -> Result<(), Error> {
        let bad = |what: String| Error::InvalidTrace(format!("act {}: {what}", self.id));
        match &event.body {
            ActEvent::Requested { .. } => return Err(bad("a second request event".into())),
            ActEvent::ParticipantRegistered(p) => {
                if p.id.0 as usize != self.participants.len() + 1 {
                    return Err(bad(format!("participant {} registered out of order", p.id)));
                }
                self.participants.push(p.clone());
            }
            ActEvent::PhaseEntered { phase } => {
                let next_ok = matches!(
                    (self.phase, phase),
                    (Phase::Request, Phase::Preparation)
                        | (Phase::Preparation, Phase::Performance)
                        | (Phase::Performance, Phase::Conclusion)
                );
                if !next_ok {
                    return Err(Error::IllegalTransition {
                        phase: self.phase,
                        action: "enter that phase",
                    });
                }
                self.enter(*phase, event.at);
            }
            ActEvent::ConsentGiven(c) => self.consent.give(c, event.at),
            ActEvent::ConsentWithdrawn { scopes, by } => {
                self.consent.withdraw(scopes, *by, event.at)
            }
            ActEvent::IncidentOpened {
                incident,
                kind,
                participant,
                ..
            } => {
                if incident.0 as usize != self.incidents.len() + 1 {
                    return Err(bad(format!("incident {incident} opened out of order")));
                }
                self.incidents.push(Incident {
                    id: *incident,
                    kind: *kind,
                    participant: *participant,
                    opened_at: event.at,
                    closed_at: None,
                });
            }
            ActEvent::IncidentClosed { incident, .. } => {
                let i = self
                    .incidents
                    .iter_mut()
                    .find(|i| i.id == *incident && i.closed_at.is_none())
                    .ok_or_else(|| bad(format!("incident {incident} closed but not open")))?;
                i.closed_at = Some(event.at);
            }
            ActEvent::Concluded(c) => {
                if self.phase != Phase::Conclusion {
                    return Err(Error::IllegalTransition {
                        phase: self.phase,
                        action: "conclude",
                    });
                }
                self.conclusion = Some(c.clone());
                self.enter(Phase::Closed, event.at);
            }
            ActEvent::Cancelled { reason } => {
                if self.phase.is_terminal() {
                    return Err(Error::IllegalTransition {
                        phase: self.phase,
                        action: "cancel",
                    });
                }
                self.cancel_reason = Some(*reason);
                self.enter(Phase::Cancelled, event.at);
            }
            ActEvent::Admitted { participant, by } => {
                if self.participant(*participant).is_err() {
                    return Err(bad(format!(
                        "participant {participant} is admitted but was never registered"
                    )));
                }
                let admitter = self.participant(*by).map_err(|_| {
                    bad(format!(
                        "participant {participant} is admitted by participant {by}, who was never registered"
                    ))
                })?;
                if !admitter.role.is_professional() {
                    return Err(bad(format!(
                        "participant {participant} is admitted by participant {by}, who is not a professional"
                    )));
                }
                if !matches!(self.phase, Phase::Preparation | Phase::Performance) {
                    return Err(bad(format!(
                        "participant {participant} is admitted in the {} phase, but admission happens only in preparation or performance",
                        self.phase
                    )));
                }
                if self.admitted.contains(participant) {
                    return Err(bad(format!(
                        "participant {participant} is admitted a second time"
                    )));
                }
                self.admitted.push(*participant);
            }
            ActEvent::Joined { participant, .. } => {
                if self.participant(*participant).is_err() {
                    return Err(bad(format!(
                        "participant {participant} joins but was never registered"
                    )));
                }
            }
            ActEvent::Left { participant, .. } => {
                if self.participant(*participant).is_err() {
                    return Err(bad(format!(
                        "participant {participant} leaves but was never registered"
                    )));
                }
            }
            ActEvent::MediaConnected(path) => {
                if self.participant(path.participant).is_err() {
                    return Err(bad(format!(
                        "a media path is recorded for participant {}, who was never registered",
                        path.participant
                    )));
                }
            }
            ActEvent::ConnectionTested(test) => {
                if self.participant(test.participant).is_err() {
                    return Err(bad(format!(
                        "a connection test is recorded for participant {}, who was never registered",
                        test.participant
                    )));
                }
                self.connection_tests
                    .retain(|(p, _)| *p != test.participant);
                self.connection_tests.push((test.participant, test.verdict));
            }
            ActEvent::Interrupted { participant, .. } => {
                if self.participant(*participant).is_err() {
                    return Err(bad(format!(
                        "the act is interrupted by participant {participant}, who was never registered"
                    )));
                }
                self.interrupted.push((*participant, event.at));
            }
            ActEvent::Resumed { participant, .. } => {
                self.interrupted.retain(|(p, _)| p != participant);
            }
            ActEvent::ModeChanged {
                participant,
                mode,
                by,
                ..
            } => {
                for p in [participant, by] {
                    if self.participant(*p).is_err() {
                        return Err(bad(format!(
                            "a mode change names participant {p}, who was never registered"
                        )));
                    }
                }
                self.modes.retain(|(p, _)| p != participant);
                self.modes.push((*participant, *mode));
            }
            ActEvent::CallbackNumberGiven {
                participant,
                number,
            } => {
                if self.participant(*participant).is_err() {
                    return Err(bad(format!(
                        "participant {participant} leaves a call-back number but was never registered"
                    )));
                }
                // Only the latest is used: keeping one per participant
                // bounds the act's memory whatever the trace holds.
                self.callback_numbers.retain(|(p, _)| p != participant);
                self.callback_numbers.push((*participant, number.clone()));
            }
        }
        Ok(())
    }

    /// A participant's current mode: video until a change is recorded.
    pub fn mode_of(&self, participant: ParticipantId) -> MediaMode {
        self.modes
            .iter()
            .find(|(p, _)| *p == participant)
            .map_or(MediaMode::Video, |(_, m)| *m)
    }

    /// The latest call-back number `participant` left.
    pub fn callback_number(&self, participant: ParticipantId) -> Option<&Pii<PhoneNumber>> {
        self.callback_numbers
            .iter()
            .rev()
            .find(|(p, _)| *p == participant)
            .map(|(_, n)| n)
    }

    fn enter(&mut self, phase: Phase, at: Timestamp) {
        self.phase = phase;
        self.phase_times.push((phase, at));
    }

    pub fn participant(&self, id: ParticipantId) -> Result<&Participant, Error> {
        self.participants
            .iter()
            .find(|p| p.id == id)
            .ok_or(Error::UnknownParticipant(id))
    }

    pub fn participant_with_role(&self, role: Role) -> Option<&Participant> {
        self.participants.iter().find(|p| p.role == role)
    }

    /// When the act entered `phase`, if it did.
    pub fn entered(&self, phase: Phase) -> Option<Timestamp> {
        self.phase_times
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, t)| *t)
    }

    /// Media may flow only in performance, with consent to the act.
    pub fn media_allowed(&self) -> bool {
        self.phase == Phase::Performance && self.consent.allows_media()
    }

    /// Whether `participant` may send and receive media now: media is
    /// allowed (see [`Act::media_allowed`]) and they are a professional or
    /// were admitted.
    pub fn media_allowed_for(&self, participant: ParticipantId) -> bool {
        self.check_media(participant).is_ok()
    }

    fn check_media(&self, participant: ParticipantId) -> Result<(), Error> {
        let who = self.participant(participant)?;
        let refused = |reason| Error::MediaNotAllowed {
            participant,
            reason,
        };
        if self.phase != Phase::Performance {
            return Err(refused("the act is not in its performance phase"));
        }
        if !self.consent.allows_media() {
            return Err(refused("consent to the act is not standing"));
        }
        if !who.role.is_professional() && !self.admitted.contains(&participant) {
            return Err(refused("a professional has not admitted them"));
        }
        Ok(())
    }
}
