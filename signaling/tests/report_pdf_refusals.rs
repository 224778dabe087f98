//! What bad requests for a compte rendu get: before the act's conclusion
//! 409 `act_not_concluded`, without a session 401, from a professional
//! who does not take part 403, an unknown act 404; each refusal by a
//! signed-in person is in the access log as `export_pdf`. The command
//! line refuses an act not concluded too, and a PDF for a terminal.

mod common;

use std::process::Command;

use axum::http::StatusCode;
use common::lifecycle::{self, error_code, get_bytes};
use common::security::Secured;
use session::ActId;

#[tokio::test]
async fn each_bad_request_gets_its_status_and_refusals_are_audited() {
    let mut secured = Secured::start().await;
    let (doctor, outsider, _) = secured.standard_accounts();
    let open = secured.server.create_act().id();
    let concluded = secured.server.create_act().id();
    lifecycle::conclude(
        &secured.server,
        concluded,
        "Compte rendu fictif.",
        Vec::new(),
    );
    let doctor = secured.sign_in(&doctor).await;
    let outsider = secured.sign_in(&outsider).await;
    let server = &secured.server;
    let path = |act: ActId| format!("/api/acts/{act}/report.pdf");

    let (status, _, body) = get_bytes(server, &path(open), Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::CONFLICT, "act_not_concluded")
    );

    let (status, _, body) = get_bytes(server, &path(concluded), None).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "sign_in_required")
    );

    let (status, _, body) = get_bytes(server, &path(concluded), Some(&outsider)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::FORBIDDEN, "not_taking_part")
    );

    let (status, _, body) = get_bytes(server, &path(ActId::random()), Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "unknown_act")
    );

    let (status, _, body) =
        get_bytes(server, "/api/acts/not-an-id/report.pdf", Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "not_an_act_id")
    );

    let outcomes = |act: ActId| -> Vec<String> {
        secured
            .entries()
            .into_iter()
            .filter(|e| e.action == "export_pdf" && e.act == Some(act))
            .map(|e| e.outcome)
            .collect()
    };
    assert_eq!(outcomes(open), ["refused:act_not_concluded"]);
    assert_eq!(outcomes(concluded), ["refused"], "the outsider's refusal");

    // The command line: no compte rendu before the conclusion either.
    secured.server.stop(common::server::TIMEOUT).await;
    let never = secured.server.dir.path().join("never.pdf");
    let out = common::teleconsult(
        secured.server.data.root(),
        &[
            "trace",
            "export",
            &open.to_string(),
            "--format",
            "pdf",
            "--output",
            &never.to_string_lossy(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not concluded"), "{err}");
    assert!(!never.exists());

    // A PDF is not written to a terminal: `script` gives the command one.
    let command = format!(
        "{} --data {} trace export {concluded} --format pdf",
        env!("CARGO_BIN_EXE_teleconsult"),
        secured.server.data.root().display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("TELECONSULT_DATA_KEY")
        .output()
        .expect("script(1) from util-linux");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("give --output FILE"), "{said}");
    assert!(!said.contains("%PDF"), "{said}");
}
