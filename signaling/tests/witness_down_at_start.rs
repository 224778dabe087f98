//! A witness that does not answer when the server starts: the server
//! starts anyway (and says so in its log), and once the witness answers
//! the witnessing task catches up by itself: a cosigned checkpoint covering
//! the acts recorded meanwhile is stored, /metrics counts the failed and
//! the accepted submissions, and an act's receipt can be made against it.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::server::{TIMEOUT, free_loopback_addr};
use common::witness::*;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_catches_up_when_the_witness_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (data, log_vkey) = new_data_dir(dir.path());
    let addr = free_loopback_addr();
    // Its key is known to the operator beforehand; the witness is not up.
    let url = format!("http://{addr}");
    let server = build_on(
        &data,
        vec![signaling::witnessing::WitnessConfig::new(&url, None).unwrap()],
    )
    .await
    .expect("a witness not answering does not stop the start");
    let size = server.record_acts(2);
    let w = server.state.witnessing().expect("witnessing").clone();
    common::expertise::wait_until("a submission failed", || {
        failed_submissions(&server, &url) > 0
    })
    .await;
    assert_eq!(w.witnessed_size(), 0);

    let witness = TestWitness::start_at(addr, &log_vkey).await;
    let cosigned = server.witnessed(size).await;
    assert!(witness.held() >= size);
    // Stored in the trace with the witness's cosignature.
    let stored = server
        .state
        .store
        .latest_checkpoint()
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(stored.note, cosigned.note);
    let verified = witness::cosignature::verify_cosigned(&stored.note, &log_vkey, &witness.vkey)
        .expect("signed by the log, cosigned by the witness");
    assert!(verified.size >= size);

    // What the receipt route will call: at once, it covers the acts.
    let covering = w
        .cosigned_covering(size, TIMEOUT)
        .await
        .expect("a cosigned checkpoint covering the acts");
    assert!(covering.size >= size);

    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(&format!(
            "teleconsult_witness_submissions_total{{outcome=\"ok\",witness=\"{url}\"}}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("teleconsult_witnessed_size "), "{metrics}");
    server.stop().await;
}

async fn metrics_text(server: &Running) -> String {
    let res = signaling::app(server.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn failed_submissions(server: &Running, url: &str) -> u64 {
    server
        .state
        .metrics
        .witness_submissions
        .with_label_values(&[url, "failed"])
        .get()
}
