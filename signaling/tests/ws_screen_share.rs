//! Screen sharing in the trace with its times: the professional starts
//! sharing, everyone's room state shows it, 90 s later it stops; it starts
//! again and the professional leaves, which stops it (the stopped event
//! comes before the leave). Repeated frames record nothing.

mod common;

use std::time::Duration;

use common::exchange::*;
use common::server::*;
use common::time;
use serde_json::json;
use session::{ActEvent, Event, Timestamp};

fn screen_events(events: &[Event]) -> Vec<(&'static str, Timestamp)> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                ActEvent::ScreenShareStarted { .. } | ActEvent::ScreenShareStopped { .. }
            )
        })
        .map(|e| (e.body.kind(), e.at))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn start_and_stop_are_traced_with_their_times_and_leaving_stops_it() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    pro.send(screen_share(true)).await;
    patient
        .expect_state("the professional shares", |v| {
            v.participants.iter().any(|p| p.id == 1 && p.screen_sharing)
        })
        .await;
    pro.send(screen_share(true)).await;
    pro.sync().await;
    pass(Duration::from_secs(90), &mut pro, &mut patient).await;
    pro.send(screen_share(false)).await;
    patient
        .expect_state("the share stopped", |v| {
            v.participants.iter().all(|p| !p.screen_sharing)
        })
        .await;
    pro.send(screen_share(false)).await;
    assert!(
        !pro.sync()
            .await
            .iter()
            .any(|m| matches!(m, signaling::protocol::ServerMessage::Error { .. })),
        "a repeated frame is no error"
    );

    pass(Duration::from_secs(10), &mut pro, &mut patient).await;
    pro.send(screen_share(true)).await;
    pro.sync().await;
    pass(Duration::from_secs(5), &mut pro, &mut patient).await;
    pro.send(json!({"type": "leave"})).await;
    patient
        .expect_state("the professional left", |v| {
            v.participants
                .iter()
                .any(|p| p.id == 1 && !p.connected && !p.screen_sharing)
        })
        .await;

    let events = server.events(act.id());
    let shares = screen_events(&events);
    let kinds: Vec<_> = shares.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            "screen_share_started",
            "screen_share_stopped",
            "screen_share_started",
            "screen_share_stopped"
        ]
    );
    assert_eq!(shares[1].1.since(shares[0].1), Duration::from_secs(90));
    assert_eq!(shares[2].1.since(shares[1].1), Duration::from_secs(10));
    assert_eq!(shares[3].1.since(shares[2].1), Duration::from_secs(5));
    // The stop implied by the leave comes right before it.
    let last = server.kinds(act.id());
    let at = last
        .iter()
        .rposition(|k| *k == "screen_share_stopped")
        .expect("stopped");
    assert_eq!(last[at + 1], "left");
    server.assert_trace_intact();
}
