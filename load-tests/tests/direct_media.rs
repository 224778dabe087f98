//! Two participants built on the `webrtc` crate join a téléconsultation
//! through the real server (signaling over WebSocket on loopback), and
//! media packets arrive in both directions, peer to peer. Without the
//! patient's consent, no ICE servers are handed out and nothing connects.

mod common;

use std::time::Duration;

use common::{assert_media_both_ways, consult, server};
use load_tests::participant::Plan;
use session::store::verify_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_directly_between_webrtc_clients() {
    let s = server().await;
    let (act, pro, patient) = consult(&s, |p| p).await;
    assert!(pro.got_ice_servers && patient.got_ice_servers);
    assert_media_both_ways(&pro, &patient);
    assert!(
        pro.errors.is_empty() && patient.errors.is_empty(),
        "{pro:?} {patient:?}"
    );
    assert!(
        pro.selected_pairs
            .iter()
            .chain(&patient.selected_pairs)
            .all(|p| !p.contains(&"relay".to_string())),
        "{pro:?}"
    );

    let records = s.state.store.records(act).unwrap();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    for k in [
        "joined",
        "consent_given",
        "admitted",
        "phase_entered",
        "media_connected",
    ] {
        assert!(kinds.contains(&k), "trace lacks {k}: {kinds:?}");
    }
    let trusted = s.data.key_dir().trusted().unwrap();
    let report = verify_store(&*s.state.store, &trusted, None).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_nothing_connects() {
    let s = server().await;
    let (act, pro, patient) = consult(&s, |p| Plan {
        consent: false,
        packets: 10,
        expect_packets: 1,
        timeout: Duration::from_secs(4),
        ..p
    })
    .await;
    assert!(!pro.got_ice_servers && !patient.got_ice_servers);
    assert_eq!(pro.connected_peers + patient.connected_peers, 0);
    assert_eq!(pro.packets_received + patient.packets_received, 0);
    // The admission waited for consent: the act is still in preparation.
    let records = s.state.store.records(act).unwrap();
    assert!(!records.iter().any(|r| r.kind == "consent_given"));
    assert!(!records.iter().any(|r| r.kind == "media_connected"));
}
