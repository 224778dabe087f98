//! An allocation dies with its credential: once the username's expiry
//! has passed, the relay deletes the allocation (it used to live on for
//! the lifetime it was granted, up to an hour, refreshes aside).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use load_tests::turn_client::TurnClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_is_deleted_once_its_credential_expires() {
    let s = common::server_with(true).await;
    let relay = s.state.config.relay.clone().unwrap();
    let c = relay
        .credentials
        .issue("act-expiry", "2", Duration::from_secs(2))
        .unwrap();
    let _client = TurnClient::allocate(relay.relay.udp_addr().unwrap(), &c.username, &c.password)
        .await
        .expect("the credentials allocate while valid");
    assert_eq!(relay.relay.allocations_of(&c.username), 1);
    // Valid up to and including its expiry second; swept within a second
    // or so after.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relay.relay.allocations_of(&c.username) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the allocation outlived its credential"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        relay
            .relay
            .stats()
            .allocations_swept
            .load(Ordering::Relaxed)
            >= 1
    );
}
