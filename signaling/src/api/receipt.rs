//! `GET /api/acts/{id}/receipt`: the act's receipt — its events as
//! stored, each with its inclusion proof in the transparency log's tree,
//! and the signed (and, once witnessed, cosigned) checkpoint they are
//! proven against — for `teleconsult receipt verify` to check offline,
//! without the platform (docs/TRACE_FORMAT.md, "Receipts").
//! `GET /api/log-key`: the log's verifier key that check needs.
//!
//! - Access: the exports' policy ([`super::exports`]): signed in (401);
//!   a professional who takes part, or an administrator, else 403; an
//!   unknown act 404; before its conclusion 409 `act_not_concluded`. A
//!   receipt holds the events as stored (sealed values as ciphertext), the
//!   same bytes for every reader: nothing is withheld, and the entry says
//!   `allowed`.
//! - Audit: every refusal and every download is written to the access log
//!   as `export_receipt` before any byte leaves; if it cannot be written,
//!   nothing leaves.
//! - Limits: the server's own (per-client rate, in-flight cap, timeout:
//!   `throttle`); a receipt is one line pair per event of the act, whose
//!   count the act's budget bounds.
//! - Answer: `text/plain; charset=utf-8`, downloaded (`Content-Disposition:
//!   attachment; filename="receipt-<act>.txt"`), never sniffed, never
//!   cached, with the log's verifier key in `Teleconsult-Log-Key`.
//! - Checkpoint: with witnesses configured, one cosigned by at least one
//!   of them and holding the act ([`crate::receipts::witnessed`], waiting
//!   up to 5 s for the witnessing task's round); none within the wait is
//!   503 `receipt_pending` with `Retry-After` (audited
//!   `refused:receipt_pending`): an unwitnessed receipt never leaves such a
//!   server. Without witnesses, [`crate::receipts::choose_checkpoint`] (the
//!   newest stored one if it covers the act, else one signed now), the
//!   same the PDF prints.
//!
//! The log's verifier key is public: `GET /api/log-key` answers it to
//! anyone (no personal data, nothing to audit), so that the professional's
//! page can print it beside the download and a patient or a court can be
//! handed it with the receipt. It is also what `teleconsult keys show`
//! prints; a verifier should compare the two, or take it from where the
//! platform publishes it, rather than trust a key that came with the file.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use session::ActId;

use super::{ApiError, blocking, exports, parse_act, signed_in};
use crate::receipts::{COSIGN_WAIT, Witnessed, receipt_of, witnessed};
use crate::state::AppState;

/// The access log's action for this route.
const ACTION: &str = "export_receipt";

/// The header carrying the log's verifier key with a receipt.
pub const LOG_KEY_HEADER: &str = "teleconsult-log-key";

/// `GET /api/acts/{id}/receipt`.
pub async fn receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = signed_in(&state, &headers)?;
    let act = parse_act(&id)?;
    let (bytes, log_key) = blocking(move || {
        let sec = state.security()?;
        let grant = exports::grant(&state, sec, who, act, ACTION)?;
        if report::concluded_at(&grant.act).is_none() {
            grant.record(&state, "refused:act_not_concluded")?;
            return Err(ApiError::ActNotConcluded);
        }
        // With witnesses, only a witnessed receipt leaves (waiting a few
        // seconds for the task's round); without, the log's own signature.
        let cosigned = match witnessed(&*state.store, state.witnessing(), act, COSIGN_WAIT)? {
            Witnessed::NoWitnesses => None,
            Witnessed::Cosigned(c) => Some(c),
            Witnessed::Pending => {
                grant.record(&state, "refused:receipt_pending")?;
                return Err(ApiError::ReceiptPending);
            }
        };
        let receipt = receipt_of(&*state.store, act, state.clock().now(), cosigned)?;
        // Durable before any byte leaves.
        grant.record(&state, "allowed")?;
        Ok((receipt.to_bytes(), log_key(&state)))
    })
    .await?;
    Ok(receipt_response(act, bytes, log_key))
}

/// `GET /api/log-key`: the log's verifier key (C2SP signed-note form,
/// `origin+key id+base64`), one line of text.
pub async fn log_key_route(State(state): State<AppState>) -> Result<Response, ApiError> {
    let key = log_key(&state).ok_or(ApiError::Session(session::Error::ReadOnly))?;
    let mut res = format!("{key}\n").into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// The log's verifier key, when the store signs (a writer: the server's).
fn log_key(state: &AppState) -> Option<String> {
    state.store.log_signer().map(|s| s.verifier_key())
}

/// The receipt's answer: text, a download named after the act, the log's
/// key beside it.
fn receipt_response(act: ActId, bytes: Vec<u8>, log_key: Option<String>) -> Response {
    let mut res = exports::download(
        bytes,
        "text/plain; charset=utf-8",
        &format!("receipt-{act}.txt"),
    );
    if let Some(v) = log_key.and_then(|k| HeaderValue::from_str(&k).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static(LOG_KEY_HEADER), v);
    }
    res
}
