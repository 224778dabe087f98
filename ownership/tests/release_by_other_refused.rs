//! Renew and release compare the lease's value first: a node that does not
//! hold the lease (or holds a stale token) can neither extend nor delete it.

mod common;

use std::time::Duration;

use ownership::lease::{Op, Reply};
use ownership::{FencingToken, LeaseValue, NodeId};
use session::ActId;

#[tokio::test]
async fn a_non_owner_can_neither_release_nor_renew() {
    let prefix = common::prefix("release_refused");
    let redis = common::connect(&prefix).await;
    let ttl = Duration::from_millis(1000);
    let act = ActId::random();
    let a = NodeId::new("node-a").unwrap();
    let claim = Op::Claim {
        node: a.clone(),
        ttl,
    };
    let token = common::wait_until("the claim", Duration::from_secs(5), || {
        let (redis, claim) = (redis.clone(), claim.clone());
        async move {
            match redis.lease_op(&act, &claim).await.unwrap() {
                Reply::Claimed(t) => Some(t),
                Reply::WarmingUp { .. } => None,
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
    let owner = LeaseValue {
        token,
        node: a.clone(),
    };
    let impostors = [
        LeaseValue {
            token,
            node: NodeId::new("node-b").unwrap(),
        },
        LeaseValue {
            token: FencingToken(token.0 - 1),
            node: a.clone(),
        },
    ];
    for value in impostors {
        let released = redis
            .lease_op(
                &act,
                &Op::Release {
                    value: value.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(released, Reply::Released(false), "{value:?}");
        let renewed = redis
            .lease_op(&act, &Op::Renew { value, ttl })
            .await
            .unwrap();
        assert_eq!(renewed, Reply::Renewed(false));
        assert_eq!(redis.owner(&act).await.unwrap(), Some(owner.clone()));
    }
    let released = redis
        .lease_op(
            &act,
            &Op::Release {
                value: owner.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(released, Reply::Released(true));
    assert_eq!(redis.owner(&act).await.unwrap(), None);
}
