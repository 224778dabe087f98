//! A shared file that arrives with another digest than the one offered:
//! the receiver reports the digest it computed, the trace holds the receipt
//! and a `share_mismatch` incident, and both ends get `exchange_mismatch`.
//! Either end may then cancel the share, once.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use session::ActEvent;

#[tokio::test(start_paused = true)]
async fn a_receipt_with_another_digest_opens_a_share_mismatch() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    pro.send(offered(4, 0x01, 1234, "radio.png")).await;
    expect_recorded(&mut pro, 4).await;
    patient.send(received(4, 1, 0x02)).await;
    let to_patient = patient.sync().await;
    let to_pro = pro.sync().await;
    let expected = vec![("share".to_string(), id(4))];
    assert_eq!(mismatches(&to_patient), expected);
    assert_eq!(mismatches(&to_pro), expected);

    // Both pages give up the share; the second cancel records nothing.
    patient.send(cancelled(4)).await;
    pro.send(cancelled(4)).await;
    assert!(patient.sync().await.is_empty());
    assert!(pro.sync().await.is_empty());

    let events = server.events(act.id());
    assert_eq!(incident_kinds(&events), ["share_mismatch"]);
    let receipt = events
        .iter()
        .find_map(|e| match &e.body {
            ActEvent::ShareReceived { digest, .. } => Some(digest.to_string()),
            _ => None,
        })
        .expect("the receipt is recorded");
    assert_eq!(receipt, digest(0x02), "the digest the receiver computed");
    let cancels = events
        .iter()
        .filter(|e| matches!(&e.body, ActEvent::ShareCancelled { by, .. } if by.0 == 2))
        .count();
    assert_eq!(cancels, 1);
    assert_eq!(
        server
            .kinds(act.id())
            .iter()
            .filter(|k| **k == "share_cancelled")
            .count(),
        1
    );
    server.assert_trace_intact();
}
