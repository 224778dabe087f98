//! On a server with witnesses, an act's receipt is only handed out
//! witnessed: the download waits for the witnessing task to get a
//! checkpoint holding the act cosigned, and the receipt verifies with the
//! witness's key; with the witness down, the download is 503
//! `receipt_pending` with `Retry-After`, audited
//! `refused:receipt_pending`, and nothing unwitnessed leaves. Once the
//! witness is back, the same download succeeds.

mod common;

use std::time::Duration;

use axum::http::{StatusCode, header};
use common::lifecycle::{self, error_code, get_bytes};
use common::security::Secured;
use common::server::free_loopback_addr;
use common::witness::TestWitness;
use session::tlog::Receipt;
use signaling::witnessing::WitnessConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_leaves_witnessed_or_not_at_all() {
    let addr = free_loopback_addr();
    let url = format!("http://{addr}");
    let secured = Secured::start_with(|s| {
        s.witnesses = vec![WitnessConfig::new(&url, None).unwrap()];
        // Only nudges (a download, a conclusion) make rounds here.
        s.witness_interval = Duration::from_secs(3600);
    })
    .await;
    let log_vkey = secured
        .server
        .state
        .store
        .log_signer()
        .expect("the server signs")
        .verifier_key();
    let mut witness = TestWitness::start_at(addr, &log_vkey).await;
    let (doctor, _, _) = secured.standard_accounts();
    let doctor = secured.sign_in(&doctor).await;
    let server = &secured.server;

    // Witness up: the download waits for the cosigned checkpoint.
    let act = server.create_act().id();
    lifecycle::conclude(server, act, "Compte rendu fictif.", Vec::new());
    let path = format!("/api/acts/{act}/receipt");
    let (status, _, body) = get_bytes(server, &path, Some(&doctor)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let receipt = Receipt::from_bytes(&body).expect("a receipt");
    receipt
        .verify(&log_vkey, &[witness.vkey.as_str()])
        .expect("cosigned by the witness");

    // Witness down: a new act's receipt is refused, not handed out
    // unwitnessed.
    witness.pause().await;
    let later = server.create_act().id();
    lifecycle::conclude(server, later, "Compte rendu fictif.", Vec::new());
    let path = format!("/api/acts/{later}/receipt");
    let (status, headers, body) = get_bytes(server, &path, Some(&doctor)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "receipt_pending");
    assert_eq!(headers[header::RETRY_AFTER], "10");
    let refused = secured
        .entries()
        .into_iter()
        .filter(|e| e.action == "export_receipt" && e.act == Some(later))
        .map(|e| e.outcome)
        .collect::<Vec<_>>();
    assert_eq!(refused, ["refused:receipt_pending"]);

    // Back up: the next download (which nudges a round) succeeds. The task
    // backs off after failures, so the client retries as Retry-After says;
    // here, until it is served (bounded).
    witness.resume().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let body = loop {
        let (status, _, body) = get_bytes(&secured.server, &path, Some(&doctor)).await;
        if status == StatusCode::OK {
            break body;
        }
        assert_eq!(error_code(&body), "receipt_pending");
        assert!(tokio::time::Instant::now() < deadline, "never witnessed");
    };
    Receipt::from_bytes(&body)
        .expect("a receipt")
        .verify(&log_vkey, &[witness.vkey.as_str()])
        .expect("cosigned once the witness is back");
}
