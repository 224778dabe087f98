//! Fault injection on a real network path: the patient's `webrtc` crate
//! client runs in a network namespace made by the test, joined to the
//! server's by a veth pair; the professional's client and the server stay
//! in the root namespace. The link is cut for 10 s (`ip link set down`)
//! and restored, while both clients report stats every second.
//!
//! Asserts: the professional's client (whose signaling does not cross the
//! cut link, so its reports reach the server on time) yields exactly one
//! `ice_disconnected` incident, closed, whose episode lasts the blackout
//! less the ICE disconnect timeout (1.5 s), within 20 %; the patient's
//! client yields at most one such incident (its own reports queue in TCP
//! during the cut and arrive late, so their timing is not judged); media
//! flows again afterwards; the act is still in performance with the same
//! participants; and the trace verifies.
//!
//! Needs root and iproute2 (CI runs as root). This kernel has no netem,
//! so the cut is `ip link set down`, which drops everything both ways.

mod common;

use std::time::Duration;

use common::netns::{self, FaultCall, Netns};
use session::act::Phase;
use session::incident::IncidentKind;
use session::{Act, ActEvent, ParticipantId};

const BLACKOUT: Duration = Duration::from_secs(10);
/// The participant's ICE disconnected timeout (see `participant::new_peer`).
const ICE_DISCONNECT: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_s_blackout_is_one_incident_and_the_act_goes_on() {
    assert!(
        netns::available(),
        "this test needs root and iproute2 to make a network namespace"
    );
    let ns = Netns::create(1);
    let call = FaultCall::start(&ns, Duration::from_secs(32), |p| p).await;
    // Let media flow 4 s, then cut.
    tokio::time::sleep(Duration::from_secs(4)).await;
    ns.link(false);
    tokio::time::sleep(BLACKOUT).await;
    ns.link(true);
    let (server, act, pro, patient) = call.finish().await;
    assert_eq!((pro.connected_peers, patient.connected_peers), (1, 1));
    // The peer connections went down with the link and came back by
    // themselves (consent checks resumed).
    assert!(pro.media_recoveries >= 1, "{pro:?}");
    assert!(pro.stats_sent >= 20 && patient.stats_sent >= 20);
    // About 250 packets go before the cut and 500 are lost in it: more
    // than 600 received means media came back after it.
    assert!(
        pro.packets_received > 600 && patient.packets_received > 600,
        "media did not resume: {pro:?} {patient:?}"
    );

    let events = server.events(act);
    let state = Act::replay(act, &events).unwrap();
    assert_eq!(state.phase, Phase::Performance, "the act goes on");
    assert_eq!(state.participants.len(), 2, "with the same participants");
    let pro_incidents = ice_incidents(&state, ParticipantId(1));
    assert_eq!(
        pro_incidents.len(),
        1,
        "one incident, not one per report: {:?}",
        state.incidents
    );
    let episode = episode_ms(&events, pro_incidents[0]);
    let expected = (BLACKOUT - ICE_DISCONNECT).as_millis() as f64;
    println!(
        "ice_disconnected (professional): episode {episode} ms for a {} ms blackout (expected {expected} ms)",
        BLACKOUT.as_millis()
    );
    assert!(
        (episode - expected).abs() <= 0.2 * expected,
        "episode {episode} ms, expected {expected} ms ± 20 %"
    );
    assert!(ice_incidents(&state, ParticipantId(2)).len() <= 1);
    server.assert_trace_intact();
}

/// The ICE disconnection incidents of `who`, by number.
fn ice_incidents(act: &Act, who: ParticipantId) -> Vec<u32> {
    act.incidents
        .iter()
        .filter(|i| i.kind == IncidentKind::IceDisconnected && i.participant == Some(who))
        .map(|i| i.id.0)
        .collect()
}

/// The `episode_ms` the detector closed incident `id` with.
fn episode_ms(events: &[session::Event], id: u32) -> f64 {
    events
        .iter()
        .find_map(|e| match &e.body {
            ActEvent::IncidentClosed {
                incident, metrics, ..
            } if incident.0 == id => metrics.get("episode_ms").copied(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("incident {id} was not closed with an episode"))
}
