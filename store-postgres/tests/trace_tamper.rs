//! The tamper classes of session/tests/trace_tamper.rs on PostgreSQL: a
//! forger with the owner's rights (triggers disabled, privileges granted
//! back) changes, inserts, reorders or deletes events, deletes an act or a
//! checkpoint, or re-signs the checkpoints; `verify_store` reports each.

mod common;

use common::*;
use session::keys::HeadSigner;
use session::trace::{Checkpoint, Head, TraceRecord, encode_heads, record_hash};
use session::{ActId, Timestamp, TraceStore};

struct Setup {
    db: TestDb,
    keys: Keys,
    a: ActId,
    len: u64,
}

fn setup() -> Setup {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    full_act(&store);
    cancelled_act(&store);
    let len = store.records(a).unwrap().len() as u64;
    assert!(keys.verify(&store).is_intact());
    store.close();
    Setup { db, keys, a, len }
}

impl Setup {
    /// The problems a fresh reader's verification finds; never none.
    fn problems(&self) -> Vec<(Option<String>, Option<u64>, String)> {
        let reader = self.keys.reader(&self.db.url);
        let report = self.keys.verify(&reader);
        assert!(!report.is_intact(), "tampering went unnoticed");
        problems(&report)
    }

    fn act(&self) -> Vec<u8> {
        self.a.as_bytes().to_vec()
    }
}

fn stored_hash(c: &postgres_raw::Client, act: ActId, seq: u64) -> [u8; 32] {
    let rows = c.query(
        "SELECT hash FROM events WHERE act = $1 AND seq = $2",
        &[&act.as_bytes().as_slice(), &(seq as i64)],
    );
    rows[0].get::<_, Vec<u8>>(0).try_into().unwrap()
}

fn forge_insert(c: &postgres_raw::Client, r: &TraceRecord) {
    c.execute(
        "INSERT INTO events (id, act, seq, at, kind, public, sealed, prev_hash, hash)
         VALUES ((SELECT MAX(id) + 1 FROM events), $1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &r.act.as_bytes().as_slice(),
            &(r.seq as i64),
            &r.at.as_micros(),
            &r.kind,
            &r.public,
            &r.sealed,
            &r.prev_hash.as_slice(),
            &r.hash.as_slice(),
        ],
    )
    .unwrap();
}

#[test]
fn changed_content_time_or_sealed_bytes_are_detected() {
    for (seq, sql) in [
        (
            2,
            "UPDATE events SET public = public || ' '::bytea WHERE act = $1 AND seq = 2",
        ),
        (
            2,
            "UPDATE events SET at = at - 3600000000 WHERE act = $1 AND seq = 2",
        ),
        (
            3,
            "UPDATE events SET sealed = sealed || '\\x00'::bytea WHERE act = $1 AND seq = 3",
        ),
    ] {
        let s = setup();
        forger(&s.db.url).execute(sql, &[&s.act()]).unwrap();
        let p = s.problems();
        assert_eq!(
            p[0].0.as_deref(),
            Some(s.a.to_string().as_str()),
            "{sql}: {p:?}"
        );
        assert_eq!(p[0].1, Some(seq), "{sql}: {p:?}");
    }
}

#[test]
fn changed_event_with_recomputed_hash_is_detected() {
    let s = setup();
    let c = forger(&s.db.url);
    let r = &c.query(
        "SELECT at, kind, public, sealed, prev_hash FROM events WHERE act = $1 AND seq = 4",
        &[&s.act()],
    )[0];
    let at = r.get::<_, i64>(0) + 1_000_000;
    let prev: Vec<u8> = r.get(4);
    let hash = record_hash(
        s.a,
        4,
        Timestamp::from_micros(at),
        r.get::<_, &str>(1),
        r.get::<_, &[u8]>(2),
        r.get::<_, &[u8]>(3),
        &prev.try_into().unwrap(),
    );
    c.execute(
        "UPDATE events SET at = $2, hash = $3 WHERE act = $1 AND seq = 4",
        &[&s.act(), &at, &hash.as_slice()],
    )
    .unwrap();
    let p = s.problems();
    assert_eq!(p[0].1, Some(4), "{p:?}");
    assert!(
        p.iter()
            .any(|(_, seq, w)| *seq == Some(5) && w.contains("does not follow event #4")),
        "{p:?}"
    );
}

#[test]
fn inserted_event_is_detected() {
    let s = setup();
    let c = forger(&s.db.url);
    c.execute(
        "UPDATE events SET seq = seq + 1000 WHERE act = $1 AND seq >= 5",
        &[&s.act()],
    )
    .unwrap();
    c.execute(
        "UPDATE events SET seq = seq - 999 WHERE act = $1 AND seq > 1000",
        &[&s.act()],
    )
    .unwrap();
    let prev = stored_hash(&c, s.a, 4);
    let event = session::Event {
        at: Timestamp::from_micros(1_795_000_035_000_000),
        body: session::ActEvent::PhaseEntered {
            phase: session::Phase::Preparation,
        },
    };
    forge_insert(
        &c,
        &TraceRecord::build(s.a, 5, &prev, &event, &s.keys.data).unwrap(),
    );
    let p = s.problems();
    assert!(
        p.iter()
            .all(|(act, _, _)| act.as_deref() == Some(&s.a.to_string())),
        "{p:?}"
    );
    assert_eq!(p[0].1, Some(5), "{p:?}");
}

