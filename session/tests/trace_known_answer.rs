//! The worked example of `docs/TRACE_FORMAT.md` ("two records of one act,
//! byte by byte") is what the code does: the genesis hash, each record's
//! public JSON, the bytes its hash covers and the hash itself, the chain
//! link from record 2 to record 1, the sealed blob of record 2 (its
//! header, associated data and ciphertext), and the signed checkpoint of
//! the commit that wrote both (its heads, digest and signature); the
//! public JSON of each téléexpertise and exchange event kind, of the
//! conclusion (with its author, and as written before authors were) and
//! the chat digest; a document's sealed content and name. The expected values are
//! read
//! from the document's fenced blocks marked `kat=NAME`, so the document and
//! the code cannot drift apart: change either and this test fails.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use session::Sha256 as Digest256;
use session::act::ActKind;
use session::conclusion::{Conclusion, Prescription, PrescriptionKind};
use session::document::{DocumentType, Upload};
use session::event::{ActEvent, Event};
use session::expertise::ExpertAnswer;
use session::keys::{DataKey, HeadSigner, TrustedKeys};
use session::participant::{Identity, Participant, Role};
use session::trace::document::{
    DOCUMENT_VERSION, document_aad, name_aad, open_document, open_name, seal_document,
};
use session::trace::seal::{EVENT_VERSION, SealedAt, event_aad};
use session::trace::{
    Checkpoint, Head, PreparedEvent, TraceRecord, encode_heads, genesis, record_hash,
};
use session::vocab::Urgency;
use session::{ActId, MessageId, ParticipantId, Pii, ShareId, Timestamp};

const DOC: &str = include_str!("../../docs/TRACE_FORMAT.md");

/// The act, time and events of the worked example, built with the code's
/// own types.
const ACT: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];
/// 2026-11-18T11:06:40Z.
const AT_MICROS: i64 = 1_795_000_000_000_000;

fn act() -> ActId {
    ActId::from_bytes(ACT)
}

fn at() -> Timestamp {
    Timestamp::from_micros(AT_MICROS)
}

/// Record 1: the act's request; nothing personal.
fn requested() -> Event {
    Event {
        at: at(),
        body: ActEvent::Requested {
            kind: ActKind::Teleconsultation,
            patient_present: true,
        },
    }
}

/// Record 2: the patient (p2) registered under a sealed alias.
fn patient_registered() -> Event {
    Event {
        at: at(),
        body: ActEvent::ParticipantRegistered(Participant {
            id: ParticipantId(2),
            role: Role::Patient,
            identity: Identity::Patient {
                alias: Pii::new("dossier-0001".parse().expect("a valid alias")),
            },
        }),
    }
}

/// The document's fenced blocks whose info string holds `kat=NAME`, by
/// name, each as its lines.
struct Kat(BTreeMap<String, Vec<String>>);

impl Kat {
    fn from_doc() -> Kat {
        let mut blocks = BTreeMap::new();
        let mut open: Option<(String, Vec<String>)> = None;
        for line in DOC.lines() {
            match open.take() {
                Some((name, lines)) if line.trim_start().starts_with("```") => {
                    assert!(
                        blocks.insert(name.clone(), lines).is_none(),
                        "two blocks named kat={name}"
                    );
                }
                Some((name, mut lines)) => {
                    lines.push(line.to_string());
                    open = Some((name, lines));
                }
                None => {
                    if let Some(info) = line.trim_start().strip_prefix("```")
                        && let Some(name) =
                            info.split_whitespace().find_map(|w| w.strip_prefix("kat="))
                    {
                        open = Some((name.to_string(), Vec::new()));
                    }
                }
            }
        }
        assert!(open.is_none(), "a kat block is not closed");
        Kat(blocks)
    }

