//! The witness's state survives a restart: the held checkpoint is on disk
//! before the answer, is read back (and checked) at open, and a stale `old`
//! after the restart is still a conflict. A stored file changed on disk is
//! refused at open.

mod common;

use std::fs;

use common::{MemLog, Server, now, verify_cosigned};
use witness::store::{CHECKPOINTS_DIR, origin_hash};
use witness::{Error, WitnessState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    let vkey = server.state.verifier_key().to_owned();
    log.grow(9, "e");
    let client = witness::client::Client::new(&server.url).unwrap();
    client.submit(0, &[], &log.checkpoint()).await.unwrap();
    server.stop().await;

    // The file is what the witness serves: log-signed and cosigned.
    let file = dir
        .path()
        .join(CHECKPOINTS_DIR)
        .join(origin_hash(&log.origin));
    assert_eq!(
        verify_cosigned(&fs::read(&file).unwrap(), &log, &vkey),
        (1, 1)
    );

    let server = Server::start(dir.path(), &[log.config()]).await;
    assert_eq!(server.state.verifier_key(), vkey, "same key after restart");
    assert_eq!(server.state.held_size(&log.origin), 9);
    let client = witness::client::Client::new(&server.url).unwrap();
    log.grow(3, "e");
    assert!(matches!(
        client.submit(0, &[], &log.checkpoint()).await,
        Err(Error::Conflict { held: 9, .. })
    ));
    client
        .submit(9, &log.proof(9, 12), &log.checkpoint())
        .await
        .unwrap();
    let held = client.checkpoint(&log.origin).await.unwrap().unwrap();
    assert_eq!(held, fs::read(&file).unwrap());
    // What a log checks at start: signed by itself, cosigned, size and root.
    let cosigned =
        witness::cosignature::verify_cosigned(&held, &log.signer().vkey(), &vkey).unwrap();
    assert_eq!((cosigned.size, cosigned.hash), (12, log.root(12)));
    assert!(cosigned.timestamp > 1_700_000_000);
    let other = witness::WitnessKey::from_seed("w.example", [9; 32]).unwrap();
    assert!(matches!(
        witness::cosignature::verify_cosigned(&held, &log.signer().vkey(), &other.verifier_key()),
        Err(Error::NotCosigned)
    ));
    server.stop().await;
}

#[test]
fn changed_state_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let state = WitnessState::open(dir.path(), "w.example", &[log.config()]).unwrap();
    log.grow(2, "e");
    state.add_checkpoint(&log.request(0), now()).unwrap();
    drop(state);
    let file = dir
        .path()
        .join(CHECKPOINTS_DIR)
        .join(origin_hash(&log.origin));
    let good = fs::read(&file).unwrap();

    // A checkpoint signed by the log but never cosigned by this witness
    // (e.g. an older state put back by hand with another witness's files).
    fs::write(&file, log.checkpoint()).unwrap();
    assert!(matches!(
        WitnessState::open(dir.path(), "w.example", &[log.config()]),
        Err(Error::StoredCheckpoint { .. })
    ));
    // Under another origin's file name.
    fs::write(&file, &good).unwrap();
    fs::rename(
        &file,
        dir.path().join(CHECKPOINTS_DIR).join(origin_hash("x")),
    )
    .unwrap();
    assert!(matches!(
        WitnessState::open(dir.path(), "w.example", &[log.config()]),
        Err(Error::StoredCheckpoint { .. })
    ));
    // A log no longer configured: its file is kept and not served.
    fs::rename(
        dir.path().join(CHECKPOINTS_DIR).join(origin_hash("x")),
        &file,
    )
    .unwrap();
    let state = WitnessState::open(dir.path(), "w.example", &[]).unwrap();
    assert_eq!(state.held_size(&log.origin), 0);
    assert!(file.exists());
}
