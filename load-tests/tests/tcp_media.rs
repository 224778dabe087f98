//! Media between two `webrtc` participants over TCP: with only TCP
//! candidates (ICE over TCP, RFC 6544), they connect through the server's
//! signaling and the packets arrive. (TURN over TCP is covered by the
//! browser test and by coturn's client against the relay: the `webrtc`
//! crate's TURN client speaks UDP only.)

mod common;

use common::{assert_media_both_ways, consult, server};
use load_tests::participant::Plan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_flows_over_tcp() {
    let s = server().await;
    let (_, pro, patient) = consult(&s, |p| Plan {
        tcp_only: true,
        ..p
    })
    .await;
    assert_media_both_ways(&pro, &patient);
    for pair in pro.selected_pairs.iter().chain(&patient.selected_pairs) {
        assert_eq!(pair.get(2).map(String::as_str), Some("tcp"), "{pair:?}");
    }
}
