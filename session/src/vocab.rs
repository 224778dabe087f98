//! The act's shared vocabulary: the small enums every other module speaks
//! (act kinds and phases, roles, reasons, incident kinds, media modes and
//! routes, a téléexpertise's urgency).
//!
//! This module is a leaf: it names no sibling, so anything in the crate may
//! use it, including [`crate::Error`]. Each type is re-exported where a
//! reader looks for it first (`act::Phase`, `participant::Role`,
//! `incident::IncidentKind`, `mode::MediaMode`...); a new small enum that
//! two modules share belongs here.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// A name that is not an act kind (from a command line or a setting).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an act kind: use teleconsultation or teleexpertise")]
pub struct UnknownActKind(pub String);

impl FromStr for ActKind {
    type Err = UnknownActKind;

    fn from_str(s: &str) -> Result<Self, UnknownActKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "teleconsultation" | "téléconsultation" => Ok(ActKind::Teleconsultation),
            "teleexpertise" | "téléexpertise" => Ok(ActKind::Teleexpertise),
            _ => Err(UnknownActKind(s.to_string())),
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
    /// The expert declined the téléexpertise request.
    ExpertDeclined,
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

/// The roles of decree 2010-1229: the patient, the professional who asks
/// (requérant), the one who is asked (requis), and a third party who helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    /// The requesting professional (requérant). In a téléconsultation this is
    /// the doctor who consults.
    Requester,
    /// The expert asked for an opinion in a téléexpertise (requis).
    Expert,
    /// A companion, carer or interpreter at the patient's side.
    Companion,
}

impl Role {
    pub fn is_professional(self) -> bool {
        matches!(self, Role::Requester | Role::Expert)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Requester => "requester",
            Role::Expert => "expert",
            Role::Companion => "companion",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of technical incident an act records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    SignalingDisconnected,
    IceDisconnected,
    IceFailed,
    PeerConnectionLost,
    PacketLoss,
    VideoFreeze,
    HighRtt,
    BitrateCollapse,
    /// The media path fell back from direct to the relay.
    RelayFallback,
    /// A participant's allocation on our TURN relay, which carried its
    /// media, went away (expired or deleted) while media was allowed.
    RelayAllocationLost,
    /// No datagram from a participant through our relay, while its
    /// allocation lived and had carried its media.
    RelayMediaStopped,
    /// The pre-call connection test failed.
    ConnectionTestFailed,
    /// The sender's and a receiver's digests of one chat message differ.
    ChatMismatch,
    /// A receiver's digest of a shared file differs from the sender's.
    ShareMismatch,
    Other,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::SignalingDisconnected => "signaling_disconnected",
            IncidentKind::IceDisconnected => "ice_disconnected",
            IncidentKind::IceFailed => "ice_failed",
            IncidentKind::PeerConnectionLost => "peer_connection_lost",
            IncidentKind::PacketLoss => "packet_loss",
            IncidentKind::VideoFreeze => "video_freeze",
            IncidentKind::HighRtt => "high_rtt",
            IncidentKind::BitrateCollapse => "bitrate_collapse",
            IncidentKind::RelayFallback => "relay_fallback",
            IncidentKind::RelayAllocationLost => "relay_allocation_lost",
            IncidentKind::RelayMediaStopped => "relay_media_stopped",
            IncidentKind::ConnectionTestFailed => "connection_test_failed",
            IncidentKind::ChatMismatch => "chat_mismatch",
            IncidentKind::ShareMismatch => "share_mismatch",
            IncidentKind::Other => "other",
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How soon the expert should answer a téléexpertise request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Within the hour.
    Immediate,
    /// Within 24 hours.
    Urgent,
    /// Within 7 days (programmée).
    Routine,
}

impl Urgency {
    /// How long the expert has to answer.
    pub fn response_delay(self) -> Duration {
        const HOUR: u64 = 3_600;
        Duration::from_secs(match self {
            Urgency::Immediate => HOUR,
            Urgency::Urgent => 24 * HOUR,
            Urgency::Routine => 7 * 24 * HOUR,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Immediate => "immediate",
            Urgency::Urgent => "urgent",
            Urgency::Routine => "routine",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an urgency (from a command line or a form).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an urgency: use immediate, urgent or routine")]
pub struct UnknownUrgency(pub String);

impl FromStr for Urgency {
    type Err = UnknownUrgency;

    /// English or French: `immediate`/`immédiate`, `urgent`/`urgente`,
    /// `routine`/`programmée`.
    fn from_str(s: &str) -> Result<Self, UnknownUrgency> {
        match s.trim().to_lowercase().as_str() {
            "immediate" | "immédiate" => Ok(Urgency::Immediate),
            "urgent" | "urgente" => Ok(Urgency::Urgent),
            "routine" | "programmee" | "programmée" => Ok(Urgency::Routine),
            _ => Err(UnknownUrgency(s.to_string())),
        }
    }
}

/// The route and media the consultation uses for one participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Audio and video (the default once media flows).
    Video,
    /// Video is stopped to save the link; audio goes on.
    AudioOnly,
    /// The professional calls the participant back by phone.
    Phone,
}

impl MediaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Video => "video",
            MediaMode::AudioOnly => "audio_only",
            MediaMode::Phone => "phone",
        }
    }
}

impl fmt::Display for MediaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the mode changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeCause {
    /// The client decided from its measured bandwidth or loss.
    Automatic,
    /// A person chose it.
    Manual,
}

/// Whether a participant's media flows peer to peer or through our TURN
/// relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaRoute {
    Direct,
    Relay,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_serialise_as_their_names() {
        for m in [MediaMode::Video, MediaMode::AudioOnly, MediaMode::Phone] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }

    #[test]
    fn urgencies_parse_in_english_and_french_and_give_their_delay() {
        for (text, u) in [
            ("immediate", Urgency::Immediate),
            ("Immédiate", Urgency::Immediate),
            ("urgent", Urgency::Urgent),
            (" urgente ", Urgency::Urgent),
            ("routine", Urgency::Routine),
            ("programmee", Urgency::Routine),
            ("PROGRAMMÉE", Urgency::Routine),
        ] {
            assert_eq!(text.parse(), Ok(u), "{text}");
        }
        let e = "soon".parse::<Urgency>().unwrap_err().to_string();
        assert!(e.contains("is not an urgency"), "{e}");
        assert_eq!(Urgency::Immediate.response_delay().as_secs(), 3_600);
        assert_eq!(Urgency::Urgent.response_delay().as_secs(), 86_400);
        assert_eq!(Urgency::Routine.response_delay().as_secs(), 604_800);
        for u in [Urgency::Immediate, Urgency::Urgent, Urgency::Routine] {
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
    }

    #[test]
    fn new_incident_kinds_serialise_as_their_names() {
        for k in [IncidentKind::ChatMismatch, IncidentKind::ShareMismatch] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            serde_json::to_value(CancelReason::ExpertDeclined).unwrap(),
            "expert_declined"
        );
    }

    #[test]
    fn act_kinds_parse_with_or_without_accents() {
        assert_eq!("Téléconsultation".parse(), Ok(ActKind::Teleconsultation));
        assert_eq!(" teleexpertise ".parse(), Ok(ActKind::Teleexpertise));
        let e = "visit".parse::<ActKind>().unwrap_err().to_string();
        assert!(e.contains("is not an act kind"), "{e}");
    }
}
