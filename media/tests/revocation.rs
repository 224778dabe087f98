//! Revoking a participant tears down its live allocations, and the same
//! credentials cannot allocate again.

mod common;

use std::time::Duration;

use common::{Transport, finish_uclient, run_uclient, spawn_uclient, uclient_command, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_lose_their_allocations_and_cannot_allocate_again() {
    let credentials = common::credentials();
    let relay = common::loopback_relay(credentials.clone()).await;
    let patient = credentials
        .issue("act-9", "patient", Duration::from_secs(600))
        .unwrap();
    let doctor = credentials
        .issue("act-9", "doctor", Duration::from_secs(600))
        .unwrap();

    // A long-running client pair, still sending when revoked.
    let cmd = uclient_command(
        &relay,
        Transport::Udp,
        &patient.username,
        &patient.password,
        100_000,
        100,
        2,
    );
    let running = spawn_uclient(cmd, &relay, Transport::Udp);
    let stats = relay.stats().clone();
    wait_until("relayed traffic", Duration::from_secs(30), || {
        stats.snapshot().relayed_packets_to_peers >= 20
    })
    .await;
    let live = relay.allocations_of(&patient.username);
    assert!(live >= 4, "{live} allocations before revocation");

    let deleted = relay.revoke("act-9", "patient").await.unwrap();
    assert!(deleted >= live, "{deleted} deleted, {live} seen before");
    assert_eq!(relay.allocations_of(&patient.username), 0);
    assert_eq!(relay.allocations(), 0);
    assert!(credentials.is_revoked("act-9", "patient"));

    // Nothing is relayed any more for the revoked participant, though its
    // client keeps sending (a window to observe, not a synchronisation; a
    // closed allocation's socket sends nothing, so this is exact).
    let relayed = stats.snapshot().relayed_packets_to_peers;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stats.snapshot().relayed_packets_to_peers, relayed);
    drop(running); // kill_on_drop

    // The same credentials are refused at Allocate.
    let refused_before = stats.snapshot().auth_refused;
    let created_before = stats.snapshot().allocations_created;
    let report = run_uclient(
        &relay,
        Transport::Udp,
        &patient.username,
        &patient.password,
        10,
        100,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_ne!(report.status, Some(0), "{}", report.output);
    assert!(report.received.unwrap_or(0) == 0, "{}", report.output);
    assert!(report.output.contains("error 400"), "{}", report.output);
    let after = stats.snapshot();
    assert!(after.auth_refused > refused_before, "{after:?}");
    assert_eq!(after.allocations_created, created_before);
    assert_eq!(relay.allocations(), 0);

    // Also over TCP.
    let report = run_uclient(
        &relay,
        Transport::Tcp,
        &patient.username,
        &patient.password,
        10,
        100,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_ne!(report.status, Some(0), "{}", report.output);
    assert_eq!(stats.snapshot().allocations_created, created_before);

    // Another participant of the same act is unaffected.
    let report = run_uclient(
        &relay,
        Transport::Udp,
        &doctor.username,
        &doctor.password,
        10,
        100,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(report.status, Some(0), "{}", report.output);
    assert_eq!(report.lost, Some(0), "{}", report.output);
    assert_eq!(report.received, Some(40), "{}", report.output);
    relay.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_someone_without_allocations_only_refuses_later_ones() {
    let credentials = common::credentials();
    let relay = common::loopback_relay(credentials.clone()).await;
    let c = credentials
        .issue("act-3", "expert", Duration::from_secs(600))
        .unwrap();
    assert_eq!(relay.revoke("act-3", "expert").await.unwrap(), 0);
    let report = finish_uclient(
        spawn_uclient(
            uclient_command(&relay, Transport::Udp, &c.username, &c.password, 5, 100, 2),
            &relay,
            Transport::Udp,
        ),
        Duration::from_secs(60),
    )
    .await;
    assert_ne!(report.status, Some(0), "{}", report.output);
    assert_eq!(relay.stats().snapshot().allocations_created, 0);
    relay.stop().await.unwrap();
}