    fn lines(&self, name: &str) -> &[String] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("docs/TRACE_FORMAT.md has no block kat={name}"))
    }

    /// A text block: its one line, byte for byte.
    fn text(&self, name: &str) -> Vec<u8> {
        match self.lines(name) {
            [line] => line.as_bytes().to_vec(),
            other => panic!("kat={name} should be one line, is {}", other.len()),
        }
    }

    /// A hex block: on each line, the hex digits before `#`, joined.
    fn hex(&self, name: &str) -> Vec<u8> {
        let digits: String = self
            .lines(name)
            .iter()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        hex::decode(&digits).unwrap_or_else(|e| panic!("kat={name} is not hex: {e}"))
    }

    fn hash(&self, name: &str) -> [u8; 32] {
        self.hex(name)
            .try_into()
            .unwrap_or_else(|b: Vec<u8>| panic!("kat={name} is {} bytes, not 32", b.len()))
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What was computed equals what the document says; both shown as hex
/// when they differ.
#[track_caller]
fn assert_bytes(what: &str, computed: &[u8], documented: &[u8]) {
    assert!(
        computed == documented,
        "{what}: computed\n{}\nbut the document says\n{}",
        hex::encode(computed),
        hex::encode(documented)
    );
}

#[test]
fn the_genesis_hash_is_the_documented_one() {
    let kat = Kat::from_doc();
    let documented = kat.hash("genesis");
    assert_bytes("genesis hash", &genesis(act()), &documented);
    // The bytes the document says are hashed are the ones the code hashes.
    assert_bytes(
        "SHA-256 of the documented genesis input",
        &sha256(&kat.hex("genesis-input")),
        &documented,
    );
    assert!(kat.hex("genesis-input").ends_with(&ACT));
}

#[test]
fn record_1_has_the_documented_public_bytes_and_hash() {
    let kat = Kat::from_doc();
    let key = DataKey::from_bytes(kat.hex("data-key").try_into().expect("a 32-byte key"));
    let r1 = TraceRecord::build(act(), 1, &genesis(act()), &requested(), &key).unwrap();
    assert_eq!(r1.kind, "requested");
    assert_eq!(r1.at, at());
    assert_bytes("record 1 public", &r1.public, &kat.text("record-1-public"));
    assert!(r1.sealed.is_empty(), "nothing personal, nothing sealed");
    assert_bytes("record 1 prev_hash", &r1.prev_hash, &kat.hash("genesis"));
    let documented = kat.hash("record-1-hash");
    assert_bytes("record 1 hash", &r1.hash, &documented);
    assert_bytes("record 1 recomputed", &r1.computed_hash(), &documented);

    let input = kat.hex("record-1-hash-input");
    assert_bytes(
        "SHA-256 of the documented record 1 input",
        &sha256(&input),
        &documented,
    );
    assert!(contains(&input, &r1.public));
    assert!(input.ends_with(&kat.hash("genesis")));
}

#[test]
fn record_2_is_sealed_as_documented() {
    let kat = Kat::from_doc();
    let key = DataKey::from_bytes(kat.hex("data-key").try_into().expect("a 32-byte key"));
    let keys = std::slice::from_ref(&key);
    let blob = kat.hex("record-2-sealed");
    let aad = kat.hex("record-2-aad");
    let plaintext = kat.text("record-2-plaintext");

    // The header: version, the key's id, the nonce.
    assert_eq!(blob[0], EVENT_VERSION);
    assert_bytes("data key id", &key.id().0, &blob[1..9]);
    let (nonce, sealed) = blob[9..].split_at(24);

    // The associated data the code builds for this event and field.
    let here = SealedAt {
        act: act(),
        seq: 2,
        at: at(),
        kind: "participant_registered",
    };
    assert_bytes(
        "record 2 associated data",
        &event_aad(&here, &["/identity/alias".to_string()]),
        &aad,
    );

    // XChaCha20-Poly1305 as documented, apart from the code: the
    // documented plaintext, key, nonce and associated data give the
    // documented ciphertext and tag, and back.
    let cipher = XChaCha20Poly1305::new(
        <&[u8; 32]>::try_from(kat.hex("data-key").as_slice())
            .unwrap()
            .into(),
    );
    let nonce = XNonce::from(<[u8; 24]>::try_from(nonce).unwrap());
    let encrypted = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .unwrap();
    assert_bytes("record 2 ciphertext and tag", &encrypted, sealed);
    let decrypted = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .unwrap();
    assert_bytes("record 2 plaintext", &decrypted, &plaintext);

    // The code seals the event into the documented public JSON and a blob
    // of the documented layout (its nonce is random, so its bytes differ).
    let r1 = TraceRecord::build(act(), 1, &genesis(act()), &requested(), &key).unwrap();
    let r2 = TraceRecord::build(act(), 2, &r1.hash, &patient_registered(), &key).unwrap();
    assert_eq!(r2.kind, "participant_registered");
    assert_bytes("record 2 public", &r2.public, &kat.text("record-2-public"));
    assert_eq!(r2.sealed.len(), blob.len());
    assert_bytes("record 2 blob header", &r2.sealed[..9], &blob[..9]);
    assert_eq!(r2.open(keys).unwrap(), patient_registered());

    // And the code opens the documented blob to the event.
    let documented = TraceRecord {
        sealed: blob.clone(),
        hash: kat.hash("record-2-hash"),
        ..r2
    };
    assert_eq!(documented.open(keys).unwrap(), patient_registered());
}

#[test]
fn record_2_hash_covers_the_documented_blob_and_links_to_record_1() {
    let kat = Kat::from_doc();
    let r1_hash = kat.hash("record-1-hash");
    let public = kat.text("record-2-public");
    let blob = kat.hex("record-2-sealed");
    let documented = kat.hash("record-2-hash");
    assert_bytes(
        "record 2 hash",
        &record_hash(
            act(),
            2,
            at(),
            "participant_registered",
            &public,
            &blob,
            &r1_hash,
        ),
        &documented,
    );
    let input = kat.hex("record-2-hash-input");
    assert_bytes(
        "SHA-256 of the documented record 2 input",
        &sha256(&input),
        &documented,
    );
    assert!(contains(&input, &public));
    assert!(contains(&input, &blob));
    // The chain link: record 2's prev_hash is record 1's hash, last.
    assert!(input.ends_with(&r1_hash));

    // Built by the code after record 1, record 2 carries that link.
    let key = DataKey::from_bytes(kat.hex("data-key").try_into().expect("a 32-byte key"));
    let r1 = TraceRecord::build(act(), 1, &genesis(act()), &requested(), &key).unwrap();
    let r2 = TraceRecord::build(act(), 2, &r1.hash, &patient_registered(), &key).unwrap();
    assert_bytes("record 2 prev_hash", &r2.prev_hash, &r1_hash);
    assert_eq!(r2.computed_hash(), r2.hash);
}

#[test]
fn checkpoint_1_signs_record_2_as_documented() {
    let kat = Kat::from_doc();
    let signer = HeadSigner::from_seed([0x07; 32]);
    assert_bytes(
        "signing public key",
        signer.public().as_bytes(),
        &kat.hex("signing-public-key"),
    );
    assert_bytes("signing key id", &signer.id().0, &kat.hex("signing-key-id"));

    let head = Head {
        act: act(),
        seq: 2,
        hash: kat.hash("record-2-hash"),
    };
    let c = Checkpoint::sign(
        1,
        Timestamp::from_micros(AT_MICROS + 1_000),
        [0; 32],
        vec![head],
        &signer,
    );
    assert_bytes(
        "checkpoint 1 heads",
        &encode_heads(&c.heads),
        &kat.hex("checkpoint-1-heads"),
    );
    let documented = kat.hash("checkpoint-1-digest");
    assert_bytes("checkpoint 1 digest", &c.digest(), &documented);
    let input = kat.hex("checkpoint-1-digest-input");
    assert_bytes(
        "SHA-256 of the documented checkpoint 1 input",
        &sha256(&input),
        &documented,
    );
    assert!(input.ends_with(&kat.hex("checkpoint-1-heads")));
    let signature = kat.hex("checkpoint-1-signature");
    assert_bytes("checkpoint 1 signature", &c.signature, &signature);
    // An auditor holding only the public key accepts it.
    let public = ed25519_dalek::VerifyingKey::from_bytes(
        &kat.hex("signing-public-key").try_into().expect("32 bytes"),
    )
    .expect("a valid public key");
    TrustedKeys::new([public])
        .verify(c.key_id, &documented, &c.signature)
        .expect("the documented signature verifies");
}

/// The documented example of each téléexpertise and exchange event, by
/// the name of its block, with the path of each value it seals.
fn expertise_and_exchange_events(kat: &Kat) -> Vec<(&'static str, ActEvent, Vec<&'static str>)> {
    let (p1, p2) = (ParticipantId(1), ParticipantId(2));
    let document = Digest256::from_bytes(kat.hash("document-sha256"));
    let share = ShareId::from_bytes(std::array::from_fn(|i| 0x10 * i as u8));
    let file = Digest256::from_bytes(std::array::from_fn(|i| i as u8));
    vec![
        (
            "expertise-requested-public",
            ActEvent::ExpertiseRequested {
                question: Pii::new("Avis sur une lesion cutanee ?".into()),
                urgency: Urgency::Urgent,
                respond_by: at().plus(Urgency::Urgent.response_delay()),
            },
            vec!["/question"],
        ),
        (
            "expert-answered-public",
            ActEvent::ExpertAnswered {
                by: p2,
                answer: ExpertAnswer::Declined {
                    reason: Pii::new("Hors de ma specialite".into()),
                },
            },
            vec!["/answer/reason"],
        ),
        (
            "attachment-added-public",
            ActEvent::AttachmentAdded {
                document,
                media_type: DocumentType::Pdf,
                size: kat.hex("document-content").len() as u64,
                name: Pii::new("compte-rendu.pdf".into()),
                by: p1,
            },
            vec!["/name"],
        ),
        (
            "review-started-public",
            ActEvent::ReviewStarted { by: p2 },
            vec![],
        ),
        (
            "chat-reported-public",
            ActEvent::ChatReported {
                message: MessageId::from_bytes(std::array::from_fn(|i| 0xf0 - i as u8)),
                sender: p1,
                reporter: p2,
                digest: Digest256::from_bytes(kat.hash("chat-digest")),
            },
            vec![],
        ),
        (
            "share-offered-public",
            ActEvent::ShareOffered {
                share,
                sender: p1,
                digest: file,
                media_type: Some(DocumentType::Png),
                size: 20 << 20,
                name: Pii::new("coupe-12.png".into()),
            },
            vec!["/name"],
        ),
        (
            "share-received-public",
            ActEvent::ShareReceived {
                share,
                by: p2,
                digest: file,
            },
            vec![],
        ),
        (
            "share-cancelled-public",
            ActEvent::ShareCancelled { share, by: p2 },
            vec![],
        ),
        (
            "screen-share-started-public",
            ActEvent::ScreenShareStarted { participant: p1 },
            vec![],
        ),
        (
            "screen-share-stopped-public",
            ActEvent::ScreenShareStopped { participant: p1 },
            vec![],
        ),
        (
            "concluded-public",
            ActEvent::Concluded(concluded(Some(p2))),
            vec!["/prescriptions/0/text", "/report"],
        ),
    ]
}

/// The documented conclusion: its report and one prescription, by `by`.
fn concluded(by: Option<ParticipantId>) -> Conclusion {
    Conclusion {
        report: Pii::new("Naevus benin ; surveillance annuelle.".into()),
        prescriptions: vec![Prescription {
            kind: PrescriptionKind::Examination,
            text: Pii::new("Dermatoscopie dans un an".into()),
        }],
        by,
    }
}

#[test]
fn expertise_and_exchange_events_have_the_documented_public_json() {
    let kat = Kat::from_doc();
    let key = DataKey::from_bytes(kat.hex("data-key").try_into().expect("a 32-byte key"));
    let keys = std::slice::from_ref(&key);
    for (seq, (name, body, sealed)) in (3..).zip(expertise_and_exchange_events(&kat)) {
        let event = Event { at: at(), body };
        let prepared = PreparedEvent::seal(act(), seq, &event, &key).unwrap();
        assert_bytes(name, &prepared.public, &kat.text(name));
        assert_eq!(
            format!("{}-public", prepared.kind.replace('_', "-")),
            name,
            "the block is named after the kind"
        );
        // What is sealed, and where: marker n at the n-th path.
        assert_eq!(prepared.sealed.is_empty(), sealed.is_empty(), "{name}");
        let public: serde_json::Value = serde_json::from_slice(&prepared.public).unwrap();
        for (n, path) in sealed.iter().enumerate() {
            assert_eq!(
                public.pointer(path),
                Some(&serde_json::json!({ "$sealed": n })),
                "{name}: {path}"
            );
        }
        let record = prepared.chain(act(), &[0; 32]);
        assert_eq!(record.open(keys).unwrap(), event, "{name}");
    }
}

/// A `concluded` event written before authors were recorded has no `by`:
/// the code reads it with no author and, sealing the same event, writes
/// the same public bytes, so the old records' hashes still hold.
#[test]
fn a_conclusion_without_its_author_keeps_the_documented_public_json() {
    let kat = Kat::from_doc();
    let key = DataKey::from_bytes(kat.hex("data-key").try_into().expect("a 32-byte key"));
    let event = Event {
        at: at(),
        body: ActEvent::Concluded(concluded(None)),
    };
    let prepared = PreparedEvent::seal(act(), 3, &event, &key).unwrap();
    let old = kat.text("concluded-before-authors-public");
    assert_bytes("concluded before authors", &prepared.public, &old);
    let record = prepared.chain(act(), &[0; 32]);
    assert_eq!(record.computed_hash(), record.hash);
    let opened = record.open(std::slice::from_ref(&key)).unwrap();
    assert_eq!(opened, event);
    let ActEvent::Concluded(c) = opened.body else {
        unreachable!()
    };
    assert_eq!(c.by, None);
}

#[test]
fn the_chat_digest_is_the_documented_one() {
    let kat = Kat::from_doc();
    let input = kat.hex("chat-digest-input");
    assert_eq!(&input[16..], "Bonjour, voici le cliché.".as_bytes());
    assert_bytes(
        "chat digest",
        Digest256::digest(&input).as_bytes(),
        &kat.hash("chat-digest"),
    );
}

#[test]
fn a_document_is_sealed_as_documented() {
    let kat = Kat::from_doc();
    let key_bytes: [u8; 32] = kat.hex("data-key").try_into().expect("a 32-byte key");
    let key = DataKey::from_bytes(key_bytes);
    let keys = std::slice::from_ref(&key);
    let content = kat.hex("document-content");
    let upload = Upload::inspect(content.clone()).expect("a PDF");
    assert_eq!(upload.media_type(), DocumentType::Pdf);
    let sha256 = upload.sha256();
    assert_bytes(
        "document sha256",
        sha256.as_bytes(),
        &kat.hash("document-sha256"),
    );
    assert_bytes(
        "document aad",
        &document_aad(act(), &sha256),
        &kat.hex("document-aad"),
    );
    assert_bytes(
        "name aad",
        &name_aad(act(), &sha256),
        &kat.hex("document-name-aad"),
    );

    let cipher = XChaCha20Poly1305::new(&key_bytes.into());
    for (blob, plain, aad) in [
        (
            kat.hex("document-sealed"),
            content.clone(),
            kat.hex("document-aad"),
        ),
        (
            kat.hex("document-name-sealed"),
            b"compte-rendu.pdf".to_vec(),
            kat.hex("document-name-aad"),
        ),
    ] {
        // The header, then XChaCha20-Poly1305 as documented, apart from
        // the code.
        assert_eq!(blob[0], DOCUMENT_VERSION);
        assert_bytes("data key id", &key.id().0, &blob[1..9]);
        let nonce = XNonce::from(<[u8; 24]>::try_from(&blob[9..33]).unwrap());
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_bytes("ciphertext and tag", &sealed, &blob[33..]);
    }
    // The code opens the documented blobs, and seals in their layout.
    let blob = kat.hex("document-sealed");
    assert_eq!(open_document(act(), &sha256, &blob, keys).unwrap(), content);
    assert_eq!(
        open_name(act(), &sha256, &kat.hex("document-name-sealed"), keys)
            .unwrap()
            .expose(),
        "compte-rendu.pdf"
    );
    let sealed = seal_document(act(), &upload, &key).unwrap();
    assert_eq!(sealed.len(), blob.len());
    assert_bytes("document blob header", &sealed[..9], &blob[..9]);
    assert_eq!(
        open_document(act(), &sha256, &sealed, keys).unwrap(),
        content
    );
}
