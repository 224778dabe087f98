//! Each allocation's bitrate is capped each way: `turnutils_uclient` pushes
//! about 1.6 Mbit/s per client through allocations capped at 400 kbit/s;
//! what reaches the peers stays within the cap (plus its one-second
//! burst), the rest is dropped and counted, and the relay keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::{REALM, Transport, run_uclient};
use media::{Relay, RelayConfig};

const CAP_BITS: u64 = 400_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_over_its_bitrate_is_held_to_it() {
    let credentials = common::credentials();
    let mut config = RelayConfig::loopback(REALM);
    config.max_bitrate_per_allocation = Some(CAP_BITS);
    let relay = Relay::start(config, credentials.clone()).await.unwrap();
    let c = credentials
        .issue("act-cap", "patient", Duration::from_secs(600))
        .unwrap();

    // 2 clients, each 400 messages of 1000 bytes, 5 ms apart: 2 s at
    // 1.6 Mbit/s each, four times the cap.
    let started = Instant::now();
    let report = run_uclient(
        &relay,
        Transport::Udp,
        &c.username,
        &c.password,
        400,
        1000,
        2,
        Duration::from_secs(60),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = relay.stats().snapshot();
    assert!(stats.packets_over_bitrate > 0, "{stats:?}");
    assert!(stats.relayed_packets_to_peers > 0, "{stats:?}");
    // Each allocation may send the cap's rate for the run, plus a burst of
    // one second's worth. uclient's allocations per client: at most 2.
    let per_allocation = CAP_BITS as f64 / 8.0 * (elapsed + 1.0);
    let allocations = stats.allocations_created.max(1) as f64;
    assert!(
        (stats.relayed_bytes_to_peers as f64) <= per_allocation * allocations * 1.05,
        "{} bytes relayed by {allocations} allocations in {elapsed:.1} s: over the cap ({stats:?})",
        stats.relayed_bytes_to_peers
    );
    // The sent traffic was about four times the cap: most is dropped.
    let offered = 2.0 * 400.0;
    assert!(
        (stats.relayed_packets_to_peers as f64) < offered * 0.8,
        "{stats:?} ({})",
        report.output
    );
    relay.stop().await.unwrap();
}
