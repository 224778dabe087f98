//! Nodes on one Redis list themselves with their advertised addresses
//! (`--advertise`, or the listen address by default); a node stopped
//! gracefully leaves the list at once.

mod common;

use std::time::Duration;

use common::cluster::{eventually, node, node_name, redis, test_redis};
use common::postgres::PgDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_lists_both_nodes_until_one_stops() {
    let db = PgDb::new();
    let url = test_redis();
    let (name_a, name_b) = (node_name("a"), node_name("b"));
    let a = node(&db, &url, &name_a, None).await;
    // B advertises an address of its own choosing.
    let mut b = common::server::TestServer::start_on(a.data.clone(), |s| {
        s.store =
            signaling::store::StoreSetting::parse(&db.url).expect("a postgres:// store setting");
        s.redis = Some(signaling::node::RedisUrl::parse(&url).unwrap());
        s.node_id = signaling::node::NodeId::new(&name_b).unwrap();
        s.advertise = Some("http://10.1.2.3:8443".into());
    })
    .await;
    let r = redis(&url).await;
    let listed = |name: String| {
        let r = r.clone();
        async move {
            r.nodes()
                .await
                .ok()?
                .into_iter()
                .find(|n| n.node.as_str() == name)
                .map(|n| n.address)
        }
    };
    let address_a = eventually("node A listed", || listed(name_a.clone())).await;
    assert_eq!(
        address_a,
        format!("http://{}", a.addr),
        "the listen address"
    );
    let address_b = eventually("node B listed", || listed(name_b.clone())).await;
    assert_eq!(address_b, "http://10.1.2.3:8443", "as advertised");

    // A graceful stop deregisters at once (not after the 5 s TTL).
    b.stop(Duration::from_secs(10)).await;
    assert_eq!(listed(name_b.clone()).await, None, "B left the list");
    assert!(listed(name_a.clone()).await.is_some(), "A is still listed");
}
