//! Fault injection: a 60 s blackout of the patient's network (the link of
//! a network namespace made by the test, `ip link set down`). The server
//! notices the silent connection after its idle timeout (6 s), opens a
//! `signaling_disconnected` incident, and once the patient has been gone
//! for the recovery timeout (30 s, the product's default) marks the act
//! `interrupted`, never cancelling it. When the link is back, the patient's
//! client reconnects with the same token: the incident closes with the
//! whole outage, the act is `resumed`, and the trace verifies.
//!
//! Needs root and iproute2 (CI runs as root).

mod common;

use std::time::Duration;

use common::netns::{self, FaultCall, Netns};
use session::act::Phase;
use session::incident::IncidentKind;
use session::{Act, ActEvent, ParticipantId};

const BLACKOUT: Duration = Duration::from_secs(60);
const PATIENT: ParticipantId = ParticipantId(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_s_blackout_interrupts_the_act_which_resumes_after() {
    assert!(
        netns::available(),
        "this test needs root and iproute2 to make a network namespace"
    );
    let ns = Netns::create(3);
    let call = FaultCall::start(&ns, Duration::from_secs(90), |p| p).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    ns.link(false);
    tokio::time::sleep(BLACKOUT).await;
    ns.link(true);
    let (server, act, _pro, patient) = call.finish().await;
    assert!(
        patient.reconnects >= 1,
        "the patient's client reconnected: {patient:?}"
    );

    let events = server.events(act);
    let state = Act::replay(act, &events).unwrap();
    assert_eq!(
        state.phase,
        Phase::Performance,
        "interrupted, not cancelled"
    );

    let lost_for = events
        .iter()
        .find_map(|e| match e.body {
            ActEvent::Interrupted {
                participant,
                lost_for_ms,
            } if participant == PATIENT => Some(lost_for_ms),
            _ => None,
        })
        .expect("the act was marked interrupted");
    // The room checks once a second.
    assert!(
        (30_000..32_000).contains(&lost_for),
        "interrupted after {lost_for} ms away"
    );
    let interrupted_ms = events
        .iter()
        .find_map(|e| match e.body {
            ActEvent::Resumed {
                participant,
                interrupted_ms,
            } if participant == PATIENT => Some(interrupted_ms),
            _ => None,
        })
        .expect("the act resumed when the patient came back");

    // One disconnection incident for the patient, closed, whose outage
    // (from the last frame heard to the return) covers the blackout.
    let disconnections: Vec<_> = state
        .incidents
        .iter()
        .filter(|i| i.kind == IncidentKind::SignalingDisconnected && i.participant == Some(PATIENT))
        .collect();
    assert_eq!(disconnections.len(), 1, "{:?}", state.incidents);
    let id = disconnections[0].id;
    let outage = events
        .iter()
        .find_map(|e| match &e.body {
            ActEvent::IncidentClosed {
                incident, metrics, ..
            } if *incident == id => metrics.get("outage_ms").copied(),
            _ => None,
        })
        .expect("the incident closed with its outage");
    println!(
        "60 s blackout: interrupted after {lost_for} ms away, for {interrupted_ms} ms; outage {outage} ms"
    );
    let blackout = BLACKOUT.as_millis() as f64;
    assert!(
        outage >= blackout - 2_500.0 && outage <= blackout * 1.2,
        "outage {outage} ms for a {blackout} ms blackout"
    );
    server.assert_trace_intact();
}
