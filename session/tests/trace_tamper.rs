//! Any change to the stored trace is detected by verification: changed,
//! inserted, reordered or deleted events (the most recent included), whole
//! acts deleted, checkpoints removed or re-signed with another key.

mod common;

use common::store::*;
use rusqlite::params;
use session::keys::{HeadSigner, TrustedKeys};
use session::store::verify_store;
use session::trace::{Checkpoint, Head, encode_heads, record_hash};
use session::{ActId, Timestamp, TraceStore};

/// Three acts: two complete ones and a cancelled one. Returns the store
/// closed, with the first complete act's id and its length.
fn setup() -> (
    tempfile::TempDir,
    session::DataDir,
    session::store::WriterKeys,
    ActId,
    u64,
) {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    full_act(&t.store);
    cancelled_act(&t.store);
    let len = t.store.records(a).unwrap().len() as u64;
    assert!(len >= 10, "the fixture act should be long, got {len}");
    assert!(t.verify().is_intact(), "{:?}", t.verify().problems);
    let (dir, data, keys) = t.close();
    (dir, data, keys, a, len)
}

fn first_problem(data: &session::DataDir) -> (Option<String>, Option<u64>, String) {
    let report = verify_dir(data);
    assert!(!report.is_intact(), "tampering went unnoticed");
    problems(&report).remove(0)
}

#[test]
fn intact_trace_verifies_with_the_public_key_alone() {
    let (dir, data, _keys, _, _) = setup();
    // An auditor gets the database and the public key, not the data key.
    let audit = dir.path().join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::copy(data.db_path(), audit.join("trace.db")).unwrap();
    std::fs::copy(
        data.key_dir().path().join("signing.pub"),
        audit.join("signing.pub"),
    )
    .unwrap();
    let store = session::DataDir::new(&audit).open_reader().unwrap();
    let trusted = TrustedKeys::from_file(&audit.join("signing.pub")).unwrap();
    let report = verify_store(&store, &trusted, None).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.acts, 3);
    assert!(report.checkpoints > 0);
    // Without the data key the sealed fields stay sealed.
    let rec = &store.records(store.act_ids().unwrap()[0]).unwrap();
    assert!(rec.iter().all(|r| r.public_view().is_ok()));
}

