//! The trace's events and the access log's entries share one Merkle tree:
//! written by a trace store and by access tables (on the store's pool and
//! on a second node's own), their leaves interleave in commit order, and
//! the tree, its checkpoints and both logs verify.

mod common;

use std::sync::Arc;

use common::*;
use session::access::{AccessStore, AccessTables};
use session::{ActId, Timestamp, TraceStore};
use store_postgres::PgAccessTables;

fn at(s: i64) -> Timestamp {
    Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
}

#[test]
fn trace_and_access_leaves_interleave_in_one_tree_that_verifies() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    // This node's access store on the trace store's pool; another node's
    // on a pool of its own.
    let here = access_store(&keys, Arc::new(store.access_tables()));
    let there = access_store(&keys, PgAccessTables::open(&db.url).expect("open"));

    let first = full_act(&store);
    here.record("account:1", "read", Some(first), "allowed", at(1))
        .expect("record");
    let second_node = keys.writer(&db.url);
    let second = cancelled_act(&second_node);
    let second_len = second_node.records(second).expect("records").len();
    there
        .record("account:2", "export", Some(second), "allowed", at(2))
        .expect("record");
    here.record("operator", "login", None, "ok", at(3))
        .expect("record");
    store
        .append(ActId::random(), Some(0), vec![filler(4)])
        .expect("append after the entries");
    store.checkpoint(at(5)).expect("tree checkpoint");

    // The leaves, in commit order: the first act's events, an entry, the
    // second act, two entries, one more event.
    let c = raw(&db.url);
    let kinds: Vec<i16> = c
        .query("SELECT kind FROM tlog_leaves ORDER BY idx", &[])
        .iter()
        .map(|r| r.get(0))
        .collect();
    let first_len = store.records(first).expect("records").len();
    let mut want = vec![0i16; first_len];
    want.push(1);
    want.extend(vec![0; second_len]);
    want.extend([1, 1]);
    want.push(0);
    assert_eq!(kinds, want);
    let items: Vec<i64> = c
        .query(
            "SELECT item FROM tlog_leaves WHERE kind = 1 ORDER BY idx",
            &[],
        )
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(items, [1, 2, 3]);

    // The trace verifies, tree included, from the writer and from a reader.
    for s in [&store, &keys.reader(&db.url)] {
        let report = keys.verify(s);
        assert!(report.problems.is_empty(), "{:?}", problems(&report));
        let tree = s
            .tree_report(&keys.trusted)
            .expect("tree report")
            .expect("a tree");
        assert_eq!(tree.size, want.len() as u64);
        assert_eq!(tree.checkpoints, 1);
        assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    }
    // Both access stores see and verify the one chain.
    for a in [&here, &there] {
        let report = a.verify(&keys.trusted).expect("verify");
        assert_eq!(report.entries, 3);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
    assert_eq!(store.tree_size().expect("size"), want.len() as u64);
}

fn access_store(keys: &Keys, tables: impl AccessTables + 'static) -> AccessStore {
    AccessStore::with_tables(
        tables,
        keys.signer.clone(),
        vec![keys.data.clone()],
        keys.trusted.clone(),
    )
    .expect("an access store")
}
