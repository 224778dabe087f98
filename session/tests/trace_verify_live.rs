//! Verifying while writers append sees one consistent commit: never a
//! "not covered by a signed checkpoint" for an event committed between
//! reading the checkpoints and reading the events.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::store::TestTrace;
use session::act::{Act, ActKind};
use session::store::verify_store;
use session::{ActId, Timestamp, TraceStore};

#[test]
fn verify_during_appends_is_always_intact() {
    let t = Arc::new(TestTrace::new());
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || {
                let (act, first) = Act::request(
                    ActId::random(),
                    ActKind::Teleconsultation,
                    true,
                    Timestamp::now(),
                );
                t.store
                    .append(act.id, Some(0), vec![first.clone()])
                    .unwrap();
                for i in 1..150u64 {
                    let mut e = first.clone();
                    e.at = Timestamp::from_micros(e.at.as_micros() + i as i64);
                    t.store.append(act.id, Some(i), vec![e]).unwrap();
                }
            })
        })
        .collect();
    let checker = {
        let (t, done) = (t.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) || rounds == 0 {
                let report = verify_store(&t.store, &t.keys.trusted, None).unwrap();
                assert!(report.is_intact(), "round {rounds}: {:?}", report.problems);
                rounds += 1;
            }
            rounds
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let rounds = checker.join().unwrap();
    assert!(rounds > 0);
    assert_eq!(
        verify_store(&t.store, &t.keys.trusted, None)
            .unwrap()
            .events,
        600
    );
}
