//! A forked log (an older copy of the store plus different new entries): the
//! witness refuses to cosign it, whether it claims the held size with another
//! root or grows from a common prefix with a proof of its own tree.

mod common;

use common::{MemLog, Server, now, post_raw, witness_key};
use witness::request::AddCheckpoint;
use witness::{Refusal, Witness};

#[test]
fn forks_are_refused() {
    let mut log = MemLog::standard();
    let mut w = Witness::new(witness_key(), &[log.config()]).unwrap();
    log.grow(10, "e");
    let restored = log.clone(); // the backup taken at size 10
    log.grow(5, "e");
    w.commit(w.add_checkpoint(&log.request(0), now()).unwrap());
    assert_eq!(w.held_size(&log.origin), 15);

    // The backup grows with other entries up to the same size.
    let mut fork = restored.clone();
    fork.grow(5, "forked");
    assert_ne!(fork.root(15), log.root(15));
    assert_eq!(
        w.add_checkpoint(&fork.request(15), now()),
        Err(Refusal::RootMismatch)
    );
    // ...and beyond it, with a valid proof of its own tree from 15.
    fork.grow(7, "forked");
    assert_eq!(
        w.add_checkpoint(&fork.request(15), now()),
        Err(Refusal::BadProof)
    );
    // ...or with a (valid) proof from the shared size 10: not the held size.
    assert_eq!(
        w.add_checkpoint(&fork.request(10), now()),
        Err(Refusal::Conflict { held: 15 })
    );
    // The genuine log still extends.
    log.grow(1, "e");
    assert!(w.add_checkpoint(&log.request(15), now()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_over_http_is_422() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    log.grow(4, "e");
    let backup = log.clone();
    log.grow(4, "e");
    assert_eq!(post_raw(&server.url, log.request(0)).await.0, 200);
    let mut fork = backup;
    fork.grow(4, "forked");
    let body = AddCheckpoint::parse(&fork.request(8)).unwrap().to_bytes();
    let (status, _, answer) = post_raw(&server.url, body).await;
    assert_eq!(status, 422);
    assert!(answer.starts_with(b"root_mismatch"));
    assert_eq!(server.state.held_size(&log.origin), 8);
    server.stop().await;
}
