//! The pre-call connection test over HTTP: only a valid join token of an
//! open act may run it; the result is checked, recorded in the trace with
//! the server's verdict, and shown to the professional only.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::server::*;
use serde_json::{Value, json};
use session::act::{CancelReason, Command};
use session::{ActEvent, Timestamp};

fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn probe() -> Arc<media::Probe> {
    Arc::new(media::Probe::new(media::ProbeConfig::new(
        "127.0.0.1".parse().unwrap(),
    )))
}

fn failed_everywhere() -> Value {
    json!([
        {"path": "direct", "status": "failed"},
        {"path": "relay_udp", "status": "unavailable"},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_runs_only_with_a_valid_link_and_a_test_peer() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let patient = act.token("patient");

    // No test peer on this server: said plainly.
    let (status, b) = server
        .rest(post("/api/precall/start", json!({"token": patient})))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(b["error"].as_str().unwrap().contains("no connection test"));

    server.state.set_probe(probe());
    let (status, b) = server
        .rest(post("/api/precall/start", json!({"token": patient})))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    // Without a relay, only the direct path is offered; the others are
    // reported as unavailable rather than failed.
    assert_eq!(b["paths"][0]["path"], "direct");
    assert_eq!(b["paths"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["unavailable"],
        json!(["relay_udp", "relay_tcp", "relay_tls"])
    );

    // Forged and malformed requests.
    for (path, body, want) in [
        (
            "/api/precall/start",
            json!({"token": "tc1.forged"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/precall/start",
            json!({"token": patient, "extra": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/precall/offer",
            json!({"token": patient, "sdp": "v=0 not an offer"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/precall/offer",
            json!({"token": "nope", "sdp": "v=0"}),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/api/precall/result",
            json!({"token": patient, "paths": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/precall/result",
            json!({"token": patient, "paths": [{"path": "direct", "status": "failed", "rtt_ms": 3}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/precall/result",
            json!({"token": patient, "paths": [{"path": "carrier_pigeon", "status": "ok"}]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, b) = server.rest(post(path, body.clone())).await;
        assert_eq!(status, want, "{path} {body}: {b}");
        assert!(b["error"].is_string(), "a sentence: {b}");
    }
    // An expired link.
    let expired = server.issue(
        act.id(),
        2,
        session::participant::Role::Patient,
        Timestamp::from_micros(Timestamp::now().as_micros() - 1_000_000),
    );
    let (status, _) = server
        .rest(post("/api/precall/start", json!({"token": expired})))
        .await;
    assert_eq!(status, StatusCode::GONE);
    // Nothing was recorded by the refusals.
    assert!(!server.kinds(act.id()).contains(&"connection_tested"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_test_is_recorded_and_shown_to_the_professional_only() {
    let server = TestServer::start().await;
    server.state.set_probe(probe());
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;

    let (status, b) = server
        .rest(post(
            "/api/precall/result",
            json!({"token": act.token("patient"), "paths": failed_everywhere()}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["verdict"], "failed");

    // The professional sees the verdict beside the patient.
    pro.expect_state("the patient's connection verdict", |v| {
        v.participants
            .iter()
            .any(|p| p.connection == Some(session::precall::Verdict::Failed))
    })
    .await;
    // The patient, joining, sees no one's verdict.
    let (mut patient, _) = server.join(&act.token("patient")).await;
    patient.expect_state("a state", |_| true).await;
    let view = patient.last_state();
    assert!(view.participants.iter().all(|p| p.connection.is_none()));

    // In the trace, with the server's verdict and each path.
    let tests: Vec<_> = server
        .events(act.id())
        .into_iter()
        .filter_map(|e| match e.body {
            ActEvent::ConnectionTested(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].participant.0, 2);
    assert_eq!(tests[0].verdict, session::precall::Verdict::Failed);
    assert_eq!(tests[0].paths.len(), 2);
    server.assert_trace_intact();

    // A second, good test replaces the verdict the professional sees.
    let (status, b) = server
        .rest(post(
            "/api/precall/result",
            json!({"token": act.token("patient"), "paths": [
                {"path": "direct", "status": "ok", "rtt_ms": 4.5, "upload_kbps": 25000, "connect_ms": 180}
            ]}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["verdict"], "good");
    pro.expect_state("the new verdict", |v| {
        v.participants
            .iter()
            .any(|p| p.connection == Some(session::precall::Verdict::Good))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_act_takes_no_test() {
    let server = TestServer::start().await;
    server.state.set_probe(probe());
    let act = server.create_act();
    let mut ended = act.act.clone();
    let events = ended
        .handle(
            Command::Cancel(CancelReason::ByProfessional),
            Timestamp::now(),
        )
        .expect("cancel");
    let stored = server.state.store.records(act.id()).unwrap().len() as u64;
    server
        .state
        .store
        .append(act.id(), Some(stored), events)
        .expect("record the cancellation");
    let token = act.token("patient");
    for (path, body) in [
        ("/api/precall/start", json!({"token": token})),
        ("/api/precall/offer", json!({"token": token, "sdp": "v=0"})),
        (
            "/api/precall/result",
            json!({"token": token, "paths": failed_everywhere()}),
        ),
    ] {
        let (status, b) = server.rest(post(path, body)).await;
        assert_eq!(status, StatusCode::GONE, "{path}: {b}");
        assert!(b["error"].as_str().unwrap().contains("ended"), "{b}");
    }
    server.assert_trace_intact();
}
