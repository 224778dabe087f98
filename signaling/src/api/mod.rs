//! The REST API: creating acts and checking join links (here), reading
//! traces ([`trace`]), the compte rendu as a PDF ([`report`]), a
//! téléexpertise's request and answers
//! ([`expertise`]) and its documents ([`documents`]), signing in
//! ([`sign_in`], over OpenID Connect [`oidc`]), health and metrics. The handlers fail with [`ApiError`]
//! (in `error`), and learn who is asking with [`authorized`],
//! [`signed_in`], [`creator`] and [`professional_session`].

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use session::act::NewAct;
use session::participant::Identity;
use session::{Act, ActId, ActKind, PatientAlias, Pii, Rpps, Timestamp};

pub mod documents;
pub mod expertise;
pub mod exports;
pub mod fhir;
pub mod oidc;
pub mod receipt;
pub mod report;
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
    /// A téléexpertise's question to the expert (at most 8 KiB).
    #[serde(default)]
    pub question: Option<String>,
    /// How soon the expert should answer: `immediate`, `urgent` or
    /// `routine` (the default; French names too). Only with a question.
    #[serde(default)]
    pub urgency: Option<String>,
    /// The requesting professional attests, at creation, the absent
    /// patient's consent (a téléexpertise without the patient): the
    /// SHA-256 of the attestation text shown (`GET /api/attestation`).
    #[serde(default)]
    pub attest_consent: Option<expertise::AttestConsent>,
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
        let expertise = expertise::request(self.question, self.urgency.as_deref())?;
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
            expertise,
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
    let Json(mut req) = body?;
    let now = state.clock().now();
    let attest = req.attest_consent.take();
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
    let requester_attests = match &creator {
        Creator::Operator => true,
        Creator::Signed(who) => crate::access::is_me(who, &new.requester),
    };
    let (mut act, mut events) = Act::open(ActId::random(), new, now)?;
    if let Some(attest) = attest {
        // The operator attests in the requester's name (the CLI's
        // `--attest-consent`); an administrator creating the act does not.
        if !requester_attests {
            return Err(ApiError::NotTheRequester);
        }
        let command = expertise::attestation(&act, attest)?;
        events.extend(act.handle(command, now)?);
    }
    let st = state.clone();
    let id = act.id;
    let actor = crate::access::creator_actor(&creator);
    let attested = act.consent.allows_media();
    tokio::task::spawn_blocking(move || {
        st.store.append(id, Some(0), events)?;
        sec_record(&st, &actor, Some(id), "ok", now)?;
        if attested && let Ok(sec) = st.security() {
            sec.access
                .record(&actor, "attest_consent", Some(id), "ok", now)?;
        }
        Ok::<_, ApiError>(())
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

/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The signed-in person behind a request to an act's request, answers or
/// documents (`act`, for the access log). These are for the act's
/// professionals with a session cookie: a join link presented as
/// `Authorization: Bearer` (a patient's...) gets 403
/// `patient_link_no_documents`, written to the access log with the link's
/// act and participant as the actor; the operator token 403
/// `operator_cannot_read`; a bearer token that is neither 401 (or 410 when
/// expired), as any join link.
pub fn professional_session(
    state: &AppState,
    headers: &HeaderMap,
    act: ActId,
    action: &str,
) -> Result<Authenticated, ApiError> {
    use subtle::ConstantTimeEq;
    if let Some(token) = bearer(headers) {
        if bool::from(token.as_bytes().ct_eq(state.api_token.as_bytes())) {
            return Err(ApiError::OperatorCannotRead);
        }
        let link = verify_token(state, token)?;
        let actor = format!("link:{}:{}", link.act, link.participant.0);
        let sec = state.security()?;
        sec.access.record(
            &actor,
            action,
            Some(act),
            "refused:patient_link",
            state.clock().now(),
        )?;
        return Err(ApiError::PatientLinkNoDocuments);
    }
    signed_in(state, headers)
}

/// A path segment as an act id.
pub fn parse_act(id: &str) -> Result<ActId, ApiError> {
    id.parse::<ActId>().map_err(|_| ApiError::NotAnActId)
}

/// Runs `f` on a blocking thread (the store and the access log are
/// synchronous).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}

/// Writes one access log entry for `who` about `act`.
pub fn audit(
    state: &AppState,
    who: &Authenticated,
    action: &str,
    act: ActId,
    outcome: &str,
) -> Result<(), ApiError> {
    let sec = state.security()?;
    sec.access.record(
        &crate::access::actor(who),
        action,
        Some(act),
        outcome,
        state.clock().now(),
    )?;
    Ok(())
}

/// The access log's outcome for a request that ended with `result`:
/// `ok`, `refused:CODE` for a refusal, `failed:CODE` for the server's own
/// failure.
pub fn outcome<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => {
            let (status, code, _) = e.status_code_and_message();
            if status.is_server_error() {
                format!("failed:{code}")
            } else {
                format!("refused:{code}")
            }
        }
    }
}

/// Health data must not stay in browser or proxy caches.
pub type NoStore = (
    [(header::HeaderName, &'static str); 1],
    Json<serde_json::Value>,
);

/// `v` as a JSON answer marked `Cache-Control: no-store`.
pub fn no_store(v: serde_json::Value) -> NoStore {
    ([(header::CACHE_CONTROL, "no-store")], Json(v))
}

/// Checks a join token's signature and expiry.
pub fn verify_token(
    state: &AppState,
    token: &str,
) -> Result<crate::invitation::Invitation, ApiError> {
    Ok(state.invitations.verify(token, state.clock().now())?)
}

/// Whether this node can serve: a JSON object naming each dependency
/// checked, `"ok"` or what failed, and `status` `"ok"` (200) or
/// `"unavailable"` (503) when any failed:
///
/// - `store`: the trace store answers a cheap read (`TraceStore::ping`);
/// - `redis` (only with `--redis`): Redis answers `PING` within its
///   command timeout;
/// - `witness`: `"ok"`, or the rollback or fork a witness showed while
///   running (see `witnessing`).
///
/// Failures are named, never detailed with a URL or password (they are
/// logged).
pub async fn healthz(State(state): State<AppState>) -> axum::response::Response {
    let store = state.store.clone();
    let store_check = async move {
        match tokio::task::spawn_blocking(move || store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "healthz: the trace store does not answer");
                false
            }
            Err(_) => false,
        }
    };
    let redis_check = async {
        match state.cluster() {
            Some(cluster) => Some(match cluster.redis().ping().await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "healthz: Redis does not answer");
                    false
                }
            }),
            None => None,
        }
    };
    let (store_ok, redis_ok) = tokio::join!(store_check, redis_check);
    let rollback = state.witnessing().and_then(|w| w.rollback());
    let word = |ok: bool| if ok { "ok" } else { "down" };
    let healthy = store_ok && redis_ok != Some(false) && rollback.is_none();
    let mut body = serde_json::json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "store": word(store_ok),
        "witness": match &rollback {
            None => "ok".to_owned(),
            Some(finding) => format!("rollback detected: {finding}"),
        },
    });
    if let Some(ok) = redis_ok {
        body["redis"] = word(ok).into();
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
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
