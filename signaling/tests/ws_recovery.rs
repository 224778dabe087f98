//! A participant whose connection drops (no close frame) is waited for:
//! the trace opens a `signaling_disconnected` incident, the others see them
//! as reconnecting, and their return closes the incident with the time
//! they were away. Staying away past the recovery timeout during the
//! performance marks the act interrupted (never dropped); the return
//! resumes it. A connection that goes silent is noticed by the server's
//! idle timeout, not minutes later by TCP.

mod common;

use std::time::{Duration, Instant};

use common::server::*;
use serde_json::json;
use session::ActEvent;
use session::incident::IncidentKind;
use session::{ActId, Phase};
use signaling::protocol::ServerMessage;

/// The act in performance: professional and patient joined, consent
/// given, patient admitted.
async fn in_performance(server: &TestServer) -> (ActId, TestAct, Client, Client) {
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    assert_eq!(pro.last_state().phase, Phase::Performance);
    (act.id(), act, pro, patient)
}

fn disconnections(server: &TestServer, act: ActId) -> Vec<(bool, Option<u64>)> {
    // (opened?, duration when closed) for signaling_disconnected incidents.
    let events = server.events(act);
    let mut ids = Vec::new();
    let mut out = Vec::new();
    for e in &events {
        match &e.body {
            ActEvent::IncidentOpened {
                incident,
                kind: IncidentKind::SignalingDisconnected,
                participant,
                ..
            } => {
                assert_eq!(participant.map(|p| p.0), Some(2));
                ids.push(*incident);
                out.push((true, None));
            }
            ActEvent::IncidentClosed {
                incident,
                duration_ms,
                ..
            } if ids.contains(incident) => out.push((false, Some(*duration_ms))),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_an_incident_closed_by_the_return() {
    let server = TestServer::start().await;
    let (id, act, mut pro, patient) = in_performance(&server).await;

    // The network drops: the socket ends without a close frame. The
    // server sees the drop after `dropped` and the return before `measured`
    // ends, so the incident lasts at most `measured`, and at least the
    // 1.5 s the test stays away once the server has seen the drop: bounds
    // that hold however loaded the machine is (a tolerance around one
    // measure did not).
    let dropped = Instant::now();
    drop(patient);
    pro.expect_state("the patient reconnecting", |v| {
        v.participants
            .iter()
            .any(|p| p.id == 2 && p.reconnecting && !p.connected)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut back, w) = server.join(&act.token("patient")).await;
    let measured = dropped.elapsed().as_millis() as u64;
    assert_eq!(w.participant, 2);
    // Consent and admission still stand: media comes back at once.
    back.expect_ice_servers().await;
    pro.expect_state("the patient back", |v| {
        v.participants
            .iter()
            .any(|p| p.id == 2 && p.connected && !p.reconnecting)
    })
    .await;

    let incidents = disconnections(&server, id);
    assert_eq!(incidents.len(), 2, "one opened, one closed: {incidents:?}");
    let duration = incidents[1].1.expect("closed with a duration");
    assert!(
        (1499..=measured + 1).contains(&duration),
        "incident lasted {duration} ms, the test measured {measured} ms"
    );
    let events = server.events(id);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.body, ActEvent::Interrupted { .. })),
        "a short drop does not interrupt the act"
    );
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staying_away_interrupts_the_act_and_the_return_resumes_it() {
    let server = TestServer::start_with(|c| c.recovery_timeout = Duration::from_secs(2)).await;
    let (id, act, mut pro, patient) = in_performance(&server).await;
    drop(patient);
    pro.expect_state("interrupted", |v| v.interrupted).await;
    assert_eq!(pro.last_state().phase, Phase::Performance, "still open");

    let (_back, _) = server.join(&act.token("patient")).await;
    pro.expect_state("resumed", |v| !v.interrupted).await;

    let events = server.events(id);
    let lost_for = events
        .iter()
        .find_map(|e| match e.body {
            ActEvent::Interrupted { lost_for_ms, .. } => Some(lost_for_ms),
            _ => None,
        })
        .expect("an interrupted event");
    // The room checks once a second.
    assert!(
        (2_000..3_500).contains(&lost_for),
        "interrupted after {lost_for} ms"
    );
    let resumed = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::Resumed { .. }))
        .count();
    assert_eq!(resumed, 1);
    // Still one incident pair, whatever the interruption.
    assert_eq!(disconnections(&server, id).len(), 2);

    // The professional can still conclude.
    pro.send(json!({"type": "conclude", "report": "Suite par téléphone.", "prescriptions": []}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_noticed_by_the_idle_timeout() {
    let server = TestServer::start().await;
    let (id, _act, mut pro, patient) = in_performance(&server).await;
    // The patient's socket stays open but nothing is read or answered
    // (not even the server's pings), as when a network path dies silently.
    let silent = patient;
    let started = Instant::now();
    loop {
        match pro.next_within(Duration::from_secs(15)).await {
            Got::Msg(ServerMessage::State(v))
                if v.participants.iter().any(|p| p.id == 2 && p.reconnecting) =>
            {
                break;
            }
            Got::Msg(_) => {}
            Got::Closed(code) => panic!("the professional was closed ({code:?})"),
        }
    }
    let noticed = started.elapsed();
    assert!(
        // The idle timeout is 6 s.
        noticed >= Duration::from_secs(5) && noticed <= Duration::from_secs(10),
        "noticed after {noticed:?}"
    );
    drop(silent);
    assert_eq!(disconnections(&server, id).len(), 1, "an open incident");
    // The incident says how long the connection had been silent.
    let silent_ms = server
        .events(id)
        .iter()
        .find_map(|e| match &e.body {
            ActEvent::IncidentOpened {
                kind: IncidentKind::SignalingDisconnected,
                metrics,
                ..
            } => metrics.get("silent_before_ms").copied(),
            _ => None,
        })
        .expect("silent_before_ms");
    assert!(
        (5_500.0..10_000.0).contains(&silent_ms),
        "silent for {silent_ms} ms"
    );
}
