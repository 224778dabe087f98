//! `POST /api/acts` for a téléexpertise takes its question, urgency and
//! the requester's attestation of the absent patient's consent, and
//! refuses what does not fit with the field named: an unknown urgency, an
//! urgency without a question, an attestation text the server does not
//! show, an attestation for a patient who takes part, a question over
//! 8 KiB. Nothing is created by a refusal.

mod common;

use axum::http::StatusCode;
use common::expertise::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_created_with_its_fields_or_refused_whole() {
    let e = Expertise::start().await;
    let texts = e.get("/api/attestation", &e.requester).await;
    assert_eq!(texts.status, StatusCode::OK);
    assert_eq!(
        texts.json()["texts"][0]["sha256"],
        attestation_sha256().as_str()
    );

    let refused = [
        (json!({"urgency": "tomorrow"}), "invalid_input", "urgency"),
        (
            json!({"question": null, "urgency": "urgent"}),
            "invalid_input",
            "question",
        ),
        (
            json!({"attest_consent": {"text_sha256": "0".repeat(64)}}),
            "attestation_text_unknown",
            "attestation text",
        ),
        (
            json!({"patient_present": true, "attest_consent": {"text_sha256": attestation_sha256()}}),
            "invalid_input",
            "without the patient",
        ),
        (
            json!({"question": "q".repeat(8 * 1024 + 1)}),
            "invalid_input",
            "question",
        ),
        (json!({"question": "  "}), "invalid_input", "question"),
    ];
    for (extra, code, words) in refused {
        let a = e.create(extra.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{extra}: {:?}", a.json());
        assert_eq!(a.code(), code, "{extra}");
        let sentence = a.json()["error"].as_str().expect("error").to_string();
        assert!(sentence.contains(words), "{extra}: {sentence}");
    }
    assert!(e.s.server.state.store.act_ids().expect("acts").is_empty());

    // Created: the request (routine by default) and the attestation.
    let a = e
        .create(json!({"urgency": "programmee", "attest_consent": {"text_sha256": attestation_sha256()}}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
    let id: session::ActId = a.json()["id"].as_str().expect("id").parse().expect("id");
    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["kind"], "teleexpertise");
    assert_eq!(d["urgency"], "routine");
    assert_eq!(d["consent"], true);
    assert_eq!(d["attestation_texts"], json!([]), "already attested");
    assert_eq!(d["patient_present"], false);
    let roles: Vec<&str> = d["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["role"].as_str().expect("role"))
        .collect();
    assert_eq!(roles, ["requester", "expert", "patient"]);

    // Without the attestation, the requester is offered the text.
    let a = e.create(json!({})).await;
    let other = a.json()["id"].as_str().expect("id").to_string();
    let d = e
        .get(&format!("/api/acts/{other}"), &e.requester)
        .await
        .json();
    assert_eq!(d["consent"], false);
    assert_eq!(d["urgency"], "routine");
    assert_eq!(
        d["attestation_texts"][0]["sha256"],
        attestation_sha256().as_str()
    );
    let d = e.get(&format!("/api/acts/{other}"), &e.expert).await.json();
    assert_eq!(
        d["attestation_texts"],
        json!([]),
        "only the requester attests"
    );

    let entries = e.s.entries();
    assert!(
        entries
            .iter()
            .any(|x| x.action == "attest_consent" && x.act == Some(id) && x.outcome == "ok")
    );
}
