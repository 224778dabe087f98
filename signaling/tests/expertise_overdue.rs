//! A request left unanswered past its delay is overdue on both sides: the
//! work list and the detail say so from the server's clock (here tokio's
//! paused time, moved by the test), and an answer, whatever it is, ends
//! it.

mod common;

use std::time::Duration;

use common::expertise::*;
use common::time;
use serde_json::{Value, json};
use session::ActId;

/// The act's `expertise` summary in `cookie`'s work list.
async fn summary(e: &Expertise, cookie: &str, id: ActId) -> Value {
    let list = e.get("/api/acts", cookie).await.json();
    list["acts"]
        .as_array()
        .expect("acts")
        .iter()
        .find(|a| a["id"] == id.to_string().as_str())
        .expect("the act is listed")["expertise"]
        .clone()
}

#[tokio::test(start_paused = true)]
async fn unanswered_past_its_delay_is_overdue_until_answered() {
    let _held = time::hold();
    let e = Expertise::start().await;
    let id = e.requested("immediate").await;
    let s = summary(&e, &e.expert, id).await;
    assert_eq!(s["urgency"], "immediate");
    assert_eq!(s["overdue"], false);
    // Immediate: due an hour after the request.
    let due =
        e.s.server
            .state
            .clock()
            .now()
            .plus(Duration::from_secs(3600));
    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["respond_by"], due.to_rfc3339().as_str());

    // Within the hour (both signed in all along: sessions end after 30
    // idle minutes), not overdue.
    for _ in 0..2 {
        time::advance(Duration::from_secs(25 * 60)).await;
        assert_eq!(summary(&e, &e.expert, id).await["overdue"], false);
        assert_eq!(summary(&e, &e.requester, id).await["overdue"], false);
    }
    // Past it: overdue, on both sides and in the detail.
    time::advance(Duration::from_secs(11 * 60)).await;
    assert!(e.s.server.state.clock().now() > due);
    assert_eq!(summary(&e, &e.expert, id).await["overdue"], true);
    assert_eq!(summary(&e, &e.requester, id).await["overdue"], true);
    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["overdue"], true);
    assert_eq!(d["answered"], false);

    // Any answer ends it, even a request for more.
    let a = e
        .post(
            &format!("/api/acts/{id}/answer"),
            &e.expert,
            json!({"decision": "more", "reason": "Un cliche de profil."}),
        )
        .await;
    assert_eq!(a.status, axum::http::StatusCode::OK, "{:?}", a.json());
    let s = summary(&e, &e.requester, id).await;
    assert_eq!(s["overdue"], false);
    assert_eq!(s["answered"], true);
    assert_eq!(s["decision"], "more_requested");
}
