//! The compte rendu of a concluded téléconsultation as a PDF, fetched by
//! its professional through `GET /api/acts/{id}/report.pdf` and exported
//! with `teleconsult trace export --format pdf`: `pdftotext` finds each
//! element the issue asks for (and issue 15's « Reçu de trace »: the log's
//! checkpoint the act's receipt is proven against), and `pdftoppm` renders page 1 to
//! target/e2e/report-pdf-page1-1.png for a person to look at.

mod common;

use std::process::Command;

use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::lifecycle::{self, at, get_bytes, one_line, pdf_text};
use common::security::Secured;
use common::{DOCTOR, DOCTOR_RPPS, PATIENT};

/// A report with the French letters a font must have, over several lines.
const REPORT: &str = "Patiente vue en téléconsultation pour une douleur de la cheville gauche \
depuis trois jours, après une chute à vélo. Pas de fièvre.\n\
Examen à distance : œdème modéré en regard de la malléole externe, appui possible ; \
la marche reste très douloureuse. Élévation et glaçage conseillés, « repos relatif » \
pendant une semaine ; reçu ce jour, à revoir à J+7 si la gêne persiste.";

#[tokio::test]
async fn the_compte_rendu_reads_back_with_each_required_element() {
    let mut secured = Secured::start().await;
    let (doctor, _, _) = secured.standard_accounts();
    let created = secured.server.create_act();
    let id = created.id();
    let act = lifecycle::conclude(&secured.server, id, REPORT, lifecycle::prescriptions());
    let cookie = secured.sign_in(&doctor).await;

    let path = format!("/api/acts/{id}/report.pdf");
    let (status, headers, pdf) = get_bytes(&secured.server, &path, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"compte-rendu-{id}.pdf\"").as_str()
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(pdf.starts_with(b"%PDF-"));
    let audited = secured
        .entries()
        .into_iter()
        .filter(|e| e.action == "export_pdf" && e.act == Some(id))
        .map(|e| e.outcome)
        .collect::<Vec<_>>();
    assert_eq!(
        audited,
        ["allowed"],
        "one export, written to the access log"
    );

    let dir = lifecycle::e2e_dir();
    let file = dir.join("report-pdf.pdf");
    std::fs::write(&file, &pdf).expect("write the PDF");
    let text = pdf_text(&file);

    // The checkpoint the route stored for the act's receipt, which the
    // PDF prints (« Reçu de trace »).
    let checkpoint = secured
        .server
        .state
        .store
        .latest_checkpoint()
        .expect("read the checkpoints")
        .expect("the route stored one");
    // The chain as the store holds it: its head and length.
    let records = secured.server.state.store.records(id).expect("records");
    let head = hex::encode(records.last().expect("a record").hash);
    let mut wanted: Vec<(&str, String)> = vec![
        ("the title", "Compte rendu de téléconsultation".into()),
        ("the kind", "Type d'acte Téléconsultation".into()),
        ("the act", id.to_string()),
        ("the professional", DOCTOR.into()),
        ("the RPPS", format!("RPPS {DOCTOR_RPPS}")),
        ("the patient's alias", PATIENT.into()),
        (
            "the consent",
            format!(
                "Consentement donné le {} par le patient (alias {PATIENT})",
                report::local_time(at(&act, lifecycle::CONSENTED_AFTER))
            ),
        ),
        ("the consent's scope", "l'acte de télémédecine".into()),
        ("the consent's hash", lifecycle::consent_digest()),
        ("the prescription", "Médicament : Paracétamol 1 g".into()),
        (
            "the examination",
            "Examen : Échographie de la cheville".into(),
        ),
        (
            "the incident",
            format!(
                "Image figée — le patient (alias {PATIENT}) — du {}",
                report::local_time(at(&act, lifecycle::INCIDENT_OPENED_AFTER))
            ),
        ),
        ("the incident's duration", "durée 2 min 05 s".into()),
        ("the verification", "Intègre".into()),
        ("the event count", format!("Événements {}", records.len())),
        ("the chain head", head.clone()),
        ("the time zone", "UTC+01:00".into()),
        ("the receipt's section", "Reçu de trace".into()),
        (
            "the checkpoint's origin",
            format!("Journal (origine) {}", session::tlog::DEFAULT_ORIGIN),
        ),
        (
            "the checkpoint's size",
            format!("Taille de l'arbre {}", checkpoint.size),
        ),
        ("the checkpoint's root", BASE64.encode(checkpoint.root.0)),
        (
            "no witness yet",
            "Aucun témoin n'a encore cosigné ce point de contrôle.".into(),
        ),
    ];
    for (_, t) in &act.phase_times {
        wanted.push(("a phase time", report::local_time(*t)));
    }
    for line in REPORT.lines() {
        wanted.push(("the report", one_line(line)));
    }
    for (what, needle) in &wanted {
        assert!(
            text.contains(needle.as_str()),
            "{what} ({needle:?}) is not in the PDF's text:\n{text}"
        );
    }
    for letter in ["é", "è", "à", "ç", "œ", "«", "»"] {
        assert!(text.contains(letter), "{letter} is missing");
    }

    // Page 1 as a picture, for a person to look at.
    let png = dir.join("report-pdf-page1");
    let out = Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1"])
        .arg(&file)
        .arg(&png)
        .output()
        .expect("pdftoppm is needed (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = ["-1.png", "-01.png"]
        .iter()
        .map(|s| dir.join(format!("report-pdf-page1{s}")))
        .find(|p| p.exists())
        .expect("page 1 rendered");
    assert!(std::fs::metadata(&rendered).expect("png").len() > 10_000);

    // The command line gives the same document, byte for byte.
    secured.server.stop(common::server::TIMEOUT).await;
    let exported = dir.join("report-pdf-cli.pdf");
    let out = common::teleconsult(
        secured.server.data.root(),
        &[
            "trace",
            "export",
            &id.to_string(),
            "--format",
            "pdf",
            "--output",
            &exported.to_string_lossy(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_cli = std::fs::read(&exported).expect("the exported PDF");
    // The same checkpoint still the newest, the same bytes; a witnessing
    // task that signed a newer one in between changes « Reçu de trace »
    // only.
    let newest = secured
        .server
        .data
        .open_reader()
        .expect("a reader")
        .latest_checkpoint()
        .expect("read the checkpoints");
    if newest.as_ref() == Some(&checkpoint) {
        assert_eq!(
            from_cli, pdf,
            "the route and the command line give the same bytes"
        );
    } else {
        let before_receipt = |t: &str| t.split("Reçu de trace").next().map(str::to_string);
        assert_eq!(
            before_receipt(&pdf_text(&exported)),
            before_receipt(&text),
            "the route and the command line give the same document"
        );
    }
}
