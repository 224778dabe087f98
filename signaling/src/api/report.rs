//! `GET /api/acts/{id}/report.pdf`: the compte rendu of a concluded act
//! as a PDF (the `report` crate, through [`crate::export::report_pdf`]).
//!
//! - Access: the exports' policy ([`super::exports`]): signed in (401);
//!   a professional who takes part, or an administrator, else 403; an unknown act 404; before its conclusion 409
//!   `act_not_concluded`. An administrator who does not take part gets
//!   the personal and medical values withheld (« [masqué] »).
//! - Audit: every refusal and every export is written to the access log
//!   as `export_pdf` before any byte leaves; if it cannot be written,
//!   nothing leaves.
//! - Limits: the server's own (per-client rate, in-flight cap, timeout:
//!   `throttle`); a render is bounded by the report's 64 KiB.
//! - Receipt: the PDF prints the transparency log's checkpoint the act's
//!   receipt is proven against (`GET /api/acts/{id}/receipt`, chosen by
//!   [`crate::receipts::choose_checkpoint`], signed here if none covers
//!   the act yet).
//! - Answer: `application/pdf`, downloaded (`Content-Disposition:
//!   attachment`), never sniffed, never cached.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use session::ActId;

use super::{ApiError, blocking, exports, parse_act, signed_in};
use crate::export;
use crate::receipts::{COSIGN_WAIT, Witnessed, choose_checkpoint, witnessed};
use crate::state::AppState;

/// The access log's action for this route.
const ACTION: &str = "export_pdf";

/// `GET /api/acts/{id}/report.pdf`.
pub async fn pdf(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = signed_in(&state, &headers)?;
    let act = parse_act(&id)?;
    let bytes = blocking(move || {
        let sec = state.security()?;
        let grant = exports::grant(&state, sec, who, act, ACTION)?;
        // The « Reçu de trace » section prints the checkpoint the act's
        // receipt is proven against: have one stored (the same choice as
        // the receipt's route). Without it the PDF says the act is not yet
        // in a signed checkpoint, rather than fail.
        // With witnesses, it waits (as the receipt does) for the cosigned
        // copy to be stored, so the PDF names its witnesses; if none comes,
        // it prints the log-signed one (« Aucun témoin »).
        if report::concluded_at(&grant.act).is_some() {
            let chosen = match witnessed(&*state.store, state.witnessing(), act, COSIGN_WAIT) {
                Ok(Witnessed::Cosigned(_)) => Ok(()),
                Ok(_) => choose_checkpoint(&*state.store, act, state.clock().now()).map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = chosen {
                tracing::warn!(%act, error = %e, "no checkpoint for the compte rendu");
            }
        }
        let Some(bytes) = export::report_pdf(
            &*state.store,
            act,
            &sec.data_keys,
            &sec.trusted,
            grant.withheld,
        )?
        else {
            grant.record(&state, "refused:act_not_concluded")?;
            return Err(ApiError::ActNotConcluded);
        };
        // Durable before any byte leaves.
        grant.record_allowed(&state)?;
        Ok(bytes)
    })
    .await?;
    Ok(pdf_response(act, bytes))
}

/// The PDF's answer: its type, a download named after the act.
fn pdf_response(act: ActId, bytes: Vec<u8>) -> Response {
    exports::download(bytes, "application/pdf", &format!("compte-rendu-{act}.pdf"))
}
