//! Who may do what with an act's trace, and the HTTP routes that read it.
//!
//! | who | create an act | list acts | read / export a trace |
//! |---|---|---|---|
//! | nobody (no credential) | 401 | 401 | 401 |
//! | a patient's join link | 401 | 401 | 401 |
//! | operator token (scripts) | yes | 403 | 403 |
//! | professional | as the requester only | theirs | theirs, else 403 |
//! | administrator | yes | all | all |
//!
//! "Take part" means the act names the professional's RPPS number as its
//! requester or expert. Creating an act answers every join link to the
//! operator token, but to a signed-in person only the patient's (and a
//! companion's) and their own: another professional named on the act
//! fetches their own link, signed in, with `GET /api/acts/{id}/link`. Every list, read and export by a signed-in person,
//! allowed or refused, is written to the access log before any data leaves.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};
use session::access::{AccessStore, AccountRole};
use session::act::NewAct;
use session::keys::{DataKey, TrustedKeys};
use session::participant::Identity;
use session::store::load_act;
use session::{Act, ActId, TraceStore};

use crate::api::ApiError;
use crate::auth::sessions::{LoginLimiter, Sessions, cookie_of};
use crate::auth::{Authenticated, IdentityProvider};
use crate::export;
use crate::state::AppState;

/// What sign-in and the access policy need, set once at start with
/// [`AppState::secure`].
#[derive(Debug)]
pub struct Security {
    pub access: Arc<AccessStore>,
    pub provider: Arc<dyn IdentityProvider>,
    pub sessions: Sessions,
    pub limiter: LoginLimiter,
    /// The data key first, then retired ones: opens traces of any age.
    pub data_keys: Vec<DataKey>,
    /// The signing keys checkpoints may name, for export verification.
    pub trusted: TrustedKeys,
}

impl Security {
    pub fn new(
        access: Arc<AccessStore>,
        provider: Arc<dyn IdentityProvider>,
        data_keys: Vec<DataKey>,
        trusted: TrustedKeys,
    ) -> Security {
        Security {
            access,
            provider,
            sessions: Sessions::default(),
            limiter: LoginLimiter::default(),
            data_keys,
            trusted,
        }
    }
}

/// Who is behind a request that may create acts.
#[derive(Debug)]
pub enum Creator {
    /// The operator API token (scripts, the load harness).
    Operator,
    Signed(Authenticated),
}

/// The audit actor naming `who`: an account number, never a name.
pub fn actor(who: &Authenticated) -> String {
    format!("account:{}", who.account)
}

/// Whether `who` takes part in `act` as a professional.
pub fn takes_part(who: &Authenticated, act: &Act) -> bool {
    act.participants
        .iter()
        .any(|p| p.role.is_professional() && is_me(who, &p.identity))
}

/// Whether `who` may read and export `act`'s trace.
pub fn may_read(who: &Authenticated, act: &Act) -> bool {
    who.role == AccountRole::Administrator || takes_part(who, act)
}

/// Whether `identity` is the professional `who` is signed in as (same
/// RPPS number).
pub fn is_me(who: &Authenticated, identity: &Identity) -> bool {
    let Some(mine) = &who.rpps else {
        return false;
    };
    matches!(identity, Identity::Professional { rpps, .. } if rpps.expose() == mine.expose())
}

/// Whether `who` may create `new`: an administrator always (and gets no
/// professional's link, see [`creator_gets_link`]), a professional only as
/// its requesting professional: naming someone else there would hand them
/// that colleague's link, and let them act in the colleague's name.
pub fn may_create(who: &Authenticated, new: &NewAct) -> bool {
    who.role == AccountRole::Administrator || is_me(who, &new.requester)
}

/// Whether the creator of an act gets `p`'s join link in the answer: the
/// operator token gets every link (scripts hand them out), a signed-in
/// person the patient's and companion's and their own only. The other
/// professionals fetch theirs with `GET /api/acts/{id}/link`.
pub fn creator_gets_link(creator: &Creator, p: &session::participant::Participant) -> bool {
    match creator {
        Creator::Operator => true,
        Creator::Signed(who) => !p.role.is_professional() || is_me(who, &p.identity),
    }
}

