//! The Merkle tree on PostgreSQL proves what the SQLite store's proves:
//! an act's receipt verifies offline with the log's key, inclusion and
//! consistency proofs check against signed roots, a cosigned copy of a
//! checkpoint is stored only if its root is the tree's.

mod common;

use common::*;
use session::tlog::leaf_hash;
use session::{Timestamp, TraceStore};

#[test]
fn receipts_and_proofs_check() {
    let db = TestDb::new();
    let keys = Keys::new();
    let store = keys.writer(&db.url);
    let a = full_act(&store);
    let first = store.checkpoint(Timestamp::now()).unwrap();
    // No growth, no new checkpoint.
    assert_eq!(store.checkpoint(Timestamp::now()).unwrap(), first);
    assert_eq!(store.latest_checkpoint().unwrap(), Some(first.clone()));
    cancelled_act(&store);
    let second = store.checkpoint(Timestamp::now()).unwrap();
    assert!(second.size > first.size);

    let log_key = store.log_signer().unwrap().verifier_key();
    let receipt = store.receipt(a, &first).unwrap();
    let verified = receipt.verify(&log_key, &[]).expect("the receipt verifies");
    assert_eq!(verified.act, a);
    let records = store.records(a).unwrap();
    assert_eq!(receipt.events.len(), records.len());

    // Inclusion of the act's last event in the second tree.
    let last = records.last().unwrap();
    let leaf = store.event_leaf(a, last.seq).unwrap().expect("in the tree");
    let proof = store.inclusion_proof(leaf, second.size).unwrap();
    tlog_tiles::check_record(
        &proof,
        second.size,
        second.root,
        leaf,
        leaf_hash(session::tlog::LeafKind::Event, &last.hash),
    )
    .expect("inclusion checks");
    assert_eq!(store.tree_root(second.size).unwrap(), second.root);
    // The second tree extends the first.
    let proof = store.consistency_proof(first.size, second.size).unwrap();
    tlog_tiles::check_tree(&proof, second.size, second.root, first.size, first.root)
        .expect("consistency checks");
    assert!(store.inclusion_proof(0, second.size + 1).is_err());

    // A cosigned copy is kept; a checkpoint of another tree is refused.
    store.add_cosigned(&first).unwrap();
    let report = keys.verify(&store);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.tree_checkpoints, 3);
    let other_db = TestDb::new();
    let other = Keys::new().writer(&other_db.url);
    let e = other.add_cosigned(&first).unwrap_err();
    assert!(
        e.to_string().contains("signature") || e.to_string().contains("note"),
        "{e}"
    );
}
