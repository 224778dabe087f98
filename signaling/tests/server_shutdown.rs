//! A graceful shutdown (Ctrl-C, SIGTERM): the server stops accepting, every
//! participant of a live room gets the close code 4005 (`server_shutdown`),
//! `Server::run` returns within its bound, and the trace is whole on disk.

mod common;

use std::time::Duration;

use common::server::*;
use serde_json::json;
use session::TraceStore;
use session::store::verify_store;

/// The wind-down's bound in this test (the default is 10 s).
const GRACE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_are_told_and_the_trace_is_flushed_within_the_bound() {
    let mut server = TestServer::start_with(|s| s.shutdown_grace = GRACE).await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    // Everything the room recorded so far is in the trace once it answered.
    pro.sync().await;
    patient.sync().await;
    let recorded = server.events(act.id()).len();

    // The server's future ends within the bound (plus the flush), while
    // both participants read their close.
    let bound = GRACE + Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let (_, pro_code, patient_code) = tokio::join!(
        server.stop(bound),
        pro.expect_close(),
        patient.expect_close()
    );
    assert!(
        started.elapsed() <= bound,
        "stopped in {:?}",
        started.elapsed()
    );
    assert_eq!(pro_code, close::SERVER_SHUTDOWN);
    assert_eq!(patient_code, close::SERVER_SHUTDOWN);
    assert_eq!(server.state.metrics.active_acts.get(), 0, "no room runs");
    assert_eq!(server.state.connections.open(), 0, "no WebSocket is open");

    // It accepts nothing more.
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed"
    );

    // The trace on disk, read afresh, holds every event and verifies.
    let reader = server.data.open_reader().expect("open the store again");
    assert_eq!(
        reader.records(act.id()).expect("records").len(),
        recorded,
        "every recorded event is on disk"
    );
    let report = verify_store(&reader, &server.trusted, None).expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_rooms_stops_at_once() {
    let mut server = TestServer::start().await;
    let started = tokio::time::Instant::now();
    server.stop(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "nothing to wait for, yet it took {:?}",
        started.elapsed()
    );
}
