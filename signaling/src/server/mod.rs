//! The HTTP server, assembled in the library (as tokio's mini-redis
//! does): [`build`] makes a [`Server`] from [`Settings`], [`Server::run`]
//! serves it on a listener until a shutdown future completes, then winds
//! down within a bounded time. The binary only parses its flags into
//! `Settings`; the tests build theirs with the same `build`.
//!
//! - [`app`]: every route and the security headers, without a socket;
//! - `build`: the settings, and starting the store, relay, test peer and
//!   sign-in;
//! - `listen`: TLS, the connection caps and the accept timeouts.

mod build;
mod listen;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use session::keys::TrustedKeys;

pub use build::{DEFAULT_SHUTDOWN_GRACE, Settings, TlsSetting, build};
pub use listen::{Tls, bind, self_signed, serve_on};

use crate::Error;
use crate::state::AppState;
use crate::{api, precall, web, ws};

/// The least time the store's writer is given to finish at shutdown,
/// even when the rooms used up the grace.
const FLUSH_AT_LEAST: Duration = Duration::from_secs(5);

/// Every route, without a socket: tests call it directly.
pub fn app(state: AppState) -> Router {
    let limits = state.config.http.clone();
    let routes = Router::new()
        .route("/", get(web::index))
        .route("/join", get(web::join))
        .route("/app.js", get(web::app_js))
        .route("/i18n.js", get(web::i18n_js))
        .route("/precall.js", get(web::precall_js))
        .route("/quality.js", get(web::quality_js))
        .route("/exchange.js", get(web::exchange_js))
        .route("/sharing.js", get(web::sharing_js))
        .route("/viewer.js", get(web::viewer_js))
        .route("/hash-worker.js", get(web::hash_worker_js))
        .route("/style.css", get(web::style))
        .route("/pro", get(web::pro))
        // The address the OpenID Connect routes send the browser back to.
        .route("/pro.html", get(web::pro))
        .route("/pro.js", get(web::pro_js))
        .route("/request.js", get(web::request_js))
        .route("/ws", get(ws::upgrade))
        .route("/api/acts", post(api::create_act).get(api::trace::list))
        .route("/api/acts/{id}/trace", get(api::trace::trace))
        .route("/api/acts/{id}/export", get(api::trace::export))
        .route("/api/acts/{id}/report.pdf", get(api::report::pdf))
        .route("/api/acts/{id}/receipt", get(api::receipt::receipt))
        .route("/api/log-key", get(api::receipt::log_key_route))
        .route("/api/acts/{id}/fhir", get(api::fhir::bundle))
        .route("/api/acts/{id}/link", get(api::trace::own_link))
        .route("/api/acts/{id}", get(api::expertise::detail))
        .route("/api/acts/{id}/answer", post(api::expertise::answer))
        .route("/api/acts/{id}/review", post(api::expertise::review))
        .route("/api/acts/{id}/report", post(api::expertise::report))
        .route("/api/acts/{id}/consent", post(api::expertise::consent))
        .route("/api/attestation", get(api::expertise::attestation_text))
        // An upload's body is one document (50 MiB and a margin), read
        // as it streams in; every other body stays within 256 KiB.
        .route(
            "/api/acts/{id}/documents",
            post(api::documents::upload).layer(axum::extract::DefaultBodyLimit::max(
                api::documents::UPLOAD_BODY_LIMIT,
            )),
        )
        .route(
            "/api/acts/{id}/documents/{sha256}",
            get(api::documents::read),
        )
        .route(
            "/api/session",
            post(api::sign_in::sign_in)
                .get(api::sign_in::whoami)
                .delete(api::sign_in::sign_out),
        )
        .route("/api/oidc", get(api::oidc::info))
        .route("/api/oidc/start", get(api::oidc::start))
        .route("/api/oidc/callback", get(api::oidc::callback))
        .route("/api/invitations/check", post(api::check_invitation))
        .route("/api/precall/start", post(precall::start))
        .route("/api/precall/offer", post(precall::offer))
        .route("/api/precall/result", post(precall::result))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state);
    // Security headers go on every answer, refusals by the limits included.
    crate::throttle::apply(routes, &limits).layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    // A file shared in the session is shown from a blob: URL the page made
    // of the bytes it received (viewer.js): an image (`img-src blob:`) or a
    // PDF in an <iframe> (`frame-src blob:`; 'self' kept for stored
    // documents, as `default-src` gave it). The hashing worker
    // (hash-worker.js) is a script of this origin, which `default-src
    // 'self'` already allows; fetch and connect stay 'self' only.
    // A route that set its own policy keeps it: a stored document's is
    // `sandbox` (see `api::documents::document_headers`).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; frame-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ));
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    res
}

