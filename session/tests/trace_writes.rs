//! Appending to the store: an act round trips through it (its conclusion
//! with its author, or without one as written before authors were),
//! concurrent writers share commits and keep each act's order, and
//! `append_then` reports every outcome through its callback.

mod common;

use common::store::*;
use session::act::{Act, ActKind};
use session::event::ActEvent;
use session::{ActId, Error, ParticipantId, Timestamp, TraceStore};

#[test]
fn act_round_trips_through_the_store() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    let (act, len) =
        session::store::load_act(&t.store, a, std::slice::from_ref(&t.keys.data)).unwrap();
    assert_eq!(len, t.store.records(a).unwrap().len() as u64);
    assert_eq!(act.phase, session::Phase::Closed);
    let c = act.conclusion.as_ref().unwrap();
    assert_eq!(c.report.expose(), REPORT);
    assert_eq!(c.by, Some(ParticipantId(1)), "the requester concluded");
    assert_eq!(act.incidents.len(), 1);
    assert!(act.incidents[0].closed_at.is_some());
    // Reading an act that does not exist is a clear error.
    let e = session::store::load_act(&t.store, ActId::random(), &[]).unwrap_err();
    assert!(matches!(e, Error::UnknownAct(_)));
}

#[test]
fn a_conclusion_stored_without_its_author_reads_back_and_verifies() {
    let t = TestTrace::new();
    // The act as the code wrote it before the author was recorded.
    let a = full_act_written(&t.store, |e| {
        if let ActEvent::Concluded(c) = &mut e.body {
            c.by = None;
        }
    });
    let records = t.store.records(a).unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.kind, "concluded");
    let public = String::from_utf8(last.public.clone()).unwrap();
    assert!(!public.contains("\"by\""), "{public}");
    assert!(t.verify().is_intact(), "{:?}", t.verify());
    let (act, _) =
        session::store::load_act(&t.store, a, std::slice::from_ref(&t.keys.data)).unwrap();
    assert_eq!(act.phase, session::Phase::Closed);
    let c = act.conclusion.as_ref().unwrap();
    assert_eq!((c.report.expose().as_str(), c.by), (REPORT, None));
}

#[test]
fn concurrent_writers_share_commits_and_stay_ordered() {
    let t = std::sync::Arc::new(TestTrace::new());
    let writers = 16;
    let appends: usize = 20;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(writers));
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (t, barrier) = (t.clone(), barrier.clone());
            std::thread::spawn(move || {
                let (act, first) = Act::request(
                    ActId::random(),
                    ActKind::Teleconsultation,
                    true,
                    Timestamp::now(),
                );
                barrier.wait();
                t.store
                    .append(act.id, Some(0), vec![first.clone()])
                    .unwrap();
                for i in 1..appends {
                    let mut e = first.clone();
                    e.at = Timestamp::from_micros(e.at.as_micros() + i as i64);
                    let a = t.store.append(act.id, Some(i as u64), vec![e]).unwrap();
                    assert_eq!(a.head.seq, i as u64 + 1);
                }
                act.id
            })
        })
        .collect();
    let acts: Vec<ActId> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    for act in &acts {
        let records = t.store.records(*act).unwrap();
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=appends as u64).collect::<Vec<_>>());
    }
    let commits = t.store.checkpoints().unwrap().len();
    assert!(
        commits < writers * appends,
        "{commits} commits for {} appends: no commit was shared",
        writers * appends
    );
    assert!(t.verify().is_intact());
}

#[test]
fn append_then_reports_every_outcome_through_its_callback() {
    let t = TestTrace::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let (act, first) = Act::request(
        ActId::random(),
        ActKind::Teleconsultation,
        true,
        Timestamp::now(),
    );
    let send = |tx: std::sync::mpsc::Sender<Result<session::store::Appended, Error>>| -> session::store::OnAppended {
        Box::new(move |r| {
            let _ = tx.send(r);
        })
    };
    t.store
        .append_then(act.id, Some(0), vec![first.clone()], send(tx.clone()));
    let ok = rx.recv().unwrap().unwrap();
    assert_eq!((ok.first_seq, ok.head.seq), (1, 1));
    // A stale length, and nothing to append: errors, through the callback.
    t.store
        .append_then(act.id, Some(0), vec![first], send(tx.clone()));
    assert!(matches!(
        rx.recv().unwrap(),
        Err(Error::Conflict {
            expected: 0,
            found: 1
        })
    ));
    t.store.append_then(act.id, Some(1), vec![], send(tx));
    assert!(matches!(rx.recv().unwrap(), Err(Error::InvalidInput(_))));
    assert_eq!(t.store.records(act.id).unwrap().len(), 1);
}
