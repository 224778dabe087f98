//! A submission whose `old` is not the size the witness holds gets 409
//! Conflict, `text/x.tlog.size`, with the held size; `old` above the
//! checkpoint's size is 400.

mod common;

use common::{MemLog, Server, now, post_raw, witness_key};
use witness::{Error, Refusal, Witness};

#[test]
fn sans_io_conflict_names_the_held_size() {
    let mut log = MemLog::standard();
    let mut w = Witness::new(witness_key(), &[log.config()]).unwrap();
    log.grow(8, "e");
    w.commit(w.add_checkpoint(&log.request(0), now()).unwrap());
    log.grow(4, "e");
    // A log that lost its state starts from 0, or from an older size.
    assert_eq!(
        w.add_checkpoint(&log.request(0), now()),
        Err(Refusal::Conflict { held: 8 })
    );
    assert_eq!(
        w.add_checkpoint(&log.request(5), now()),
        Err(Refusal::Conflict { held: 8 })
    );
    assert_eq!(Refusal::Conflict { held: 8 }.status(), 409);
    // A rolled-back log (size 6 < 8) with a correct-looking claim of old 8.
    let older = {
        let mut l = MemLog::standard();
        l.grow(6, "e");
        l
    };
    let body = witness::request::AddCheckpoint {
        old_size: 8,
        proof: vec![],
        note: older.checkpoint(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::OldAboveSize { old: 8, size: 6 })
    );
    assert_eq!(w.held_size(&log.origin), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_conflict_body_and_client_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    log.grow(8, "e");
    let client = witness::client::Client::new(&server.url).unwrap();
    client.submit(0, &[], &log.checkpoint()).await.unwrap();
    log.grow(2, "e");

    let (status, content_type, body) = post_raw(&server.url, log.request(0)).await;
    assert_eq!(
        (status, content_type.as_str(), &body[..]),
        (409, "text/x.tlog.size", &b"8\n"[..])
    );
    match client.submit(0, &[], &log.checkpoint()).await {
        Err(Error::Conflict { held, .. }) => assert_eq!(held, 8),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The client retries from the size the witness holds.
    client
        .submit(8, &log.proof(8, 10), &log.checkpoint())
        .await
        .unwrap();
    assert_eq!(server.state.held_size(&log.origin), 10);

    let (status, _, _) = post_raw(
        &server.url,
        witness::request::AddCheckpoint {
            old_size: 11,
            proof: vec![],
            note: log.checkpoint(),
        }
        .to_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    server.stop().await;
}
