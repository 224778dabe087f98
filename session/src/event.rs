//! The events of an act: everything the trace records. Each is appended to
//! the act's hash chain with its UTC time; see [`crate::trace`].
//!
//! Fields that identify a person or are medical are [`Pii`] and
//! are sealed at rest. Everything else (kinds, phases, roles, participant
//! numbers, times, metrics) stays readable by an auditor without the data key.

use serde::{Deserialize, Serialize};

use crate::conclusion::Conclusion;
use crate::consent::{Consent, ConsentScope};
use crate::document::DocumentType;
use crate::expertise::ExpertAnswer;
use crate::ids::{IncidentId, MessageId, ParticipantId, Sha256, ShareId};
use crate::incident::Metrics;
use crate::mode::{MediaPath, PhoneNumber};
use crate::participant::Participant;
use crate::pii::Pii;
use crate::precall::ConnectionTest;
use crate::timestamp::Timestamp;
use crate::vocab::{
    ActKind, CancelReason, IncidentKind, LeaveReason, MediaMode, ModeCause, Phase, Urgency,
};

/// One event with the time it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    #[serde(flatten)]
    pub body: ActEvent,
}

/// What happened. The serde tag (`type`) is also stored as the record's kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActEvent {
    /// The act was requested: the request phase (demande) begins.
    /// `patient_present` is false for a téléexpertise held without the
    /// patient, where a professional attests consent.
    Requested {
        kind: ActKind,
        patient_present: bool,
    },
    /// A participant was registered with its role and identity.
    ParticipantRegistered(Participant),
    /// The act entered preparation, performance or conclusion.
    PhaseEntered {
        phase: Phase,
    },
    ConsentGiven(Consent),
    ConsentWithdrawn {
        scopes: Vec<ConsentScope>,
        by: ParticipantId,
    },
    IncidentOpened {
        incident: IncidentId,
        kind: IncidentKind,
        participant: Option<ParticipantId>,
        metrics: Metrics,
    },
    IncidentClosed {
        incident: IncidentId,
        /// Redundant with the two events' times, but what a reader wants.
        duration_ms: u64,
        metrics: Metrics,
    },
    /// The report and prescriptions were recorded; the act is closed.
    Concluded(Conclusion),
    Cancelled {
        reason: CancelReason,
    },
    /// A participant's device joined the live session.
    Joined {
        participant: ParticipantId,
        user_agent: Pii<String>,
    },
    /// A participant's device left it.
    Left {
        participant: ParticipantId,
        reason: LeaveReason,
    },
    /// A professional let a participant in.
    Admitted {
        participant: ParticipantId,
        by: ParticipantId,
    },
    /// A participant's media connected, directly or through the relay.
    MediaConnected(MediaPath),
    /// A participant's pre-call connection test, with the verdict the
    /// server drew from it.
    ConnectionTested(ConnectionTest),
    /// A participant's connection was lost during the performance for
    /// longer than the server waits: the act is interrupted.
    Interrupted {
        participant: ParticipantId,
        lost_for_ms: u64,
    },
    /// The participant is back; the act goes on.
    Resumed {
        participant: ParticipantId,
        /// How long the act was interrupted.
        interrupted_ms: u64,
    },
    /// A participant's mode changed (video, audio only, phone route).
    /// `by` is who decided: the participant's own client for an automatic
    /// fallback, or a person.
    ModeChanged {
        participant: ParticipantId,
        mode: MediaMode,
        cause: ModeCause,
        by: ParticipantId,
    },
    /// The patient left a number to be called back on if the link fails.
    CallbackNumberGiven {
        participant: ParticipantId,
        number: Pii<PhoneNumber>,
    },
    /// A téléexpertise's question, recorded when the act is opened, right
    /// after its participants. `respond_by` is the request's time plus
    /// the urgency's delay.
    ExpertiseRequested {
        question: Pii<String>,
        urgency: Urgency,
        respond_by: Timestamp,
    },
    /// The expert answered the request.
    ExpertAnswered {
        by: ParticipantId,
        answer: ExpertAnswer,
    },
    /// A professional attached a document, stored sealed under its
    /// SHA-256 (`document`); the trace holds its digest, type, size and
    /// sealed name, never its content.
    AttachmentAdded {
        document: Sha256,
        media_type: DocumentType,
        size: u64,
        name: Pii<String>,
        by: ParticipantId,
    },
    /// The expert opened the asynchronous review: the performance begins.
    ReviewStarted {
        by: ParticipantId,
    },
    /// One end of a chat message reported its salted SHA-256: the sender
    /// (`reporter == sender`) or a receiver. The text never reaches the
    /// server.
    ChatReported {
        message: MessageId,
        sender: ParticipantId,
        reporter: ParticipantId,
        digest: Sha256,
    },
    /// A participant offered a file peer to peer. `media_type` is `None`
    /// for a file of another type than the documents'.
    ShareOffered {
        share: ShareId,
        sender: ParticipantId,
        digest: Sha256,
        media_type: Option<DocumentType>,
        size: u64,
        name: Pii<String>,
    },
    /// A receiver got the whole file and reports the SHA-256 it computed.
    ShareReceived {
        share: ShareId,
        by: ParticipantId,
        digest: Sha256,
    },
    /// The sender or a receiver stopped the transfer.
    ShareCancelled {
        share: ShareId,
        by: ParticipantId,
    },
    ScreenShareStarted {
        participant: ParticipantId,
    },
    ScreenShareStopped {
        participant: ParticipantId,
    },
}

