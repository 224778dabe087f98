//! `POST /api/acts` refuses requests without the operator token (401) and
//! bad bodies (400, saying what is wrong), creates nothing when it refuses,
//! and answers 201 with both join links when all is well.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::server::*;
use common::{DOCTOR, DOCTOR_RPPS, PATIENT};
use serde_json::{Value, json};
use session::participant::Role;

fn create(auth: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post("/api/acts").header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    req.body(body.into()).expect("request")
}

fn valid_body() -> Value {
    json!({
        "kind": "teleconsultation",
        "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS},
        "patient": PATIENT,
    })
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error sentence: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_act_checks_the_token_and_the_body() {
    let server = TestServer::start().await;
    let bearer = format!("Bearer {}", server.state.api_token);
    let body = valid_body().to_string();

    // No token, a wrong one, a token without the scheme.
    let (status, b) = server.rest(create(None, body.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    assert!(error_of(&b).contains("operator token"), "{b}");
    let (status, b) = server
        .rest(create(Some("Bearer not-the-token"), body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    let (status, _) = server
        .rest(create(Some(&server.state.api_token), body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The token is checked before the body is read.
    let (status, _) = server.rest(create(Some("Bearer nope"), "{not json")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Malformed bodies.
    for bad in [
        "{not json".to_string(),
        String::new(),
        "[]".to_string(),
        json!({"kind": "teleconsultation"}).to_string(),
        json!({"kind": "surgery", "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS}})
            .to_string(),
        json!({
            "kind": "teleconsultation",
            "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS},
            "unexpected": 1,
        })
        .to_string(),
    ] {
        let (status, b) = server.rest(create(Some(&bearer), bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {b}");
        error_of(&b);
    }
    // Not declared as JSON.
    let req = Request::post("/api/acts")
        .header(header::AUTHORIZATION, &bearer)
        .body(Body::from(body.clone()))
        .expect("request");
    let (status, _) = server.rest(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // An RPPS number whose check digit is wrong.
    let mut bad_rpps = valid_body();
    bad_rpps["professional"]["rpps"] = json!("10000000001");
    let (status, b) = server
        .rest(create(Some(&bearer), bad_rpps.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert!(error_of(&b).contains("check digit"), "{b}");
    // Too short, and a name for a patient alias.
    bad_rpps["professional"]["rpps"] = json!("1234");
    let (status, _) = server
        .rest(create(Some(&bearer), bad_rpps.to_string()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut named = valid_body();
    named["patient"] = json!("Jeanne Fictive");
    let (status, b) = server.rest(create(Some(&bearer), named.to_string())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert!(!error_of(&b).contains("Jeanne"), "no echo: {b}");

    assert!(
        server.state.store.act_ids().expect("act ids").is_empty(),
        "refused requests create nothing"
    );

    // A valid request.
    let (status, b) = server.rest(create(Some(&bearer), body)).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let base = format!("{}/join#v1.", server.state.config.public_url);
    let patient = b["links"]["patient"].as_str().expect("links.patient");
    let professional = b["links"]["professional"]
        .as_str()
        .expect("links.professional");
    assert!(patient.starts_with(&base), "{patient}");
    assert!(professional.starts_with(&base), "{professional}");
    let id = b["id"].as_str().expect("id");
    let ids = server.state.store.act_ids().expect("act ids");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].to_string(), id);
    assert_eq!(
        server.kinds(ids[0]),
        [
            "requested",
            "participant_registered",
            "participant_registered"
        ]
    );

    // The links work.
    let (status, c) = server.check_invitation(&token_of(patient)).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["role"], json!(Role::Patient));
    let (status, c) = server.check_invitation(&token_of(professional)).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["role"], json!(Role::Requester));
    server
        .assert_still_serving(&token_of(professional), 1)
        .await;
    server.assert_still_serving(&token_of(patient), 2).await;
    server.assert_trace_intact();
}
