//! The owner stops renewing (a dead node): once its key expires, another
//! node claims the act with a higher fencing token.

mod common;

use std::time::Duration;

use ownership::lease::{Op, Reply};
use ownership::{ActLease, LeaseConfig, LeaseStatus, NodeId};
use session::ActId;

#[tokio::test]
async fn another_node_claims_after_the_silent_owners_lease_expires() {
    let prefix = common::prefix("takeover");
    let redis = common::connect(&prefix).await;
    let ttl = Duration::from_millis(400);
    let config = LeaseConfig::with_ttl(ttl);
    let act = ActId::random();

    // Node A claims, then never renews: a node that died.
    let claim = Op::Claim {
        node: NodeId::new("node-a").unwrap(),
        ttl,
    };
    let token_a = common::wait_until("node A's claim", Duration::from_secs(5), || {
        let (redis, claim) = (redis.clone(), claim.clone());
        async move {
            match redis.lease_op(&act, &claim).await.unwrap() {
                Reply::Claimed(token) => Some(token),
                Reply::WarmingUp { .. } => None,
                other => panic!("{other:?}"),
            }
        }
    })
    .await;

    // B first finds the act taken.
    let b_node = NodeId::new("node-b").unwrap();
    let mut b = ActLease::claim(redis.clone(), act, b_node.clone(), config);
    match b.wait_for(|s| matches!(s, LeaseStatus::Taken { .. })).await {
        LeaseStatus::Taken { owner: Some(o) } => assert_eq!(o.token, token_a),
        other => panic!("{other:?}"),
    }
    // Then, once the key is gone, B's claim wins with a higher token.
    common::wait_until("A's lease to expire", ttl * 3, || {
        let redis = redis.clone();
        async move { redis.owner(&act).await.unwrap().is_none().then_some(()) }
    })
    .await;
    let mut b = ActLease::claim(redis.clone(), act, b_node, config);
    match b.wait_for(|s| matches!(s, LeaseStatus::Held(_))).await {
        LeaseStatus::Held(h) => assert!(h.token > token_a, "{} after {}", h.token, token_a),
        other => panic!("{other:?}"),
    }
}
