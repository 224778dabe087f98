//! Media between two `webrtc` participants over TCP: with only TCP
//! candidates (ICE over TCP, RFC 6544), they connect through the server's
//! signaling and the packets arrive. (TURN over TCP is covered by the
//! browser test and by coturn's client against the relay: the `webrtc`
//! crate's TURN client speaks UDP only.)

mod common;

use std::time::Duration;

use common::{consultation, server};
use load_tests::participant::{self, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_over_tcp() {
    let s = server().await;
    let (_act, pro_token, patient_token) = consultation(&s.state);
    let plan = |consent, admit| Plan {
        consent,
        admit,
        packets: 100,
        expect_packets: 90,
        timeout: Duration::from_secs(30),
        relay_only: false,
        tcp_only: true,
    };
    let (pro, patient) = tokio::join!(
        participant::run(&s.ws_url, &pro_token, plan(false, true)),
        participant::run(&s.ws_url, &patient_token, plan(true, false)),
    );
    let (pro, patient) = (pro.unwrap(), patient.unwrap());
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
    for pair in pro.selected_pairs.iter().chain(&patient.selected_pairs) {
        assert_eq!(pair.get(2).map(String::as_str), Some("tcp"), "{pair:?}");
    }
}
