//! A file shared peer to peer: the sender's `offered` is answered
//! `share_recorded` once durable (only then does its page send the file),
//! the receiver confirms with the same digest, and the trace holds the
//! offer (name without directories, type, size) and the receipt. An offer
//! resent after a lost `pong` is answered again and recorded once.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use session::ActEvent;
use session::document::DocumentType;

#[tokio::test(start_paused = true)]
async fn an_offer_is_recorded_before_the_receiver_confirms_it() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;
    let size = 20 * 1024 * 1024;

    pro.send(offered(3, 0x5a, size, "/home/dr/IRM/genou.png"))
        .await;
    expect_recorded(&mut pro, 3).await;
    // The answer came after the append: the offer is in the trace now.
    assert!(
        server
            .kinds(act.id())
            .last()
            .is_some_and(|k| *k == "share_offered")
    );
    pro.send(offered(3, 0x5a, size, "/home/dr/IRM/genou.png"))
        .await;
    expect_recorded(&mut pro, 3).await;

    patient.send(received(3, 1, 0x5a)).await;
    let to_patient = patient.sync().await;
    assert!(to_patient.is_empty(), "nothing to say: {to_patient:?}");
    assert!(mismatches(&pro.sync().await).is_empty());

    let events = server.events(act.id());
    let offers: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::ShareOffered {
                share,
                sender,
                digest,
                media_type,
                size,
                name,
            } => Some((
                share.to_string(),
                sender.0,
                digest.to_string(),
                *media_type,
                *size,
                name.expose().clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        offers,
        [(
            id(3),
            1,
            digest(0x5a),
            Some(DocumentType::Png),
            size,
            "genou.png".to_string()
        )]
    );
    let receipts: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::ShareReceived { share, by, digest } => {
                Some((share.to_string(), by.0, digest.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(receipts, [(id(3), 2, digest(0x5a))]);
    assert!(incident_kinds(&events).is_empty());
    server.assert_trace_intact();
}
