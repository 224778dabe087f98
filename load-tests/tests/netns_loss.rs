//! 10 % packet loss for 10 s under a running consultation, the patient's
//! client in a network namespace made by the test (as in
//! `netns_blackout.rs`), both clients reporting stats every second.
//!
//! This machine's kernel has no `sch_netem` and no tc actions, so the loss
//! cannot be made on the veth: an in-process shim on the patient's receive
//! path (`Plan::drop_one_in`) discards one RTP packet in ten, by sequence
//! number, before the client counts it, so the client sees exactly what
//! 10 % network loss would show it. Everything after (the stats report,
//! the server's detector, the trace) is the real path.
//!
//! Asserts: exactly one `packet_loss` incident for the patient, closed,
//! whose episode lasts the injected 10 s within 20 %, with the loss
//! measured near 10 %; no loss incident for the professional; the act goes
//! on; the trace verifies.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::netns::{self, FaultCall, Netns};
use load_tests::participant;
use session::act::Phase;
use session::incident::IncidentKind;
use session::{Act, ParticipantId};

const EPISODE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_loss_for_10_s_is_one_incident_of_10_s() {
    assert!(
        netns::available(),
        "this test needs root and iproute2 to make a network namespace"
    );
    let ns = Netns::create(2);
    let drop = Arc::new(AtomicU64::new(0));
    let shim = drop.clone();
    let call = FaultCall::start(&ns, Duration::from_secs(28), move |p| participant::Plan {
        drop_one_in: Some(shim),
        ..p
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop.store(10, Ordering::Relaxed);
    tokio::time::sleep(EPISODE).await;
    drop.store(0, Ordering::Relaxed);
    let (server, act, pro, patient) = call.finish().await;
    assert_eq!((pro.connected_peers, patient.connected_peers), (1, 1));

    let events = server.events(act);
    let state = Act::replay(act, &events).unwrap();
    assert_eq!(state.phase, Phase::Performance, "the act goes on");
    let loss: Vec<_> = state
        .incidents
        .iter()
        .filter(|i| i.kind == IncidentKind::PacketLoss)
        .collect();
    assert_eq!(loss.len(), 1, "one loss incident: {:?}", state.incidents);
    assert_eq!(loss[0].participant, Some(ParticipantId(2)));
    let (opening, closing) = common::incident_metrics(&events, loss[0].id);
    let closing = closing.expect("the loss incident closed");
    let episode = closing["episode_ms"];
    let expected = EPISODE.as_millis() as f64;
    println!(
        "packet_loss: episode {episode} ms for {expected} ms injected; opened with {opening:?}"
    );
    assert!(
        (episode - expected).abs() <= 0.2 * expected,
        "episode {episode} ms, expected {expected} ms ± 20 %"
    );
    server.assert_trace_intact();
}
