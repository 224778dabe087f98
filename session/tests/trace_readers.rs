//! Every reader of an act goes through `read_act`, which checks the chain
//! the store's links give (`prev_id`, `heads`: no hash covers them) against
//! the hashes and the newest signed checkpoint, and refuses with the
//! finding `trace verify` prints for the same damage.

mod common;

use std::time::Instant;

use common::store::*;
use rusqlite::params;
use session::act::Phase;
use session::store::{load_act, read_act};
use session::{ActId, Error, TraceStore};

/// The row id of an act's event `seq`, read as a forger would.
fn row_id(c: &rusqlite::Connection, act: ActId, seq: u64) -> i64 {
    c.query_row(
        "SELECT id FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = ?2",
        params![act.as_bytes(), seq as i64],
        |r| r.get(0),
    )
    .expect("row id")
}

fn refusal(e: Error) -> session::trace::Problem {
    match e {
        Error::TraceIntegrity(p) => *p,
        other => panic!("expected a trace integrity refusal, got {other}"),
    }
}

#[test]
fn a_relinked_prev_id_is_refused_with_verify_s_finding() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    let len = t.store.records(a).unwrap().len() as u64;
    let (_dir, data, keys) = t.close();
    // Unlink event #len-1 (the conclusion's predecessor): the link of the
    // last event jumps over it. No hashed byte changes.
    let c = forger(&data);
    let skip_to = row_id(&c, a, len - 2);
    c.execute(
        "UPDATE events SET prev_id = ?1 WHERE id = ?2",
        params![skip_to, row_id(&c, a, len)],
    )
    .unwrap();
    drop(c);

    let store = data.open_reader().unwrap();
    assert_eq!(
        store.records(a).unwrap().len() as u64,
        len - 1,
        "the raw links now skip an event"
    );
    let finding = refusal(read_act(&store, a).unwrap_err());
    assert_eq!(finding.seq, Some(len - 1));
    assert!(finding.what.contains("is missing"), "{finding}");
    let e = load_act(&store, a, std::slice::from_ref(&keys.data)).unwrap_err();
    assert_eq!(refusal(e), finding);
    // `trace verify` reports the same finding.
    let report = verify_dir(&data);
    assert!(report.problems.contains(&finding), "{:?}", report.problems);
}

#[test]
fn a_moved_head_does_not_reopen_a_concluded_act() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    let len = t.store.records(a).unwrap().len() as u64;
    let (act, _) = load_act(&t.store, a, std::slice::from_ref(&t.keys.data)).unwrap();
    assert_eq!(act.phase, Phase::Closed);
    let (_dir, data, keys) = t.close();
    // Point the head back before the conclusion: the chain walked is a
    // valid prefix, an act in performance.
    let c = forger(&data);
    c.execute(
        "UPDATE heads SET last_id = ?1, seq = ?2 WHERE act_no = (SELECT no FROM acts WHERE act = ?3)",
        params![row_id(&c, a, len - 1), (len - 1) as i64, a.as_bytes()],
    )
    .unwrap();
    drop(c);

    let store = data.open_reader().unwrap();
    let finding = refusal(load_act(&store, a, std::slice::from_ref(&keys.data)).unwrap_err());
    assert_eq!(finding.seq, Some(len));
    assert!(finding.what.contains("checkpoint"), "{finding}");
    assert_eq!(refusal(read_act(&store, a).unwrap_err()), finding);
    let report = verify_dir(&data);
    assert!(report.problems.contains(&finding), "{:?}", report.problems);
}

#[test]
fn an_intact_act_reads_and_a_long_one_reads_quickly() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    cancelled_act(&t.store);
    let records = read_act(&t.store, a).unwrap();
    assert_eq!(records, t.store.records(a).unwrap());
    assert!(matches!(
        read_act(&t.store, ActId::random()),
        Err(Error::UnknownAct(_))
    ));
    // A 200-event act among others: its verified read stays cheap.
    let long = long_act(&t.store, 200);
    for _ in 0..50 {
        full_act(&t.store);
    }
    let start = Instant::now();
    let n = 20;
    for _ in 0..n {
        assert_eq!(read_act(&t.store, long).unwrap().len(), 200);
    }
    let each = start.elapsed() / n;
    eprintln!("verified read of a 200-event act: {each:?}");
    assert!(t.verify().is_intact());
}

/// An act in performance with `n` events: the opening steps, then
/// incidents opened and closed, one append per command as a server does.
fn long_act(store: &dyn TraceStore, n: u64) -> ActId {
    use session::act::{Act, ActKind, Command};
    use session::incident::{IncidentId, IncidentKind, Metrics};
    use session::{ParticipantId, Timestamp};
    let at = |s: u64| Timestamp::from_micros(1_795_000_000_000_000 + s as i64 * 1_000_000);
    let (mut act, first) = Act::request(ActId::random(), ActKind::Teleconsultation, true, at(0));
    let id = act.id;
    store.append(id, Some(0), vec![first]).unwrap();
    let mut len = 1u64;
    let mut step = 1u64;
    let mut run = |act: &mut Act, cmd: Command| {
        let events = act.handle(cmd, at(step)).expect("command");
        step += 1;
        let k = events.len() as u64;
        store.append(id, Some(len), events).unwrap();
        len += k;
        len
    };
    for command in common::in_performance(common::requester(), common::patient(PATIENT_ALIAS)) {
        run(&mut act, command);
    }
    let mut incident = 0;
    loop {
        incident += 1;
        let l = run(
            &mut act,
            Command::OpenIncident {
                kind: IncidentKind::PacketLoss,
                participant: Some(ParticipantId(2)),
                metrics: Metrics::new(),
            },
        );
        if l >= n {
            break;
        }
        let l = run(
            &mut act,
            Command::CloseIncident {
                incident: IncidentId(incident),
                metrics: Metrics::new(),
            },
        );
        if l >= n {
            break;
        }
    }
    id
}
