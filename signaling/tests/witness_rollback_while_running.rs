//! A rollback seen while running: the older copy was started while the
//! witness did not answer (the start check could not run; the server warns
//! and starts). Once the witness answers, its 409 shows it holds more than
//! this store: the task logs it, stops submitting to that witness, counts
//! it in /metrics, and /healthz answers 503 saying a rollback was detected.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::witness::*;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_seen_later_marks_health_and_stops_submissions() {
    let mut h = History::make().await;
    let held = h.witness.held();
    h.witness.pause().await;
    put_back(&h.early, h.data.root());

    let server = build_on(&h.data, vec![h.witness.config()])
        .await
        .expect("a witness not answering does not stop the start");
    let w = server.state.witnessing().expect("witnessing").clone();
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["witness"], "ok");
    assert_eq!(body["store"], "ok");

    h.witness.resume().await;
    w.nudge();
    common::expertise::wait_until("the rollback is seen", || w.rollback().is_some()).await;
    let (status, body) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(
        body["witness"],
        format!(
            "rollback detected: rollback: witness {} holds size {held}, this store has {} (an older copy of the store was put back)",
            h.witness.url, h.early_size
        )
    );
    assert_eq!(server.state.metrics.witness_rollbacks.get(), 1);
    let conflicts = || {
        server
            .state
            .metrics
            .witness_submissions
            .with_label_values(&[h.witness.url.as_str(), "conflict"])
            .get()
    };
    assert_eq!(conflicts(), 1);

    // No more submissions to it: more acts, a nudge, and a witness still
    // holding what it held.
    server.record_acts(2);
    w.nudge();
    assert!(
        w.cosigned_covering(u64::MAX, std::time::Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(conflicts(), 1);
    assert_eq!(h.witness.held(), held);
    server.stop().await;
}

async fn get(server: &Running, path: &str) -> (StatusCode, String) {
    let res = signaling::app(server.state.clone())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}
