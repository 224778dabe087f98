//! A concluded téléconsultation and a téléexpertise with documents,
//! exported as FHIR through `GET /api/acts/{id}/fhir` and through
//! `teleconsult trace export --format fhir`: each export is validated by
//! FHIR.js (the npm `fhir` package, an R4 validator this project did not
//! write, run by `web-client/tests/fhir/validate.mjs`), and checked by
//! `teleconsult fhir verify`, which accepts it and refuses it once a
//! value is changed. The validator itself refuses a broken resource. Bad
//! input on the route (not signed in, not in the act, unknown or
//! malformed id) and on `fhir verify` (not JSON, no Provenance) gets a
//! clear refusal; every export is in the access log.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};

use axum::http::{StatusCode, header};
use common::expertise::{Expertise, jpeg, pdf};
use common::*;
use serde_json::{Value, json};
use session::ParticipantId;
use session::act::Command;
use session::conclusion::{Prescription, PrescriptionKind};
use session::consent::{Consent, ConsentMethod, ConsentScope, text_digest};
use session::store::load_act;
use session::{ActId, Pii, Timestamp};

/// The folder of the browser tests, where `npm ci` installs FHIR.js.
fn node_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client/tests")
}

/// Runs the independent validator on `file`.
fn validate(file: &Path) -> Output {
    let dir = node_tests();
    assert!(
        dir.join("node_modules/fhir/package.json").exists(),
        "FHIR.js is missing: run `npm ci` in web-client/tests (scripts/test.sh does, before cargo test)"
    );
    Process::new("node")
        .arg("fhir/validate.mjs")
        .arg(file)
        .current_dir(dir)
        .output()
        .expect("run node (is Node.js installed?)")
}

fn assert_valid(file: &Path) {
    let out = validate(file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "FHIR.js refused {}:\n{}{}",
        file.display(),
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("fhir validate: valid, 0 error(s)"),
        "{}",
        stdout(&out)
    );
}

/// Concludes a téléconsultation through the act's own rules, as its live
/// session would: preparation, the patient's consent, the performance,
/// the doctor's report with a drug and an examination.
fn conclude_teleconsultation(e: &Expertise) -> ActId {
    let server = &e.s.server;
    let id = server.create_act().id();
    let keys = server.state.data_keys();
    let (mut act, len) = load_act(&*server.state.store, id, &keys).unwrap();
    let now = Timestamp::now();
    let mut events = Vec::new();
    for command in [
        Command::Prepare,
        Command::GiveConsent(Consent {
            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
            given_by: ParticipantId(2),
            method: ConsentMethod::Electronic {
                text_sha256: text_digest("Texte de consentement fictif."),
                language: "fr".into(),
            },
        }),
        Command::StartPerformance,
        Command::Conclude {
            by: ParticipantId(1),
            report: Pii::new("Compte rendu fictif : evolution favorable.".into()),
            prescriptions: vec![
                Prescription {
                    kind: PrescriptionKind::Medication,
                    text: Pii::new("Paracetamol 1 g, 3 fois par jour (fictif)".into()),
                },
                Prescription {
                    kind: PrescriptionKind::Examination,
                    text: Pii::new("Bilan sanguin (fictif)".into()),
                },
            ],
        },
    ] {
        events.extend(act.handle(command, now).unwrap());
    }
    server.state.store.append(id, Some(len), events).unwrap();
    id
}

