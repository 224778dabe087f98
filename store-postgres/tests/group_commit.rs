//! Concurrent writers on many acts share transactions: fewer commits than
//! appends, every append acknowledged, the trace verifies.

mod common;

use std::sync::Arc;

use common::*;
use session::{ActId, TraceStore};

#[test]
fn concurrent_writers_share_commits() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = Arc::new(keys.writer(&db.url));
    const WRITERS: u64 = 32;
    const EACH: u64 = 10;
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let act = ActId::random();
                for i in 0..EACH {
                    store
                        .append(act, Some(i), vec![filler(w * 100 + i)])
                        .expect("append");
                }
                act
            })
        })
        .collect();
    let acts: Vec<ActId> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let appends = WRITERS * EACH;
    let commits = store.commits();
    assert!(commits < appends, "{commits} commits for {appends} appends");
    let report = keys.verify(&*store);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.events, appends);
    assert_eq!(report.checkpoints, commits, "one checkpoint per commit");
    // The database agrees: one transaction per checkpoint.
    assert_eq!(
        raw(&db.url).query("SELECT count(*) FROM checkpoints", &[])[0].get::<_, i64>(0) as u64,
        commits
    );
    for act in acts {
        assert_eq!(store.records(act).unwrap().len() as u64, EACH);
    }
    eprintln!("{appends} appends in {commits} commits");
}
