//! Nodes register with a heartbeat and list each other with their
//! advertised address; a node that stops beating leaves the list after its
//! TTL, one that stops cleanly at once.

mod common;

use std::time::Duration;

use ownership::{HeartbeatConfig, HeartbeatTask, NodeId};

#[tokio::test]
async fn live_nodes_are_listed_and_dead_ones_drop_out() {
    let prefix = common::prefix("registry");
    let redis = common::connect(&prefix).await;
    let config = HeartbeatConfig::with_ttl(Duration::from_millis(400));
    let start = |name: &str, address: &str| {
        HeartbeatTask::start(
            redis.clone(),
            NodeId::new(name).unwrap(),
            address.to_owned(),
            config,
        )
        .unwrap()
    };
    let mut a = start("node-a", "https://10.0.0.1:8443");
    let mut b = start("node-b", "https://10.0.0.2:8443");
    let mut c = start("node-c", "https://10.0.0.3:8443");
    a.wait_registered().await;
    b.wait_registered().await;
    c.wait_registered().await;
    assert!(a.registered());
    let names = |redis: ownership::Redis| async move {
        redis
            .nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.node.to_string(), e.address))
            .collect::<Vec<_>>()
    };
    let all = names(redis.clone()).await;
    assert_eq!(
        all,
        vec![
            ("node-a".into(), "https://10.0.0.1:8443".into()),
            ("node-b".into(), "https://10.0.0.2:8443".into()),
            ("node-c".into(), "https://10.0.0.3:8443".into()),
        ]
    );
    // B dies (stops beating): gone after its TTL. C stops cleanly: gone now.
    drop(b);
    c.stop().await.unwrap();
    let without_c = names(redis.clone()).await;
    assert!(
        !without_c.iter().any(|(n, _)| n == "node-c"),
        "{without_c:?}"
    );
    common::wait_until("node B to drop out", Duration::from_secs(3), || {
        let redis = redis.clone();
        async move {
            let now = names(redis).await;
            (now == vec![("node-a".to_string(), "https://10.0.0.1:8443".to_string())]).then_some(())
        }
    })
    .await;
    assert!(a.registered(), "A kept beating all along");
}
