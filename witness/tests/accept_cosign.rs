//! A checkpoint from size 0, then one extending it with a consistency proof:
//! both cosigned with a timestamped `cosignature/v1` that verifies, and the
//! witness holds the latest (sans-IO, then over HTTP with the client).

mod common;

use common::{MemLog, Server, now, verify_cosigned, witness_key};
use witness::cosignature::timestamp_of;
use witness::{Refusal, Witness};

#[test]
fn accepts_and_cosigns_consistent_checkpoints() {
    let mut log = MemLog::standard();
    let mut w = Witness::new(witness_key(), &[log.config()]).unwrap();
    let vkey = w.key().verifier_key();

    log.grow(5, "event");
    let accepted = w.add_checkpoint(&log.request(0), now()).unwrap();
    assert_eq!(accepted.origin, log.origin);
    assert_eq!(accepted.held.size, 5);
    // The answer is one signature line; appended to the note it verifies.
    let line = String::from_utf8(accepted.cosignature.clone()).unwrap();
    assert!(line.starts_with("— witness.teleconsult.localhost ") && line.ends_with('\n'));
    let mut cosigned = log.checkpoint();
    cosigned.extend_from_slice(&accepted.cosignature);
    assert_eq!(verify_cosigned(&cosigned, &log, &vkey), (1, 1));
    assert_eq!(verify_cosigned(&accepted.held.note, &log, &vkey), (1, 1));
    let sig = signed_note::Signature::from_bytes(line.trim_end().as_bytes()).unwrap();
    assert_eq!(timestamp_of(sig.signature()), Some(1_679_315_147));
    // Nothing changes before commit.
    assert_eq!(w.held_size(&log.origin), 0);
    w.commit(accepted);
    assert_eq!(w.held_size(&log.origin), 5);

    // Growing sizes, each with a proof from the held one.
    for (old, grow) in [(5, 1), (6, 10), (16, 17), (33, 31)] {
        log.grow(grow, "event");
        let accepted = w.add_checkpoint(&log.request(old), now()).unwrap();
        assert_eq!(accepted.held.size, old + grow);
        w.commit(accepted);
    }
    // The same checkpoint again (old = size, same root): cosigned again.
    let again = w.add_checkpoint(&log.request(64), now()).unwrap();
    assert_eq!(again.held.size, 64);
    // A checkpoint of the empty tree from nothing.
    let empty = MemLog::standard();
    let w0 = Witness::new(witness_key(), &[empty.config()]).unwrap();
    assert_eq!(
        w0.add_checkpoint(&empty.request(0), now())
            .unwrap()
            .held
            .size,
        0
    );
    // A signature of an unknown key beside the log's is ignored.
    let mut note = signed_note::Note::from_bytes(&log.checkpoint()).unwrap();
    let stranger = common::NoteSigner::new("other.example/log", [0x33; 32]);
    note.add_sigs(&[&stranger]).unwrap();
    let body = witness::request::AddCheckpoint {
        old_size: 64,
        proof: vec![],
        note: note.to_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now())
            .map(|a| a.held.size),
        Ok(64)
    );
    // ...while a note signed by it alone is refused.
    let mut alone = signed_note::Note::new(note.text(), &[]).unwrap();
    alone.add_sigs(&[&stranger]).unwrap();
    let body = witness::request::AddCheckpoint {
        old_size: 64,
        proof: vec![],
        note: alone.to_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::NotSigned)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_with_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    let client = witness::client::Client::new(&server.url).unwrap();
    let vkey = server.state.verifier_key().to_owned();

    assert_eq!(client.checkpoint(&log.origin).await.unwrap(), None);
    log.grow(3, "event");
    let lines = client.submit(0, &[], &log.checkpoint()).await.unwrap();
    let mut cosigned = log.checkpoint();
    cosigned.extend_from_slice(&lines);
    assert_eq!(verify_cosigned(&cosigned, &log, &vkey), (1, 1));

    log.grow(4, "event");
    let proof = log.proof(3, 7);
    client.submit(3, &proof, &log.checkpoint()).await.unwrap();
    // What the witness holds: the size-7 checkpoint, log-signed and cosigned.
    let held = client.checkpoint(&log.origin).await.unwrap().unwrap();
    assert_eq!(verify_cosigned(&held, &log, &vkey), (1, 1));
    let text = signed_note::Note::from_bytes(&held).unwrap();
    let cp = tlog_tiles::Checkpoint::from_bytes(text.text()).unwrap();
    assert_eq!((cp.size(), *cp.hash()), (7, log.root(7)));
    server.stop().await;
}
