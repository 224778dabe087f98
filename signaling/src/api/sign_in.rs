//! `/api/session`: sign in, who am I, sign out.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, NoStore, no_store, signed_in};
use crate::access::actor;
use crate::auth::Authenticated;
use crate::auth::sessions::{clear_cookie, cookie_of, set_cookie};
use crate::auth::{Credentials, LoginFailure};
use crate::state::AppState;

/// What the sign-in form sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub login: String,
    pub password: String,
    /// The 6-digit code from the authenticator app.
    pub totp: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn(<redacted>)")
    }
}

/// The client's address when the server knows it (tests call the router
/// without a socket).
pub fn client_of(ext: &Extensions) -> String {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

/// `POST /api/session`: checks the credentials and sets the session
/// cookie. Every failure is audited; attempts are rate-limited.
pub async fn sign_in(
    State(state): State<AppState>,
    ext: Extensions,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    if req.login.is_empty() || req.login.len() > 128 {
        return Err(ApiError::LoginLength);
    }
    let sec = state.security()?;
    let now = state.clock().now();
    let client = client_of(&ext);
    // Checked and counted in one step (see `LoginLimiter::begin`).
    if let Err(wait) = sec.limiter.begin(&req.login, &client, now) {
        tracing::warn!("sign-in attempts rate-limited");
        return Err(ApiError::TooManyRequests(wait));
    }
    let creds = Credentials::Password {
        login: req.login,
        password: req.password,
        totp: req.totp,
    };
    let st = state.clone();
    let (outcome, creds) = tokio::task::spawn_blocking(move || {
        let sec = st.security()?;
        Ok::<_, ApiError>((sec.provider.authenticate(&creds, now), creds))
    })
    .await??;
    let login = creds.login().unwrap_or_default().to_string();
    match outcome {
        Ok((who, _)) => {
            sec.limiter.succeeded(&login, &client);
            let token = sec.sessions.open(who.clone(), now)?;
            sec.access.record(&actor(&who), "login", None, "ok", now)?;
            let mut res = (
                StatusCode::OK,
                Json(json!({"login": who.login, "role": who.role, "provider": who.provider})),
            )
                .into_response();
            res.headers_mut()
                .insert(header::SET_COOKIE, set_cookie(&token));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
            Ok(res)
        }
        Err((failure, account)) => {
            if failure == LoginFailure::Internal {
                sec.limiter.not_counted(&login, &client);
            }
            let who = account.map_or_else(|| "unknown".to_string(), |id| format!("account:{id}"));
            sec.access
                .record(&who, "login", None, failure.as_str(), now)?;
            Err(ApiError::CredentialsInvalid)
        }
    }
}

/// `GET /api/session`: who is signed in: `{"login", "role", "provider"}`,
/// and the account's own `name` and `rpps` when it holds them (the
/// request form then does not ask for them). Their own data, to them
/// only, and not cached.
pub async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<NoStore, ApiError> {
    let who = signed_in(&state, &headers)?;
    Ok(no_store(whoami_json(&who)))
}

/// What `GET /api/session` says of `who`.
fn whoami_json(who: &Authenticated) -> serde_json::Value {
    let mut v = json!({"login": who.login, "role": who.role, "provider": who.provider});
    if let Some(name) = who
        .name
        .as_ref()
        .map(|n| n.expose().trim())
        .filter(|n| !n.is_empty())
    {
        v["name"] = json!(name);
    }
    if let Some(rpps) = &who.rpps {
        v["rpps"] = json!(rpps.expose().as_str());
    }
    v
}

/// `DELETE /api/session`: signs out.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sec = state.security()?;
    if let Some(token) = cookie_of(&headers)
        && let Some(who) = sec.sessions.close(token)
    {
        sec.access
            .record(&actor(&who), "logout", None, "ok", state.clock().now())?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(res)
}
