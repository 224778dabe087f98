//! The tamper classes of session/tests/tlog_tamper.rs on PostgreSQL: a
//! changed stored hash, a dropped tail, a forged tree checkpoint.

mod common;

use common::*;

fn setup() -> (TestDb, Keys) {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    full_act(&store);
    cancelled_act(&store);
    store.checkpoint(session::Timestamp::now()).unwrap();
    assert!(keys.verify(&store).is_intact());
    store.close();
    (db, keys)
}

fn tree_problems(db: &TestDb, keys: &Keys) -> Vec<String> {
    keys.verify(&keys.reader(&db.url))
        .problems
        .into_iter()
        .filter(|p| p.what.starts_with("Merkle tree: "))
        .map(|p| p.what)
        .collect()
}

#[test]
fn a_changed_stored_hash_is_reported() {
    let (db, keys) = setup();
    forger(&db.url)
        .batch("UPDATE tlog_hashes SET hash = decode(repeat('00', 32), 'hex') WHERE id = 3");
    let p = tree_problems(&db, &keys);
    assert!(p.iter().any(|p| p.contains("stored tree hash 3")), "{p:?}");
}

#[test]
fn a_dropped_tail_is_reported_against_the_checkpoint() {
    let (db, keys) = setup();
    forger(&db.url).batch("DELETE FROM tlog_leaves WHERE idx = (SELECT MAX(idx) FROM tlog_leaves)");
    let p = tree_problems(&db, &keys);
    assert!(
        p.iter().any(|p| p.contains("the event is not in the tree")),
        "{p:?}"
    );
    assert!(p.iter().any(|p| p.contains("tree checkpoint 1")), "{p:?}");
}

#[test]
fn a_forged_checkpoint_is_reported() {
    let (db, keys) = setup();
    let c = forger(&db.url);
    let note: Vec<u8> = c.query("SELECT note FROM tlog_checkpoints WHERE no = 1", &[])[0].get(0);
    let mut forged = note.clone();
    let at = forged.iter().position(|&b| b == b'\n').unwrap() + 1;
    forged[at] = if forged[at] == b'9' { b'8' } else { b'9' };
    c.execute(
        "UPDATE tlog_checkpoints SET note = $1 WHERE no = 1",
        &[&forged],
    )
    .unwrap();
    let p = tree_problems(&db, &keys);
    assert!(
        p.iter().any(|p| p.contains("not signed by a trusted key")),
        "{p:?}"
    );
}
