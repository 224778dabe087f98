//! Allocation lifetimes are capped at TURN's default, 10 minutes: a
//! client asking for more on a Refresh is granted 600 s (it used to get up
//! to an hour), a shorter one gets what it asked, and the request, signed
//! again by the relay, still authenticates.

mod common;

use std::time::Duration;

use load_tests::turn_client::TurnClient;

/// A relay-running server (kept alive by the caller) and an allocation
/// made with a patient's call credentials.
async fn allocated() -> (common::Server, TurnClient) {
    let s = common::server_with(true).await;
    let relay = s.state.config.relay.clone().unwrap();
    let (act, _, _) = common::consultation(&s.state);
    let ice = relay
        .ice_server(act, session::ParticipantId(2))
        .expect("call credentials");
    let client = TurnClient::allocate(
        relay.relay.udp_addr().unwrap(),
        ice.username.as_deref().unwrap(),
        ice.credential.as_deref().unwrap(),
    )
    .await
    .expect("the credentials allocate");
    (s, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_are_granted_ten_minutes_at_most() {
    let (_server, client) = allocated().await;
    assert_eq!(
        client.refresh(Duration::from_secs(3000)).await.unwrap(),
        Duration::from_secs(600),
        "fifty minutes asked, ten granted"
    );
    assert_eq!(
        client.refresh(Duration::from_secs(300)).await.unwrap(),
        Duration::from_secs(300),
        "less is granted as asked"
    );
    client.release().await.expect("the allocation is deleted");
}

/// A LIFETIME after MESSAGE-INTEGRITY is not covered by it, and `turn`
/// reads it all the same: it is capped too, and the request still
/// authenticates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifetime_after_message_integrity_is_capped_too() {
    let (_server, client) = allocated().await;
    assert_eq!(
        client
            .refresh_with_lifetime_after_integrity(Duration::from_secs(3000))
            .await
            .unwrap(),
        Duration::from_secs(600),
        "fifty minutes asked after the signature, ten granted"
    );
    assert_eq!(
        client
            .refresh_with_lifetime_after_integrity(Duration::from_secs(300))
            .await
            .unwrap(),
        Duration::from_secs(300),
        "less is granted as asked"
    );
    client.release().await.expect("the allocation is deleted");
}
