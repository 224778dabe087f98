//! Incidents the patient's stats opened are closed once when the patient's
//! media stops (here: consent withdrawn), and stats sent while media is not
//! allowed open nothing. The trace verifies.

mod common;

use common::server::*;
use serde_json::json;
use session::ActEvent;
use session::incident::IncidentKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_stopping_closes_the_open_incidents_once() {
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    // ICE fails: a state change opens at once, whatever the thresholds.
    patient
        .send(json!({"type": "stats", "ice": "connected", "peer_connection": "connected"}))
        .await;
    patient
        .send(json!({"type": "stats", "ice": "failed", "peer_connection": "failed"}))
        .await;
    // Reports say nothing back; the round trip orders the room after them.
    let answers = patient.sync().await;
    assert!(
        answers
            .iter()
            .all(|m| !matches!(m, signaling::protocol::ServerMessage::Error { .. })),
        "{answers:?}"
    );
    let opened: Vec<IncidentKind> = server
        .events(act.id())
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::IncidentOpened {
                kind, participant, ..
            } => {
                assert_eq!(participant.map(|p| p.0), Some(2));
                Some(*kind)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [IncidentKind::IceFailed, IncidentKind::PeerConnectionLost]
    );

    patient.send(json!({"type": "withdraw_consent"})).await;
    patient.expect_stop_media().await;
    // Media is not allowed now: these reports are moot.
    patient
        .send(json!({"type": "stats", "ice": "failed", "peer_connection": "failed"}))
        .await;
    patient
        .send(json!({"type": "stats", "ice": "connected", "peer_connection": "connected"}))
        .await;
    patient.sync().await;

    let events = server.events(act.id());
    let withdrawn = events
        .iter()
        .position(|e| matches!(e.body, ActEvent::ConsentWithdrawn { .. }))
        .expect("the withdrawal is traced");
    let opens = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::IncidentOpened { .. }))
        .count();
    let closes: Vec<(usize, u32)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.body {
            ActEvent::IncidentClosed {
                incident, metrics, ..
            } => {
                assert!(metrics.contains_key("episode_ms"), "{metrics:?}");
                Some((i, incident.0))
            }
            _ => None,
        })
        .collect();
    assert_eq!(opens, 2, "no incident from reports without media");
    assert_eq!(
        closes.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        [1, 2],
        "each closed once: {:?}",
        server.kinds(act.id())
    );
    assert!(
        closes.iter().all(|(i, _)| *i > withdrawn),
        "closed when the media stopped: {:?}",
        server.kinds(act.id())
    );

    // Ending the act closes nothing twice.
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    let closes = server
        .events(act.id())
        .iter()
        .filter(|e| matches!(e.body, ActEvent::IncidentClosed { .. }))
        .count();
    assert_eq!(closes, 2);
    server.assert_trace_intact();
}