#[test]
fn personal_and_medical_fields_are_not_on_disk_in_clear() {
    let (_dir, data, _keys, _, _) = setup();
    let mut bytes = std::fs::read(data.db_path()).unwrap();
    if let Ok(wal) = std::fs::read(data.db_path().with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let hay = String::from_utf8_lossy(&bytes);
    for secret in [
        PATIENT_ALIAS,
        DOCTOR_NAME,
        REPORT,
        "10000000009",
        "Paracetamol",
    ] {
        assert!(!hay.contains(secret), "{secret:?} is stored in clear");
    }
    // While the public parts are there, readable.
    assert!(hay.contains("consent_given"));
}

#[test]
fn changed_event_content_is_detected() {
    let (_dir, data, _keys, a, _) = setup();
    let changed = forger(&data)
        .execute(
            "UPDATE events SET public = CAST(replace(CAST(public AS TEXT), 'data_hosting', 'xdata_hosting') AS BLOB)
             WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 5 AND instr(CAST(public AS TEXT), 'data_hosting') > 0",
            params![a.as_bytes()],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let (act, seq, what) = first_problem(&data);
    assert_eq!((act, seq), (Some(a.to_string()), Some(5)));
    assert!(what.contains("content was changed"), "{what}");
}

#[test]
fn changed_time_is_detected() {
    let (_dir, data, _keys, a, _) = setup();
    forger(&data)
        .execute(
            "UPDATE events SET at = at - 3600000000 WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 2",
            params![a.as_bytes()],
        )
        .unwrap();
    let (_, seq, what) = first_problem(&data);
    assert_eq!(seq, Some(2));
    assert!(what.contains("content was changed"), "{what}");
}

#[test]
fn changed_sealed_bytes_are_detected() {
    let (_dir, data, _keys, a, _) = setup();
    let c = forger(&data);
    let mut sealed: Vec<u8> = c
        .query_row(
            "SELECT sealed FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 3",
            params![a.as_bytes()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !sealed.is_empty(),
        "seq 3 registers the patient and has sealed data"
    );
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    c.execute(
        "UPDATE events SET sealed = ?2 WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 3",
        params![a.as_bytes(), sealed],
    )
    .unwrap();
    let (_, seq, _) = first_problem(&data);
    assert_eq!(seq, Some(3));
}

#[test]
fn changed_event_with_recomputed_hash_is_detected() {
    let (_dir, data, _keys, a, _) = setup();
    let c = forger(&data);
    // The forger fixes up the record's own hash after the change.
    let (at, kind, public, sealed, prev): (i64, String, Vec<u8>, Vec<u8>, Vec<u8>) = c
        .query_row(
            "SELECT at, kind, public, sealed, prev_hash FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 4",
            params![a.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    let at = at + 1_000_000;
    let hash = record_hash(
        a,
        4,
        Timestamp::from_micros(at),
        &kind,
        &public,
        &sealed,
        &prev.try_into().unwrap(),
    );
    c.execute(
        "UPDATE events SET at = ?2, hash = ?3 WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 4",
        params![a.as_bytes(), at, hash.as_slice()],
    )
    .unwrap();
    let report = verify_dir(&data);
    let p = problems(&report);
    assert_eq!(p[0].1, Some(4), "{p:?}");
    assert!(
        p[0].2.contains("checkpoint"),
        "the signed head of that append disagrees: {p:?}"
    );
    assert!(
        p.iter()
            .any(|(_, s, w)| *s == Some(5) && w.contains("does not follow event #4")),
        "{p:?}"
    );
}

#[test]
fn inserted_event_is_detected() {
    let (_dir, data, keys, a, _) = setup();
    let c = forger(&data);
    // Make room at seq 5 and insert a well-formed record chained to #4.
    c.execute(
        "UPDATE events SET seq = seq + 1000 WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq >= 5",
        params![a.as_bytes()],
    )
    .unwrap();
    c.execute(
        "UPDATE events SET seq = seq - 999 WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq > 1000",
        params![a.as_bytes()],
    )
    .unwrap();
    let prev = stored_hash(&c, a, 4);
    let event = session::Event {
        at: Timestamp::from_micros(1_795_000_035_000_000),
        body: session::ActEvent::ConsentWithdrawn {
            scopes: vec![session::consent::ConsentScope::TelemedicineAct],
            by: session::ParticipantId(2),
        },
    };
    let r = session::trace::TraceRecord::build(a, 5, &prev, &event, &keys.data).unwrap();
    forge_insert(&c, &r);
    let report = verify_dir(&data);
    let p = problems(&report);
    assert!(
        p.iter()
            .all(|(act, _, _)| act.as_deref() == Some(&a.to_string())),
        "{p:?}"
    );
    assert_eq!(p[0].1, Some(5), "{p:?}");
}

#[test]
fn reordered_events_are_detected() {
    let (_dir, data, _keys, a, _) = setup();
    let c = forger(&data);
    c.execute_batch(&format!(
        "UPDATE events SET seq = 100 WHERE act_no = (SELECT no FROM acts WHERE act = x'{a}') AND seq = 4;
         UPDATE events SET seq = 4 WHERE act_no = (SELECT no FROM acts WHERE act = x'{a}') AND seq = 5;
         UPDATE events SET seq = 5 WHERE act_no = (SELECT no FROM acts WHERE act = x'{a}') AND seq = 100;",
        a = hex::encode(a.as_bytes())
    ))
    .unwrap();
    let (_, seq, what) = first_problem(&data);
    assert_eq!(seq, Some(4));
    assert!(
        what.contains("does not follow") || what.contains("changed"),
        "{what}"
    );
}

#[test]
fn deleted_middle_event_is_detected() {
    let (_dir, data, _keys, a, _) = setup();
    forger(&data)
        .execute(
            "DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 3",
            params![a.as_bytes()],
        )
        .unwrap();
    let (_, seq, what) = first_problem(&data);
    assert_eq!(seq, Some(3));
    assert!(what.contains("missing"), "{what}");
}

#[test]
fn deleted_most_recent_event_is_detected() {
    let (_dir, data, _keys, a, len) = setup();
    forger(&data)
        .execute(
            "DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = ?2",
            params![a.as_bytes(), len as i64],
        )
        .unwrap();
    let (_, seq, what) = first_problem(&data);
    assert_eq!(seq, Some(len));
    assert!(
        what.contains("missing") && what.contains("signed"),
        "{what}"
    );
}

#[test]
fn deleted_whole_act_is_detected() {
    let (_dir, data, _keys, a, _) = setup();
    forger(&data)
        .execute(
            "DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1)",
            params![a.as_bytes()],
        )
        .unwrap();
    let (act, _, what) = first_problem(&data);
    assert_eq!(act, Some(a.to_string()));
    assert!(what.contains("all its events are missing"), "{what}");
}

#[test]
fn deleted_checkpoint_is_detected() {
    let (_dir, data, _keys, _, _) = setup();
    forger(&data)
        .execute("DELETE FROM checkpoints WHERE no = 2", [])
        .unwrap();
    let report = verify_dir(&data);
    assert!(!report.is_intact());
    let first = &report.problems[0];
    assert_eq!(first.checkpoint, Some(2), "{first}");
    assert!(first.what.contains("missing"), "{first}");
}

#[test]
fn events_appended_without_a_signed_head_are_detected() {
    let (_dir, data, keys, a, len) = setup();
    let c = forger(&data);
    let prev = stored_hash(&c, a, len);
    let event = session::Event {
        at: Timestamp::from_micros(1_795_000_999_000_000),
        body: session::ActEvent::PhaseEntered {
            phase: session::Phase::Preparation,
        },
    };
    let r = session::trace::TraceRecord::build(a, len + 1, &prev, &event, &keys.data).unwrap();
    forge_insert(&c, &r);
    let (_, seq, what) = first_problem(&data);
    assert_eq!(seq, Some(len + 1));
    assert!(what.contains("no signed checkpoint"), "{what}");
}

#[test]
fn checkpoints_resigned_with_another_key_are_detected() {
    let (_dir, data, _keys, a, len) = setup();
    let c = forger(&data);
    // The forger deletes the act's last event and rewrites every checkpoint
    // consistently, signing with a key of their own.
    c.execute(
        "DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = ?2",
        params![a.as_bytes(), len as i64],
    )
    .unwrap();
    let new_head = stored_hash(&c, a, len - 1);
    let store = data.open_reader().unwrap();
    let old = store.checkpoints().unwrap();
    drop(store);
    let mine = HeadSigner::generate().unwrap();
    c.execute("DELETE FROM checkpoints", []).unwrap();
    let mut prev = [0u8; 32];
    for (i, cp) in old.iter().enumerate() {
        let heads: Vec<Head> = cp
            .heads
            .iter()
            .filter_map(|h| {
                if h.act == a && h.seq == len {
                    None
                } else {
                    Some(*h)
                }
            })
            .chain((i == old.len() - 1).then(|| Head {
                act: a,
                seq: len - 1,
                hash: new_head,
            }))
            .collect();
        let signed = Checkpoint::sign(cp.no, cp.at, prev, heads, &mine);
        prev = signed.digest();
        c.execute(
            "INSERT INTO checkpoints VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                signed.no as i64,
                signed.at.as_micros(),
                signed.prev.as_slice(),
                encode_heads(&signed.heads),
                signed.key_id.0.as_slice(),
                signed.signature.as_slice()
            ],
        )
        .unwrap();
    }
    let report = verify_dir(&data);
    assert!(!report.is_intact());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("not among the trusted keys")),
        "{:?}",
        report.problems
    );
}

#[test]
fn verify_one_act_checks_only_that_act() {
    let t = TestTrace::new();
    let a = full_act(&t.store);
    let b = full_act(&t.store);
    let (_dir, data, keys) = t.close();
    forger(&data)
        .execute(
            "DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = 2",
            params![b.as_bytes()],
        )
        .unwrap();
    let store = data.open_reader().unwrap();
    let ra = verify_store(&store, &keys.trusted, Some(a)).unwrap();
    assert!(ra.is_intact(), "{:?}", ra.problems);
    let rb = verify_store(&store, &keys.trusted, Some(b)).unwrap();
    assert!(!rb.is_intact());
    let unknown = verify_store(&store, &keys.trusted, Some(ActId::random()));
    assert!(matches!(unknown, Err(session::Error::UnknownAct(_))));
}
