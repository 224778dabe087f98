//! An access-log entry changed or deleted past the guards (by the owner
//! who lifts its own grants and disables the triggers, as a superuser
//! could) is found: by the access log's chain and signatures, and, when
//! the forger re-hashes the entry, by the Merkle tree in `verify_store`.

mod common;

use common::*;
use session::access::{AccessStore, entry_hash};
use session::{ActId, Timestamp, TraceStore};

fn at(s: i64) -> Timestamp {
    Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
}

/// A trace with four access entries among its events, checkpointed, and
/// verified whole.
fn written(db: &TestDb, keys: &Keys) -> (store_postgres::PgStore, AccessStore) {
    let store = keys.writer(&db.url);
    let access = AccessStore::with_tables(
        store.access_tables(),
        keys.signer.clone(),
        vec![keys.data.clone()],
        keys.trusted.clone(),
    )
    .expect("an access store");
    let act = cancelled_act(&store);
    for i in 0..4 {
        access
            .record("account:1", "read", Some(act), "allowed", at(i))
            .expect("record");
        store
            .append(ActId::random(), Some(0), vec![filler(i as u64)])
            .expect("append");
    }
    store.checkpoint(at(10)).expect("tree checkpoint");
    assert!(keys.verify(&store).is_intact());
    let report = access.verify(&keys.trusted).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    (store, access)
}

fn tree_problems(keys: &Keys, store: &dyn TraceStore) -> Vec<String> {
    keys.verify(store)
        .problems
        .iter()
        .map(|p| p.what.clone())
        .filter(|w| w.starts_with("Merkle tree"))
        .collect()
}

#[test]
fn an_entry_changed_then_rehashed_is_found_by_the_chain_then_the_tree() {
    let db = TestDb::new();
    let keys = Keys::new();
    let (store, access) = written(&db, &keys);
    let forger = access_forger(&db.url);
    forger
        .execute(
            "UPDATE access_log SET actor = 'account:2' WHERE seq = 2",
            &[],
        )
        .expect("the forger's update");
    let problems = access.verify(&keys.trusted).expect("verify").problems;
    assert!(
        problems.iter().any(|p| p.contains("#2 was changed")),
        "{problems:?}"
    );
    // The record hash is unchanged, so is its leaf: the tree still holds.
    assert!(tree_problems(&keys, &store).is_empty());

    // The forger re-hashes the entry: its leaf no longer matches the tree.
    let e = access.entries().expect("entries")[1].clone();
    let hash = entry_hash(
        e.seq,
        e.at,
        &e.actor,
        &e.action,
        e.act,
        &e.outcome,
        &e.prev_hash,
    );
    forger
        .execute(
            "UPDATE access_log SET hash = $1 WHERE seq = 2",
            &[&hash.as_slice()],
        )
        .expect("the forger's update");
    access_guards_back(&forger);
    let found = tree_problems(&keys, &keys.reader(&db.url));
    assert!(
        found.iter().any(|p| p.contains("not the rebuild's")),
        "{found:?}"
    );
    let problems = access.verify(&keys.trusted).expect("verify").problems;
    assert!(!problems.is_empty());
}

#[test]
fn a_deleted_entry_is_found_by_the_chain_and_the_tree() {
    let db = TestDb::new();
    let keys = Keys::new();
    let (store, access) = written(&db, &keys);
    let forger = access_forger(&db.url);
    forger
        .execute("DELETE FROM access_log WHERE seq = 3", &[])
        .expect("the forger's delete");
    access_guards_back(&forger);
    let problems = access.verify(&keys.trusted).expect("verify").problems;
    assert!(
        problems.iter().any(|p| p.contains("is missing")),
        "{problems:?}"
    );
    let found = tree_problems(&keys, &store);
    assert!(
        found
            .iter()
            .any(|p| p.contains("names a record that is not in the store")),
        "{found:?}"
    );
}
