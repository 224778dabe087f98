//! Allocation quotas, per username and in total, answered with an error
//! (508 from `turn`) and counted.

mod common;

use std::time::Duration;

use common::{REALM, Transport, run_uclient};
use media::{Relay, RelayConfig};

async fn relay_with_quotas(
    per_user: usize,
    total: usize,
) -> (Relay, std::sync::Arc<media::TurnCredentials>) {
    let credentials = common::credentials();
    let mut config = RelayConfig::loopback(REALM);
    config.max_allocations_per_participant = per_user;
    config.max_allocations_total = total;
    let relay = Relay::start(config, credentials.clone()).await.unwrap();
    (relay, credentials)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_quota_refuses_the_allocation_over_it() {
    // One client pair needs four allocations (RTP and RTCP each).
    let (relay, credentials) = relay_with_quotas(3, 100).await;
    let c = credentials
        .issue("act-5", "patient", Duration::from_secs(600))
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
    assert_ne!(report.status, Some(0), "{}", report.output);
    assert!(report.output.contains("error 508"), "{}", report.output);
    let stats = relay.stats().snapshot();
    assert!(stats.allocations_refused_quota >= 1, "{stats:?}");
    assert!(relay.allocations_of(&c.username) <= 3);

    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_quota_is_shared_by_every_user() {
    let (relay, credentials) = relay_with_quotas(10, 2).await;
    let c = credentials
        .issue("act-6", "patient", Duration::from_secs(600))
        .unwrap();
    let report = run_uclient(
        &relay,
        Transport::Tcp,
        &c.username,
        &c.password,
        5,
        100,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_ne!(report.status, Some(0), "{}", report.output);
    assert!(report.output.contains("error 508"), "{}", report.output);
    assert!(relay.stats().snapshot().allocations_refused_quota >= 1);
    assert!(relay.allocations() <= 2);
    relay.stop().await.unwrap();
}
