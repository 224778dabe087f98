//! Two stores ("nodes") on one database append to the same act at once:
//! exactly one wins each seq, the loser gets a conflict, the chain does
//! not fork and verifies; a conflicting request does not fail the other
//! acts' appends committed with it.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use session::store::read_act;
use session::{ActId, TraceStore};

#[test]
fn two_nodes_cannot_fork_an_act() {
    let db = TestDb::new();
    let keys = Keys::new();
    let nodes = [
        Arc::new(keys.writer(&db.url)),
        Arc::new(keys.writer(&db.url)),
    ];
    let act = ActId::random();
    nodes[0].append(act, Some(0), vec![filler(0)]).unwrap();
    const ROUNDS: u64 = 30;
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let (node, barrier) = (node.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut won = Vec::new();
                let mut lost = 0u32;
                for round in 1..=ROUNDS {
                    barrier.wait();
                    // Each node believes the act has `round` events and
                    // appends the next; one of them is late.
                    match node.append(act, Some(round), vec![filler(round * 10 + n as u64)]) {
                        Ok(a) => won.push(a.first_seq),
                        Err(session::Error::Conflict { expected, found }) => {
                            assert_eq!((expected, found), (round, round + 1));
                            lost += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                    barrier.wait();
                    // The loser catches up: whoever won wrote seq round + 1.
                }
                (won, lost)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut won: Vec<u64> = results.iter().flat_map(|(w, _)| w.clone()).collect();
    won.sort();
    assert_eq!(
        won,
        (2..=ROUNDS + 1).collect::<Vec<_>>(),
        "exactly one winner per seq"
    );
    assert_eq!(results.iter().map(|(_, l)| *l as u64).sum::<u64>(), ROUNDS);
    let records = read_act(&*nodes[1], act).expect("the chain verifies");
    assert_eq!(records.len() as u64, ROUNDS + 1);
    assert!(keys.verify(&*nodes[0]).is_intact());
}

#[test]
fn a_conflict_does_not_fail_the_other_acts_of_its_commit() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = Arc::new(keys.writer(&db.url));
    let late = ActId::random();
    store
        .append(late, Some(0), vec![filler(0), filler(1)])
        .unwrap();
    // Many appends queued at once share commits; one of them is stale.
    let (tx, rx) = std::sync::mpsc::channel();
    let others: Vec<ActId> = (0..40).map(|_| ActId::random()).collect();
    for (i, act) in others.iter().enumerate() {
        let one = tx.clone();
        store.append_then(
            *act,
            Some(0),
            vec![filler(i as u64)],
            Box::new(move |r| {
                one.send(r.map(|_| ())).unwrap();
            }),
        );
        if i == 20 {
            let tx = tx.clone();
            store.append_then(
                late,
                Some(1),
                vec![filler(99)],
                Box::new(move |r| {
                    tx.send(r.map(|_| ())).unwrap();
                }),
            );
        }
    }
    drop(tx);
    let outcomes: Vec<_> = rx.iter().collect();
    assert_eq!(outcomes.len(), 41);
    let conflicts = outcomes
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(session::Error::Conflict {
                    expected: 1,
                    found: 2
                })
            )
        })
        .count();
    assert_eq!(conflicts, 1);
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 40);
    for act in others {
        assert_eq!(read_act(&*store, act).unwrap().len(), 1);
    }
    assert!(keys.verify(&*store).is_intact());
}
