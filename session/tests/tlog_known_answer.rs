//! The worked example of the Merkle tree in `docs/TRACE_FORMAT.md` ("The
//! Merkle tree, its checkpoints and receipts"): the leaves of the two
//! records of the trace's worked example and of an access entry, the
//! roots, the signed checkpoint and the act's receipt, byte for byte. The
//! blocks marked `kat=NAME` are read from the document, so the document
//! and the code cannot drift apart. `KAT_PRINT=1` prints what the code
//! computes, to write the document.

use std::collections::BTreeMap;
use std::str::FromStr;

use session::ActId;
use session::keys::HeadSigner;
use session::timestamp::Timestamp;
use session::tlog::tree::{rebuild, root_of};
use session::tlog::{DEFAULT_ORIGIN, LeafKind, LogSigner, Receipt, ReceiptEvent, leaf_hash};
use sha2::{Digest, Sha256};

const DOC: &str = include_str!("../../docs/TRACE_FORMAT.md");

/// The document's `kat=NAME` blocks, each as its lines.
fn blocks() -> BTreeMap<String, Vec<String>> {
    let mut blocks = BTreeMap::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in DOC.lines() {
        match open.take() {
            Some((name, lines)) if line.trim_start().starts_with("```") => {
                blocks.insert(name, lines);
            }
            Some((name, mut lines)) => {
                lines.push(line.to_string());
                open = Some((name, lines));
            }
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```")
                    && let Some(name) = info.split_whitespace().find_map(|w| w.strip_prefix("kat="))
                {
                    open = Some((name.to_string(), Vec::new()));
                }
            }
        }
    }
    blocks
}

struct Kat {
    blocks: BTreeMap<String, Vec<String>>,
    print: bool,
}

impl Kat {
    fn new() -> Kat {
        Kat {
            blocks: blocks(),
            print: std::env::var_os("KAT_PRINT").is_some(),
        }
    }

    fn lines(&self, name: &str) -> Option<&Vec<String>> {
        self.blocks.get(name)
    }

    /// A hex block: each line's digits before any `#`, joined.
    fn hex(&self, name: &str) -> Vec<u8> {
        let lines = self
            .lines(name)
            .unwrap_or_else(|| panic!("no block kat={name}"));
        let digits: String = lines
            .iter()
            .map(|l| {
                l.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<String>()
            })
            .collect();
        hex::decode(digits).unwrap_or_else(|e| panic!("kat={name}: {e}"))
    }

    /// A text block, every line ending in a newline.
    fn text(&self, name: &str) -> Vec<u8> {
        let lines = self
            .lines(name)
            .unwrap_or_else(|| panic!("no block kat={name}"));
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect()
    }

    /// Checks computed bytes against the hex block `name`.
    fn check_hex(&self, name: &str, computed: &[u8]) {
        if self.print {
            println!("kat={name}\n{}\n", hex::encode(computed));
            return;
        }
        assert_eq!(
            hex::encode(self.hex(name)),
            hex::encode(computed),
            "kat={name}"
        );
    }

    /// Checks computed text against the text block `name`.
    fn check_text(&self, name: &str, computed: &[u8]) {
        if self.print {
            println!("kat={name}\n{}", String::from_utf8_lossy(computed));
            return;
        }
        assert_eq!(
            String::from_utf8_lossy(&self.text(name)),
            String::from_utf8_lossy(computed),
            "kat={name}"
        );
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn act() -> ActId {
    ActId::from_str("00112233-4455-6677-8899-aabbccddeeff").unwrap()
}

/// The two records of the trace's worked example, from the document.
fn records(kat: &Kat) -> [ReceiptEvent; 2] {
    let at = Timestamp::from_micros(1_795_000_000_000_000);
    let one = |l: Vec<u8>| l.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(l);
    let r1 = ReceiptEvent {
        seq: 1,
        leaf: 0,
        at,
        kind: "requested".into(),
        public: one(kat.text("record-1-public")),
        sealed: Vec::new(),
        prev_hash: kat.hex("genesis").try_into().unwrap(),
        proof: Vec::new(),
    };
    let r2 = ReceiptEvent {
        seq: 2,
        leaf: 1,
        at,
        kind: "participant_registered".into(),
        public: one(kat.text("record-2-public")),
        sealed: kat.hex("record-2-sealed"),
        prev_hash: kat.hex("record-1-hash").try_into().unwrap(),
        proof: Vec::new(),
    };
    assert_eq!(r1.record_hash(act()).to_vec(), kat.hex("record-1-hash"));
    assert_eq!(r2.record_hash(act()).to_vec(), kat.hex("record-2-hash"));
    [r1, r2]
}

#[test]
fn the_tree_checkpoint_and_receipt_are_the_documented_bytes() {
    let kat = Kat::new();
    let [mut r1, mut r2] = records(&kat);
    let (h1, h2) = (r1.record_hash(act()), r2.record_hash(act()));

    // Leaves: SHA-256(0x00 || "event" NUL || record hash).
    let leaf1_input = [&[0u8][..], b"event\0", &h1].concat();
    kat.check_hex("tree-leaf-1-input", &leaf1_input);
    let l1 = leaf_hash(LeafKind::Event, &h1);
    assert_eq!(l1.0, sha256(&[&leaf1_input]));
    kat.check_hex("tree-leaf-1", &l1.0);
    let l2 = leaf_hash(LeafKind::Event, &h2);
    kat.check_hex("tree-leaf-2", &l2.0);
    let access = [0x11u8; 32];
    let la_input = [&[0u8][..], b"access\0", &access].concat();
    kat.check_hex("tree-leaf-access-input", &la_input);
    let la = leaf_hash(LeafKind::Access, &access);
    assert_eq!(la.0, sha256(&[&la_input]));
    kat.check_hex("tree-leaf-access", &la.0);

    // Roots: SHA-256(0x01 || left || right).
    let stored = rebuild(&[l1, l2, la]).unwrap();
    let root2 = root_of(&stored, 2).unwrap();
    let root2_input = [&[1u8][..], &l1.0, &l2.0].concat();
    kat.check_hex("tree-root-2-input", &root2_input);
    assert_eq!(root2.0, sha256(&[&root2_input]));
    kat.check_hex("tree-root-2", &root2.0);
    let root3 = root_of(&stored, 3).unwrap();
    assert_eq!(root3.0, sha256(&[&[1u8], &root2.0, &la.0]));
    kat.check_hex("tree-root-3", &root3.0);

    // The checkpoint of the tree of the two records, signed by the
    // worked example's key (seed 32 bytes of 0x07) under the default
    // origin.
    let signer = LogSigner::new(DEFAULT_ORIGIN, &HeadSigner::from_seed([7; 32])).unwrap();
    kat.check_text(
        "tree-verifier-key",
        format!("{}\n", signer.verifier_key()).as_bytes(),
    );
    let checkpoint = signer
        .sign(2, root2, Timestamp::from_micros(1_795_000_000_002_000))
        .unwrap();
    let text = tlog_tiles::Checkpoint::new(DEFAULT_ORIGIN, 2, root2, "")
        .unwrap()
        .to_bytes();
    kat.check_text("tree-checkpoint-text", &text);
    kat.check_text("tree-checkpoint-note", &checkpoint.note);

    // The act's receipt against it: each record with its leaf and proof.
    r1.proof = vec![l2];
    r2.proof = vec![l1];
    let receipt = Receipt {
        act: act(),
        events: vec![r1, r2],
        checkpoint: checkpoint.note.clone(),
    };
    kat.check_text("tree-receipt", &receipt.to_bytes());
    if !kat.print {
        let parsed = Receipt::from_bytes(&kat.text("tree-receipt")).unwrap();
        let verified = parsed.verify(&signer.verifier_key(), &[]).unwrap();
        assert_eq!((verified.events, verified.size), (2, 2));
    }
}
