//! UPDATE and DELETE on the evidence are refused twice over: by the
//! grants (the role the store connects as holds only SELECT and INSERT),
//! and, with the grants given back, by the triggers.

mod common;

use common::*;

const TABLES: [&str; 6] = [
    "events",
    "checkpoints",
    "documents",
    "tlog_leaves",
    "tlog_hashes",
    "tlog_checkpoints",
];

#[test]
fn grants_then_triggers_refuse_update_and_delete() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    let len = session::TraceStore::records(&store, a).unwrap().len() as u64;
    let doc = pdf("fictif");
    session::TraceStore::attach(&store, a, len, doc.clone(), vec![attachment(&doc, "f.pdf")])
        .unwrap();
    store.checkpoint(session::Timestamp::now()).unwrap();
    let c = raw(&db.url);
    for table in TABLES {
        for sql in [
            format!("UPDATE {table} SET {} = {0}", first_column(table)),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
        ] {
            let e = c.try_batch(&sql).expect_err(&sql);
            let e = e.as_db_error().expect("a database error");
            assert_eq!(e.code().code(), "42501", "{sql}: {}", e.message());
            assert!(
                e.message().contains("permission denied"),
                "{sql}: {}",
                e.message()
            );
        }
    }
    // The owner may grant itself back what it revoked: the triggers hold.
    c.batch(&format!(
        "GRANT UPDATE, DELETE, TRUNCATE ON {} TO CURRENT_USER",
        TABLES.join(", ")
    ));
    for table in TABLES {
        for sql in [
            format!("UPDATE {table} SET {} = {0}", first_column(table)),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
        ] {
            let e = c.try_batch(&sql).expect_err(&sql);
            let e = e
                .as_db_error()
                .expect("a database error")
                .message()
                .to_string();
            assert!(e.contains("the trace is append-only"), "{sql}: {e}");
        }
    }
    // Nothing changed.
    assert!(keys.verify(&store).is_intact());
}

fn first_column(table: &str) -> &'static str {
    match table {
        "events" => "kind",
        "checkpoints" => "at",
        "documents" => "size",
        "tlog_leaves" => "item",
        "tlog_hashes" => "hash",
        _ => "note",
    }
}

#[test]
fn the_fence_refuses_a_second_event_at_a_seq() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    // A writer that skipped the store's checks (no tree lock, no head
    // read) and wrote event 2 again: the unique (act, seq) refuses it.
    let c = raw(&db.url);
    let e = c
        .execute(
            "INSERT INTO events (id, act, seq, at, kind, public, sealed, prev_hash, hash)
             SELECT (SELECT MAX(id) + 1 FROM events), act, seq, at, kind, public, sealed, prev_hash, hash
             FROM events WHERE act = $1 AND seq = 2",
            &[&a.as_bytes().as_slice()],
        )
        .unwrap_err();
    let e = e.as_db_error().expect("a database error");
    assert_eq!(e.code().code(), "23505", "{}", e.message());
    assert_eq!(e.constraint(), Some("events_act_seq"));
}
