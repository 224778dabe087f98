//! A graceful shutdown (Ctrl-C, SIGTERM): the server stops accepting, every
//! participant of a live room, and every connection still to say hello,
//! gets the close code 4005 (`server_shutdown`),
//! `Server::run` returns within its bound, and the trace is whole on disk;
//! the real `teleconsult serve` does the same on SIGTERM and exits 0; no
//! room starts once the server is stopping.

mod common;

use std::time::Duration;

use common::Cli;
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
    // A connection still to say hello is closed too, not left to time out.
    let mut silent = server.connect().await;

    // The server's future ends within the bound (plus the flush), while
    // the participants and the silent connection read their close.
    let bound = GRACE + Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let (_, pro_code, patient_code, silent_code) = tokio::join!(
        server.stop(bound),
        pro.expect_close(),
        patient.expect_close(),
        silent.expect_close()
    );
    assert!(
        started.elapsed() <= bound,
        "stopped in {:?}",
        started.elapsed()
    );
    assert_eq!(pro_code, close::SERVER_SHUTDOWN);
    assert_eq!(patient_code, close::SERVER_SHUTDOWN);
    assert_eq!(silent_code, close::SERVER_SHUTDOWN);
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

/// A room opened while the server stops (a join or a pre-call result that
/// was loading its act) would run on unseen after the rooms were told: none
/// starts once the server is stopping, and the joiner is told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_stopping_no_room_starts() {
    let server = TestServer::start().await;
    let act = server.create_act();
    server.state.stop_serving();
    assert!(
        server.state.room(act.id()).await.is_err(),
        "a room started while stopping"
    );
    assert_eq!(server.state.metrics.active_acts.get(), 0, "no room runs");
    let mut late = server.connect().await;
    late.hello(&act.token("patient")).await;
    assert_eq!(late.expect_close().await, close::SERVER_SHUTDOWN);
    assert_eq!(server.state.metrics.active_acts.get(), 0, "still none");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_closes_its_rooms_and_exits_0_on_sigterm() {
    let cli = Cli::new();
    let v = cli.create_teleconsultation_json();
    let token = token_of(v["links"]["professional"].as_str().expect("a link"));
    let mut server = ServerProcess::start(&cli.data(), &cli.dir.path().join("serve.log")).await;
    let mut pro = Client::connect(&server.ws_url()).await;
    pro.hello(&token).await;
    pro.welcome().await;

    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    assert_eq!(pro.expect_close().await, close::SERVER_SHUTDOWN);
    // The default bound is 10 s; the process exits well within it.
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve still runs after SIGTERM: {}",
            server.log()
        );
        // Polling for the process to exit; nothing else to wait on.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}: {}", server.log());
    assert!(server.log().contains("stopping"), "{}", server.log());
    let verify = cli.run(&["trace", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", common::stdout(&verify));
}
