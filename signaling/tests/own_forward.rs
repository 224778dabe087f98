//! Two nodes sharing one trace on PostgreSQL and one Redis. The act's room
//! runs on node A, which holds its lease (Redis holds A's value); the
//! patient connects through node B, which forwards the connection to A
//! over a node link: the consultation runs between them as if both had
//! joined A, B names no node and opens no room of its own, and the close
//! A sends reaches the patient through B. Once the act ends, A gives the
//! lease back. A node link that does not verify is refused before the
//! WebSocket upgrade.

mod common;

use common::cluster::{eventually, get, node, node_name, test_redis};
use common::postgres::PgDb;
use common::server::{TestServer, close, offer_and_answer};
use ownership::{ClusterSecret, LeaseValue};
use serde_json::json;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_joining_through_another_node_is_forwarded_to_the_owner() {
    let db = PgDb::new();
    let redis = test_redis();
    let (name_a, name_b) = (node_name("a"), node_name("b"));
    let a = node(&db, &redis, &name_a, None).await;
    let b = node(&db, &redis, &name_b, Some(&a.data)).await;

    // The professional joins through A: A's room claims the act.
    let act = a.create_act();
    let (mut pro, _) = a.join(&act.token("professional")).await;
    let key = format!("teleconsult:act:{}:lease", act.id());
    let value = eventually("A to hold the act's lease", || async {
        get(&redis, &key).await
    })
    .await;
    let held = LeaseValue::decode(&value).expect("a lease value");
    assert_eq!(held.node.as_str(), name_a, "node A holds the act: {value}");

    // The patient through B: forwarded to A, welcomed there.
    let (mut patient, welcome) = b.join(&act.token("patient")).await;
    assert_eq!(welcome.participant, 2);
    assert_eq!(b.state.metrics.forwarded_connections.get(), 1);
    assert_eq!(b.state.metrics.active_acts.get(), 0, "no room on B");
    assert_eq!(b.state.metrics.lease_held.get(), 0);
    assert!(
        !patient
            .seen
            .iter()
            .any(|m| format!("{m:?}").contains(&name_a)),
        "no node named to the participant"
    );

    // Consent, admission and signaling cross the link both ways.
    patient.consent(&welcome).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    offer_and_answer(&mut pro, &mut patient).await;
    assert_eq!(get(&redis, &key).await.as_deref(), Some(value.as_str()));

    // The act ends on A: both get A's close, the patient through B.
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    assert_eq!(patient.expect_close().await, close::ACT_ENDED);
    eventually("B to drop the forwarded connection", || async {
        (b.state.metrics.forwarded_connections.get() == 0).then_some(())
    })
    .await;
    eventually("the lease to be released", || async {
        get(&redis, &key).await.is_none().then_some(())
    })
    .await;
    assert_eq!(b.state.metrics.forward_failures.get(), 0);
    a.assert_trace_intact();
}

/// An upgrade request to `server`'s `/ws` carrying `link` as its node
/// link: the HTTP status it gets, or 101 when upgraded.
async fn upgrade_with_link(server: &TestServer, link: &str) -> u16 {
    let mut request = server.ws_url().into_client_request().expect("a request");
    request.headers_mut().insert(
        "teleconsult-node-link",
        link.parse().expect("a header value"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("the upgrade answers: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_link_that_does_not_verify_is_refused_before_the_upgrade() {
    let db = PgDb::new();
    let a = node(&db, &test_redis(), &node_name("a"), None).await;
    let act = a.create_act();
    let foreign = ClusterSecret::new(vec![7; 32]).expect("a secret");
    let far = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 60;
    let node = ownership::NodeId::new("intruder").expect("a node id");
    for link in [
        "garbage".to_owned(),
        "v1.intruder.not-an-act.1.mac".to_owned(),
        foreign.mint(&node, &act.id(), far),
    ] {
        assert_eq!(upgrade_with_link(&a, &link).await, 403, "{link}");
    }
    assert!(a.state.metrics.signaling_errors.get() >= 3);

    // A node running alone accepts no node link at all.
    let alone = TestServer::start().await;
    let token = foreign.mint(&node, &act.id(), far);
    assert_eq!(upgrade_with_link(&alone, &token).await, 403);

    // It still serves participants that connect directly.
    let (_pro, welcome) = a.join(&act.token("professional")).await;
    assert_eq!(welcome.participant, 1);
}
