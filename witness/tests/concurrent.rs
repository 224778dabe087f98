//! Concurrent submissions from the same held size: exactly one is cosigned,
//! every other gets 409 with the winner's size, and the stored checkpoint is
//! the winner's (check and persist are atomic; no rollback race).

mod common;

use common::{MemLog, Server};
use witness::Error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_winner_per_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    log.grow(4, "e");
    let client = witness::client::Client::new(&server.url).unwrap();
    client.submit(0, &[], &log.checkpoint()).await.unwrap();

    let mut held = 4;
    for round in 0..3 {
        // Sizes held+1 ..= held+8, all submitted at once with old = held.
        let mut tasks = Vec::new();
        for k in 1..=8u64 {
            let mut l = log.clone();
            l.grow(k, "e");
            let (proof, note) = (l.proof(held, held + k), l.checkpoint());
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                (held + k, client.submit(held, &proof, &note).await)
            }));
        }
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (size, Ok(_)) => winners.push(size),
                (_, Err(Error::Conflict { held, .. })) => conflicts.push(held),
                (size, Err(e)) => panic!("round {round} size {size}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(conflicts.len(), 7);
        assert!(conflicts.iter().all(|&c| c == winners[0]), "{conflicts:?}");
        assert_eq!(server.state.held_size(&log.origin), winners[0]);
        log.grow(winners[0] - held, "e");
        held = winners[0];
    }
    server.stop().await;
    // After a restart, the last winner is held.
    let server = Server::start(dir.path(), &[log.config()]).await;
    assert_eq!(server.state.held_size(&log.origin), held);
    server.stop().await;
}
