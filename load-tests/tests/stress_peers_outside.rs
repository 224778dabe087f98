//! Relay-stress with peers outside the relay: each session is one TURN
//! client and a plain UDP peer, every packet crosses the relay once, and
//! all of it takes the relay's fast path (the shard relays it; the `turn`
//! server sees only the requests).

mod common;

use std::time::Duration;

use common::relay::{stress, udp_relay};

const SECRET: &[u8] = b"stress-outside-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_packet_crosses_the_relay_once_on_the_fast_path() {
    // Two shards: the kernel spreads the clients over both listener
    // sockets, each shard relays its own.
    let (relay, _) = udp_relay(SECRET, 2).await;
    let r = stress(&relay, SECRET, true).await;
    // The shards add their counts after each wake-up's sends, and an
    // allocation is counted when `turn`'s task for it first reads: wait
    // for both.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline && {
        let s = relay.stats().snapshot();
        s.fastpath_datagrams < r.sent || s.allocations_created < 6
    } {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Six allocations (one per session), not twelve.
    let stats = relay.stats().snapshot();
    assert_eq!(stats.allocations_created, 6, "{stats:?}");
    // Once across: to peers and from peers, half the packets each, all
    // relayed by the shards.
    assert_eq!(
        stats.relayed_packets_to_peers + stats.relayed_packets_from_peers,
        r.sent,
        "{stats:?}"
    );
    assert_eq!(stats.fastpath_datagrams, r.sent, "{stats:?}");
    assert_eq!(stats.fastpath_dropped, 0, "{stats:?}");
    relay.stop().await.unwrap();
}
