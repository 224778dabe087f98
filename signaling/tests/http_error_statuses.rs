//! The HTTP edge answers each kind of failure with its own status and a
//! sentence: what the act's rules refuse is a conflict (409, not 500), bad
//! input is 400 saying what is wrong, and the server's internals stay in
//! its log.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::security::{PASSWORD, Secured};
use common::server::*;
use serde_json::{Value, json};
use session::participant::Role;
use session::{ActEvent, Timestamp};

fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_acts_rules_refuse_is_a_conflict() {
    let server = TestServer::start().await;
    let act = server.create_act();
    // A genuine link naming a participant the act does not have: the act
    // refuses to record a test for it.
    let stranger = server.issue(
        act.id(),
        9,
        Role::Companion,
        Timestamp::now().plus(std::time::Duration::from_secs(600)),
    );
    let (status, b) = server
        .rest(post(
            "/api/precall/result",
            json!({"token": stranger, "paths": [{"path": "direct", "status": "failed"}]}),
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    let message = b["error"].as_str().expect("a sentence");
    assert!(message.contains("not part of this act"), "{message}");
    assert_eq!(
        b["code"], "act_state_conflict",
        "the page translates the code"
    );
    assert!(
        !server
            .events(act.id())
            .iter()
            .any(|e| matches!(e.body, ActEvent::ConnectionTested(_))),
        "nothing recorded"
    );
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_with_what_is_wrong() {
    let secured = Secured::start().await;
    let server = &secured.server;
    // A test result whose figures the domain refuses.
    let act = server.create_act();
    let (status, b) = server
        .rest(post(
            "/api/precall/result",
            json!({"token": act.token("patient"), "paths": []}),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    assert_eq!(b["code"], "invalid_input", "{b}");
    // A login over 128 bytes, before any password check.
    let (status, b, cookie) = secured
        .sign_in_with(&"x".repeat(129), PASSWORD, "000000")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "a login has 1 to 128 bytes");
    assert_eq!(b["code"], "login_length");
    assert!(cookie.is_none());
    // A path that is not an act id, signed in.
    let (doctor, _, _) = secured.standard_accounts();
    let cookie = secured.sign_in(&doctor).await;
    let req = Request::get("/api/acts/not-an-id/trace")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let (status, b) = server.rest(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"], "not an act id");
    assert_eq!(b["code"], "not_an_act_id");
}
