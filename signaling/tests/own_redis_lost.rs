//! Redis killed while an act runs on its owner: the act keeps going there,
//! past its lease's deadline (no node can claim it without Redis, and one
//! cut off from this node alone would be stopped by the trace's unique
//! `(act, seq)`), appends included; the loss is counted; new joins are
//! told `ownership_unavailable` (close 4011, `retry_after:2`) and retry.
//! Once Redis is back the room claims its lease again, joins are welcomed,
//! and the act ends normally with its trace intact.

mod common;

use common::cluster::{OwnRedis, free_port, node, node_name};
use common::postgres::PgDb;
use common::server::{Client, TIMEOUT, TestAct, TestServer, close, offer_and_answer};
use serde_json::json;
use signaling::protocol::{ErrorCode, ServerMessage, SignalData};

/// The call going on: signaling both ways every 200 ms (which also keeps
/// both connections from the server's idle timeout) until `done`.
async fn call_until(pro: &mut Client, patient: &mut Client, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT + std::time::Duration::from_secs(6);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        offer_and_answer(pro, patient).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A node on a Redis of the test's own (on `port`, returned) and a fresh
/// database (kept alive by the caller), an act in performance on it, and
/// then that Redis killed.
async fn in_performance_then_redis_killed() -> (u16, PgDb, TestServer, TestAct, Client, Client) {
    let port = free_port();
    let mut own = OwnRedis::start(port).await;
    let db = PgDb::new();
    let a = node(&db, &own.url(), &node_name("a"), None).await;
    let (act, pro, patient) = a.in_performance().await;
    own.kill();
    (port, db, a, act, pro, patient)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_act_goes_on_without_redis_and_joins_wait() {
    let (port, _db, a, act, mut pro, mut patient) = in_performance_then_redis_killed().await;
    // Past the lease's proven deadline: counted lost, the call goes on.
    let metrics = a.state.metrics.clone();
    call_until(
        &mut pro,
        &mut patient,
        "the lease to be counted lost",
        || metrics.lease_lost.get() == 1 && metrics.lease_held.get() == 0,
    )
    .await;
    assert!(
        !pro.seen
            .iter()
            .chain(&patient.seen)
            .any(|m| matches!(m, ServerMessage::Error { .. })),
        "no error while Redis is lost: {:?}",
        pro.seen
    );

    // A new join waits and retries: refused while Redis is down.
    let mut again = a.connect().await;
    again.hello(&act.token("patient")).await;
    again.expect_error(ErrorCode::OwnershipUnavailable).await;
    assert_eq!(again.expect_close().await, close::OWNERSHIP_UNAVAILABLE);
    assert_eq!(again.close_reason.as_deref(), Some("retry_after:2"));
    // The live participants were not disturbed by it.
    patient
        .signal(1, &SignalData::Answer { sdp: "v=0".into() })
        .await;
    assert_eq!(pro.expect_signal().await.0, 2);

    // Redis back (empty): the room claims its lease again; a join retried
    // as the client does is welcomed.
    let _own = OwnRedis::start(port).await;
    call_until(&mut pro, &mut patient, "the lease to be held again", || {
        metrics.lease_held.get() == 1
    })
    .await;
    let (mut pro2, welcome) = a.join(&act.token("professional")).await;
    assert_eq!(welcome.participant, 1, "the professional again");
    assert_eq!(pro.expect_close().await, close::REPLACED);

    // The act ends: its conclusion is appended and both are told.
    pro2.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro2.expect_close().await, close::ACT_ENDED);
    assert_eq!(patient.expect_close().await, close::ACT_ENDED);
    assert!(a.kinds(act.id()).contains(&"concluded"));
    a.assert_trace_intact();
}

/// Appends go on while Redis is lost: the conclusion, sent after the
/// lease's deadline passed, is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_act_concluded_while_redis_is_lost_is_recorded() {
    let (_port, _db, a, act, mut pro, mut patient) = in_performance_then_redis_killed().await;
    let metrics = a.state.metrics.clone();
    call_until(
        &mut pro,
        &mut patient,
        "the lease to be counted lost",
        || metrics.lease_lost.get() == 1,
    )
    .await;
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    assert_eq!(patient.expect_close().await, close::ACT_ENDED);
    assert!(a.kinds(act.id()).contains(&"concluded"));
    a.assert_trace_intact();
}
