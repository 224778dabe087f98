//! docs/OWNERSHIP.md, "Keys", against the code: the example block is what
//! the code writes for the example's inputs, and a real claim and
//! heartbeat leave exactly the documented keys, of the documented types,
//! with values of the documented forms.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use ownership::driver::node_value;
use ownership::lease::RequestId;
use ownership::lease::{Op, Reply};
use ownership::registry::BeatRequest;
use ownership::{FencingToken, Keys, LeaseValue, NodeId};
use redis::AsyncCommands;
use session::ActId;

const DOC: &str = include_str!("../../docs/OWNERSHIP.md");

#[test]
fn the_documented_example_is_what_the_code_writes() {
    let keys = Keys::default();
    let act: ActId = "6f1c2b9e-3a4d-4e5f-8a7b-0c1d2e3f4a5b".parse().unwrap();
    let node = NodeId::new("node-a").unwrap();
    let token = FencingToken(1_764_979_200_000_001);
    let lease = LeaseValue {
        token,
        node: node.clone(),
    };
    let expected = format!(
        "{} = {}\n{} = {}\n{} = 1764979199000000\n{} = {}\n{} = {{node-a: 1764979200000}}\n",
        keys.lease(&act),
        lease.encode(),
        keys.fence(&act),
        token,
        keys.since(),
        keys.node(&node),
        node_value("https://10.0.0.1:8443"),
        keys.nodes(),
    );
    assert!(
        DOC.contains(&format!("```\n{expected}```")),
        "docs/OWNERSHIP.md's example differs from:\n{expected}"
    );
    for row in [
        "`PREFIX act:ACT:lease` | string | the lease TTL",
        "`PREFIX act:ACT:fence` | string (integer) | none",
        "`PREFIX since` | string (integer) | none",
        "`PREFIX node:NODE` | string | the heartbeat TTL",
        "`PREFIX nodes` | sorted set | none",
    ] {
        assert!(DOC.contains(row), "row missing: {row}");
    }
}

#[tokio::test]
async fn a_claim_and_a_heartbeat_leave_exactly_the_documented_keys() {
    let prefix = common::prefix("doc_keys");
    let redis = common::connect(&prefix).await;
    let act = ActId::random();
    let node = NodeId::new("node-a").unwrap();
    // The node key must outlive the claim's wait for the restart guard.
    let ttl = Duration::from_millis(500);
    redis
        .beat(&BeatRequest {
            id: RequestId(0),
            node: node.clone(),
            address: "https://10.0.0.1:8443".into(),
            ttl: Duration::from_secs(10),
        })
        .await
        .unwrap();
    let claim = Op::Claim {
        node: node.clone(),
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

    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let found: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
    let mut types = BTreeMap::new();
    for key in found {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        types.insert(key.strip_prefix(&prefix).unwrap().to_owned(), kind);
    }
    let expected: BTreeMap<String, String> = [
        (format!("act:{act}:lease"), "string"),
        (format!("act:{act}:fence"), "string"),
        ("since".to_owned(), "string"),
        ("node:node-a".to_owned(), "string"),
        ("nodes".to_owned(), "zset"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    assert_eq!(types, expected);

    let keys = Keys::new(&prefix);
    let lease: String = conn.get(keys.lease(&act)).await.unwrap();
    assert_eq!(lease, format!("v1:{token}:node-a"));
    let fence: u64 = conn.get(keys.fence(&act)).await.unwrap();
    assert_eq!(FencingToken(fence), token);
    let since: u64 = conn.get(keys.since()).await.unwrap();
    assert!(
        since < token.0,
        "the counter was seeded after the guard started"
    );
    let pttl: i64 = conn.pttl(keys.lease(&act)).await.unwrap();
    assert!(pttl > 0 && pttl <= 500, "{pttl}");
    let node_val: String = conn.get(keys.node(&node)).await.unwrap();
    assert_eq!(node_val, "v1:https://10.0.0.1:8443");
    let score: f64 = conn.zscore(keys.nodes(), "node-a").await.unwrap();
    assert!(
        (since / 1000) as f64 <= score + 1.0,
        "{since} µs vs {score} ms"
    );
}
