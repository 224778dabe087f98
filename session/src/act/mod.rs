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
//!
//! This file holds the act's state, its constructors and the two
//! dispatchers ([`Act::handle`]'s `decide` and [`Act::apply`]). The rule for
//! each command, and the check of each event it makes, live with their
//! concern, one file each under `act/`: `phases.rs` (prepare, start, end,
//! cancel), `participants.rs` (register, join, leave, admit, connection
//! tests, interruptions), `consent.rs`, `media.rs` (media path, mode,
//! call-back number), `incidents.rs`, `conclusion.rs`, `expertise.rs` (a
//! téléexpertise's request, the expert's answers, the asynchronous
//! review), `documents.rs` (attached documents) and `exchange.rs` (what
//! the live session exchanges: chat digests, file shares, screen shares).
//! A new command gets a variant in `command.rs`, an arm in each dispatcher
//! and its rule in the file of its concern.

use std::collections::BTreeMap;
use std::ops::Deref;

use crate::Error;
use crate::conclusion::Conclusion;
use crate::consent::ConsentLedger;
use crate::event::{ActEvent, Event};
use crate::expertise::{ExpertiseRequest, ExpertiseState};
use crate::ids::{ActId, IncidentId, MessageId, ParticipantId};
use crate::participant::{Identity, Participant};
use crate::pii::Pii;
use crate::precall::Verdict;
use crate::timestamp::Timestamp;

mod command;
mod conclusion;
mod consent;
mod documents;
mod exchange;
mod expertise;
mod incidents;
mod media;
mod participants;
mod phases;

pub use self::command::Command;
pub use self::documents::Attachment;
pub use self::exchange::{ChatMessage, Share};
pub use crate::expertise::ExpertAnswer;
// The vocabulary lives in `vocab` and `mode`; re-exported here, where other
// crates and the tests have always found it.
pub use crate::mode::{MediaPath, MediaRoute};
pub use crate::vocab::{ActKind, CancelReason, LeaveReason, Phase};

use crate::mode::PhoneNumber;
use crate::vocab::{IncidentKind, MediaMode, Role};

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
    /// A téléexpertise's question and urgency, recorded right after the
    /// participants. Only for a téléexpertise; one opened without it (as
    /// before requests existed) stays valid.
    pub expertise: Option<ExpertiseRequest>,
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
    /// A téléexpertise's request and the expert's answers.
    pub expertise: Option<ExpertiseState>,
    /// The documents attached, in order.
    pub attachments: Vec<Attachment>,
    /// Each chat message reported, by id, with who reported it: what a
    /// mismatch is detected against.
    pub chats: BTreeMap<MessageId, ChatMessage>,
    /// How many chat reports the act recorded.
    pub chat_reports: usize,
    /// The files offered peer to peer, in order.
    pub shares: Vec<Share>,
    /// Who is sharing their screen now.
    pub screen_sharing: Vec<ParticipantId>,
}

fn duration_ms(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.since(from).as_millis()).unwrap_or(u64::MAX)
}

/// One command being decided: the act as it stands, the time, and the
/// command's name for an [`Error::IllegalTransition`]. The rules read the
/// act through it (`self.phase`, `self.participant(..)`).
struct Decision<'a> {
    act: &'a Act,
    now: Timestamp,
    action: &'static str,
}

impl Decision<'_> {
    /// The command is not allowed in the act's phase.
    fn illegal(&self) -> Error {
        Error::IllegalTransition {
            phase: self.act.phase,
            action: self.action,
        }
    }
}

impl Deref for Decision<'_> {
    type Target = Act;

    fn deref(&self) -> &Act {
        self.act
    }
}

impl Act {
    /// A room holds the patient, the two professionals and one companion.
    pub const MAX_PARTICIPANTS: usize = 4;

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

