//! Acts written to PostgreSQL read back as written, through the same
//! readers as the SQLite store's (`read_act`, `load_act`), and the whole
//! trace verifies, Merkle tree included; a reader opened apart sees it all.

mod common;

use common::*;
use session::TraceStore;
use session::store::{load_act, read_act};

#[test]
fn acts_read_back_and_the_trace_verifies() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    let b = cancelled_act(&store);
    let records = read_act(&store, a).expect("read_act");
    assert!(records.len() >= 8, "{}", records.len());
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=records.len() as u64).collect::<Vec<_>>()
    );
    let (act, len) = load_act(&store, a, std::slice::from_ref(&keys.data)).expect("load_act");
    assert_eq!(len, records.len() as u64);
    assert_eq!(act.phase, session::Phase::Closed);
    let (cancelled, _) = load_act(&store, b, std::slice::from_ref(&keys.data)).expect("load_act");
    assert_eq!(cancelled.phase, session::Phase::Cancelled);
    let mut ids = vec![a, b];
    ids.sort();
    assert_eq!(store.act_ids().unwrap(), ids);

    // A tree checkpoint, then the whole store's check.
    let signed = store.checkpoint(session::Timestamp::now()).unwrap();
    let events = (records.len() + 3) as u64;
    assert_eq!(signed.size, events);
    assert_eq!(store.tree_size().unwrap(), events);
    let report = keys.verify(&store);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.acts, 2);
    assert_eq!(report.events, events);
    assert_eq!(report.tree_size, Some(events));
    assert_eq!(report.tree_checkpoints, 1);
    assert_eq!(report.checkpoints, 8, "one checkpoint per commit");
    store.close();
    drop(store);

    // Another process, read-only, sees the same.
    let reader = keys.reader(&db.url);
    assert_eq!(read_act(&reader, a).unwrap(), records);
    assert!(keys.verify(&reader).is_intact());
    let e = reader.append(a, Some(len), vec![filler(1)]).unwrap_err();
    assert!(matches!(e, session::Error::ReadOnly), "{e}");
}

#[test]
fn personal_fields_are_sealed_in_the_database() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    full_act(&store);
    let c = raw(&db.url);
    let rows = c.query("SELECT public, sealed FROM events", &[]);
    for r in rows {
        for col in [0, 1] {
            let bytes: Vec<u8> = r.get(col);
            let text = String::from_utf8_lossy(&bytes);
            for secret in [PATIENT_ALIAS, DOCTOR_NAME, REPORT] {
                assert!(!text.contains(secret), "{secret} in clear");
            }
        }
    }
}
