//! Refusals before any cosignature: a consistency proof with any byte
//! changed, a proof from size 0, the empty tree's hash, unknown origin, a
//! bad log signature. Each leaves the held checkpoint as it was.

mod common;

use common::{MemLog, NoteSigner, now, witness_key};
use witness::refusal::Malformation;
use witness::request::AddCheckpoint;
use witness::{Checkpoint, Refusal, Witness};

fn witness_at(log: &mut MemLog, size: u64) -> Witness {
    let mut w = Witness::new(witness_key(), &[log.config()]).unwrap();
    log.grow(size, "e");
    w.commit(w.add_checkpoint(&log.request(0), now()).unwrap());
    w
}

#[test]
fn any_changed_proof_byte_is_refused() {
    let mut log = MemLog::standard();
    let w = witness_at(&mut log, 13);
    log.grow(20, "e");
    let good = AddCheckpoint::parse(&log.request(13)).unwrap();
    assert!(!good.proof.is_empty());
    for line in 0..good.proof.len() {
        for byte in 0..32 {
            let mut bad = good.clone();
            bad.proof[line].0[byte] ^= 0x01;
            assert_eq!(
                w.add_checkpoint(&bad.to_bytes(), now()),
                Err(Refusal::BadProof),
                "line {line} byte {byte}"
            );
        }
    }
    // A line missing, a line too many.
    let mut short = good.clone();
    short.proof.pop();
    assert_eq!(
        w.add_checkpoint(&short.to_bytes(), now()),
        Err(Refusal::BadProof)
    );
    let mut long = good.clone();
    long.proof.push(long.proof[0]);
    assert_eq!(
        w.add_checkpoint(&long.to_bytes(), now()),
        Err(Refusal::BadProof)
    );
    assert_eq!(Refusal::BadProof.status(), 422);
    assert_eq!(w.held_size(&log.origin), 13);
    assert!(w.add_checkpoint(&good.to_bytes(), now()).is_ok());
}

#[test]
fn proof_from_zero_and_empty_tree() {
    let mut log = MemLog::standard();
    let w = Witness::new(witness_key(), &[log.config()]).unwrap();
    log.grow(4, "e");
    let with_proof = AddCheckpoint {
        old_size: 0,
        proof: vec![log.root(2)],
        note: log.checkpoint(),
    };
    assert_eq!(
        w.add_checkpoint(&with_proof.to_bytes(), now()),
        Err(Refusal::ProofFromZero)
    );
    // Size 0 with a root other than SHA-256("").
    let signer = log.signer();
    let text = Checkpoint::new(&log.origin, 0, log.root(4), "")
        .unwrap()
        .to_bytes();
    let mut note = signed_note::Note::new(&text, &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: note.to_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::EmptyTreeHash)
    );
}

#[test]
fn origin_and_signature_checks() {
    let mut log = MemLog::standard();
    let w = Witness::new(witness_key(), &[log.config()]).unwrap();
    log.grow(3, "e");
    // Unknown origin: 404.
    let mut other = MemLog::new("other.example/log", [0x44; 32]);
    other.grow(3, "e");
    assert_eq!(
        w.add_checkpoint(&other.request(0), now()),
        Err(Refusal::UnknownOrigin)
    );
    assert_eq!(Refusal::UnknownOrigin.status(), 404);
    // Signed by a key with the log's name but another key: ignored, so unsigned (403).
    let impostor = NoteSigner::new(&log.origin, [0x55; 32]);
    let text = signed_note::Note::from_bytes(&log.checkpoint())
        .unwrap()
        .text()
        .to_vec();
    let mut note = signed_note::Note::new(&text, &[]).unwrap();
    note.add_sigs(&[&impostor]).unwrap();
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: note.to_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::NotSigned)
    );
    // The log's key name and ID, a signature that does not verify: 403.
    let mut forged = log.checkpoint();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: forged,
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::BadSignature)
    );
    assert_eq!(Refusal::BadSignature.status(), 403);
    // The text changed under a valid signature: 403.
    let tampered = String::from_utf8(log.checkpoint())
        .unwrap()
        .replacen("\n3\n", "\n4\n", 1);
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: tampered.into_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::BadSignature)
    );
    // Not a note, not a checkpoint: 400.
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: b"hello\n".to_vec(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::Malformed(Malformation::Note))
    );
    let mut note = signed_note::Note::new(b"just text\n", &[]).unwrap();
    note.add_sigs(&[&log.signer()]).unwrap();
    let body = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: note.to_bytes(),
    };
    assert_eq!(
        w.add_checkpoint(&body.to_bytes(), now()),
        Err(Refusal::Malformed(Malformation::Checkpoint))
    );
}
