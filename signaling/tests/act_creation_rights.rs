//! No one acts in another's name: a signed-in professional creates an act
//! only as its requesting professional, gets only their own join link and
//! the patient's, and the expert fetches their own link signed in. The
//! operator token keeps every right and is audited as the operator.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::security::*;
use common::server::token_of;
use common::{DOCTOR, DOCTOR_RPPS, EXPERT, EXPERT_RPPS, PATIENT};
use serde_json::{Value, json};

fn create(cookie: Option<&str>, auth: Option<&str>, body: &Value) -> Request<Body> {
    let mut req = Request::post("/api/acts").header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    req.body(Body::from(body.to_string())).expect("request")
}

/// A téléexpertise requested by `requester`, with the other as expert.
fn teleexpertise(requester: (&str, &str), expert: (&str, &str)) -> Value {
    json!({
        "kind": "teleexpertise",
        "professional": {"name": requester.0, "rpps": requester.1},
        "expert": {"name": expert.0, "rpps": expert.1},
        "patient": PATIENT,
        "patient_present": false,
    })
}

fn link_names(body: &Value) -> BTreeSet<String> {
    body["links"]
        .as_object()
        .expect("links")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_professional_cannot_create_an_act_in_a_colleague_s_name() {
    let s = Secured::start().await;
    let (_, outsider, _) = s.standard_accounts();
    let out = s.sign_in(&outsider).await;
    let acts_before = s.server.state.store.act_ids().expect("acts").len();
    // The outsider names the doctor as requesting professional and
    // themself as expert: they would get the doctor's link.
    let body = teleexpertise((DOCTOR, DOCTOR_RPPS), (EXPERT, EXPERT_RPPS));
    let (status, b) = s.server.rest(create(Some(&out), None, &body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["error"]
            .as_str()
            .is_some_and(|m| m.contains("requesting professional")),
        "the refusal names the reason: {b}"
    );
    // A plain teleconsultation in the doctor's name: refused as well.
    let body = json!({
        "kind": "teleconsultation",
        "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS},
        "patient": PATIENT,
    });
    let (status, b) = s.server.rest(create(Some(&out), None, &body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(
        s.server.state.store.act_ids().expect("acts").len(),
        acts_before,
        "nothing was recorded"
    );
    let refused: Vec<_> = s
        .entries()
        .into_iter()
        .filter(|e| e.action == "create_act")
        .collect();
    assert_eq!(refused.len(), 2, "both refusals are audited");
    assert!(
        refused
            .iter()
            .all(|e| e.outcome == "refused:not_requester" && e.actor.starts_with("account:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_gets_only_their_link_and_the_patient_s_and_the_expert_fetches_theirs() {
    let s = Secured::start().await;
    let (doctor, outsider, admin) = s.standard_accounts();
    let doc = s.sign_in(&doctor).await;
    let body = teleexpertise((DOCTOR, DOCTOR_RPPS), (EXPERT, EXPERT_RPPS));
    let (status, created) = s.server.rest(create(Some(&doc), None, &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        link_names(&created),
        BTreeSet::from(["patient".to_string(), "professional".to_string()]),
        "no expert link for the creator: {created}"
    );
    let id = created["id"].as_str().expect("id").to_string();
    let audit = s.entries();
    let e = audit.last().expect("an entry");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("create_act", "ok")
    );
    assert!(e.actor.starts_with("account:"), "{}", e.actor);

    // The expert, signed in, fetches their own link; it opens as expert.
    let exp = s.sign_in(&outsider).await;
    let path = format!("/api/acts/{id}/link");
    let (status, got) = s.get(&path, Some(&exp), None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["role"], "expert");
    let token = token_of(got["link"].as_str().expect("a link"));
    let (status, check) = s.server.check_invitation(&token).await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["role"], "expert");
    let e = s.entries().pop().expect("an entry");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("get_link", "allowed")
    );
    // The requester gets theirs the same way.
    let (status, got) = s.get(&path, Some(&doc), None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["role"], "professional");

    // Bad input and the wrong people get a clear refusal.
    let adm = s.sign_in(&admin).await;
    let (status, b) = s.get(&path, Some(&adm), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an administrator is named nowhere: {b}"
    );
    let e = s.entries().pop().expect("an entry");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("get_link", "refused")
    );
    let (status, _) = s.get(&path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no session");
    let (status, _) = s
        .get(
            &path,
            None,
            Some(&format!("Bearer {}", s.server.state.api_token)),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the operator token is no session"
    );
    let (status, _) = s.get("/api/acts/not-an-id/link", Some(&exp), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown = session::ActId::random();
    let (status, _) = s
        .get(&format!("/api/acts/{unknown}/link"), Some(&exp), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_token_gets_every_link_and_is_audited_as_the_operator() {
    let s = Secured::start().await;
    let operator = format!("Bearer {}", s.server.state.api_token);
    let body = teleexpertise((DOCTOR, DOCTOR_RPPS), (EXPERT, EXPERT_RPPS));
    let (status, created) = s.server.rest(create(None, Some(&operator), &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        link_names(&created),
        BTreeSet::from([
            "expert".to_string(),
            "patient".to_string(),
            "professional".to_string()
        ])
    );
    let e = s.entries().pop().expect("an entry");
    assert_eq!(e.actor, "operator");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("create_act", "ok")
    );
    assert_eq!(
        e.act.map(|a| a.to_string()).as_deref(),
        created["id"].as_str()
    );
}
