//! Who gets an act's receipt (`GET /api/acts/{id}/receipt`), under the
//! exports' policy: the professional of the act 200 (text, a download
//! named after the act, the log's key beside it) with an `allowed` entry
//! in the access log written before; a professional not in the act 403;
//! an administrator not in the act 200 (the export policy lets them
//! export; a receipt withholds nothing, it holds ciphertext only); no
//! session 401; an unknown act 404; before the conclusion 409
//! `act_not_concluded`. Every decision by a signed-in person is audited
//! as `export_receipt`. `GET /api/log-key` answers the log's key to anyone.
//! `trace export --format receipt` refuses an act no stored checkpoint
//! covers yet.

mod common;

use axum::http::{StatusCode, header};
use common::lifecycle::{self, error_code, get_bytes};
use common::security::Secured;
use session::ActId;
use session::tlog::Receipt;

#[tokio::test]
async fn each_reader_gets_its_answer_and_every_decision_is_audited() {
    let mut secured = Secured::start().await;
    let (doctor, outsider, admin) = secured.standard_accounts();
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
    let admin = secured.sign_in(&admin).await;
    let server = &secured.server;
    let path = |act: ActId| format!("/api/acts/{act}/receipt");
    let log_key = server
        .state
        .store
        .log_signer()
        .expect("the server signs")
        .verifier_key();

    // The professional of the act.
    let (status, headers, body) = get_bytes(server, &path(concluded), Some(&doctor)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"receipt-{concluded}.txt\"").as_str()
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers["teleconsult-log-key"], log_key.as_str());
    let receipt = Receipt::from_bytes(&body).expect("a receipt");
    assert_eq!(receipt.act, concluded);
    let verified = receipt.verify(&log_key, &[]).expect("it verifies");
    let events = server
        .state
        .store
        .records(concluded)
        .expect("records")
        .len();
    assert_eq!(verified.events, events as u64, "every event of the act");

    // Asked again, the same checkpoint is reused: the tree grew (access
    // entries are leaves) but the stored checkpoint still covers the act.
    let (_, _, again) = get_bytes(server, &path(concluded), Some(&doctor)).await;
    assert_eq!(again, body, "the same receipt");

    // An administrator not in the act: the export policy lets them.
    let (status, _, admin_body) = get_bytes(server, &path(concluded), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin_body, body, "a receipt is the same for every reader");

    let (status, _, body) = get_bytes(server, &path(concluded), Some(&outsider)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::FORBIDDEN, "not_taking_part")
    );

    let (status, _, body) = get_bytes(server, &path(concluded), None).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "sign_in_required")
    );

    let (status, _, body) = get_bytes(server, &path(ActId::random()), Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "unknown_act")
    );

    let (status, _, body) = get_bytes(server, &path(open), Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::CONFLICT, "act_not_concluded")
    );

    let (status, _, body) = get_bytes(server, "/api/acts/not-an-id/receipt", Some(&doctor)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "not_an_act_id")
    );

    let outcomes = |act: ActId| -> Vec<(String, String)> {
        secured
            .entries()
            .into_iter()
            .filter(|e| e.action == "export_receipt" && e.act == Some(act))
            .map(|e| (e.actor, e.outcome))
            .collect()
    };
    let got = outcomes(concluded);
    let outcomes_only: Vec<&str> = got.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        outcomes_only,
        ["allowed", "allowed", "allowed", "refused"],
        "the doctor twice, the administrator, the outsider: {got:?}"
    );
    assert_ne!(got[0].0, got[2].0, "the doctor's and the admin's entries");
    assert_eq!(
        outcomes(open)
            .into_iter()
            .map(|(_, o)| o)
            .collect::<Vec<_>>(),
        ["refused:act_not_concluded"]
    );

    // The log's key, to anyone.
    let (status, headers, body) = get_bytes(server, "/api/log-key", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(
        String::from_utf8(body).expect("text"),
        format!("{log_key}\n")
    );

    secured.server.stop(common::server::TIMEOUT).await;

    // The command line signs no checkpoint: an act made after the newest
    // one has no receipt there yet, and it says why.
    let data = secured.server.data.root();
    let out = common::teleconsult(
        data,
        &[
            "act",
            "create",
            "--kind",
            "teleconsultation",
            "--professional",
            common::DOCTOR,
            "--rpps",
            common::DOCTOR_RPPS,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let fresh = created["id"].as_str().expect("an id");
    let out = common::teleconsult(data, &["trace", "export", fresh, "--format", "receipt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("is not yet in a signed checkpoint"),
        "{}",
        common::stderr(&out)
    );
}
