//! A store made before the Merkle tree verifies as before, and gets the
//! tree from its events and access entries (events in row order, then
//! access entries in seq order) when a writer opens it; the tree then
//! matches an independent rebuild, and later appends extend it.

mod common;

use common::store::*;
use session::access::AccessStore;
use session::tlog::{LeafKind, leaf_hash};
use session::{Timestamp, TraceStore};

/// Drops the tree's tables, as a store written before them has none.
fn strip_tree(data: &session::DataDir) {
    let c = rusqlite::Connection::open(data.db_path()).unwrap();
    c.execute_batch("DROP TABLE tlog_leaves; DROP TABLE tlog_hashes; DROP TABLE tlog_checkpoints;")
        .unwrap();
}

/// Every record's leaf hash as the migration orders them.
fn expected_leaves(data: &session::DataDir) -> Vec<tlog_tiles::Hash> {
    let c = rusqlite::Connection::open(data.db_path()).unwrap();
    let mut out = Vec::new();
    for (kind, sql) in [
        (LeafKind::Event, "SELECT hash FROM events ORDER BY id"),
        (LeafKind::Access, "SELECT hash FROM access_log ORDER BY seq"),
    ] {
        let mut stmt = c.prepare(sql).unwrap();
        let hashes: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.extend(
            hashes
                .iter()
                .map(|h| leaf_hash(kind, &h.as_slice().try_into().unwrap())),
        );
    }
    out
}

#[test]
fn an_old_store_verifies_then_gets_its_tree_at_open() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    cancelled_act(&t.store);
    let access = AccessStore::open(
        &t.data.db_path(),
        t.keys.signer.clone(),
        vec![t.keys.data.clone()],
    )
    .unwrap();
    access
        .record("cli:auditor", "trace_read", Some(a), "ok", Timestamp::now())
        .unwrap();
    drop(access);
    let (_dir, data, _keys) = t.close();
    strip_tree(&data);

    // Read-only, before any writer: verifies as before, no tree.
    let report = verify_dir(&data);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.tree_size, None);
    let records_before = data.open_reader().unwrap().records(a).unwrap();

    // A writer builds the tree; the records are untouched.
    let (store, _keys) = data.open_writer().unwrap();
    let expected = expected_leaves(&data);
    let events: usize = lengths(&store).values().sum();
    assert!(expected.len() > events, "the access entries are leaves too");
    assert_eq!(store.tree_size().unwrap(), expected.len() as u64);
    let rebuilt = session::tlog::tree::rebuild(&expected).unwrap();
    let root = session::tlog::tree::root_of(&rebuilt, expected.len() as u64).unwrap();
    assert_eq!(store.tree_root(expected.len() as u64).unwrap(), root);
    assert_eq!(store.records(a).unwrap(), records_before);

    // New appends extend the same tree.
    let old_size = expected.len() as u64;
    let b = cancelled_act(&store);
    let size = store.tree_size().unwrap();
    assert_eq!(size, old_size + store.records(b).unwrap().len() as u64);
    let proof = store.consistency_proof(old_size, size).unwrap();
    tlog_tiles::check_tree(&proof, size, store.tree_root(size).unwrap(), old_size, root).unwrap();
    store.checkpoint(Timestamp::now()).unwrap();
    store.close();
    drop(store);

    let report = verify_dir(&data);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.tree_size, Some(size));
    assert_eq!(report.tree_checkpoints, 1);
}

#[test]
fn access_entries_join_the_tree_in_commit_order() {
    let t = TestTrace::new();
    let access = AccessStore::open(
        &t.data.db_path(),
        t.keys.signer.clone(),
        vec![t.keys.data.clone()],
    )
    .unwrap();
    let a = cancelled_act(&t.store);
    let n1 = t.store.tree_size().unwrap();
    access
        .record("cli:auditor", "trace_read", Some(a), "ok", Timestamp::now())
        .unwrap();
    assert_eq!(t.store.tree_size().unwrap(), n1 + 1);
    let b = cancelled_act(&t.store);
    let n2 = t.store.tree_size().unwrap();
    assert_eq!(n2, n1 + 1 + t.store.records(b).unwrap().len() as u64);
    // b's first event comes after the access entry.
    assert_eq!(t.store.event_leaf(b, 1).unwrap(), Some(n1 + 1));
    assert_eq!(t.store.event_leaf(a, 1).unwrap(), Some(0));
    let report = t.verify();
    assert!(report.is_intact(), "{:?}", report.problems);
}
