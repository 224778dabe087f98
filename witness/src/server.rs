//! The witness's HTTP driver (axum), serving, with the submission prefix and
//! the monitoring prefix both `/`:
//! - `POST /add-checkpoint` (c2sp.org/tlog-witness): 200 with the
//!   cosignature line(s), 409 `text/x.tlog.size` with the held size, or the
//!   specification's 400/403/404/422;
//! - `GET /<hex SHA-256 of the origin>/checkpoint` (the specification's
//!   monitor retrieval): the cosigned checkpoint held, or 404. A log reads
//!   it to check, at start, that its store is not older than what the
//!   witness holds.
//!
//! Access: none beyond the log's signature, as the specification says; the
//! server logs origin, sizes and outcome, never bodies. Limits: request
//! bodies of at most [`MAX_BODY`] bytes (413 beyond), [`REQUEST_TIMEOUT`]
//! per request, [`MAX_CONCURRENT`] requests at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Error;
use crate::state::WitnessState;

/// The largest request body accepted: 63 proof lines and a checkpoint with
/// a few dozen signatures fit in well under this.
pub const MAX_BODY: usize = 64 * 1024;

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests handled at once (more wait).
pub const MAX_CONCURRENT: usize = 64;

/// The `Content-Type` of a 409 answer.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The witness's routes.
pub fn router(state: Arc<WitnessState>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT))
        .with_state(state)
}

/// Serves the witness on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<WitnessState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn add_checkpoint(State(state): State<Arc<WitnessState>>, body: Bytes) -> Response {
    let work = tokio::task::spawn_blocking(move || state.add_checkpoint(&body, SystemTime::now()));
    let result = match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => {
            tracing::error!("add-checkpoint did not complete");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    match result {
        Ok(lines) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            lines,
        )
            .into_response(),
        Err(Error::Refused(refusal)) => {
            tracing::info!(code = refusal.code(), "checkpoint refused");
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
            match refusal {
                crate::Refusal::Conflict { held } => (
                    status,
                    [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                    format!("{held}\n"),
                )
                    .into_response(),
                _ => text(status, &format!("{}: {refusal}\n", refusal.code())),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

async fn checkpoint(
    State(state): State<Arc<WitnessState>>,
    Path(origin_hash): Path<String>,
) -> Response {
    let well_formed = origin_hash.len() == 64
        && origin_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let held = well_formed
        .then(|| state.checkpoint_by_hash(&origin_hash))
        .flatten();
    tracing::info!(found = held.is_some(), "held checkpoint requested");
    match held {
        Some(note) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        None => text(StatusCode::NOT_FOUND, "no checkpoint for this origin\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}
