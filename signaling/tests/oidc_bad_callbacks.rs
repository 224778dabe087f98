//! What the OpenID Connect routes answer to bad input, without a provider
//! behind them (the browser tests in web-client/tests/oidc-*.test.mjs run
//! the whole flow against a real one): a provider that is not there, a
//! callback without a state, with an unknown one, with the provider's
//! error, with an over-long code. Each sends the browser back to the pro
//! page with its code, sets no session, and is audited with its cause;
//! past five failures from one address the callback is held. A server
//! without an `[oidc]` table says so.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::server::{TestServer, free_loopback_addr};
use signaling::auth::oidc::OidcSettings;
use tower::ServiceExt;

fn settings(issuer: &str) -> OidcSettings {
    toml::from_str(&format!(
        "issuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"fictitious\"\nacr_values = \"eidas1\"\n"
    ))
    .expect("settings")
}

/// GET `uri` through the router: status, headers, body.
async fn get(server: &TestServer, uri: &str) -> (StatusCode, HeaderMap, String) {
    let res = server
        .app()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Asserts a 303 back to the pro page with `code`, and no session cookie.
fn sent_back(answer: &(StatusCode, HeaderMap, String), code: &str) {
    let (status, headers, _) = answer;
    assert_eq!(*status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        format!("/pro.html?signin_error={code}")
    );
    for c in headers.get_all(header::SET_COOKIE) {
        let c = c.to_str().unwrap();
        assert!(!c.starts_with("__Host-teleconsult="), "no session: {c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_callbacks_get_their_code_and_no_session() {
    // Nothing listens there: the provider is down.
    let dead = free_loopback_addr();
    let server = TestServer::start_with(|s| {
        s.sign_in = true;
        s.oidc = Some(settings(&format!("http://{dead}")));
    })
    .await;
    let (status, _, body) = get(&server, "/api/oidc").await;
    assert_eq!(status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["enabled"], true);
    assert_eq!(info["label"], "Pro Santé Connect");

    sent_back(&get(&server, "/api/oidc/start").await, "oidc_unreachable");
    sent_back(&get(&server, "/api/oidc/callback").await, "oidc_state");
    sent_back(
        &get(&server, "/api/oidc/callback?code=abc&state=never-issued").await,
        "oidc_state",
    );
    sent_back(
        &get(&server, "/api/oidc/callback?error=access_denied&state=s").await,
        "oidc_denied",
    );
    let long = "a".repeat(5000);
    sent_back(
        &get(&server, &format!("/api/oidc/callback?code={long}&state=s")).await,
        "oidc_state",
    );
    sent_back(
        &get(&server, "/api/oidc/callback?code=abc&state=never-issued").await,
        "oidc_state",
    );
    // Five failures from this address: the sixth is held.
    sent_back(
        &get(&server, "/api/oidc/callback?code=abc&state=never-issued").await,
        "too_many_requests",
    );

    let access = server.state.security().unwrap().access.clone();
    let outcomes: Vec<(String, String)> = access
        .entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "login")
        .map(|e| (e.actor, e.outcome))
        .collect();
    let nobody = "oidc:pro-sante-connect".to_string();
    assert_eq!(
        outcomes,
        [
            (nobody.clone(), "failed:oidc_unreachable".into()),
            (nobody.clone(), "failed:oidc_state".into()),
            (nobody.clone(), "failed:oidc_state".into()),
            (nobody.clone(), "failed:oidc_denied".into()),
            (nobody.clone(), "failed:oidc_state".into()),
            (nobody.clone(), "failed:oidc_state".into()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_oidc_settings_the_routes_say_it_is_off() {
    let server = TestServer::start_with(|s| s.sign_in = true).await;
    let (_, _, body) = get(&server, "/api/oidc").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"enabled": false})
    );
    sent_back(&get(&server, "/api/oidc/start").await, "oidc_off");
    sent_back(
        &get(&server, "/api/oidc/callback?code=a&state=b").await,
        "oidc_off",
    );
}
