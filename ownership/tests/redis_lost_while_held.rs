//! Redis dies while a lease is held: the holder gives the act up by its
//! proven deadline (not later), and once Redis is back (empty: no
//! persistence) a claim succeeds again, after the restart guard.

mod common;

use std::time::{Duration, Instant};

use ownership::{ActLease, LeaseConfig, LeaseStatus, LostReason, NodeId, Redis};
use session::ActId;

#[tokio::test]
async fn the_holder_gives_up_by_its_deadline_and_claims_work_again_after_restart() {
    let port = common::free_port();
    let mut own = common::OwnRedis::start(port).await;
    let prefix = common::prefix("redis_lost");
    let redis = Redis::connect(&common::config(&own.url(), &prefix))
        .await
        .unwrap();
    let ttl = Duration::from_millis(600);
    let config = LeaseConfig::with_ttl(ttl);
    let node = NodeId::new("node-a").unwrap();
    let act = ActId::random();

    let mut lease = ActLease::claim(redis.clone(), act, node.clone(), config);
    let LeaseStatus::Held(_) = lease.wait_for(|s| matches!(s, LeaseStatus::Held(_))).await else {
        panic!("{:?}", lease.status());
    };
    own.kill();
    // The last proof before the kill bounds the lease.
    let deadline = match lease.status() {
        LeaseStatus::Held(h) => h.until,
        other => panic!("{other:?}"),
    };
    assert!(
        deadline <= Instant::now() + ttl,
        "never proven beyond one TTL"
    );
    // The failed renews are reported while the lease runs out.
    common::wait_until("the lease to report Redis lost", ttl * 3, || {
        let answering = lease.redis_answering();
        async move { (!answering).then_some(()) }
    })
    .await;
    // At the deadline the lease is no longer held, whether or not the
    // task has run since: `held()` reads the proven deadline itself.
    tokio::time::sleep_until(deadline.into()).await;
    assert!(lease.held().is_none(), "held past its proven deadline");
    let lost = lease
        .wait_for(|s| matches!(s, LeaseStatus::Lost { .. }))
        .await;
    let noticed = Instant::now();
    assert!(
        matches!(
            lost,
            LeaseStatus::Lost {
                reason: LostReason::Expired,
                ..
            }
        ),
        "{lost:?}"
    );
    // The task announces it at the deadline, give or take its wake-up on
    // a loaded machine.
    assert!(
        noticed < deadline + Duration::from_secs(1),
        "announced {:?} after the deadline",
        noticed.saturating_duration_since(deadline)
    );

    // While Redis is down a new claim keeps retrying (with backoff).
    let mut retry = ActLease::claim(redis.clone(), act, node.clone(), config);
    retry
        .wait_for(|s| matches!(s, LeaseStatus::Claiming { retrying: true }))
        .await;

    // Redis comes back empty: the same driver reconnects, and the retrying
    // claim wins once the restart guard (one TTL) has passed.
    let _own = common::OwnRedis::start(port).await;
    let back = Instant::now();
    match retry.wait_for(|s| matches!(s, LeaseStatus::Held(_))).await {
        LeaseStatus::Held(h) => assert!(h.until > back),
        other => panic!("{other:?}"),
    }
    assert!(
        Instant::now() >= back + ttl - Duration::from_millis(50),
        "the restart guard made the claim wait about one TTL"
    );
}
