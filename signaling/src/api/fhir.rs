//! `GET /api/acts/{id}/fhir`: the act as one signed FHIR R4 Bundle
//! (`application/fhir+json`, the `fhir-export` crate through
//! [`crate::export::fhir_bundle`]).
//!
//! - Access: the exports' policy ([`super::exports`]): signed in (401), a
//!   professional who takes part gets sealed values opened, an
//!   administrator who does not take part gets them withheld (marked
//!   `masked`), anyone else 403; an unknown act 404.
//! - Audit: `export_fhir` (`allowed`, `allowed:withheld`, `refused`) in
//!   the access log before any byte leaves.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, blocking, exports, parse_act, signed_in};
use crate::export;
use crate::state::AppState;

/// `GET /api/acts/{id}/fhir`.
pub async fn bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = signed_in(&state, &headers)?;
    let act = parse_act(&id)?;
    let body = blocking(move || {
        let sec = state.security()?;
        let grant = exports::grant(&state, sec, who, act, "export_fhir")?;
        let Some(signer) = sec.access.signer() else {
            grant.record(&state, "refused:no_signing_key")?;
            return Err(ApiError::Session(session::Error::ReadOnly));
        };
        grant.record_allowed(&state)?;
        let bundle = export::fhir_bundle(
            &*state.store,
            act,
            &export::FhirExport {
                keys: &sec.data_keys,
                trusted: &sec.trusted,
                withheld: grant.withheld,
                public_url: &state.config.public_url,
                now: state.clock().now(),
                signer,
            },
        )?;
        Ok(bundle.to_string())
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, fhir_export::MEDIA_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}
