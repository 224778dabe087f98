//! A trace database of schema version 1 (before the access log): a
//! read-only store reads it as it is, its access log empty; the access
//! tables' opening migrates it to version 2 under the migration lock, and
//! the entries then written join the existing tree, which verifies.

mod common;

use common::*;
use session::access::{AccessStore, AccessTables};
use session::{Timestamp, TraceStore};
use store_postgres::PgAccessTables;

#[test]
fn a_version_1_trace_gets_the_access_tables_and_its_tree_goes_on() {
    let db = TestDb::new();
    let keys = Keys::new();
    let act = {
        let store = keys.writer(&db.url);
        full_act(&store)
    };
    // Back to version 1, as the database was before 0002 (the owner may
    // drop its tables; the triggers guard rows, not tables).
    let c = raw(&db.url);
    c.batch(
        "DROP TABLE access_log, accounts;
         UPDATE trace_meta SET value = '1' WHERE key = 'schema_version';",
    );

    let reader = keys.reader(&db.url);
    let old = reader.access_tables();
    assert_eq!(old.head().expect("head"), None);
    assert!(old.entries().expect("entries").is_empty());
    assert_eq!(old.count_from(1).expect("count"), (0, None));
    assert!(keys.verify(&reader).is_intact());

    let tables = PgAccessTables::open(&db.url).expect("open and migrate");
    let version: Vec<u8> = c
        .query(
            "SELECT value FROM trace_meta WHERE key = 'schema_version'",
            &[],
        )
        .first()
        .expect("a version")
        .get(0);
    assert_eq!(version, b"2");
    let access = AccessStore::with_tables(
        tables,
        keys.signer.clone(),
        vec![keys.data.clone()],
        keys.trusted.clone(),
    )
    .expect("an access store");
    access
        .record("account:1", "read", Some(act), "allowed", Timestamp::now())
        .expect("record");
    let events = reader.records(act).expect("records").len() as u64;
    let tree = reader
        .tree_report(&keys.trusted)
        .expect("tree report")
        .expect("a tree");
    assert_eq!(tree.size, events + 1);
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    assert!(keys.verify(&reader).is_intact());
}
