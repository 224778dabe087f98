//! Property: whatever the sequence of appends (trace events in commits of
//! several, access entries one by one), every inclusion proof and every
//! consistency proof the store gives checks against the roots it gave
//! before, and those roots never change as the tree grows.

mod common;

use common::store::*;
use proptest::prelude::*;
use session::Timestamp;
use session::access::AccessStore;
use tlog_tiles::{check_record, check_tree};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_proof_checks_whatever_the_appends(ops in prop::collection::vec(any::<bool>(), 1..10)) {
        let t = TestTrace::new();
        let access = AccessStore::open(
            &t.data.db_path(),
            t.keys.signer.clone(),
            vec![t.keys.data.clone()],
        )
        .unwrap();
        // (size, root) after each append.
        let mut seen = vec![(0u64, t.store.tree_root(0).unwrap())];
        for op in ops {
            if op {
                cancelled_act(&t.store);
            } else {
                access.record("cli:auditor", "trace_list", None, "ok", Timestamp::now()).unwrap();
            }
            let size = t.store.tree_size().unwrap();
            seen.push((size, t.store.tree_root(size).unwrap()));
        }
        let leaves = leaf_hashes(&t.data);
        prop_assert_eq!(leaves.len() as u64, seen.last().unwrap().0);
        for &(size, root) in &seen {
            // The root of an earlier size is the same today.
            prop_assert_eq!(t.store.tree_root(size).unwrap(), root);
            for (index, leaf) in leaves.iter().enumerate().take(size as usize) {
                let proof = t.store.inclusion_proof(index as u64, size).unwrap();
                prop_assert!(check_record(&proof, size, root, index as u64, *leaf).is_ok());
            }
            // From the empty tree there is no proof to check (RFC 6962).
            for &(old, old_root) in seen.iter().filter(|(old, _)| *old >= 1 && *old <= size) {
                let proof = t.store.consistency_proof(old, size).unwrap();
                prop_assert!(check_tree(&proof, size, root, old, old_root).is_ok());
            }
        }
        prop_assert!(t.verify().is_intact());
    }

    /// The same on the tree alone, for larger and odder sizes.
    #[test]
    fn rebuilt_trees_prove_every_pair(n in 1usize..90, seed in any::<u8>()) {
        let leaves: Vec<tlog_tiles::Hash> =
            (0..n).map(|i| tlog_tiles::record_hash(&[seed, i as u8, (i >> 8) as u8])).collect();
        let stored = session::tlog::tree::rebuild(&leaves).unwrap();
        let reader = Mem(&stored);
        for size in 1..=n as u64 {
            let root = session::tlog::tree::root_of(&stored, size).unwrap();
            for index in 0..size {
                let proof = tlog_tiles::prove_record(size, index, &reader).unwrap();
                prop_assert!(check_record(&proof, size, root, index, leaves[index as usize]).is_ok());
            }
            for old in 1..=size {
                let old_root = session::tlog::tree::root_of(&stored, old).unwrap();
                let proof = tlog_tiles::prove_tree(size, old, &reader).unwrap();
                prop_assert!(check_tree(&proof, size, root, old, old_root).is_ok());
            }
        }
    }
}

struct Mem<'a>(&'a [tlog_tiles::Hash]);

impl tlog_tiles::HashReader for Mem<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

/// The leaf hashes in tree order, read from the store's leaves table.
fn leaf_hashes(data: &session::DataDir) -> Vec<tlog_tiles::Hash> {
    let c = rusqlite::Connection::open(data.db_path()).unwrap();
    let mut stmt = c
        .prepare(
            "SELECT l.kind, COALESCE(e.hash, a.hash) FROM tlog_leaves l
             LEFT JOIN events e ON l.kind = 0 AND e.id = l.item
             LEFT JOIN access_log a ON l.kind = 1 AND a.seq = l.item
             ORDER BY l.idx",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let kind: i64 = r.get(0)?;
        let hash: Vec<u8> = r.get(1)?;
        let kind = if kind == 0 {
            session::tlog::LeafKind::Event
        } else {
            session::tlog::LeafKind::Access
        };
        Ok(session::tlog::leaf_hash(kind, &hash.try_into().unwrap()))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}
