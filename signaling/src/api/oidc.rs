//! `/api/oidc`: professional sign-in over OpenID Connect (Pro Santé
//! Connect). The flow and its checks are `auth::oidc`'s; here, the HTTP:
//!
//! - `GET /api/oidc` (public): whether it is configured, and its label,
//!   for the sign-in page's button;
//! - `GET /api/oidc/start[?next=PATH]`: 303 to the provider, with a
//!   binding cookie (`__Host-teleconsult-oidc`, SameSite=Lax, 10 min) tying
//!   the sign-in to this browser;
//! - `GET /api/oidc/callback?code&state`: the session cookie and 303 to
//!   `next` (a path of this origin only), or 303 to
//!   `/pro.html?signin_error=CODE` and no session.
//!
//! Every attempt is written to the access log (action `login`, actor the
//! account or `oidc:ID`, outcome `ok:ID` or `failed:oidc_...`); never a
//! token or a claim. The callback is rate-limited as the password sign-in
//! is (per client address, under the login `oidc:ID`); starts count in
//! the same per-address rate (20 attempts a minute), so one address cannot
//! fill the table of sign-ins under way.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use session::Timestamp;

use super::sign_in::client_of;
use super::{ApiError, NoStore, blocking, no_store};
use crate::access::actor;
use crate::auth::oidc::next::{DEFAULT_NEXT, safe_next};
use crate::auth::oidc::pending::PENDING_TTL;
use crate::auth::oidc::{BINDING_COOKIE, OidcSignIn};
use crate::auth::sessions::{cookie_named, set_cookie};
use crate::auth::{Credentials, IdentityProvider, LoginFailure};
use crate::state::AppState;

/// The longest `code` or `state` taken from the provider's redirect.
const MAX_PARAM: usize = 2048;

/// `GET /api/oidc`: `{"enabled": false}`, or `{"enabled": true, "label",
/// "start"}`. Public: it says only what the sign-in page shows.
pub async fn info(State(state): State<AppState>) -> NoStore {
    match state.security().ok().and_then(|s| s.oidc.as_ref()) {
        Some(oidc) => no_store(json!({
            "enabled": true,
            "label": oidc.label(),
            "start": "/api/oidc/start",
        })),
        None => no_store(json!({"enabled": false})),
    }
}

/// A 303 to `location`, not cached.
fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Back to the sign-in page, saying why (`code`, translated there).
fn page_error(code: &str) -> Response {
    let mut res = see_other(&format!("/pro.html?signin_error={code}"));
    res.headers_mut()
        .append(header::SET_COOKIE, clear_binding());
    res
}

fn set_binding(value: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        PENDING_TTL.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_binding() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Writes a sign-in attempt's access-log entry (action `login`), off the
/// async runtime.
async fn record_login(
    state: &AppState,
    who: String,
    outcome: impl Into<String>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let (state, outcome) = (state.clone(), outcome.into());
    blocking(move || {
        state
            .security()?
            .access
            .record(&who, "login", None, &outcome, now)?;
        Ok(())
    })
    .await
}

/// The audit actor of an attempt whose account is not known.
fn nobody(oidc: &OidcSignIn) -> String {
    format!("oidc:{}", oidc.id())
}

/// What `start` takes.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `GET /api/oidc/start[?next=PATH]`: a new sign-in at the provider.
pub async fn start(
    State(state): State<AppState>,
    ext: Extensions,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let sec = state.security()?;
    let Some(oidc) = sec.oidc.clone() else {
        return Ok(page_error("oidc_off"));
    };
    let now = state.clock().now();
    // Each start holds an entry for 10 min: counted in the client's
    // sign-in rate (20 a minute), so one address cannot fill the table.
    let key = format!("{}:start", nobody(&oidc));
    let client = client_of(&ext);
    if sec.limiter.begin(&key, &client, now).is_err() {
        tracing::warn!("OpenID Connect sign-in starts rate-limited");
        return Ok(page_error("too_many_requests"));
    }
    sec.limiter.succeeded(&key, &client);
    let next = query
        .ok()
        .and_then(|Query(q)| q.next)
        .filter(|n| safe_next(n).is_some())
        .unwrap_or_else(|| DEFAULT_NEXT.to_string());
    match oidc.start(&next, now).await {
        Ok(started) => {
            let mut res = see_other(started.authorize.as_str());
            res.headers_mut()
                .append(header::SET_COOKIE, set_binding(&started.browser));
            Ok(res)
        }
        Err(failure) => {
            let who = nobody(&oidc);
            record_login(&state, who, failure.as_str(), now).await?;
            Ok(page_error(failure.page_code()))
        }
    }
}

/// What the provider sends the browser back with.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// Set instead of `code` when the provider refused or the person
    /// cancelled.
    #[serde(default)]
    error: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackQuery(<redacted>)")
    }
}

/// `GET /api/oidc/callback?code&state`: finishes the sign-in.
pub async fn callback(
    State(state): State<AppState>,
    ext: Extensions,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let sec = state.security()?;
    let Some(oidc) = sec.oidc.clone() else {
        return Ok(page_error("oidc_off"));
    };
    let now = state.clock().now();
    let client = client_of(&ext);
    let limiter_key = nobody(&oidc);
    if sec.limiter.begin(&limiter_key, &client, now).is_err() {
        tracing::warn!("OpenID Connect sign-ins rate-limited");
        return Ok(page_error("too_many_requests"));
    }
    let q = query.map(|Query(q)| q).unwrap_or(CallbackQuery {
        code: None,
        state: None,
        error: None,
    });
    let browser = cookie_named(&headers, BINDING_COOKIE).map(str::to_string);
    let outcome = match (q.code, q.state, q.error) {
        (_, Some(s), Some(_)) => {
            // Used up: the same state cannot be brought back with a code.
            oidc.abandon(&s);
            Err((LoginFailure::OidcDenied, None))
        }
        (Some(code), Some(s), None) if code.len() <= MAX_PARAM && s.len() <= MAX_PARAM => {
            let next = oidc.next_of(&s);
            let creds = Credentials::AuthorizationCode {
                code,
                state: s,
                browser,
            };
            let o = oidc.clone();
            let result = tokio::task::spawn_blocking(move || o.authenticate(&creds, now)).await?;
            result.map(|ok| (ok, next))
        }
        (_, None, Some(_)) => Err((LoginFailure::OidcDenied, None)),
        _ => Err((LoginFailure::OidcState, None)),
    };
    match outcome {
        Ok(((who, _), next)) => {
            sec.limiter.succeeded(&limiter_key, &client);
            let token = match sec.sessions.open(who.clone(), now) {
                Ok(t) => t,
                Err(crate::Error::TooManySessions) => return Ok(page_error("too_many_sessions")),
                Err(e) => return Err(e.into()),
            };
            let (a, outcome) = (actor(&who), format!("ok:{}", who.provider));
            record_login(&state, a, outcome, now).await?;
            let next = next
                .filter(|n| safe_next(n).is_some())
                .unwrap_or_else(|| DEFAULT_NEXT.to_string());
            let mut res = see_other(&next);
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, set_cookie(&token));
            h.append(header::SET_COOKIE, clear_binding());
            Ok(res)
        }
        Err((failure, account)) => {
            if matches!(
                failure,
                LoginFailure::Internal | LoginFailure::OidcUnreachable
            ) {
                sec.limiter.not_counted(&limiter_key, &client);
            }
            let who = account.map_or_else(|| nobody(&oidc), |id| format!("account:{id}"));
            record_login(&state, who, failure.as_str(), now).await?;
            Ok(page_error(failure.page_code()))
        }
    }
}
