//! `/api/acts/{id}/documents...`: the documents attached to an act.
//!
//! - `POST /api/acts/{id}/documents?name=FILE`, the raw file as the body
//!   (any `Content-Type`: the type is told by the content): one of the
//!   act's professionals attaches a document, once the patient's consent
//!   is recorded or attested. A `Content-Length` over 50 MiB is refused
//!   (413) before any byte is read; the body then streams into memory
//!   within [`UPLOAD_BODY_LIMIT`] (413 past it), and a body cut short is
//!   refused (400 `upload_incomplete`) with nothing stored. The document
//!   and its `attachment_added` event are stored in one transaction by
//!   the act's room (its one writer). Audited `attach_document`.
//! - `GET /api/acts/{id}/documents/{sha256}`: the bytes, for the act's
//!   professionals and administrators, with headers that keep a browser
//!   from running them (see [`document_headers`]). Audited
//!   `read_document`, allowed or refused, before any byte leaves.
//!
//! A join link presented as `Authorization: Bearer` gets 403
//! `patient_link_no_documents` on both (see `api::professional_session`).

use std::time::Duration;

use axum::RequestExt;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;
use session::act::{Command, Phase};
use session::document::{
    DocumentType, MAX_ACT_DOCUMENT_BYTES, MAX_ATTACHMENTS, MAX_DOCUMENT_BYTES, Upload, clean_name,
};
use session::participant::Role;
use session::{Act, ActId, ParticipantId, Pii, Sha256};

use super::expertise::load;
use super::{ApiError, audit, blocking, outcome, parse_act, professional_session};
use crate::access::{as_role, may_read};
use crate::auth::Authenticated;
use crate::state::AppState;

/// The body limit of an upload, set on its route: one document at most
/// ([`MAX_DOCUMENT_BYTES`], 50 MiB) and a small margin, so that a file
/// just over 50 MiB is refused by the document check with the same
/// answer (413 `upload_too_large`).
pub const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES as usize + 64 * 1024;

/// How long an upload's body may stay silent before it is taken as cut
/// short.
const UPLOAD_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// The file's name (directories are dropped).
    pub name: String,
}

/// `POST /api/acts/{id}/documents?name=FILE`: attaches the body as a
/// document; 201 `{"sha256", "media_type", "size"}`.
pub async fn upload(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = parse_act(&id)?;
    let headers = request.headers().clone();
    let who = professional_session(&state, &headers, id, "attach_document")?;
    let result = attach(&state, &who, id, request).await;
    let entry = outcome(&result);
    let st = state.clone();
    blocking(move || audit(&st, &who, "attach_document", id, &entry)).await?;
    let (sha256, media_type, size) = result?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "sha256": sha256.to_string(),
            "media_type": media_type,
            "size": size,
        })),
    )
        .into_response())
}

/// The upload's checks, reading and storing; the caller audits the
/// outcome.
async fn attach(
    state: &AppState,
    who: &Authenticated,
    id: ActId,
    request: Request,
) -> Result<(Sha256, DocumentType, u64), ApiError> {
    let declared = declared_length(request.headers())?;
    let name = Query::<UploadQuery>::try_from_uri(request.uri())
        .map_err(|_| ApiError::DocumentNameMissing)?
        .0
        .name;
    // Refused before a byte is read: too large by its own account, or an
    // upload the act would refuse anyway.
    if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES) {
        return Err(ApiError::UploadTooLarge {
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let (act, _) = load(state, id).await?;
    let by = precheck(who, &act, &name, declared)?;
    // Each upload is held in memory until stored: a few at once.
    let _slot = state.uploads.try_acquire().map_err(|_| ApiError::Busy)?;
    let bytes = read_body(request.into_limited_body(), declared).await?;
    let upload = Upload::inspect(bytes).map_err(session::Error::from)?;
    let (sha256, media_type, size) = (upload.sha256(), upload.media_type(), upload.size());
    let command = Command::attach(&upload, Pii::new(name), by);
    state.act_command(id, command, Some(upload)).await?;
    Ok((sha256, media_type, size))
}

/// The body's `Content-Length`, if declared; a malformed one is refused.
fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(ApiError::UploadIncomplete)
        })
        .transpose()
}

/// Who attaches, if the act would take a document from them now: one of
/// its professionals (an administrator never writes), in an open phase up
/// to the performance, with the patient's consent, a usable name, and
/// room left in the act for `declared` more bytes. The act's rules check
/// all of it again, with the document, in its room.
fn precheck(
    who: &Authenticated,
    act: &Act,
    name: &str,
    declared: Option<u64>,
) -> Result<ParticipantId, ApiError> {
    let by = as_role(who, act, Role::Requester)
        .or_else(|| as_role(who, act, Role::Expert))
        .ok_or(ApiError::NotTakingPart)?;
    if !matches!(
        act.phase,
        Phase::Request | Phase::Preparation | Phase::Performance
    ) {
        return Err(session::Error::IllegalTransition {
            phase: act.phase,
            action: "attach a document",
        }
        .into());
    }
    if !act.consent.allows_media() {
        return Err(session::Error::ConsentRequired.into());
    }
    clean_name(name).map_err(session::Error::from)?;
    if act.attachments.len() >= MAX_ATTACHMENTS {
        return Err(session::Error::TooManyAttachments(MAX_ATTACHMENTS).into());
    }
    let total = act.documents_size().saturating_add(declared.unwrap_or(0));
    if total > MAX_ACT_DOCUMENT_BYTES {
        return Err(session::Error::ActDocumentsFull {
            total,
            max: MAX_ACT_DOCUMENT_BYTES,
        }
        .into());
    }
    Ok(by)
}

