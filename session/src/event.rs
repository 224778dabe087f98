//! The events of an act: everything the trace records. Each is appended to
//! the act's hash chain with its UTC time; see [`crate::trace`].
//!
//! Fields that identify a person or are medical are [`Pii`] and
//! are sealed at rest. Everything else (kinds, phases, roles, participant
//! numbers, times, metrics) stays readable by an auditor without the data key.

use serde::{Deserialize, Serialize};

use crate::conclusion::Conclusion;
use crate::consent::{Consent, ConsentScope};
use crate::ids::{IncidentId, ParticipantId};
use crate::incident::Metrics;
use crate::mode::{MediaPath, PhoneNumber};
use crate::participant::Participant;
use crate::pii::Pii;
use crate::precall::ConnectionTest;
use crate::timestamp::Timestamp;
use crate::vocab::{ActKind, CancelReason, IncidentKind, LeaveReason, MediaMode, ModeCause, Phase};

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
}
