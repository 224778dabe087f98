//! Known answers: the specifications' own examples (signed-note,
//! tlog-cosignature, tlog-witness, RFC 6962's empty tree), and the `kat=`
//! blocks of docs/WITNESS.md, byte for byte, through the code.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, UNIX_EPOCH};

use common::{MemLog, NoteSigner, Server, post_raw};
use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::Checkpoint;
use witness::cosignature::signed_message;
use witness::request::AddCheckpoint;
use witness::store::{CHECKPOINTS_DIR, origin_hash};
use witness::{EMPTY_HASH, Refusal, Witness, WitnessKey};

/// The `kat=` blocks of docs/WITNESS.md: name → exact bytes.
fn doc_blocks() -> BTreeMap<String, Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/WITNESS.md");
    let doc = fs::read_to_string(path).unwrap();
    let mut blocks = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("```text kat=") {
            let mut bytes = Vec::new();
            for l in lines.by_ref().take_while(|l| *l != "```") {
                bytes.extend_from_slice(l.as_bytes());
                bytes.push(b'\n');
            }
            blocks.insert(name.to_owned(), bytes);
        }
    }
    blocks
}

fn at(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The documented example: witness seed 0x00..0x1f, log seed 0x20..0x3f,
/// leaves `leaf-0`…`leaf-6`.
fn kat_setup() -> (WitnessKey, MemLog) {
    let seed = |from: u8| std::array::from_fn::<u8, 32, _>(|i| from + i as u8);
    let key = WitnessKey::from_seed("witness.example/w1", seed(0)).unwrap();
    let log = MemLog::new(common::ORIGIN, seed(32));
    (key, log)
}

#[test]
fn witness_doc_known_answers() {
    let kat = doc_blocks();
    let text = |k: &str| String::from_utf8(kat[k].clone()).unwrap();
    let (key, mut log) = kat_setup();
    assert_eq!(format!("{}\n", key.verifier_key()), text("witness-vkey"));
    assert_eq!(format!("{}\n", log.signer().vkey()), text("log-vkey"));

    // The key file parses to the same key.
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("witness.key");
    fs::write(&key_path, &kat["witness-key-file"]).unwrap();
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        WitnessKey::load(dir.path()).unwrap().verifier_key(),
        key.verifier_key()
    );

    for i in 0..3 {
        log.append(format!("leaf-{i}").as_bytes());
    }
    assert_eq!(log.request(0), kat["request-1"]);
    let note1 = Note::from_bytes(&AddCheckpoint::parse(&kat["request-1"]).unwrap().note).unwrap();
    assert_eq!(
        signed_message(note1.text(), 1_679_315_147),
        kat["signed-message-1"]
    );

    let mut w = Witness::new(key, &[log.config()]).unwrap();
    let accepted = w
        .add_checkpoint(&kat["request-1"], at(1_679_315_147))
        .unwrap();
    assert_eq!(accepted.cosignature, kat["answer-1"]);
    w.commit(accepted);

    for i in 3..7 {
        log.append(format!("leaf-{i}").as_bytes());
    }
    assert_eq!(log.request(3), kat["request-2"]);
    let accepted = w
        .add_checkpoint(&kat["request-2"], at(1_679_315_200))
        .unwrap();
    assert_eq!(accepted.cosignature, kat["answer-2"]);
    assert_eq!(accepted.held.note, kat["held-file"]);
    w.commit(accepted);
    assert_eq!(log.request(0), kat["stale-request"]);
    assert_eq!(
        w.add_checkpoint(&kat["stale-request"], at(1_679_315_201)),
        Err(Refusal::Conflict { held: 7 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_doc_files_and_http_answers() {
    let kat = doc_blocks();
    let (_, log) = kat_setup();
    // A data directory made of the documented files alone.
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("witness.key");
    fs::write(&key_path, &kat["witness-key-file"]).unwrap();
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir(dir.path().join(CHECKPOINTS_DIR)).unwrap();
    fs::write(
        dir.path()
            .join(CHECKPOINTS_DIR)
            .join(origin_hash(&log.origin)),
        &kat["held-file"],
    )
    .unwrap();
    let server = Server::start(dir.path(), &[log.config()]).await;
    assert_eq!(server.state.held_size(&log.origin), 7);
    let held = reqwest::get(format!(
        "{}/{}/checkpoint",
        server.url,
        origin_hash(&log.origin)
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    assert_eq!(&held[..], &kat["held-file"][..]);
    let (status, content_type, body) = post_raw(&server.url, kat["stale-request"].clone()).await;
    assert_eq!((status, content_type.as_str()), (409, "text/x.tlog.size"));
    assert_eq!(body, kat["answer-409"]);
    server.stop().await;
}

/// c2sp.org/signed-note, "Verifier keys", example.
#[test]
fn signed_note_spec_example() {
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let note = Note::from_bytes(note.as_bytes()).unwrap();
    let list = VerifierList::new(vec![Box::new(StandardVerifier::new(vkey).unwrap())]);
    assert_eq!(note.verify(&list).unwrap().0.len(), 1);
    // Our note signer computes key IDs and vkeys the same way.
    let signer = NoteSigner::new("example.com/foo", [0; 32]);
    assert!(StandardVerifier::new(&signer.vkey()).is_ok());
}

/// c2sp.org/tlog-cosignature, "Ed25519 signed message", example.
#[test]
fn cosignature_spec_signed_message() {
    let checkpoint =
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_eq!(
        signed_message(checkpoint, 1_679_315_147),
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
}

const SPEC_REQUEST: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

/// c2sp.org/tlog-witness, `add-checkpoint` example request body: it parses
/// field by field and re-encodes to the same bytes; a witness that does not
/// witness that origin answers 404.
#[test]
fn witness_spec_example_request() {
    let req = AddCheckpoint::parse(SPEC_REQUEST.as_bytes()).unwrap();
    assert_eq!(req.old_size, 20_852_014);
    assert_eq!(req.proof.len(), 4);
    assert_eq!(
        req.proof[0].to_string(),
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
    );
    assert_eq!(req.to_bytes(), SPEC_REQUEST.as_bytes());
    let note = Note::from_bytes(&req.note).unwrap();
    let checkpoint = Checkpoint::from_bytes(note.text()).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20_852_163);
    assert_eq!(
        checkpoint.hash().to_string(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    let w = Witness::new(common::witness_key(), &[MemLog::standard().config()]).unwrap();
    assert_eq!(
        w.add_checkpoint(SPEC_REQUEST.as_bytes(), common::now()),
        Err(Refusal::UnknownOrigin)
    );
}

/// RFC 6962 §2.1: the empty tree's hash is SHA-256 of the empty string.
#[test]
fn empty_tree_hash() {
    assert_eq!(
        hex::encode(EMPTY_HASH.0),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