/// A built server, not listening yet.
#[derive(Debug)]
pub struct Server {
    /// What the handlers share; tests reach the store and rooms through it.
    pub state: AppState,
    /// How it listens (a self-signed certificate is made by then).
    pub tls: Tls,
    /// The public keys the trace's checkpoints may name, for verifying it.
    pub trusted: TrustedKeys,
    /// How long [`Server::run`]'s wind-down may take.
    pub shutdown_grace: Duration,
}

impl Server {
    /// Serves on `listener` until `shutdown` completes, then winds down:
    /// stops accepting, tells every room (its participants get the close
    /// code 4005, `server_shutdown`), waits for the rooms, the HTTP
    /// connections and the WebSockets to end, and flushes the trace.
    /// Returns once done, or once [`Server::shutdown_grace`] has passed
    /// (the trace is flushed either way). An error is the listener's.
    pub async fn run(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let Server {
            state,
            tls,
            shutdown_grace,
            ..
        } = self;
        let handle = axum_server::Handle::new();
        let limits = state.config.http.clone();
        let serving =
            listen::serve_with(listener, app(state.clone()), tls, &limits, handle.clone());
        tokio::pin!(serving);
        let mut served = false;
        tokio::select! {
            r = &mut serving => {
                r?;
                served = true;
            }
            () = shutdown => {}
        }
        let deadline = tokio::time::Instant::now() + shutdown_grace;
        tracing::info!(grace = ?shutdown_grace, "stopping");
        // 1. No new connection; open HTTP connections finish their request.
        handle.graceful_shutdown(Some(shutdown_grace));
        // 2. WebSockets still saying hello are closed, and no new one
        // joins; every room closes its participants' connections and stops.
        state.stop_serving();
        let wound_down = tokio::time::timeout_at(deadline, async {
            let http = async {
                if !served {
                    let _ = (&mut serving).await;
                }
            };
            tokio::join!(http, state.close_rooms());
            // 3. The WebSockets end once their close frame is sent.
            state.connections.all_closed().await;
        })
        .await;
        if wound_down.is_err() {
            tracing::warn!(
                grace = ?shutdown_grace,
                "the server did not wind down in time; stopping anyway"
            );
            handle.shutdown();
        }
        // 4. Leave the cluster: the rooms gave their leases back as they
        // ended; the node's entry goes now rather than after its TTL.
        if let Some(cluster) = state.cluster() {
            let until = tokio::time::Instant::now() + Duration::from_secs(2);
            if tokio::time::timeout_at(until.max(deadline), cluster.stop())
                .await
                .is_err()
            {
                tracing::warn!(
                    "Redis did not answer the deregistration in time; the entry expires by itself"
                );
            }
        }
        // 5. The store's writer finishes what it holds. Every append a room
        // was told of is already committed, so waiting is bounded too: past
        // the grace (at least FLUSH_AT_LEAST), the process stops without it.
        let store = state.store.clone();
        let flush_until = deadline.max(tokio::time::Instant::now() + FLUSH_AT_LEAST);
        let flushed = tokio::time::timeout_at(
            flush_until,
            tokio::task::spawn_blocking(move || store.close()),
        )
        .await;
        if flushed.is_err() {
            tracing::warn!("the trace store's writer did not finish in time; stopping anyway");
        }
        Ok(())
    }
}
