//! `/api/acts/{id}...`: a téléexpertise's request and its answer. The
//! act's detail for its professionals (`GET /api/acts/{id}`), the
//! expert's answer (accept, decline with a reason, ask for more), the
//! asynchronous review and its report, and the requester's attestation of
//! the patient's consent; with the request's fields `POST /api/acts` takes
//! ([`request`], [`attestation`]) and the work list's summary
//! ([`summary`]).
//!
//! Reading follows `access` (the act's professionals and administrators);
//! changing is narrower: the expert answers, reviews and reports, the
//! requester records consent, an administrator never writes. Every read,
//! refusal and change is written to the access log before the answer
//! leaves (`read_act`, `answer_expertise`, `start_review`,
//! `report_expertise`, `attest_consent`). Changes go through the act's
//! room ([`AppState::act_command`]), its one writer.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use session::act::{Command, ExpertAnswer};
use session::conclusion::Prescription;
use session::consent::{Consent, ConsentMethod, ConsentScope};
use session::expertise::ExpertiseRequest;
use session::participant::{Identity, Role};
use session::vocab::Urgency;
use session::{Act, ActId, Pii, Timestamp};

use super::{
    ApiError, NoStore, audit, blocking, no_store, outcome, parse_act, professional_session,
};
use crate::access::{as_role, may_read, my_role};
use crate::auth::Authenticated;
use crate::consent_text;
use crate::protocol::PrescriptionInput;
use crate::state::AppState;

/// The requester's attestation of the absent patient's consent, as
/// `POST /api/acts` (`attest_consent`) and `POST /api/acts/{id}/consent`
/// take it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestConsent {
    /// The SHA-256 (hex) of the attestation text shown.
    pub text_sha256: String,
}

/// A téléexpertise's request from `POST /api/acts`'s fields: none without
/// a question; the urgency defaults to routine and needs a question.
pub fn request(
    question: Option<String>,
    urgency: Option<&str>,
) -> Result<Option<ExpertiseRequest>, session::Error> {
    let urgency = urgency.map(str::parse::<Urgency>).transpose()?;
    match question {
        Some(question) => Ok(Some(ExpertiseRequest {
            question: Pii::new(question),
            urgency: urgency.unwrap_or(Urgency::Routine),
        })),
        None if urgency.is_some() => Err(session::Error::InvalidInput(
            "an urgency goes with a question to the expert".into(),
        )),
        None => Ok(None),
    }
}

/// The attestation texts a requesting professional may attest.
pub fn attestation_texts() -> Vec<crate::protocol::ConsentText> {
    consent_text::attestation_texts()
}

/// The command recording the requester's attestation of the absent
/// patient's consent to the act and to the hosting of its data (what the
/// live page's `attest_consent` records). The text must be the one the
/// server shows; the act's rules check the rest (a téléexpertise without
/// the patient, an open phase).
pub fn attestation(act: &Act, attest: AttestConsent) -> Result<Command, ApiError> {
    if consent_text::language_of(&attestation_texts(), &attest.text_sha256).is_none() {
        return Err(ApiError::AttestationTextUnknown);
    }
    if act.patient_present {
        return Err(session::Error::InvalidInput(
            "consent is attested only for a téléexpertise held without the patient (patient_present: false); a present patient consents in the session".into(),
        )
        .into());
    }
    let requester = act
        .participant_with_role(Role::Requester)
        .ok_or(ApiError::NotTheRequester)?;
    Ok(Command::GiveConsent(Consent {
        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
        given_by: requester.id,
        method: ConsentMethod::AttestedByProfessional {
            text_sha256: attest.text_sha256,
        },
    }))
}

/// A téléexpertise's request at a glance, for the work list (null for an
/// act without one): its urgency, when the answer is due, whether the
/// expert answered, the latest decision, and whether it is overdue at
/// `now`.
pub fn summary(act: &Act, now: Timestamp) -> Value {
    match &act.expertise {
        None => Value::Null,
        Some(e) => json!({
            "urgency": e.urgency,
            "respond_by": e.respond_by.to_rfc3339(),
            "answered": e.first_answer_at.is_some(),
            "decision": e.latest_answer().map(ExpertAnswer::decision),
            "overdue": act.expertise_overdue(now),
        }),
    }
}

/// One answer as the detail shows it.
fn answer_json(at: Timestamp, answer: &ExpertAnswer) -> Value {
    match answer {
        ExpertAnswer::Accepted => json!({"at": at.to_rfc3339(), "decision": "accepted"}),
        ExpertAnswer::Declined { reason } => json!({
            "at": at.to_rfc3339(), "decision": "declined", "reason": reason.expose(),
        }),
        ExpertAnswer::MoreRequested { what } => json!({
            "at": at.to_rfc3339(), "decision": "more_requested", "reason": what.expose(),
        }),
    }
}

