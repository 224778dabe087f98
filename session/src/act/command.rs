//! What a participant or the system asks of an act.

use crate::conclusion::Prescription;
use crate::consent::{Consent, ConsentScope};
use crate::document::{DocumentType, Upload};
use crate::expertise::ExpertAnswer;
use crate::ids::{IncidentId, MessageId, ParticipantId, Sha256, ShareId};
use crate::incident::Metrics;
use crate::mode::{MediaPath, PhoneNumber};
use crate::participant::Identity;
use crate::pii::Pii;
use crate::precall::ConnectionTest;
use crate::vocab::{CancelReason, IncidentKind, LeaveReason, MediaMode, ModeCause, Role};

/// What a participant or the system asks of an act.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Register a participant. At most one patient, one requester and one
    /// expert, and at most [`super::Act::MAX_PARTICIPANTS`] in all.
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
    /// Record the report and prescriptions written by `by`, a
    /// professional of the act, and close the act. From performance it
    /// passes through conclusion first.
    Conclude {
        by: ParticipantId,
        report: Pii<String>,
        prescriptions: Vec<Prescription>,
    },
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
    /// media is allowed for them ([`super::Act::media_allowed_for`]).
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
    /// The expert answers the téléexpertise request: accepting moves a
    /// request on to preparation, declining cancels the act, asking for
    /// more keeps it where it is. Only the expert; not once accepted.
    AnswerExpertise {
        by: ParticipantId,
        answer: ExpertAnswer,
    },
    /// A professional of the act attaches a document, once consent to the
    /// act is recorded or attested, in request, preparation or
    /// performance. The digest, type and size come from the bytes (see
    /// [`Command::attach`]); the name loses its directories.
    Attach {
        document: Sha256,
        media_type: DocumentType,
        size: u64,
        name: Pii<String>,
        by: ParticipantId,
    },
    /// The expert, having accepted, opens the asynchronous review:
    /// preparation → performance, with consent to the act.
    StartReview {
        by: ParticipantId,
    },
    /// One end of a chat message reports its digest (the sender reports
    /// with `reporter == sender`). A digest that differs from the first
    /// one reported for the message is a `chat_mismatch` incident.
    ReportChat {
        message: MessageId,
        sender: ParticipantId,
        reporter: ParticipantId,
        digest: Sha256,
    },
    /// A participant offers a file peer to peer, in the performance.
    OfferShare {
        share: ShareId,
        sender: ParticipantId,
        digest: Sha256,
        media_type: Option<DocumentType>,
        size: u64,
        name: Pii<String>,
    },
    /// A receiver reports the digest of the file it got; one that differs
    /// from the offer's is a `share_mismatch` incident.
    ReceiveShare {
        share: ShareId,
        by: ParticipantId,
        digest: Sha256,
    },
    /// The sender or a receiver stops a file share.
    CancelShare {
        share: ShareId,
        by: ParticipantId,
    },
    StartScreenShare {
        participant: ParticipantId,
    },
    StopScreenShare {
        participant: ParticipantId,
    },
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
            Command::Conclude { .. } => "conclude",
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
            Command::AnswerExpertise { .. } => "answer the expertise request",
            Command::Attach { .. } => "attach a document",
            Command::StartReview { .. } => "start the review",
            Command::ReportChat { .. } => "report a chat message",
            Command::OfferShare { .. } => "offer a file",
            Command::ReceiveShare { .. } => "confirm a received file",
            Command::CancelShare { .. } => "cancel a file share",
            Command::StartScreenShare { .. } => "start sharing a screen",
            Command::StopScreenShare { .. } => "stop sharing a screen",
        }
    }

    /// Attaches `upload` under `name`, by `by`.
    pub fn attach(upload: &Upload, name: Pii<String>, by: ParticipantId) -> Command {
        Command::Attach {
            document: upload.sha256(),
            media_type: upload.media_type(),
            size: upload.size(),
            name,
            by,
        }
    }
}
