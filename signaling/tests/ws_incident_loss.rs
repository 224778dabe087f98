//! A loss episode the patient's client reports over the WebSocket
//! (`stats` frames) becomes exactly one `incident_opened` /
//! `incident_closed` pair in the trace, with the episode's duration, and
//! the trace verifies.
//!
//! The room stamps events with the server's clock, which here follows
//! paused tokio time, held still between reports (`common::time`): the
//! episode lasts exactly the time the test lets pass between reports. The
//! thresholds are shortened (1 s of loss to open, 1 s clear to close).
//! With equal sustain and clear times the trace's own duration (decision
//! to decision) equals the episode's too.

mod common;

use std::time::Duration;

use common::server::*;
use common::time;
use serde_json::json;
use session::ActEvent;
use session::incident::{IncidentKind, Thresholds};
use tokio::time::Instant;

/// One report every this long, as a browser would every second or so.
const EVERY: Duration = Duration::from_millis(100);
/// Packets the patient's client receives or loses per report.
const PER_REPORT: u64 = 50;

/// The patient's client: cumulative counters, as `getStats` reports them.
struct Reporter {
    received: u64,
    lost: u64,
}

impl Reporter {
    /// Advances the counters by one interval with `loss_pct` lost, then
    /// sends the report.
    async fn report(&mut self, client: &mut Client, loss_pct: u64) {
        let lost = PER_REPORT * loss_pct / 100;
        self.lost += lost;
        self.received += PER_REPORT - lost;
        client
            .send(json!({
                "type": "stats",
                "ice": "connected",
                "peer_connection": "connected",
                "packets_received": self.received,
                "packets_lost": self.lost,
                "rtt_ms": 30.0,
                "route": "direct",
            }))
            .await;
    }

    /// Reports `n` intervals of `loss_pct`, [`EVERY`] apart, each handled
    /// by the room before time moves on; returns when the last was sent.
    async fn run(&mut self, client: &mut Client, n: u32, loss_pct: u64) -> Instant {
        for _ in 0..n {
            time::advance(EVERY).await;
            self.report(client, loss_pct).await;
            client.sync().await;
        }
        Instant::now()
    }
}

#[tokio::test(start_paused = true)]
async fn a_loss_episode_is_one_incident_with_its_duration() {
    let _held = time::hold();
    let server = TestServer::start_with(|config| {
        config.incident_thresholds = Thresholds {
            loss_sustain: Duration::from_secs(1),
            clear_after: Duration::from_secs(1),
            ..Thresholds::default()
        };
    })
    .await;
    let (act, _pro, mut patient) = server.in_performance().await;

    let mut client = Reporter {
        received: 0,
        lost: 0,
    };
    let healthy_until = client.run(&mut patient, 10, 0).await;
    // 20 % loss for about 2 s, well past the 1 s sustain time.
    let lossy_until = client.run(&mut patient, 20, 20).await;
    client.run(&mut patient, 25, 0).await;
    // The room has handled every report once the pong is back.
    patient.sync().await;
    let episode = lossy_until - healthy_until;

    let events = server.events(act.id());
    let incidents: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                ActEvent::IncidentOpened { .. } | ActEvent::IncidentClosed { .. }
            )
        })
        .collect();
    let [opened, closed] = incidents.as_slice() else {
        panic!("expected one incident pair, got {incidents:#?}");
    };
    let ActEvent::IncidentOpened {
        incident,
        kind,
        participant,
        metrics,
    } = &opened.body
    else {
        panic!("opened first: {opened:?}");
    };
    assert_eq!(*kind, IncidentKind::PacketLoss);
    assert_eq!(participant.map(|p| p.0), Some(2), "the patient's incident");
    assert_eq!(metrics["loss_pct"], 20.0);
    let ActEvent::IncidentClosed {
        incident: closed_id,
        duration_ms,
        metrics,
    } = &closed.body
    else {
        panic!("closed second: {closed:?}");
    };
    assert_eq!(closed_id, incident, "the same incident is closed");
    assert_eq!(metrics["worst_loss_pct"], 20.0);
    assert_eq!(metrics["loss_pct"], 0.0, "closed on clean reports");
    // The duration the trace gives, the one the events' times give, and
    // the episode the detector measured all match the loss sent.
    assert_eq!(
        *duration_ms,
        u64::try_from(closed.at.since(opened.at).as_millis()).unwrap()
    );
    let episode_ms = u64::try_from(episode.as_millis()).unwrap();
    assert_eq!(*duration_ms, episode_ms, "the trace's duration");
    assert_eq!(metrics["episode_ms"], episode_ms as f64, "the episode");

    server.assert_trace_intact();
}