/// A téléexpertise through the routes: requested with consent attested,
/// a PDF and a JPEG attached, accepted, reviewed and reported.
async fn conclude_teleexpertise(e: &Expertise) -> ActId {
    let id = e.requested("urgent").await;
    for (name, bytes) in [
        ("compte-rendu-fictif.pdf", pdf("fhir")),
        ("cliche.jpg", jpeg(7)),
    ] {
        let a = e.upload(id, &e.requester, name, bytes).await;
        assert!(a.status.is_success(), "{name}: {:?}", a.json());
    }
    let a = e
        .post(
            &format!("/api/acts/{id}/answer"),
            &e.expert,
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    let a = e
        .post(&format!("/api/acts/{id}/review"), &e.expert, json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    let a = e
        .post(
            &format!("/api/acts/{id}/report"),
            &e.expert,
            json!({"report": "Avis fictif : lesion benigne.", "prescriptions": [
                {"kind": "other", "text": "Surveillance annuelle (fictif)"}
            ]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    id
}

fn resources<'a>(bundle: &'a Value, t: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == t)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concluded_acts_export_as_signed_fhir_that_an_independent_validator_accepts() {
    let e = Expertise::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = e.s.server.data.root().to_path_buf();
    let consultation = conclude_teleconsultation(&e);
    let expertise = conclude_teleexpertise(&e).await;

    for (id, documents) in [(consultation, 0), (expertise, 2)] {
        // Through the route, as the requesting professional.
        let a = e.get(&format!("/api/acts/{id}/fhir"), &e.requester).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
        assert_eq!(a.header(header::CONTENT_TYPE), "application/fhir+json");
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let bundle = a.json();
        let from_route = dir.path().join(format!("{id}-route.json"));
        std::fs::write(&from_route, &a.bytes).unwrap();
        assert_valid(&from_route);
        fhir_export::verify(&bundle, &e.s.server.trusted).expect("the route's export verifies");
        let enc = resources(&bundle, "Encounter")[0];
        assert_eq!(enc["class"]["code"], "VR");
        assert_eq!(enc["status"], "finished");
        assert_eq!(enc["identifier"][0]["value"], id.to_string());
        let idnps: Vec<&str> = resources(&bundle, "Practitioner")
            .iter()
            .map(|p| p["identifier"][0]["value"].as_str().unwrap())
            .collect();
        assert!(
            idnps.contains(&format!("8{DOCTOR_RPPS}").as_str()),
            "{idnps:?}"
        );
        let docs = resources(&bundle, "DocumentReference");
        assert_eq!(docs.len(), 1 + documents, "the report and each document");
        assert_eq!(docs[0]["type"]["coding"][0]["code"], "11488-4");
        // The report's DocumentReference carries the compte rendu's PDF
        // (`export::report_pdf`), its size and SHA-1 with it.
        let pdf_attachment = &docs[0]["content"][0]["attachment"];
        assert_eq!(pdf_attachment["contentType"], "application/pdf");
        let pdf_bytes = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(pdf_attachment["data"].as_str().expect("the PDF's data"))
                .expect("base64")
        };
        assert!(pdf_bytes.starts_with(b"%PDF-"), "a PDF");
        assert_eq!(pdf_attachment["size"], pdf_bytes.len());

        // Through the command line, on the same store.
        let file = dir.path().join(format!("{id}-cli.json"));
        let id_text = id.to_string();
        let out = teleconsult(
            &data,
            &[
                "trace",
                "export",
                &id_text,
                "--format",
                "fhir",
                "--output",
                file.to_str().unwrap(),
                "--public-url",
                "https://tc.example.test",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_valid(&file);
        let verify = teleconsult(&data, &["fhir", "verify", file.to_str().unwrap()]);
        assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
        assert!(
            stdout(&verify).contains(&format!("FHIR export verified: act {id}")),
            "{}",
            stdout(&verify)
        );
        let public = data.join("keys/signing.pub");
        let verify = teleconsult(
            &data,
            &[
                "fhir",
                "verify",
                from_route.to_str().unwrap(),
                "--public-key",
                public.to_str().unwrap(),
            ],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));

        // One value changed: refused, saying why.
        let mut changed: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        changed["entry"][0]["resource"]["status"] = json!("cancelled");
        let tampered = dir.path().join(format!("{id}-tampered.json"));
        std::fs::write(&tampered, changed.to_string()).unwrap();
        let verify = teleconsult(&data, &["fhir", "verify", tampered.to_str().unwrap()]);
        assert_eq!(verify.status.code(), Some(1), "{}", stdout(&verify));
        assert!(
            stdout(&verify).contains("changed after signing"),
            "{}",
            stdout(&verify)
        );
    }

    // The validator validates: a broken Encounter is refused.
    let a = e
        .get(&format!("/api/acts/{consultation}/fhir"), &e.requester)
        .await;
    let mut broken = a.json();
    broken["entry"][0]["resource"]["status"] = json!("not-a-status");
    broken["entry"][0]["resource"]["unknownElement"] = json!(1);
    let file = dir.path().join("broken.json");
    std::fs::write(&file, broken.to_string()).unwrap();
    let out = validate(&file);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("Encounter.status"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("Encounter.unknownElement"),
        "{}",
        stdout(&out)
    );

    // `fhir verify` on what is not an export.
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "%PDF-1.4 not json").unwrap();
    let out = teleconsult(&data, &["fhir", "verify", not_json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("is not JSON"), "{}", stdout(&out));
    let mut no_provenance = a.json();
    no_provenance["entry"].as_array_mut().unwrap().pop();
    let file = dir.path().join("no-provenance.json");
    std::fs::write(&file, no_provenance.to_string()).unwrap();
    let out = teleconsult(&data, &["fhir", "verify", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no Provenance"), "{}", stdout(&out));

    // An administrator who takes no part gets the sealed values withheld.
    let a = e
        .get(&format!("/api/acts/{expertise}/fhir"), &e.admin)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    let withheld = a.json();
    assert_eq!(withheld["meta"]["security"][0]["code"], "REDACTED");
    let text = withheld.to_string();
    assert!(
        !text.contains(DOCTOR) && !text.contains(DOCTOR_RPPS),
        "sealed values leak"
    );
    let file = dir.path().join("withheld.json");
    std::fs::write(&file, &a.bytes).unwrap();
    assert_valid(&file);
    fhir_export::verify(&withheld, &e.s.server.trusted).expect("a withheld export verifies");

    // Bad input.
    let path = format!("/api/acts/{consultation}/fhir");
    let a = e
        .send(
            axum::http::Method::GET,
            &path,
            None,
            None,
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = e.get(&path, &e.outsider).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.json());
    assert_eq!(a.code(), "not_taking_part");
    let a = e
        .get(&format!("/api/acts/{}/fhir", ActId::random()), &e.requester)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{:?}", a.json());
    let a = e.get("/api/acts/not-an-act/fhir", &e.requester).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.json());

    // Every export, allowed or refused, is in the access log.
    let exports: Vec<(Option<ActId>, String)> =
        e.s.entries()
            .into_iter()
            .filter(|x| x.action == "export_fhir")
            .map(|x| (x.act, x.outcome))
            .collect();
    let count = |act: ActId, outcome: &str| {
        exports
            .iter()
            .filter(|(a, o)| *a == Some(act) && o == outcome)
            .count()
    };
    assert_eq!(count(consultation, "allowed"), 3, "{exports:?}"); // route x2, CLI
    assert_eq!(count(consultation, "refused"), 1, "{exports:?}");
    assert_eq!(count(expertise, "allowed"), 2, "{exports:?}"); // route, CLI
    assert_eq!(count(expertise, "allowed:withheld"), 1, "{exports:?}"); // admin
}
