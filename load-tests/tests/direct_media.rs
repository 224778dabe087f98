//! Two participants built on the `webrtc` crate join a téléconsultation
//! through the real server (signaling over WebSocket on loopback), and
//! media packets arrive in both directions, peer to peer. Without the
//! patient's consent, no ICE servers are handed out and nothing connects.

mod common;

use std::time::Duration;

use common::{consultation, server};
use load_tests::participant::{self, Plan};
use session::TraceStore;
use session::store::verify_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_directly_between_webrtc_clients() {
    let s = server().await;
    let (act, pro_token, patient_token) = consultation(&s.state);
    let plan = |consent, admit| Plan {
        consent,
        admit,
        packets: 100,
        expect_packets: 90,
        timeout: Duration::from_secs(30),
        relay_only: false,
        tcp_only: false,
    };
    let (pro, patient) = tokio::join!(
        participant::run(&s.ws_url, &pro_token, plan(false, true)),
        participant::run(&s.ws_url, &patient_token, plan(true, false)),
    );
    let (pro, patient) = (pro.unwrap(), patient.unwrap());
    assert!(pro.got_ice_servers && patient.got_ice_servers);
    assert_eq!(
        (pro.connected_peers, patient.connected_peers),
        (1, 1),
        "{pro:?} {patient:?}"
    );
    assert!(
        pro.packets_received >= 90,
        "professional received {}",
        pro.packets_received
    );
    assert!(
        patient.packets_received >= 90,
        "patient received {}",
        patient.packets_received
    );
    assert!(
        pro.errors.is_empty() && patient.errors.is_empty(),
        "{pro:?} {patient:?}"
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
    let (act, pro_token, patient_token) = consultation(&s.state);
    let plan = |admit| Plan {
        consent: false,
        admit,
        packets: 10,
        expect_packets: 1,
        timeout: Duration::from_secs(4),
        relay_only: false,
        tcp_only: false,
    };
    let (pro, patient) = tokio::join!(
        participant::run(&s.ws_url, &pro_token, plan(true)),
        participant::run(&s.ws_url, &patient_token, plan(false)),
    );
    let (pro, patient) = (pro.unwrap(), patient.unwrap());
    assert!(!pro.got_ice_servers && !patient.got_ice_servers);
    assert_eq!(pro.connected_peers + patient.connected_peers, 0);
    assert_eq!(pro.packets_received + patient.packets_received, 0);
    // The admission waited for consent: the act is still in preparation.
    let records = s.state.store.records(act).unwrap();
    assert!(!records.iter().any(|r| r.kind == "consent_given"));
    assert!(!records.iter().any(|r| r.kind == "media_connected"));
}