/// Reads the whole body, within the route's limit: 413 past it, 400
/// `upload_incomplete` when it ends early (the client went away, or sent
/// less than it declared) or stays silent for [`UPLOAD_IDLE`].
async fn read_body(mut body: Body, declared: Option<u64>) -> Result<Vec<u8>, ApiError> {
    let capacity = declared.map_or(0, |n| n.min(UPLOAD_BODY_LIMIT as u64) as usize);
    let mut bytes = Vec::with_capacity(capacity);
    loop {
        let frame = match tokio::time::timeout(UPLOAD_IDLE, body.frame()).await {
            Err(_) => return Err(ApiError::UploadIncomplete),
            Ok(None) => break,
            Ok(Some(Err(e))) if over_limit(&e) => {
                return Err(ApiError::UploadTooLarge {
                    max: MAX_DOCUMENT_BYTES,
                });
            }
            Ok(Some(Err(_))) => return Err(ApiError::UploadIncomplete),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    if declared.is_some_and(|n| n != bytes.len() as u64) {
        return Err(ApiError::UploadIncomplete);
    }
    Ok(bytes)
}

/// Whether a body error is the route's length limit.
fn over_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// `GET /api/acts/{id}/documents/{sha256}`: the document's bytes.
pub async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, sha256)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_act(&id)?;
    let who = professional_session(&state, &headers, id, "read_document")?;
    let sha256: Sha256 = sha256.parse().map_err(|_| ApiError::NotADigest)?;
    let (act, _) = load(&state, id).await?;
    let (bytes, media_type, name) = blocking(move || {
        if !may_read(&who, &act) {
            audit(&state, &who, "read_document", id, "refused")?;
            return Err(ApiError::NotTakingPart);
        }
        // Attached to this act, in its trace and in the store: a digest
        // of another act's document is unknown here.
        let (Some(attachment), Some(stored)) =
            (act.attachment(&sha256), state.store.document(id, &sha256)?)
        else {
            audit(
                &state,
                &who,
                "read_document",
                id,
                "refused:unknown_document",
            )?;
            return Err(ApiError::UnknownDocument);
        };
        // Durable before any byte leaves.
        audit(&state, &who, "read_document", id, "allowed")?;
        let bytes = stored.open(&state.data_keys())?;
        Ok((bytes, stored.media_type, attachment.name.clone()))
    })
    .await?;
    let mut res = Body::from(bytes).into_response();
    document_headers(res.headers_mut(), media_type, &name);
    Ok(res)
}

/// A stored document's answer headers: its stored type, never sniffed
/// (`X-Content-Type-Options: nosniff`), shown in the page or, for DICOM,
/// downloaded (`Content-Disposition` with a safe file name), in a sandbox
/// without scripts or same-origin rights should it be opened directly
/// (`Content-Security-Policy: sandbox`), never cached.
pub fn document_headers(h: &mut HeaderMap, media_type: DocumentType, name: &Pii<String>) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media_type.media_type()),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(name.expose(), media_type.inline()),
    );
}

/// `inline` or `attachment`, with the file name as RFC 6266 gives it: an
/// ASCII `filename` (other characters, quotes, backslashes and percent
/// signs as `_`) for old clients, and the exact name UTF-8 encoded in
/// `filename*` (RFC 8187).
pub fn content_disposition(name: &str, inline: bool) -> HeaderValue {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' ' => ' ',
            '"' | '\\' | '%' => '_',
            c if c.is_ascii_graphic() => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~".
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_safely_both_ways() {
        let h = content_disposition("radio genou.png", true);
        assert_eq!(
            h,
            "inline; filename=\"radio genou.png\"; filename*=UTF-8''radio%20genou.png"
        );
        let h = content_disposition("compte-rendu é\"x\\%.pdf", true);
        assert_eq!(
            h,
            "inline; filename=\"compte-rendu __x__.pdf\"; filename*=UTF-8''compte-rendu%20%C3%A9%22x%5C%25.pdf"
        );
        let h = content_disposition("IRM;1.dcm", false);
        assert_eq!(
            h,
            "attachment; filename=\"IRM;1.dcm\"; filename*=UTF-8''IRM%3B1.dcm"
        );
    }

    #[test]
    fn dicom_is_downloaded_and_nothing_is_sniffed() {
        let mut h = HeaderMap::new();
        document_headers(&mut h, DocumentType::Dicom, &Pii::new("scan.dcm".into()));
        assert_eq!(h[header::CONTENT_TYPE], "application/dicom");
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "sandbox");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
