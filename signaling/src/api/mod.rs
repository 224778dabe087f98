//! The REST API: creating acts and checking join links (here), reading
//! traces ([`trace`]), signing in ([`sign_in`]), health and metrics. The
//! handlers fail with [`ApiError`] (in `error`), and learn who is asking
//! with [`authorized`], [`signed_in`] and [`creator`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use session::act::NewAct;
use session::participant::Identity;
use session::{Act, ActId, ActKind, PatientAlias, Pii, Rpps, Timestamp, TraceStore};

pub mod sign_in;
pub mod trace;

use crate::access::Creator;
use crate::auth::Authenticated;
use crate::auth::sessions::cookie_of;
pub use crate::error::ApiError;
use crate::links::{link_name, links_where};
use crate::state::AppState;

/// A professional as given to the API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfessionalInput {
    pub name: String,
    pub rpps: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAct {
    pub kind: ActKind,
    pub professional: ProfessionalInput,
    #[serde(default)]
    pub expert: Option<ProfessionalInput>,
    /// A pseudonymous alias; generated when absent.
    #[serde(default)]
    pub patient: Option<String>,
    #[serde(default = "yes")]
    pub patient_present: bool,
}

fn yes() -> bool {
    true
}

/// Checks a professional's name and RPPS number.
pub fn professional(name: &str, rpps: &str) -> Result<Identity, session::Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(session::Error::InvalidInput(
            "a professional's name has 1 to 200 characters".into(),
        ));
    }
    Ok(Identity::Professional {
        name: Pii::new(name.to_string()),
        rpps: Pii::new(rpps.parse::<Rpps>()?),
    })
}

impl CreateAct {
    pub fn into_new_act(self) -> Result<NewAct, session::Error> {
        let alias = match self.patient {
            Some(a) => a.parse::<PatientAlias>()?,
            None => PatientAlias::random(),
        };
        Ok(NewAct {
            kind: self.kind,
            requester: professional(&self.professional.name, &self.professional.rpps)?,
            expert: self
                .expert
                .map(|e| professional(&e.name, &e.rpps))
                .transpose()?,
            patient: Identity::Patient {
                alias: Pii::new(alias),
            },
            patient_present: self.patient_present,
            expertise: None,
        })
    }
}

/// What creating an act returns (also what `act create --json` prints).
#[derive(Debug, Serialize)]
pub struct CreatedAct {
    pub id: String,
    pub kind: ActKind,
    pub requested_at: String,
    pub participants: Vec<serde_json::Value>,
    pub links: std::collections::BTreeMap<String, String>,
}

pub fn created(
    act: &Act,
    now: Timestamp,
    links: std::collections::BTreeMap<String, String>,
) -> CreatedAct {
    CreatedAct {
        id: act.id.to_string(),
        kind: act.kind,
        requested_at: now.to_rfc3339(),
        participants: act
            .participants
            .iter()
            .map(|p| json!({"id": p.id.0, "role": p.role, "link": link_name(p.role)}))
            .collect(),
        links,
    }
}

/// Checks the operator token (`Authorization: Bearer`), in constant time.
pub fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    use subtle::ConstantTimeEq;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .ok_or(ApiError::OperatorTokenMissing)?;
    if bool::from(given.as_bytes().ct_eq(state.api_token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::OperatorTokenInvalid)
    }
}

/// The signed-in person behind `headers`' session cookie.
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let sec = state.security()?;
    let token = cookie_of(headers).ok_or(ApiError::SignInRequired)?;
    let who = sec
        .sessions
        .get(token, state.clock().now())
        .ok_or(ApiError::SessionEnded)?;
    // A disabled account loses its sessions at once.
    if !sec.access.is_enabled(who.account)? {
        sec.sessions.close_account(who.account);
        return Err(ApiError::AccountDisabled);
    }
    Ok(who)
}

/// Who may create an act: the operator token (`Authorization: Bearer`) or
/// a session cookie.
pub fn creator(state: &AppState, headers: &HeaderMap) -> Result<Creator, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) || cookie_of(headers).is_none() {
        authorized(state, headers)?;
        return Ok(Creator::Operator);
    }
    signed_in(state, headers).map(Creator::Signed)
}

/// `POST /api/acts`: creates an act and returns join links. Takes the
/// operator token (every link; audited as `operator`), or a signed-in
/// professional's session, who must be the act's requesting professional
/// and gets only their own link and the patient's, or an administrator's.
pub async fn create_act(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateAct>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedAct>), ApiError> {
    let creator = creator(&state, &headers)?;
    let Json(req) = body?;
    let now = state.clock().now();
    let new = req.into_new_act()?;
    if let crate::access::Creator::Signed(who) = &creator
        && !crate::access::may_create(who, &new)
    {
        let actor = crate::access::actor(who);
        let st = state.clone();
        tokio::task::spawn_blocking(move || {
            sec_record(&st, &actor, None, "refused:not_requester", now)
        })
        .await??;
        return Err(ApiError::NotRequester);
    }
    let (act, events) = Act::open(ActId::random(), new, now)?;
    let st = state.clone();
    let id = act.id;
    let actor = crate::access::creator_actor(&creator);
    tokio::task::spawn_blocking(move || {
        st.store.append(id, Some(0), events)?;
        sec_record(&st, &actor, Some(id), "ok", now)
    })
    .await??;
    let links = links_where(
        &act,
        &state.config.public_url,
        &state.invitations,
        now,
        state.config.link_ttl,
        |p| crate::access::creator_gets_link(&creator, p),
    );
    Ok((StatusCode::CREATED, Json(created(&act, now, links))))
}

/// Writes a `create_act` entry in the access log when the server keeps
/// one (a server without sign-in has none; its operator token is then the
/// only creator).
fn sec_record(
    state: &AppState,
    actor: &str,
    act: Option<ActId>,
    outcome: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    if let Ok(sec) = state.security() {
        sec.access.record(actor, "create_act", act, outcome, now)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInvitation {
    pub token: String,
}

/// `POST /api/invitations/check`: what a join link leads to, before the
/// page asks for the camera. The token travels in the body, never the URL.
pub async fn check_invitation(
    State(state): State<AppState>,
    body: Result<Json<CheckInvitation>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(req) = body?;
    let (inv, act) = open_invitation(&state, &req.token).await?;
    Ok(Json(json!({
        "role": inv.role,
        "participant": inv.participant.0,
        "kind": act.kind,
        "phase": act.phase,
        "expires_at": inv.expires_at.to_rfc3339(),
    })))
}

/// A join token that is valid and whose act is still open, with the act
/// (401 forged, 410 expired or ended, 404 unknown act).
pub async fn open_invitation(
    state: &AppState,
    token: &str,
) -> Result<(crate::invitation::Invitation, Act), ApiError> {
    let inv = verify_token(state, token)?;
    let store = state.store.clone();
    let keys = state.data_keys();
    let (act, _) =
        tokio::task::spawn_blocking(move || session::store::load_act(&*store, inv.act, &keys))
            .await??;
    if act.phase.is_terminal() {
        return Err(ApiError::ActEnded(act.phase));
    }
    Ok((inv, act))
}

/// Checks a join token's signature and expiry.
pub fn verify_token(
    state: &AppState,
    token: &str,
) -> Result<crate::invitation::Invitation, ApiError> {
    Ok(state.invitations.verify(token, state.clock().now())?)
}

pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    // The store answers: a cheap indexed read proves it is readable.
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.records(ActId::random()).map(|_| ())).await??;
    Ok("ok\n")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(relay) = &state.config.relay {
        state.metrics.observe_relay(&relay.relay.stats().snapshot());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
