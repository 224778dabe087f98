//! Two nodes, each with its own connection, race to claim one act:
//! exactly one wins; the other is told who holds it.

mod common;

use std::time::Duration;

use ownership::{ActLease, LeaseConfig, LeaseStatus, NodeId};
use session::ActId;

#[tokio::test]
async fn exactly_one_of_two_racing_claims_wins() {
    let prefix = common::prefix("claim_race");
    let (ra, rb) = (
        common::connect(&prefix).await,
        common::connect(&prefix).await,
    );
    let config = LeaseConfig::with_ttl(Duration::from_millis(600));
    for round in 0..5 {
        let act = ActId::random();
        let mut a = ActLease::claim(ra.clone(), act, NodeId::new("node-a").unwrap(), config);
        let mut b = ActLease::claim(rb.clone(), act, NodeId::new("node-b").unwrap(), config);
        let settled =
            |s: &LeaseStatus| matches!(s, LeaseStatus::Held(_) | LeaseStatus::Taken { .. });
        let (sa, sb) = tokio::join!(a.wait_for(settled), b.wait_for(settled));
        let (winner, loser, winner_node) = match (&sa, &sb) {
            (LeaseStatus::Held(h), LeaseStatus::Taken { owner }) => (h, owner, "node-a"),
            (LeaseStatus::Taken { owner }, LeaseStatus::Held(h)) => (h, owner, "node-b"),
            other => panic!("round {round}: not exactly one winner: {other:?}"),
        };
        let owner = loser.clone().expect("the loser reads the owner");
        assert_eq!(owner.node.as_str(), winner_node);
        assert_eq!(owner.token, winner.token);
        assert_eq!(ra.owner(&act).await.unwrap(), Some(owner));
        drop((a, b));
    }
}
