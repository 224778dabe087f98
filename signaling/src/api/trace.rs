//! `/api/acts...`: the routes that read an act's trace, under the policy
//! of `access`. Every list, read and export by a signed-in person, allowed
//! or refused, is written to the access log before any data leaves.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use session::store::load_act;
use session::{ActId, TraceStore};

use super::{ApiError, NoStore, blocking, creator, no_store, parse_act, signed_in};
use crate::access::{Creator, actor, is_me, may_read, my_role, takes_part};
use crate::auth::Authenticated;
use crate::export;
use crate::state::AppState;

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
        return Err(ApiError::NotTakingPart);
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
            return Err(ApiError::NotNamed);
        };
        if loaded.phase.is_terminal() {
            sec.access
                .record(&actor(&who), "get_link", Some(act), "refused:ended", now)?;
            return Err(ApiError::ActEnded(loaded.phase));
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
        let (role, link) = links.into_iter().next().ok_or(ApiError::NoLinkIssued)?;
        Ok(no_store(json!({ "role": role, "link": link })))
    })
    .await
}

/// `GET /api/acts`: the acts the signed-in person may read, as a work
/// list: each with the signed-in professional's role in it (`requester`,
/// `expert`, or null), a téléexpertise's request at a glance (urgency,
/// when the answer is due, whether the expert answered, whether it is
/// overdue by the server's clock), how many documents it holds and
/// whether it is concluded (its compte rendu is ready as a PDF).
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<NoStore, ApiError> {
    let who = match creator(&state, &headers) {
        Ok(Creator::Signed(who)) => who,
        Ok(Creator::Operator) => {
            return Err(ApiError::OperatorCannotRead);
        }
        Err(e) => return Err(e),
    };
    blocking(move || {
        let sec = state.security()?;
        let now = state.clock().now();
        sec.access
            .record(&actor(&who), "list_acts", None, "allowed", now)?;
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
                    "my_role": my_role(&who, &act),
                    "expertise": super::expertise::summary(&act, now),
                    "documents": act.attachments.len(),
                    // Its compte rendu may be downloaded (report.pdf).
                    "concluded": act.conclusion.is_some(),
                }));
            }
        }
        Ok(no_store(json!({ "acts": acts })))
    })
    .await
}
