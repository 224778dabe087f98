//! A participant whose connection drops (no close frame) is waited for:
//! the trace opens a `signaling_disconnected` incident, the others see them
//! as reconnecting, and their return closes the incident with the time
//! they were away. Staying away past the recovery timeout during the
//! performance marks the act interrupted (never dropped); the return
//! resumes it. A connection that goes silent is noticed by the server's
//! idle timeout, not minutes later by TCP.
//!
//! On paused tokio time, held still between steps (`common::time`): the
//! times the trace gives are exactly those the test lets pass.

mod common;

use std::time::Duration;

use common::server::*;
use common::time;
use serde_json::json;
use session::incident::IncidentKind;
use session::{ActEvent, ActId, Phase};
use signaling::protocol::ServerMessage;
use tokio::time::Instant;

/// The server's idle timeout (`limits::IDLE_TIMEOUT`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(6);

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

#[tokio::test(start_paused = true)]
async fn a_dropped_connection_is_an_incident_closed_by_the_return() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, patient) = server.in_performance().await;
    let id = act.id();

    // The network drops: the socket ends without a close frame. The
    // patient stays away 1.5 s from the moment the server sees the drop.
    drop(patient);
    pro.expect_state("the patient reconnecting", |v| {
        v.participants
            .iter()
            .any(|p| p.id == 2 && p.reconnecting && !p.connected)
    })
    .await;
    time::advance(Duration::from_millis(1500)).await;
    let (mut back, w) = server.join(&act.token("patient")).await;
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
    assert_eq!(duration, 1500, "the incident lasts the time away");
    let events = server.events(id);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.body, ActEvent::Interrupted { .. })),
        "a short drop does not interrupt the act"
    );
    server.assert_trace_intact();
}

#[tokio::test(start_paused = true)]
async fn staying_away_interrupts_the_act_and_the_return_resumes_it() {
    let _held = time::hold();
    let server = TestServer::start_with(|c| c.recovery_timeout = Duration::from_secs(2)).await;
    let (act, mut pro, patient) = server.in_performance().await;
    let id = act.id();
    drop(patient);
    pro.expect_state("reconnecting", |v| {
        v.participants.iter().any(|p| p.id == 2 && p.reconnecting)
    })
    .await;
    // Not a moment before the recovery timeout...
    time::advance(Duration::from_millis(1999)).await;
    let seen = pro.sync().await;
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, ServerMessage::State(v) if v.interrupted)),
        "interrupted before the recovery timeout: {seen:?}"
    );
    // ...and at once when it is reached: the room asked to be woken then.
    time::advance(Duration::from_millis(1)).await;
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
    assert_eq!(lost_for, 2_000, "interrupted at the recovery timeout");
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

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_noticed_by_the_idle_timeout() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, patient) = server.in_performance().await;
    let id = act.id();
    // The patient's socket stays open but nothing is read or answered
    // (not even the server's pings), as when a network path dies silently.
    // The professional keeps talking, a round trip every 100 ms.
    let silent = patient;
    let started = Instant::now();
    let reconnecting = |m: &ServerMessage| {
        matches!(m, ServerMessage::State(v)
            if v.participants.iter().any(|p| p.id == 2 && p.reconnecting))
    };
    while !pro.sync().await.iter().any(reconnecting) {
        assert!(started.elapsed() < 2 * IDLE_TIMEOUT, "never noticed");
        time::advance(Duration::from_millis(100)).await;
    }
    let noticed = started.elapsed();
    assert_eq!(noticed, IDLE_TIMEOUT, "noticed at the idle timeout");
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
    assert_eq!(silent_ms, 6_000.0, "silent for the idle timeout");
}
