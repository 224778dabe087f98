//! A sealed blob is bound to its event: two events of one act recorded at
//! the same instant (the three events opening an act share their time)
//! cannot have their sealed blobs swapped.

mod common;

use session::act::{Act, ActKind, NewAct};
use session::keys::DataKey;
use session::trace::{TraceRecord, genesis};
use session::{ActId, Error, Timestamp};

#[test]
fn swapped_sealed_blobs_fail_to_open() {
    let key = DataKey::from_bytes([7; 32]);
    let new = NewAct {
        kind: ActKind::Teleconsultation,
        requester: common::requester(),
        expert: None,
        patient: common::patient("dossier-fictif-0042"),
        patient_present: true,
        expertise: None,
    };
    let (act, events) = Act::open(ActId::random(), new, Timestamp::from_micros(5)).unwrap();
    assert!(events.len() >= 3 && events.iter().all(|e| e.at == events[0].at));
    let mut prev = genesis(act.id);
    let mut records = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let r = TraceRecord::build(act.id, i as u64 + 1, &prev, e, &key).unwrap();
        prev = r.hash;
        records.push(r);
    }
    let keys = std::slice::from_ref(&key);
    // Both registrations hold a sealed identity.
    let (a, b) = (&records[1], &records[2]);
    assert!(!a.sealed.is_empty() && !b.sealed.is_empty());
    assert_eq!(a.open(keys).unwrap(), events[1]);
    assert_eq!(b.open(keys).unwrap(), events[2]);

    let mut a2 = a.clone();
    let mut b2 = b.clone();
    std::mem::swap(&mut a2.sealed, &mut b2.sealed);
    assert!(
        matches!(a2.open(keys), Err(Error::Unseal)),
        "{:?}",
        a2.open(keys)
    );
    assert!(
        matches!(b2.open(keys), Err(Error::Unseal)),
        "{:?}",
        b2.open(keys)
    );
}