/// The act as `who` sees it in `GET /api/acts/{id}`, at `now`.
pub fn detail_json(act: &Act, who: &Authenticated, now: Timestamp) -> Value {
    let role = my_role(who, act);
    let participants: Vec<Value> = act
        .participants
        .iter()
        .map(|p| match &p.identity {
            Identity::Professional { name, .. } => {
                json!({"id": p.id.0, "role": p.role, "name": name.expose()})
            }
            Identity::Patient { alias } => {
                json!({"id": p.id.0, "role": p.role, "alias": alias.expose().as_str()})
            }
            Identity::Companion { .. } => json!({"id": p.id.0, "role": p.role}),
        })
        .collect();
    let e = act.expertise.as_ref();
    let documents: Vec<Value> = act
        .attachments
        .iter()
        .map(|a| {
            json!({
                "sha256": a.document.to_string(),
                "media_type": a.media_type,
                "size": a.size,
                "name": a.name.expose(),
                "by": a.by.0,
                "at": a.at.to_rfc3339(),
            })
        })
        .collect();
    let consent = act.consent.allows_media();
    let attestation = if role == Some(Role::Requester) && !act.patient_present && !consent {
        attestation_texts()
    } else {
        Vec::new()
    };
    let concluded_at = act
        .phase_times
        .iter()
        .rev()
        .find(|(p, _)| *p == session::Phase::Closed)
        .map(|(_, t)| t.to_rfc3339());
    json!({
        "id": act.id.to_string(),
        "kind": act.kind,
        "phase": act.phase,
        "patient_present": act.patient_present,
        "requested_at": act.phase_times.first().map(|(_, t)| t.to_rfc3339()),
        "my_role": role,
        "participants": participants,
        "question": e.map(|e| e.question.expose()),
        "urgency": e.map(|e| e.urgency),
        "respond_by": e.map(|e| e.respond_by.to_rfc3339()),
        "overdue": act.expertise_overdue(now),
        "answered": e.is_some_and(|e| e.first_answer_at.is_some()),
        "answers": e.map(|e| e.answers.iter().map(|(at, a)| answer_json(*at, a)).collect::<Vec<_>>()).unwrap_or_default(),
        "review_started_at": e.and_then(|e| e.review_started_at).map(|t| t.to_rfc3339()),
        "consent": consent,
        "attestation_texts": attestation,
        "documents": documents,
        "report": act.conclusion.as_ref().map(|c| c.report.expose()),
        "report_by": act.conclusion.as_ref().and_then(|c| c.by).map(|p| p.0),
        "prescriptions": act.conclusion.as_ref().map(|c| c.prescriptions.iter().map(|p| json!({"kind": p.kind, "text": p.text.expose()})).collect::<Vec<_>>()).unwrap_or_default(),
        "concluded_at": concluded_at,
        "cancel_reason": act.cancel_reason,
    })
}

/// Loads `act`, verified, off the async workers.
pub async fn load(state: &AppState, act: ActId) -> Result<(Act, u64), ApiError> {
    let store = state.store.clone();
    let keys = state.data_keys();
    blocking(move || Ok(session::store::load_act(&*store, act, &keys)?)).await
}

