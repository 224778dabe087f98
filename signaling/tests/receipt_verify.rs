//! An act's receipt, downloaded by its professional, verifies offline
//! with `teleconsult receipt verify` and the log's key (the one `keys
//! show` prints and the route sends); once a witness cosigned the
//! checkpoint, with the witness's key too, and the compte rendu names
//! the witness. Any one byte changed — in an event, a proof, the
//! checkpoint or a signature — and it no longer verifies: every position
//! through the library, a few through the command line. `trace export
//! --format receipt` gives the operator the same receipt.

mod common;

use axum::http::StatusCode;
use common::lifecycle::{self, get_bytes, pdf_text};
use common::security::Secured;
use session::tlog::Receipt;

/// The witness's key name and its cosignature time (POSIX seconds).
const WITNESS: &str = "witness.example/fictif";
const COSIGNED_AT: u64 = 1_796_396_200;

#[tokio::test]
async fn a_downloaded_receipt_verifies_offline_and_no_byte_can_change() {
    // No periodic checkpoints: the cosigned copy this test stores stays
    // the newest, which the compte rendu prints.
    let mut secured = Secured::start_with(|s| {
        s.witness_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let (doctor, _, _) = secured.standard_accounts();
    let id = secured.server.create_act().id();
    lifecycle::conclude(
        &secured.server,
        id,
        "Compte rendu fictif.",
        lifecycle::prescriptions(),
    );
    let doctor = secured.sign_in(&doctor).await;
    let path = format!("/api/acts/{id}/receipt");
    let dir = lifecycle::e2e_dir();
    let store = secured.server.state.store.clone();
    let log_key = store.log_signer().expect("a writer").verifier_key();

    // Signed by the log only.
    let (status, _, signed) = get_bytes(&secured.server, &path, Some(&doctor)).await;
    assert_eq!(status, StatusCode::OK);
    let file = secured.server.dir.path().join("signed.txt");
    std::fs::write(&file, &signed).expect("write the receipt");
    let out = verify(&file, &log_key, &[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let said = common::stdout(&out);
    assert!(said.contains(&format!("receipt OK: act {id}")), "{said}");
    assert!(said.contains("checkpoint: origin teleconsult.localhost/trace, size "));
    assert!(said.contains("cosigned by: no witness"), "{said}");

    // A witness cosigns the checkpoint; the store keeps the cosigned copy,
    // which the next download carries.
    let witness = witness::WitnessKey::from_seed(WITNESS, [9; 32]).expect("a witness key");
    let checkpoint = store
        .latest_checkpoint()
        .expect("read")
        .expect("the route stored one");
    let split = checkpoint
        .note
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a note");
    let line = witness
        .cosign(&checkpoint.note[..split + 1], COSIGNED_AT)
        .to_bytes();
    let cosigned = checkpoint
        .with_cosignatures(&line)
        .expect("a cosigned note");
    store.add_cosigned(&cosigned).expect("stored");
    let (status, _, receipt) = get_bytes(&secured.server, &path, Some(&doctor)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(receipt, signed, "the cosigned copy");
    let file = dir.join(format!("receipt-{id}.txt"));
    std::fs::write(&file, &receipt).expect("write the receipt");
    let witness_key = witness.verifier_key();
    let out = verify(&file, &log_key, &[&witness_key]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let said = common::stdout(&out);
    assert!(
        said.contains(&format!("cosigned by: {WITNESS} at 2026-12-04T14:56:40"))
            && said.contains("(verified)"),
        "{said}"
    );
    // Without the witness's key the cosignature is named, not checked.
    let out = verify(&file, &log_key, &[]);
    assert!(out.status.success());
    assert!(common::stdout(&out).contains("not checked"));
    // Another witness's key: that witness did not cosign.
    let other = witness::WitnessKey::from_seed("witness.example/autre", [8; 32])
        .expect("a key")
        .verifier_key();
    let out = verify(&file, &log_key, &[&other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("not cosigned by witness witness.example/autre"),
        "{}",
        common::stderr(&out)
    );
    // Another log's key.
    let foreign = session::tlog::LogSigner::new(
        "teleconsult.localhost/trace",
        &session::keys::HeadSigner::from_seed([5; 32]),
    )
    .expect("a signer")
    .verifier_key();
    let out = verify(&file, &foreign, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("FAILED"));
    // A malformed key is a usage error (2), not a failed check.
    let out = verify(&file, "not-a-key", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));

    // Every byte, changed, fails (the library), with both keys.
    let parsed = Receipt::from_bytes(&receipt).expect("parses");
    parsed.verify(&log_key, &[&witness_key]).expect("verifies");
    let started = std::time::Instant::now();
    for i in 0..receipt.len() {
        let mut changed = receipt.clone();
        changed[i] ^= 0x01;
        let ok = Receipt::from_bytes(&changed)
            .and_then(|r| r.verify(&log_key, &[&witness_key]))
            .is_ok();
        assert!(
            !ok,
            "byte {i} ({:?}) changed and the receipt still verifies",
            receipt[i] as char
        );
    }
    eprintln!(
        "{} positions changed one at a time, each refused, in {:?}",
        receipt.len(),
        started.elapsed()
    );
    // A few through the command line: an event line, a proof, the
    // checkpoint's text, the log's signature, the witness's signature.
    let text = String::from_utf8(receipt.clone()).expect("text");
    let at = |needle: &str, offset: usize| text.find(needle).expect(needle) + offset;
    let note_at = text.find("\n\n").expect("the note") + 2;
    let positions = [
        at("\nevent 1 ", 9),
        at("\nproof ", 8),
        note_at + 3,
        text.rfind("— teleconsult.localhost/trace ")
            .expect("log sig")
            + 40,
        text.rfind(&format!("— {WITNESS} ")).expect("cosig") + 40,
    ];
    for i in positions {
        let mut changed = receipt.clone();
        changed[i] = if changed[i] == b'A' { b'B' } else { b'A' };
        let file = secured.server.dir.path().join(format!("changed-{i}.txt"));
        std::fs::write(&file, &changed).expect("write");
        let out = verify(&file, &log_key, &[&witness_key]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "byte {i}: {}",
            common::stdout(&out)
        );
        assert!(
            common::stderr(&out).contains("receipt verify: FAILED: "),
            "{}",
            common::stderr(&out)
        );
    }

    // The compte rendu names the cosigned checkpoint.
    let (status, _, pdf) = get_bytes(
        &secured.server,
        &format!("/api/acts/{id}/report.pdf"),
        Some(&doctor),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let pdf_file = dir.join("receipt-report.pdf");
    std::fs::write(&pdf_file, &pdf).expect("write the PDF");
    let printed = pdf_text(&pdf_file);
    for needle in [
        "Reçu de trace".to_string(),
        format!("Taille de l'arbre {}", checkpoint.size),
        format!("Cosigné par le témoin {WITNESS} le 04/12/2026 15:56:40"),
    ] {
        assert!(printed.contains(&needle), "{needle:?} not in:\n{printed}");
    }

    // The operator: the log's key, and the same receipt from the store.
    secured.server.stop(common::server::TIMEOUT).await;
    let data = secured.server.data.root();
    let out = common::teleconsult(data, &["keys", "show"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains(&format!("log verifier key: {log_key}\n")),
        "{}",
        common::stdout(&out)
    );
    let exported = secured.server.dir.path().join("exported.txt");
    let out = common::teleconsult(
        data,
        &[
            "trace",
            "export",
            &id.to_string(),
            "--format",
            "receipt",
            "--output",
            &exported.to_string_lossy(),
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    // The server checkpointed once more at shutdown (the access entries
    // since): the operator's receipt is against that newest checkpoint,
    // for the same act and events.
    let exported =
        Receipt::from_bytes(&std::fs::read(&exported).expect("exported")).expect("a receipt");
    let served = Receipt::from_bytes(&receipt).expect("a receipt");
    assert_eq!(exported.act, served.act);
    assert_eq!(
        exported.verify(&log_key, &[]).expect("it verifies").events,
        served.verify(&log_key, &[]).expect("it verifies").events
    );
}

/// `teleconsult receipt verify FILE --public-key LOG [--witness-key W]...`,
/// run with no data directory at all: the check is offline.
fn verify(file: &std::path::Path, log_key: &str, witnesses: &[&str]) -> std::process::Output {
    let mut args = vec![
        "receipt".to_string(),
        "verify".into(),
        file.to_string_lossy().into_owned(),
        "--public-key".into(),
        log_key.into(),
    ];
    for w in witnesses {
        args.push("--witness-key".into());
        args.push((*w).into());
    }
    let nowhere = tempfile::tempdir().expect("tempdir");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::teleconsult(&nowhere.path().join("absent"), &args)
}