    /// Open a new act in the request phase; returns it with its first event.
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
            expertise: None,
            attachments: Vec::new(),
            chats: BTreeMap::new(),
            chat_reports: 0,
            shares: Vec::new(),
            screen_sharing: Vec::new(),
        };
        (act, event)
    }

    /// Opens an act with its participants registered: requester, expert
    /// (for a téléexpertise) and patient, in that order, then a
    /// téléexpertise's request when given. Returns the act and the events
    /// to append.
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
        if let Some(request) = &new.expertise {
            if new.kind != ActKind::Teleexpertise {
                return Err(Error::ExpertiseOnlyForTeleexpertise);
            }
            request.check()?;
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
        if let Some(request) = new.expertise {
            events.push(act.request_expertise(request, now)?);
        }
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

    /// Checks `command` against the rules and returns the events it makes,
    /// without applying them. Each command's rule lives with its concern
    /// (see the module docs).
    fn decide(&self, command: Command, now: Timestamp) -> Result<Vec<ActEvent>, Error> {
        let d = Decision {
            act: self,
            now,
            action: command.name(),
        };
        if self.phase.is_terminal() {
            return Err(d.illegal());
        }
        match command {
            Command::Register { role, identity } => d.register(role, identity),
            Command::Prepare => d.prepare(),
            Command::GiveConsent(consent) => d.give_consent(consent),
            Command::WithdrawConsent { scopes, by } => d.withdraw_consent(scopes, by),
            Command::StartPerformance => d.start_performance(),
            Command::EndPerformance => d.end_performance(),
            Command::Conclude {
                by,
                report,
                prescriptions,
            } => d.conclude(by, report, prescriptions),
            Command::OpenIncident {
                kind,
                participant,
                metrics,
            } => d.open_incident(kind, participant, metrics),
            Command::CloseIncident { incident, metrics } => d.close_incident(incident, metrics),
            Command::Cancel(reason) => Ok(d.cancel(reason)),
            Command::Join {
                participant,
                user_agent,
            } => d.join(participant, user_agent),
            Command::Leave {
                participant,
                reason,
            } => d.leave(participant, reason),
            Command::Admit { participant, by } => d.admit(participant, by),
            Command::RecordMedia(path) => d.record_media(path),
            Command::RecordConnectionTest(test) => d.record_connection_test(test),
            Command::Interrupt {
                participant,
                lost_for_ms,
            } => d.interrupt(participant, lost_for_ms),
            Command::Resume { participant } => d.resume(participant),
            Command::ChangeMode {
                participant,
                mode,
                cause,
                by,
            } => d.change_mode(participant, mode, cause, by),
            Command::GiveCallbackNumber {
                participant,
                number,
            } => d.give_callback_number(participant, number),
            Command::AnswerExpertise { by, answer } => d.answer_expertise(by, answer),
            Command::Attach {
                document,
                media_type,
                size,
                name,
                by,
            } => d.attach(document, media_type, size, name, by),
            Command::StartReview { by } => d.start_review(by),
            Command::ReportChat {
                message,
                sender,
                reporter,
                digest,
            } => d.report_chat(message, sender, reporter, digest),
            Command::OfferShare {
                share,
                sender,
                digest,
                media_type,
                size,
                name,
            } => d.offer_share(share, sender, digest, media_type, size, name),
            Command::ReceiveShare { share, by, digest } => d.receive_share(share, by, digest),
            Command::CancelShare { share, by } => d.cancel_share(share, by),
            Command::StartScreenShare { participant } => d.start_screen_share(participant),
            Command::StopScreenShare { participant } => d.stop_screen_share(participant),
        }
    }

    /// Fold one event into the state, checking it is legal here. Used both
    /// by [`Act::handle`] and to replay a trace. On error nothing changes.
    ///
    /// These checks are what any trace must satisfy, and may be looser than
    /// [`Act::handle`]'s: a trace written under earlier rules still replays
    /// where the live rules were tightened since (an admitted professional,
    /// a media path recorded without standing consent or admission). Each
    /// event's fold lives with the rule that makes it.
    pub fn apply(&mut self, event: &Event) -> Result<(), Error> {
        let at = event.at;
        match &event.body {
            ActEvent::Requested { .. } => Err(self.bad_trace("a second request event".into())),
            ActEvent::ParticipantRegistered(p) => self.fold_registered(p),
            ActEvent::PhaseEntered { phase } => self.fold_phase_entered(*phase, at),
            ActEvent::ConsentGiven(c) => {
                self.consent.give(c, at);
                Ok(())
            }
            ActEvent::ConsentWithdrawn { scopes, by } => {
                self.consent.withdraw(scopes, *by, at);
                Ok(())
            }
            ActEvent::IncidentOpened {
                incident,
                kind,
                participant,
                ..
            } => self.fold_incident_opened(*incident, *kind, *participant, at),
            ActEvent::IncidentClosed { incident, .. } => self.fold_incident_closed(*incident, at),
            ActEvent::Concluded(c) => self.fold_concluded(c, at),
            ActEvent::Cancelled { reason } => self.fold_cancelled(*reason, at),
            ActEvent::Admitted { participant, by } => self.fold_admitted(*participant, *by),
            ActEvent::Joined { participant, .. } => self.fold_joined(*participant),
            ActEvent::Left { participant, .. } => self.fold_left(*participant),
            ActEvent::MediaConnected(path) => self.fold_media_connected(path),
            ActEvent::ConnectionTested(test) => self.fold_connection_tested(test),
            ActEvent::Interrupted { participant, .. } => self.fold_interrupted(*participant, at),
            ActEvent::Resumed { participant, .. } => {
                self.interrupted.retain(|(p, _)| p != participant);
                Ok(())
            }
            ActEvent::ModeChanged {
                participant,
                mode,
                by,
                ..
            } => self.fold_mode_changed(*participant, *mode, *by),
            ActEvent::CallbackNumberGiven {
                participant,
                number,
            } => self.fold_callback_number(*participant, number),
            ActEvent::ExpertiseRequested {
                question,
                urgency,
                respond_by,
            } => self.fold_expertise_requested(question, *urgency, *respond_by, at),
            ActEvent::ExpertAnswered { by, answer } => self.fold_expert_answered(*by, answer, at),
            ActEvent::AttachmentAdded {
                document,
                media_type,
                size,
                name,
                by,
            } => self.fold_attachment_added(*document, *media_type, *size, name, *by, at),
            ActEvent::ReviewStarted { by } => self.fold_review_started(*by, at),
            ActEvent::ChatReported {
                message,
                sender,
                reporter,
                digest,
            } => self.fold_chat_reported(*message, *sender, *reporter, *digest),
            ActEvent::ShareOffered {
                share,
                sender,
                digest,
                media_type,
                size,
                ..
            } => self.fold_share_offered(*share, *sender, *digest, *media_type, *size, at),
            ActEvent::ShareReceived { share, by, digest } => {
                self.fold_share_received(*share, *by, *digest)
            }
            ActEvent::ShareCancelled { share, by } => self.fold_share_cancelled(*share, *by),
            ActEvent::ScreenShareStarted { participant } => {
                self.fold_screen_share_started(*participant)
            }
            ActEvent::ScreenShareStopped { participant } => {
                self.fold_screen_share_stopped(*participant)
            }
        }
    }

    /// A trace that breaks the act's rules: `what` says how.
    fn bad_trace(&self, what: String) -> Error {
        Error::InvalidTrace(format!("act {}: {what}", self.id))
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
}