/// The audit actor of a creator: the operator token is audited as
/// `operator`.
pub fn creator_actor(creator: &Creator) -> String {
    match creator {
        Creator::Operator => "operator".into(),
        Creator::Signed(who) => actor(who),
    }
}

/// The signed-in person behind `headers`' session cookie.
pub fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let sec = state.security()?;
    let token = cookie_of(headers)
        .ok_or_else(|| ApiError::Unauthorized("sign in first (POST /api/session)".into()))?;
    let who = sec
        .sessions
        .get(token, state.clock().now())
        .ok_or_else(|| ApiError::Unauthorized("the session has ended; sign in again".into()))?;
    // A disabled account loses its sessions at once.
    if !sec.access.is_enabled(who.account).map_err(ApiError::from)? {
        sec.sessions.close_account(who.account);
        return Err(ApiError::Unauthorized("this account is disabled".into()));
    }
    Ok(who)
}

/// Who may create an act: the operator token (`Authorization: Bearer`) or
/// a session cookie.
pub fn creator(state: &AppState, headers: &HeaderMap) -> Result<Creator, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) || cookie_of(headers).is_none() {
        crate::api::authorized(state, headers)?;
        return Ok(Creator::Operator);
    }
    signed_in(state, headers).map(Creator::Signed)
}