#[test]
fn reordered_events_are_detected() {
    let s = setup();
    let c = forger(&s.db.url);
    for sql in [
        "UPDATE events SET seq = 100 WHERE act = $1 AND seq = 4",
        "UPDATE events SET seq = 4 WHERE act = $1 AND seq = 5",
        "UPDATE events SET seq = 5 WHERE act = $1 AND seq = 100",
    ] {
        c.execute(sql, &[&s.act()]).unwrap();
    }
    let p = s.problems();
    assert_eq!(p[0].1, Some(4), "{p:?}");
}

#[test]
fn deleted_events_or_acts_are_detected() {
    // The middle, the most recent, the whole act.
    for (sql, seq) in [
        ("DELETE FROM events WHERE act = $1 AND seq = 3", Some(3)),
        (
            "DELETE FROM events WHERE act = $1 AND seq = (SELECT MAX(seq) FROM events WHERE act = $1)",
            None,
        ),
        ("DELETE FROM events WHERE act = $1", None),
    ] {
        let s = setup();
        forger(&s.db.url).execute(sql, &[&s.act()]).unwrap();
        let p = s.problems();
        assert_eq!(
            p[0].0.as_deref(),
            Some(s.a.to_string().as_str()),
            "{sql}: {p:?}"
        );
        if let Some(seq) = seq {
            assert_eq!(p[0].1, Some(seq), "{sql}: {p:?}");
        }
    }
}

#[test]
fn deleted_checkpoint_is_detected() {
    let s = setup();
    forger(&s.db.url).batch("DELETE FROM checkpoints WHERE no = 2");
    let p = s.problems();
    assert!(p[0].2.contains("missing"), "{p:?}");
}

#[test]
fn events_appended_without_a_signed_head_are_detected() {
    let s = setup();
    let c = forger(&s.db.url);
    let prev = stored_hash(&c, s.a, s.len);
    let event = session::Event {
        at: Timestamp::from_micros(1_795_000_999_000_000),
        body: session::ActEvent::PhaseEntered {
            phase: session::Phase::Preparation,
        },
    };
    forge_insert(
        &c,
        &TraceRecord::build(s.a, s.len + 1, &prev, &event, &s.keys.data).unwrap(),
    );
    let p = s.problems();
    assert_eq!(p[0].1, Some(s.len + 1), "{p:?}");
    assert!(p[0].2.contains("no signed checkpoint"), "{p:?}");
}

#[test]
fn checkpoints_resigned_with_another_key_are_detected() {
    let s = setup();
    let c = forger(&s.db.url);
    c.execute(
        "DELETE FROM events WHERE act = $1 AND seq = $2",
        &[&s.act(), &(s.len as i64)],
    )
    .unwrap();
    let new_head = stored_hash(&c, s.a, s.len - 1);
    let old = s.keys.reader(&s.db.url).checkpoints().unwrap();
    let mine = HeadSigner::generate().unwrap();
    c.batch("DELETE FROM checkpoints");
    let mut prev = [0u8; 32];
    for (i, cp) in old.iter().enumerate() {
        let heads: Vec<Head> = cp
            .heads
            .iter()
            .filter(|h| !(h.act == s.a && h.seq == s.len))
            .copied()
            .chain((i == old.len() - 1).then_some(Head {
                act: s.a,
                seq: s.len - 1,
                hash: new_head,
            }))
            .collect();
        let signed = Checkpoint::sign(cp.no, cp.at, prev, heads, &mine);
        prev = signed.digest();
        c.execute(
            "INSERT INTO checkpoints VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &(signed.no as i64),
                &signed.at.as_micros(),
                &signed.prev.as_slice(),
                &encode_heads(&signed.heads),
                &signed.key_id.0.as_slice(),
                &signed.signature.as_slice(),
            ],
        )
        .unwrap();
    }
    let p = s.problems();
    assert!(
        p.iter()
            .any(|(_, _, w)| w.contains("not among the trusted keys")),
        "{p:?}"
    );
}

#[test]
fn a_reader_refuses_a_tampered_act() {
    let s = setup();
    forger(&s.db.url)
        .execute("DELETE FROM events WHERE act = $1 AND seq = 2", &[&s.act()])
        .unwrap();
    let reader = s.keys.reader(&s.db.url);
    let e = session::store::read_act(&reader, s.a).unwrap_err();
    assert!(matches!(e, session::Error::TraceIntegrity(_)), "{e}");
}
