//! The REST API, and its one error type.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use session::act::NewAct;
use session::participant::Identity;
use session::{Act, ActId, ActKind, PatientAlias, Pii, Rpps, Timestamp, TraceStore};

use crate::links::{link_name, links_where};
use crate::state::AppState;

/// What the HTTP edge answers when something goes wrong. Internals stay in
/// the server log; the client gets a status and a sentence.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    NotFound(String),
    /// The link or act is over (expired invitation, ended act).
    Gone(String),
    /// Signed in, but not allowed to do this.
    Forbidden(String),
    /// Too many attempts; the seconds to wait.
    TooManyRequests(u64),
    /// The server cannot serve this now (e.g. sign-in not configured).
    Unavailable(String),
    /// The act's trace failed the readers' integrity check (409); the
    /// finding goes to the server log, the client gets a fixed sentence.
    Integrity,
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Gone(m) => (StatusCode::GONE, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::TooManyRequests(wait) => {
                let mut res = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({ "error": "too many attempts; wait and try again" })),
                )
                    .into_response();
                if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return res;
            }
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::Integrity => (
                StatusCode::CONFLICT,
                "this act's record failed its trace integrity check; an operator must run `teleconsult trace verify`".to_string(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not do this; try again".to_string(),
            ),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<session::Error> for ApiError {
    fn from(e: session::Error) -> Self {
        use session::Error as E;
        match e {
            E::InvalidInput(_) | E::InvalidRpps(_) => ApiError::BadRequest(e.to_string()),
            E::UnknownAct(_) => ApiError::NotFound("no such act".into()),
            E::TraceIntegrity(finding) => {
                // The finding names an act and an event number, no content.
                tracing::error!(%finding, "read refused: the act's trace does not verify");
                ApiError::Integrity
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::Internal
            }
        }
    }
}

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
        .ok_or_else(|| {
            ApiError::Unauthorized("an operator token is needed (Authorization: Bearer ...)".into())
        })?;
    if bool::from(given.as_bytes().ct_eq(state.api_token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "this operator token is not valid".into(),
        ))
    }
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
    let creator = crate::access::creator(&state, &headers)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
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
        .await
        .map_err(|_| ApiError::Internal)??;
        return Err(ApiError::Forbidden(
            "a professional creates an act only as its requesting professional; name other professionals as the expert".into(),
        ));
    }
    let (act, events) = Act::open(ActId::random(), new, now)?;
    let st = state.clone();
    let id = act.id;
    let actor = crate::access::creator_actor(&creator);
    tokio::task::spawn_blocking(move || {
        st.store.append(id, Some(0), events)?;
        sec_record(&st, &actor, Some(id), "ok", now)
    })
    .await
    .map_err(|_| ApiError::Internal)??;
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
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
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
            .await
            .map_err(|_| ApiError::Internal)??;
    if act.phase.is_terminal() {
        return Err(ApiError::Gone(format!(
            "this consultation has ended ({})",
            act.phase
        )));
    }
    Ok((inv, act))
}

/// Checks a join token's signature and expiry.
pub fn verify_token(
    state: &AppState,
    token: &str,
) -> Result<crate::invitation::Invitation, ApiError> {
    state
        .invitations
        .verify(token, state.clock().now())
        .map_err(|e| match e {
            crate::Error::ExpiredInvitation(_) => ApiError::Gone(e.to_string()),
            other => ApiError::Unauthorized(other.to_string()),
        })
}

pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    // The store answers: a cheap indexed read proves it is readable.
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.records(ActId::random()).map(|_| ()))
        .await
        .map_err(|_| ApiError::Internal)??;
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
