//! The policy the act's exports share (the FHIR Bundle, the PDF report):
//! who may export, whether sealed values are withheld from them, and the
//! access-log entry written before any byte leaves.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use session::store::load_act;
use session::{Act, ActId};

use super::ApiError;
use crate::access::{Security, actor, may_read, takes_part};
use crate::auth::Authenticated;
use crate::state::AppState;

/// An export `who` may make of an act.
pub struct Grant<'a> {
    /// The act as its verified trace replays.
    pub act: Act,
    /// Whether sealed (personal and medical) values are withheld: the
    /// reader is an administrator who does not take part in the act.
    pub withheld: bool,
    sec: &'a Security,
    who: Authenticated,
    action: &'static str,
    id: ActId,
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("act", &self.id)
            .field("action", &self.action)
            .field("withheld", &self.withheld)
            .finish_non_exhaustive()
    }
}

impl Grant<'_> {
    /// Writes the access-log entry `outcome` for this export; called
    /// before any byte leaves, so an entry that cannot be written stops
    /// the export.
    pub fn record(&self, state: &AppState, outcome: &str) -> Result<(), ApiError> {
        self.sec.access.record(
            &actor(&self.who),
            self.action,
            Some(self.id),
            outcome,
            state.clock().now(),
        )?;
        Ok(())
    }

    /// Records the export as allowed (`allowed`, or `allowed:withheld`
    /// when sealed values are withheld).
    pub fn record_allowed(&self, state: &AppState) -> Result<(), ApiError> {
        self.record(
            state,
            if self.withheld {
                "allowed:withheld"
            } else {
                "allowed"
            },
        )
    }
}

/// Loads the act from its verified trace and checks that `who` may export
/// it (a professional who takes part, or an administrator): otherwise
/// records `refused` under `action` and answers 403 `not_taking_part`.
pub fn grant<'a>(
    state: &AppState,
    sec: &'a Security,
    who: Authenticated,
    id: ActId,
    action: &'static str,
) -> Result<Grant<'a>, ApiError> {
    let (act, _) = load_act(&*state.store, id, &sec.data_keys)?;
    let grant = Grant {
        withheld: !takes_part(&who, &act),
        act,
        sec,
        who,
        action,
        id,
    };
    if !may_read(&grant.who, &grant.act) {
        grant.record(state, "refused")?;
        return Err(ApiError::NotTakingPart);
    }
    Ok(grant)
}

/// An export's answer: `bytes` of `content_type`, downloaded under
/// `filename` (made by the caller from an act id and a fixed stem: hex
/// digits, dashes and dots, nothing to escape), never sniffed, never
/// cached.
pub fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut res = Body::from(bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
