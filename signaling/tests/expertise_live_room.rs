//! The routes and the live session share the act's one writer, its room:
//! while the requester is in the session, the expert's answer and an
//! attached document go through the same room, whose participants see the
//! new state at once, and what the session records next follows them in
//! one unbroken chain (no conflict, no fork).

mod common;

use axum::http::StatusCode;
use common::expertise::*;
use common::server::token_of;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_and_documents_go_through_the_live_room() {
    let e = Expertise::start().await;
    let (id, links) = e.requested_with_links("urgent").await;
    let token = token_of(
        links["professional"]
            .as_str()
            .expect("the requester's link"),
    );
    let (mut requester, w) = e.s.server.join(&token).await;
    assert_eq!(w.participant, 1);
    requester.sync().await;

    let a = e
        .post(
            &format!("/api/acts/{id}/answer"),
            &e.expert,
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    let a = e.upload(id, &e.requester, "radio.jpg", jpeg(3)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
    // The participant in the session is shown the state after each.
    requester.sync().await;
    assert!(
        e.s.server.state.live_rooms() >= 1,
        "the session's room runs"
    );

    // The session records next, after what the routes recorded.
    requester.send(json!({"type": "leave"})).await;
    assert_eq!(requester.expect_close().await, common::server::close::LEFT);
    let kinds = e.kinds(id);
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("{k}: {kinds:?}"))
    };
    assert!(at("joined") < at("expert_answered"), "{kinds:?}");
    assert!(at("expert_answered") < at("attachment_added"), "{kinds:?}");
    assert!(at("attachment_added") < at("left"), "{kinds:?}");
    e.s.server.assert_trace_intact();
}