fn parse_act(id: &str) -> Result<ActId, ApiError> {
    id.parse::<ActId>()
        .map_err(|_| ApiError::BadRequest("not an act id".into()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::Internal)?
}

#[derive(Clone, Copy, Debug)]
enum Reading {
    Trace,
    Export,
}

/// Loads the act, checks the policy, writes the audit entry, then reads.
fn read(
    state: &AppState,
    who: &Authenticated,
    act: ActId,
    what: Reading,
) -> Result<Value, ApiError> {
    let sec = state.security()?;
    let action = match what {
        Reading::Trace => "read_trace",
        Reading::Export => "export_trace",
    };
    let (state_of_act, _) = load_act(&*state.store, act, &sec.data_keys)?;
    let now = state.clock().now();
    if !may_read(who, &state_of_act) {
        sec.access
            .record(&actor(who), action, Some(act), "refused", now)?;
        return Err(ApiError::Forbidden(
            "you do not take part in this act".into(),
        ));
    }
    // The entry is durable before any data leaves; if it cannot be
    // written, nothing is read.
    sec.access
        .record(&actor(who), action, Some(act), "allowed", now)?;
    let store: &dyn TraceStore = &*state.store;
    Ok(match what {
        Reading::Trace => export::events(store, act, &sec.data_keys)?,
        Reading::Export => export::export_document(store, act, &sec.data_keys, &sec.trusted)?,
    })
}

/// Health data must not stay in browser or proxy caches.
type NoStore = ([(header::HeaderName, &'static str); 1], Json<Value>);

fn no_store(v: Value) -> NoStore {
    ([(header::CACHE_CONTROL, "no-store")], Json(v))
}

async fn reading(
    state: AppState,
    headers: HeaderMap,
    id: String,
    what: Reading,
) -> Result<NoStore, ApiError> {
    let who = signed_in(&state, &headers)?;
    let act = parse_act(&id)?;
    blocking(move || read(&state, &who, act, what))
        .await
        .map(no_store)
}

/// `GET /api/acts/{id}/trace`: the act's events, opened.
pub async fn trace(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<NoStore, ApiError> {
    reading(state, headers, id, Reading::Trace).await
}

/// `GET /api/acts/{id}/export`: the full export document.
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<NoStore, ApiError> {
    reading(state, headers, id, Reading::Export).await
}

/// `GET /api/acts/{id}/link`: the signed-in professional's own join link
/// to an act that names them (the expert's way to get theirs, since the
/// creator no longer receives it). 403 if the act does not name them, 410
/// once it has ended; every call, allowed or refused, is in the access log.
pub async fn own_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<NoStore, ApiError> {
    let who = signed_in(&state, &headers)?;
    let act = parse_act(&id)?;
    blocking(move || {
        let sec = state.security()?;
        let (loaded, _) = load_act(&*state.store, act, &sec.data_keys)?;
        let now = state.clock().now();
        let Some(mine) = loaded
            .participants
            .iter()
            .find(|p| p.role.is_professional() && is_me(&who, &p.identity))
        else {
            sec.access
                .record(&actor(&who), "get_link", Some(act), "refused", now)?;
            return Err(ApiError::Forbidden(
                "this act does not name you as a professional".into(),
            ));
        };
        if loaded.phase.is_terminal() {
            sec.access
                .record(&actor(&who), "get_link", Some(act), "refused:ended", now)?;
            return Err(ApiError::Gone(format!(
                "this consultation has ended ({})",
                loaded.phase
            )));
        }
        let id = mine.id;
        sec.access
            .record(&actor(&who), "get_link", Some(act), "allowed", now)?;
        let links = crate::links::links_where(
            &loaded,
            &state.config.public_url,
            &state.invitations,
            now,
            state.config.link_ttl,
            |p| p.id == id,
        );
        let (role, link) = links.into_iter().next().ok_or(ApiError::Internal)?;
        Ok(no_store(json!({ "role": role, "link": link })))
    })
    .await
}

/// `GET /api/acts`: the acts the signed-in person may read.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<NoStore, ApiError> {
    let who = match creator(&state, &headers) {
        Ok(Creator::Signed(who)) => who,
        Ok(Creator::Operator) => {
            return Err(ApiError::Forbidden(
                "the operator token creates acts; reading needs a professional's sign-in".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    blocking(move || {
        let sec = state.security()?;
        sec.access.record(
            &actor(&who),
            "list_acts",
            None,
            "allowed",
            state.clock().now(),
        )?;
        let mut acts = Vec::new();
        for id in state.store.act_ids()? {
            let (act, _) = load_act(&*state.store, id, &sec.data_keys)?;
            if may_read(&who, &act) {
                acts.push(json!({
                    "id": act.id.to_string(),
                    "kind": act.kind,
                    "phase": act.phase,
                    "requested_at": act.phase_times.first().map(|(_, t)| t.to_rfc3339()),
                    "takes_part": takes_part(&who, &act),
                }));
            }
        }
        Ok(no_store(json!({ "acts": acts })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use session::act::NewAct;
    use session::{ActKind, Pii, Timestamp};

    fn who(role: AccountRole, rpps: Option<&str>) -> Authenticated {
        Authenticated {
            account: 1,
            login: "x".into(),
            role,
            rpps: rpps.map(|r| Pii::new(r.parse().unwrap())),
            provider: "local",
        }
    }

    fn act() -> (NewAct, Act) {
        let new = NewAct {
            kind: ActKind::Teleconsultation,
            requester: crate::api::professional("Dr A", "10000000009").unwrap(),
            expert: None,
            patient: Identity::Patient {
                alias: Pii::new(session::PatientAlias::random()),
            },
            patient_present: true,
        };
        let (act, _) = Act::open(ActId::random(), new.clone(), Timestamp::from_micros(1)).unwrap();
        (new, act)
    }

    #[test]
    fn policy_by_role() {
        let (new, act) = act();
        let mine = who(AccountRole::Professional, Some("10000000009"));
        let other = who(AccountRole::Professional, Some("10101010105"));
        let admin = who(AccountRole::Administrator, None);
        assert!(may_read(&mine, &act) && may_create(&mine, &new));
        assert!(!may_read(&other, &act) && !may_create(&other, &new));
        // Named as the expert is taking part, but not creating.
        let mut as_expert = new.clone();
        as_expert.kind = ActKind::Teleexpertise;
        as_expert.expert = Some(crate::api::professional("Dr B", "10101010105").unwrap());
        assert!(!may_create(&other, &as_expert));
        assert!(may_read(&admin, &act) && may_create(&admin, &new));
        assert!(!takes_part(&admin, &act));
    }
}
