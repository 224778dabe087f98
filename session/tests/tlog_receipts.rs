//! An act's receipt verifies offline with the log's key (and the
//! witnesses'), and fails after any one byte of it changes: an event, a
//! proof, the checkpoint or a signature.

mod common;

use common::store::*;
use common::tlog::TestWitness;
use session::tlog::Receipt;
use session::{Timestamp, TraceStore};

/// Flips each byte of `bytes` in turn (low bit) and checks that the
/// receipt no longer parses or verifies.
fn every_byte_matters(bytes: &[u8], log_key: &str, witnesses: &[&str]) {
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] ^= 0x01;
        let outcome = Receipt::from_bytes(&changed).and_then(|r| r.verify(log_key, witnesses));
        assert!(
            outcome.is_err(),
            "byte {i} ({:?}) changed and the receipt still verifies",
            bytes[i] as char
        );
    }
}

#[test]
fn a_receipt_verifies_offline_and_breaks_on_any_byte() {
    let t = TestTrace::new();
    full_act(&t.store);
    // A short act keeps the byte loop quick; every field kind is in it.
    let a = cancelled_act(&t.store);
    let checkpoint = t.store.checkpoint(Timestamp::now()).expect("checkpoint");
    let log_key = t.store.log_signer().expect("writer").verifier_key();
    let receipt = t.store.receipt(a, &checkpoint).expect("receipt");
    let len = t.store.records(a).unwrap().len();
    assert_eq!(receipt.events.len(), len);

    // Offline: only the bytes and the key.
    let bytes = receipt.to_bytes();
    let parsed = Receipt::from_bytes(&bytes).expect("parses");
    assert_eq!(parsed, receipt);
    let verified = parsed.verify(&log_key, &[]).expect("verifies");
    assert_eq!(verified.events, len as u64);
    assert_eq!(verified.size, t.store.tree_size().unwrap());

    every_byte_matters(&bytes, &log_key, &[]);

    // Another log's key, or a witness that did not cosign: refused.
    let other = session::tlog::LogSigner::new(
        session::tlog::DEFAULT_ORIGIN,
        &session::keys::HeadSigner::from_seed([9; 32]),
    )
    .unwrap()
    .verifier_key();
    assert!(parsed.verify(&other, &[]).is_err());
    let w = TestWitness::new("witness.example/w1", 3);
    assert!(matches!(
        parsed.verify(&log_key, &[&w.vkey()]),
        Err(session::Error::Tree(
            session::tlog::TreeError::MissingCosignature(_)
        ))
    ));
}

#[test]
fn a_cosigned_receipt_needs_each_witness_and_breaks_on_any_byte() {
    let t = TestTrace::new();
    let a = cancelled_act(&t.store);
    full_act(&t.store);
    let checkpoint = t.store.checkpoint(Timestamp::now()).unwrap();
    let log_key = t.store.log_signer().unwrap().verifier_key();
    let w1 = TestWitness::new("witness.example/w1", 3);
    let w2 = TestWitness::new("witness.example/w2", 4);
    let mut lines = w1.cosign(&checkpoint.note, 1_795_000_000);
    lines.extend(w2.cosign(&checkpoint.note, 1_795_000_001));
    let cosigned = checkpoint.with_cosignatures(&lines).unwrap();
    // Kept in the store, the cosigned copy is what the log hands out.
    t.store.add_cosigned(&cosigned).unwrap();
    assert_eq!(t.store.checkpoint(Timestamp::now()).unwrap(), cosigned);
    let foreign = session::tlog::LogSigner::new(
        session::tlog::DEFAULT_ORIGIN,
        &session::keys::HeadSigner::from_seed([9; 32]),
    )
    .unwrap()
    .sign(cosigned.size, cosigned.root, Timestamp::now())
    .unwrap();
    assert!(t.store.add_cosigned(&foreign).is_err());
    let receipt = t.store.receipt(a, &cosigned).unwrap();
    let (k1, k2) = (w1.vkey(), w2.vkey());
    receipt.verify(&log_key, &[&k1, &k2]).expect("cosigned");
    receipt.verify(&log_key, &[&k1]).expect("one witness asked");
    let bytes = receipt.to_bytes();
    every_byte_matters(&bytes, &log_key, &[&k1, &k2]);

    // A cosignature over another checkpoint does not count.
    let later = {
        full_act(&t.store);
        t.store.checkpoint(Timestamp::now()).unwrap()
    };
    let stale = checkpoint
        .with_cosignatures(&w1.cosign(&later.note, 1_795_000_002))
        .unwrap();
    let receipt = t.store.receipt(a, &stale).unwrap();
    assert!(receipt.verify(&log_key, &[&k1]).is_err());
}

#[test]
fn a_receipt_proves_only_events_within_its_checkpoint() {
    let t = TestTrace::new();
    let a = cancelled_act(&t.store);
    let early = t.store.checkpoint(Timestamp::now()).unwrap();
    let b = full_act(&t.store);
    assert!(t.store.receipt(a, &early).is_ok());
    assert!(matches!(
        t.store.receipt(b, &early),
        Err(session::Error::Tree(
            session::tlog::TreeError::EventNotInTree { .. }
        ))
    ));
    // The same size twice gives the stored checkpoint back.
    let c1 = t.store.checkpoint(Timestamp::now()).unwrap();
    let c2 = t.store.checkpoint(Timestamp::now()).unwrap();
    assert_eq!(c1, c2);
    assert_eq!(t.store.latest_checkpoint().unwrap(), Some(c1.clone()));
    // Consistency from the early checkpoint to the later one.
    let proof = t.store.consistency_proof(early.size, c1.size).unwrap();
    tlog_tiles::check_tree(&proof, c1.size, c1.root, early.size, early.root).unwrap();
    let report = t.verify();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.tree_checkpoints, 2);
}
