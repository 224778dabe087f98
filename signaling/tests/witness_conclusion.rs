//! An act's conclusion is witnessed at once, not at the next tick: with
//! checkpoints otherwise an hour apart, concluding a live téléconsultation
//! makes the server checkpoint and submit, and a cosigned checkpoint
//! covering the conclusion is stored.

mod common;

use std::time::Duration;

use common::server::*;
use common::witness::TestWitness;
use serde_json::json;
use signaling::witnessing::WitnessConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conclusion_is_submitted_at_once() {
    let addr = free_loopback_addr();
    let url = format!("http://{addr}");
    let server = TestServer::start_with(|s| {
        s.witnesses = vec![WitnessConfig::new(&url, None).unwrap()];
        s.witness_interval = Duration::from_secs(3600);
    })
    .await;
    let log_vkey = server.state.store.log_signer().unwrap().verifier_key();
    let witness = TestWitness::start_at(addr, &log_vkey).await;
    let w = server.state.witnessing().expect("witnessing").clone();

    // Whatever a first round at start did, the next one is an hour away:
    // only the conclusion's nudge can get a checkpoint covering it.
    let (act, mut pro, _patient) = server.in_performance().await;
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    let size = server.state.store.tree_size().unwrap();
    let last = server.state.store.records(act.id()).unwrap().len() as u64;
    let leaf = server
        .state
        .store
        .event_leaf(act.id(), last - 1)
        .unwrap()
        .expect("the conclusion is a leaf");
    assert!(leaf < size);

    let mut rx = w.cosigned();
    let cosigned = tokio::time::timeout(
        TIMEOUT,
        rx.wait_for(|c| c.as_ref().is_some_and(|c| c.size > leaf)),
    )
    .await
    .expect("the conclusion is witnessed at once")
    .unwrap()
    .clone()
    .unwrap();
    witness::cosignature::verify_cosigned(&cosigned.note, &log_vkey, &witness.vkey)
        .expect("cosigned by the witness");
    assert!(witness.held() > leaf);
}

/// Without any witness the log still checkpoints itself: the conclusion
/// gets a checkpoint signed by the log at once (the next tick being an
/// hour away), which the act's receipt can be proven against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_witnesses_a_conclusion_is_checkpointed_at_once() {
    let server = TestServer::start_with(|s| {
        s.witness_interval = Duration::from_secs(3600);
    })
    .await;
    let w = server
        .state
        .witnessing()
        .expect("the checkpointing task")
        .clone();
    assert!(!w.has_witnesses());
    assert!(
        w.cosigned_covering(1, Duration::from_secs(60))
            .await
            .is_none(),
        "no cosigned checkpoint to wait for"
    );

    let (act, mut pro, _patient) = server.in_performance().await;
    pro.send(json!({"type": "conclude", "report": "Compte rendu fictif."}))
        .await;
    assert_eq!(pro.expect_close().await, close::ACT_ENDED);
    let last = server.state.store.records(act.id()).unwrap().len() as u64;
    let leaf = server
        .state
        .store
        .event_leaf(act.id(), last - 1)
        .unwrap()
        .expect("the conclusion is a leaf");

    let store = server.state.store.clone();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let checkpoint = loop {
        if let Some(c) = store.latest_checkpoint().unwrap()
            && c.size > leaf
        {
            break c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint covers the conclusion"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let log_vkey = store.log_signer().unwrap().verifier_key();
    store
        .receipt(act.id(), &checkpoint)
        .unwrap()
        .verify(&log_vkey, &[])
        .expect("the act's receipt verifies against the log's own checkpoint");
}
