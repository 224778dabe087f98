//! An administrator who does not take part in an act may download its
//! compte rendu, with every personal and medical value withheld
//! (« [masqué] »), as DESIGN.md of issue 14 says; the access log says so.
//! An operator without the data key exports it withheld likewise.

mod common;

use axum::http::StatusCode;
use common::lifecycle::{self, get_bytes, pdf_text};
use common::security::Secured;
use common::{DOCTOR, DOCTOR_RPPS, PATIENT};

#[tokio::test]
async fn an_administrator_reads_the_compte_rendu_with_values_withheld() {
    let mut secured = Secured::start().await;
    let (_, _, admin) = secured.standard_accounts();
    let id = secured.server.create_act().id();
    let report = "Compte rendu fictif : œdème léger, surveillance.";
    lifecycle::conclude(&secured.server, id, report, lifecycle::prescriptions());
    let cookie = secured.sign_in(&admin).await;

    let (status, _, pdf) = get_bytes(
        &secured.server,
        &format!("/api/acts/{id}/report.pdf"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let file = secured.server.dir.path().join("withheld.pdf");
    std::fs::write(&file, &pdf).expect("write");
    let text = pdf_text(&file);
    for secret in [DOCTOR, DOCTOR_RPPS, PATIENT, "œdème", "Paracétamol"] {
        assert!(
            !text.contains(secret),
            "{secret:?} shown to an administrator:\n{text}"
        );
    }
    assert!(text.contains("[masqué]"), "{text}");
    // What is not personal stays: the kind, the consent's hash, the chain.
    assert!(text.contains("Compte rendu de téléconsultation"));
    assert!(text.contains(&lifecycle::consent_digest()));
    assert!(text.contains("durée 2 min 05 s"));
    let outcomes: Vec<String> = secured
        .entries()
        .into_iter()
        .filter(|e| e.action == "export_pdf")
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["allowed:withheld"]);

    // The command line without the data key: the same values withheld.
    secured.server.stop(common::server::TIMEOUT).await;
    let keys = secured.server.data.root().join("keys");
    std::fs::rename(
        keys.join("data.key"),
        secured.server.dir.path().join("data.key.aside"),
    )
    .expect("move the data key aside");
    let exported = secured.server.dir.path().join("cli-withheld.pdf");
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
    let text = pdf_text(&exported);
    for secret in [DOCTOR, DOCTOR_RPPS, PATIENT, "œdème", "Paracétamol"] {
        assert!(
            !text.contains(secret),
            "{secret:?} shown without the data key:\n{text}"
        );
    }
    assert!(text.contains("[masqué]"), "{text}");
    assert!(text.contains("durée 2 min 05 s"), "{text}");
}