/// `GET /api/attestation`: the attestation texts a requesting
/// professional may attest for an absent patient (`{"texts":
/// [{"language", "text", "sha256"}]}`); signed in.
pub async fn attestation_text(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<NoStore, ApiError> {
    super::signed_in(&state, &headers)?;
    Ok(no_store(json!({ "texts": attestation_texts() })))
}

/// `GET /api/acts/{id}`: the act's detail for its professionals and
/// administrators (audited `read_act`, allowed or refused, before it
/// leaves).
pub async fn detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<NoStore, ApiError> {
    let id = parse_act(&id)?;
    let who = professional_session(&state, &headers, id, "read_act")?;
    let (act, _) = load(&state, id).await?;
    blocking(move || {
        if !may_read(&who, &act) {
            audit(&state, &who, "read_act", id, "refused")?;
            return Err(ApiError::NotTakingPart);
        }
        audit(&state, &who, "read_act", id, "allowed")?;
        Ok(no_store(detail_json(&act, &who, state.clock().now())))
    })
    .await
}

/// What a change answers: the act's phase and the events recorded.
fn changed(act: &Act, recorded: &[&'static str]) -> NoStore {
    no_store(json!({
        "id": act.id.to_string(),
        "phase": act.phase,
        "recorded": recorded,
    }))
}

/// Who `who` is in `act` to do what only `role` may: that participant,
/// or the refusal (`not_taking_part` for someone the act does not name,
/// an administrator included; else `not_the_expert` / `not_the_requester`).
fn acting_as(
    who: &Authenticated,
    act: &Act,
    role: Role,
) -> Result<session::ParticipantId, ApiError> {
    if let Some(p) = as_role(who, act, role) {
        return Ok(p);
    }
    if my_role(who, act).is_none() {
        return Err(ApiError::NotTakingPart);
    }
    Err(match role {
        Role::Requester => ApiError::NotTheRequester,
        _ => ApiError::NotTheExpert,
    })
}

/// Runs a change on act `id` by the signed-in participant in `role`:
/// `make` turns the act as loaded and who they are in it into the
/// command (the room checks it again against the act as it then stands). The outcome,
/// refusal or change, is written to the access log as `action` before the
/// answer leaves.
async fn change(
    state: AppState,
    headers: HeaderMap,
    id: String,
    action: &'static str,
    role: Role,
    make: impl FnOnce(&Act, session::ParticipantId) -> Result<Command, ApiError>,
) -> Result<NoStore, ApiError> {
    let id = parse_act(&id)?;
    let who = professional_session(&state, &headers, id, action)?;
    let result = async {
        let (act, _) = load(&state, id).await?;
        let by = acting_as(&who, &act, role)?;
        let command = make(&act, by)?;
        state.act_command(id, command, None).await
    }
    .await;
    let entry = outcome(&result);
    let st = state.clone();
    let who2 = who.clone();
    blocking(move || audit(&st, &who2, action, id, &entry)).await?;
    let (act, recorded) = result?;
    Ok(changed(&act, &recorded))
}

/// The expert's decision, as `POST /api/acts/{id}/answer` takes it.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    #[serde(alias = "accepted")]
    Accept,
    #[serde(alias = "declined")]
    Decline,
    #[serde(alias = "more_requested")]
    More,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub decision: Decision,
    /// Why the expert declines, or what more they need (at most 4 KiB);
    /// required for both.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/acts/{id}/answer` `{"decision": "accept"|"decline"|"more",
/// "reason"?}`: the expert answers the request (audited
/// `answer_expertise`). Accepting moves a request to preparation,
/// declining cancels the act, asking for more keeps it where it is.
pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<AnswerInput>, JsonRejection>,
) -> Result<NoStore, ApiError> {
    let body = body.map(|Json(b)| b);
    change(
        state,
        headers,
        id,
        "answer_expertise",
        Role::Expert,
        |_, by| {
            let input = body?;
            let text = || Pii::new(input.reason.clone().unwrap_or_default());
            let answer = match input.decision {
                Decision::Accept => ExpertAnswer::Accepted,
                Decision::Decline => ExpertAnswer::Declined { reason: text() },
                Decision::More => ExpertAnswer::MoreRequested { what: text() },
            };
            Ok(Command::AnswerExpertise { by, answer })
        },
    )
    .await
}

/// `POST /api/acts/{id}/review`: the expert, having accepted, opens the
/// asynchronous review (preparation → performance; needs the patient's
/// consent). Audited `start_review`.
pub async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<NoStore, ApiError> {
    change(state, headers, id, "start_review", Role::Expert, |_, by| {
        Ok(Command::StartReview { by })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub report: String,
    #[serde(default)]
    pub prescriptions: Vec<PrescriptionInput>,
}

/// `POST /api/acts/{id}/report` `{"report", "prescriptions"?}`: the
/// expert's written report ends the review: the act's conclusion, recorded
/// as the expert's, then closed. Audited `report_expertise`.
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<ReportInput>, JsonRejection>,
) -> Result<NoStore, ApiError> {
    let body = body.map(|Json(b)| b);
    change(
        state,
        headers,
        id,
        "report_expertise",
        Role::Expert,
        |_, by| {
            let input = body?;
            Ok(Command::Conclude {
                by,
                report: Pii::new(input.report),
                prescriptions: input
                    .prescriptions
                    .into_iter()
                    .map(|p| Prescription {
                        kind: p.kind,
                        text: Pii::new(p.text),
                    })
                    .collect(),
            })
        },
    )
    .await
}

/// `POST /api/acts/{id}/consent` `{"text_sha256"}`: the requesting
/// professional attests the absent patient's consent (a téléexpertise
/// without the patient); documents may be attached from then on. Audited
/// `attest_consent`.
pub async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<AttestConsent>, JsonRejection>,
) -> Result<NoStore, ApiError> {
    let body = body.map(|Json(b)| b);
    change(
        state,
        headers,
        id,
        "attest_consent",
        Role::Requester,
        |act, _| attestation(act, body?),
    )
    .await
}
