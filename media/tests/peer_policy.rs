//! Loopback peers are refused unless configured (coturn's
//! `--allow-loopback-peers`): allocations succeed, but nothing is relayed.

mod common;

use std::time::Duration;

use common::{REALM, Transport, run_uclient};
use media::{PeerPolicy, Relay, RelayConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_peers_are_refused_by_default() {
    let credentials = common::credentials();
    let mut config = RelayConfig::loopback(REALM);
    config.peer_policy = PeerPolicy::default();
    let relay = Relay::start(config, credentials.clone()).await.unwrap();
    let c = credentials
        .issue("act-8", "patient", Duration::from_secs(600))
        .unwrap();

    let report = run_uclient(
        &relay,
        Transport::Udp,
        &c.username,
        &c.password,
        5,
        100,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(report.received, Some(0), "{}", report.output);
    let stats = relay.stats().snapshot();
    assert!(stats.allocations_created >= 4, "{stats:?}");
    assert!(stats.peer_packets_denied > 0, "{stats:?}");
    assert_eq!(stats.relayed_packets_to_peers, 0, "{stats:?}");
    assert_eq!(stats.relayed_packets_from_peers, 0, "{stats:?}");
    relay.stop().await.unwrap();
}
