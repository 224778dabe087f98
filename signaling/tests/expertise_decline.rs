//! The expert declines a request with a reason: the answer is a trace
//! event, the act is cancelled (`expert_declined`), the requester reads
//! the reason, and nothing more can be attached or answered. The
//! declined act's room, started by the route, stops again.

mod common;

use axum::http::StatusCode;
use common::expertise::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_request_is_cancelled_with_its_reason() {
    let e = Expertise::start().await;
    let id = e.requested("urgent").await;
    let answer = format!("/api/acts/{id}/answer");
    let a = e
        .post(
            &answer,
            &e.expert,
            json!({"decision": "decline", "reason": "Hors de ma specialite (cas fictif)."}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    assert_eq!(a.json()["phase"], "cancelled");
    assert_eq!(
        a.json()["recorded"],
        json!(["expert_answered", "cancelled"])
    );
    assert!(e.kinds(id).ends_with(&["expert_answered", "cancelled"]));

    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["phase"], "cancelled");
    assert_eq!(d["cancel_reason"], "expert_declined");
    assert_eq!(d["answers"][0]["decision"], "declined");
    assert_eq!(
        d["answers"][0]["reason"],
        "Hors de ma specialite (cas fictif)."
    );
    let list = e.get("/api/acts", &e.requester).await.json();
    assert_eq!(list["acts"][0]["expertise"]["decision"], "declined");
    assert_eq!(list["acts"][0]["expertise"]["overdue"], false);

    // The act is over: no more documents, no more answers.
    let a = e.upload(id, &e.requester, "cr.pdf", pdf("late")).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::CONFLICT, "act_state_conflict")
    );
    let a = e
        .post(&answer, &e.expert, json!({"decision": "accept"}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let state = e.s.server.state.clone();
    wait_until("the act's room stops", || state.live_rooms() == 0).await;
    e.s.server.assert_trace_intact();
}
