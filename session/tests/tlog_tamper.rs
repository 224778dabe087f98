//! `trace verify` compares the stored tree with a rebuild from its leaves
//! and checks every stored checkpoint: a changed hash, a dropped tail (an
//! older tree put back) or a forged checkpoint is reported.

mod common;

use common::store::*;
use session::Timestamp;

fn setup() -> (tempfile::TempDir, session::DataDir) {
    let t = TestTrace::new();
    full_act(&t.store);
    cancelled_act(&t.store);
    t.store.checkpoint(Timestamp::now()).unwrap();
    assert!(t.verify().is_intact());
    let (dir, data, _) = t.close();
    (dir, data)
}

fn raw(data: &session::DataDir) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(data.db_path()).unwrap();
    c.execute_batch(
        "DROP TRIGGER tlog_hashes_no_update; DROP TRIGGER tlog_hashes_no_delete;
         DROP TRIGGER tlog_leaves_no_delete; DROP TRIGGER tlog_checkpoints_no_update;",
    )
    .unwrap();
    c
}

fn tree_problems(data: &session::DataDir) -> Vec<String> {
    verify_dir(data)
        .problems
        .into_iter()
        .filter(|p| p.what.starts_with("Merkle tree: "))
        .map(|p| p.what)
        .collect()
}

#[test]
fn a_changed_stored_hash_is_reported() {
    let (_dir, data) = setup();
    raw(&data)
        .execute(
            "UPDATE tlog_hashes SET hash = zeroblob(32) WHERE id = 3",
            [],
        )
        .unwrap();
    let p = tree_problems(&data);
    assert!(p.iter().any(|p| p.contains("stored tree hash 3")), "{p:?}");
}

#[test]
fn a_dropped_tail_is_reported_against_the_checkpoint() {
    let (_dir, data) = setup();
    let c = raw(&data);
    c.execute_batch("DELETE FROM tlog_leaves WHERE idx = (SELECT MAX(idx) FROM tlog_leaves);")
        .unwrap();
    let p = tree_problems(&data);
    assert!(
        p.iter().any(|p| p.contains("the event is not in the tree")),
        "{p:?}"
    );
    assert!(p.iter().any(|p| p.contains("tree checkpoint 1")), "{p:?}");
}

#[test]
fn a_forged_checkpoint_is_reported() {
    let (_dir, data) = setup();
    let c = raw(&data);
    let note: Vec<u8> = c
        .query_row("SELECT note FROM tlog_checkpoints WHERE no = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut forged = note.clone();
    let at = forged.iter().position(|&b| b == b'\n').unwrap() + 1;
    forged[at] = if forged[at] == b'9' { b'8' } else { b'9' };
    c.execute(
        "UPDATE tlog_checkpoints SET note = ?1 WHERE no = 1",
        [forged],
    )
    .unwrap();
    let p = tree_problems(&data);
    assert!(
        p.iter().any(|p| p.contains("not signed by a trusted key")),
        "{p:?}"
    );
}