impl ActEvent {
    /// The stable name of the event's kind, as in the trace's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            ActEvent::Requested { .. } => "requested",
            ActEvent::ParticipantRegistered(_) => "participant_registered",
            ActEvent::PhaseEntered { .. } => "phase_entered",
            ActEvent::ConsentGiven(_) => "consent_given",
            ActEvent::ConsentWithdrawn { .. } => "consent_withdrawn",
            ActEvent::IncidentOpened { .. } => "incident_opened",
            ActEvent::IncidentClosed { .. } => "incident_closed",
            ActEvent::Concluded(_) => "concluded",
            ActEvent::Cancelled { .. } => "cancelled",
            ActEvent::Joined { .. } => "joined",
            ActEvent::Left { .. } => "left",
            ActEvent::Admitted { .. } => "admitted",
            ActEvent::MediaConnected(_) => "media_connected",
            ActEvent::ConnectionTested(_) => "connection_tested",
            ActEvent::Interrupted { .. } => "interrupted",
            ActEvent::Resumed { .. } => "resumed",
            ActEvent::ModeChanged { .. } => "mode_changed",
            ActEvent::CallbackNumberGiven { .. } => "callback_number_given",
            ActEvent::ExpertiseRequested { .. } => "expertise_requested",
            ActEvent::ExpertAnswered { .. } => "expert_answered",
            ActEvent::AttachmentAdded { .. } => "attachment_added",
            ActEvent::ReviewStarted { .. } => "review_started",
            ActEvent::ChatReported { .. } => "chat_reported",
            ActEvent::ShareOffered { .. } => "share_offered",
            ActEvent::ShareReceived { .. } => "share_received",
            ActEvent::ShareCancelled { .. } => "share_cancelled",
            ActEvent::ScreenShareStarted { .. } => "screen_share_started",
            ActEvent::ScreenShareStopped { .. } => "screen_share_stopped",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_serde_tag() {
        let e = Event {
            at: Timestamp::from_micros(1),
            body: ActEvent::PhaseEntered {
                phase: Phase::Preparation,
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], e.body.kind());
        assert_eq!(v["at"], 1);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn the_exchange_and_expertise_kinds_match_their_serde_tags() {
        let p = ParticipantId(2);
        let d = Sha256::from_bytes([1; 32]);
        let share = ShareId::from_bytes([2; 16]);
        let name = || Pii::new("radio.png".to_string());
        for body in [
            ActEvent::ExpertiseRequested {
                question: Pii::new("Avis ?".into()),
                urgency: Urgency::Urgent,
                respond_by: Timestamp::from_micros(9),
            },
            ActEvent::ExpertAnswered {
                by: p,
                answer: ExpertAnswer::Accepted,
            },
            ActEvent::AttachmentAdded {
                document: d,
                media_type: DocumentType::Png,
                size: 3,
                name: name(),
                by: p,
            },
            ActEvent::ReviewStarted { by: p },
            ActEvent::ChatReported {
                message: MessageId::from_bytes([3; 16]),
                sender: p,
                reporter: p,
                digest: d,
            },
            ActEvent::ShareOffered {
                share,
                sender: p,
                digest: d,
                media_type: None,
                size: 4,
                name: name(),
            },
            ActEvent::ShareReceived {
                share,
                by: p,
                digest: d,
            },
            ActEvent::ShareCancelled { share, by: p },
            ActEvent::ScreenShareStarted { participant: p },
            ActEvent::ScreenShareStopped { participant: p },
        ] {
            let e = Event {
                at: Timestamp::from_micros(1),
                body,
            };
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["type"], e.body.kind());
            assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
        }
    }
}
