//! A held lease is renewed by its task: it is still held, under the same
//! token, long after its TTL.

mod common;

use std::time::{Duration, Instant};

use ownership::{ActLease, LeaseConfig, LeaseStatus, NodeId};
use session::ActId;

#[tokio::test]
async fn renewing_keeps_the_lease_past_several_ttls() {
    let prefix = common::prefix("renew_keeps");
    let redis = common::connect(&prefix).await;
    let ttl = Duration::from_millis(300);
    let act = ActId::random();
    let mut lease = ActLease::claim(
        redis.clone(),
        act,
        NodeId::new("node-a").unwrap(),
        LeaseConfig::with_ttl(ttl),
    );
    let LeaseStatus::Held(first) = lease.wait_for(|s| matches!(s, LeaseStatus::Held(_))).await
    else {
        panic!("not acquired: {:?}", lease.status());
    };
    let horizon = Instant::now() + ttl * 4;
    let later = lease
        .wait_for(|s| matches!(s, LeaseStatus::Held(h) if h.until > horizon))
        .await;
    let LeaseStatus::Held(later) = later else {
        panic!("lease not kept: {later:?}");
    };
    assert_eq!(later.token, first.token, "renewing keeps the token");
    assert!(lease.held().is_some());
    let owner = redis.owner(&act).await.unwrap().expect("the key is there");
    assert_eq!((owner.node.as_str(), owner.token), ("node-a", first.token));
    assert_eq!(lease.release().await, LeaseStatus::Released);
    assert_eq!(
        redis.owner(&act).await.unwrap(),
        None,
        "release deletes the key"
    );
}
