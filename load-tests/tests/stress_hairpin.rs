//! Relay-stress with both legs through one relay (each session two TURN
//! clients, each sending to the other's relayed address): a shard that
//! holds both allocations hands each datagram from one to the other
//! without the kernel (a hairpin), with every check of both allocations;
//! across shards the sender's shard hands it to the receiver's.

mod common;

use std::time::Duration;

use common::relay::{stress, udp_relay};
use load_tests::relay_stress::StressResult;

const SECRET: &[u8] = b"stress-hairpin-secret";

/// Runs the stress sessions with two TURN clients each on a relay with
/// `shards` UDP shards; returns the report and the relay's counters once
/// they account for every packet.
async fn both_legs(shards: usize) -> (StressResult, media::StatsSnapshot) {
    let (relay, _) = udp_relay(SECRET, shards).await;
    let r = stress(&relay, SECRET, false).await;
    // The shards add their counts after each wake-up's sends: wait until
    // every packet reached its client.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline && {
        let s = relay.stats().snapshot();
        s.relayed_packets_from_peers < r.sent
            || s.fastpath_datagrams + s.fastpath_hairpins < 2 * r.sent
            || s.allocations_created < 12
    } {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = relay.stats().snapshot();
    relay.stop().await.unwrap();
    (r, stats)
}

// The two relays run one after the other in one test (not as two tests
// side by side: 24 clients each on two cores would make the zero-loss
// check a matter of luck).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_datagram_between_two_allocations_is_handed_over_or_relayed_once() {
    let (r, stats) = both_legs(1).await;
    assert_eq!(stats.allocations_created, 12, "{stats:?}");
    // Each packet leaves one allocation and reaches the other: counted
    // on both, as the kernel path counts it.
    assert_eq!(stats.relayed_packets_to_peers, r.sent, "{stats:?}");
    assert_eq!(stats.relayed_packets_from_peers, r.sent, "{stats:?}");
    // All of them hairpinned, sent once (to the receiving client).
    assert_eq!(stats.fastpath_hairpins, r.sent, "{stats:?}");
    assert_eq!(stats.fastpath_datagrams, r.sent, "{stats:?}");
    assert_eq!(stats.fastpath_dropped, 0, "{stats:?}");

    // Two shards: the kernel spreads the clients; a pair on one shard is
    // handed over within it, a pair across shards from one to the other
    // (the kernel only when the receiving shard's queue is full, which a
    // loaded machine may cause: `relay_handover` checks the hand-over
    // itself). Whichever path, each packet is relayed once.
    let (r, stats) = both_legs(2).await;
    assert_eq!(stats.allocations_created, 12, "{stats:?}");
    assert_eq!(stats.relayed_packets_to_peers, r.sent, "{stats:?}");
    assert_eq!(stats.relayed_packets_from_peers, r.sent, "{stats:?}");
    // A hairpin is sent once; a packet between shards twice (out of one
    // allocation's socket, then to the other's client): nothing counted
    // twice or lost between the two paths.
    assert!(
        stats.fastpath_hairpins > 0 && stats.fastpath_hairpins <= r.sent,
        "{stats:?}"
    );
    assert_eq!(
        stats.fastpath_datagrams,
        2 * r.sent - stats.fastpath_hairpins,
        "{stats:?}"
    );
    assert_eq!(stats.fastpath_dropped, 0, "{stats:?}");
}
