//! The fence itself: a writer that went around the tree lock wrote event
//! 1 of an act while a batch was being committed. The batch's insert of
//! that act meets the unique `(act, seq)`, the batch is rolled back and
//! retried without it: that append gets a conflict, the other act of the
//! same batch is written.

mod common;

use std::time::{Duration, Instant};

use common::*;
use session::{ActId, TraceStore};
use store_postgres::TREE_LOCK;

/// Waits until a connection of the store waits on a lock of `locktype`.
fn wait_for_lock_wait(db: &TestDb, locktype: &str) {
    let c = raw(&db.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = c.query(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE NOT l.granted AND l.locktype = $1 AND a.application_name = 'teleconsult'",
            &[&locktype],
        )[0]
        .get(0);
        if n > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the store never waited on a {locktype} lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fenced_append_is_refused_and_the_rest_of_its_batch_written() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let (x, y, z) = (ActId::random(), ActId::random(), ActId::random());
    let forger = raw(&db.url);
    // Hold the tree lock so that the next appends queue up as one batch.
    forger.batch(&format!("SELECT pg_advisory_lock({TREE_LOCK})"));
    let (tx, rx) = std::sync::mpsc::channel();
    let send = |name: &'static str| {
        let tx = tx.clone();
        Box::new(move |r: Result<session::store::Appended, session::Error>| {
            tx.send((name, r)).unwrap();
        })
    };
    store.append_then(z, Some(0), vec![filler(0)], send("z"));
    wait_for_lock_wait(&db, "advisory");
    store.append_then(x, Some(0), vec![filler(1)], send("x"));
    store.append_then(y, Some(0), vec![filler(2)], send("y"));
    // Around the lock, uncommitted: event 1 of x.
    let record = session::trace::TraceRecord::build(
        x,
        1,
        &session::trace::genesis(x),
        &filler(9),
        &keys.data,
    )
    .unwrap();
    forger.batch("BEGIN");
    forger
        .execute(
            "INSERT INTO events (id, act, seq, at, kind, public, sealed, prev_hash, hash)
             VALUES (1000000, $1, 1, $2, $3, $4, $5, $6, $7)",
            &[
                &x.as_bytes().as_slice(),
                &record.at.as_micros(),
                &record.kind,
                &record.public,
                &record.sealed,
                &record.prev_hash.as_slice(),
                &record.hash.as_slice(),
            ],
        )
        .unwrap();
    forger.batch(&format!("SELECT pg_advisory_unlock({TREE_LOCK})"));
    // z commits; the batch [x, y] blocks on x's uncommitted key.
    let (name, first) = rx.recv().unwrap();
    assert_eq!(name, "z");
    first.unwrap();
    wait_for_lock_wait(&db, "transactionid");
    forger.batch("COMMIT");
    let mut rest: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
    rest.sort_by_key(|(n, _)| *n);
    assert!(
        matches!(
            rest[0],
            (
                "x",
                Err(session::Error::Conflict {
                    expected: 0,
                    found: 1
                })
            )
        ),
        "{:?}",
        rest[0]
    );
    assert_eq!(rest[1].0, "y");
    assert_eq!(rest[1].1.as_ref().unwrap().first_seq, 1);
    assert_eq!(store.commits(), 2, "z, then y after the retry");
    // x holds the forger's event alone; the verification says it was
    // written without a signed head, and nothing else.
    assert_eq!(store.records(x).unwrap(), vec![record]);
    let report = keys.verify(&store);
    let p = problems(&report);
    assert!(
        !p.is_empty()
            && p.iter()
                .all(|(act, _, _)| act.as_deref() == Some(&x.to_string())),
        "{p:?}"
    );
}
