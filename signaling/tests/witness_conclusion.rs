//! An act's conclusion is witnessed at once, not at the next tick: with
//! checkpoints otherwise an hour apart, concluding a live téléconsultation
//! makes the server checkpoint and submit, and a cosigned checkpoint
//! covering the conclusion is stored.

mod common;

use std::time::Duration;

use common::server::*;
use common::witness::TestWitness;
use serde_json::json;
use session::TraceStore;
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
