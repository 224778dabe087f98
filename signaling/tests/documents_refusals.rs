//! Who may not reach a téléexpertise's documents, and what is not a
//! document: a renamed executable (415, naming the accepted types), a
//! document before the patient's consent (409 `consent_required`), a
//! patient's join link (403 `patient_link_no_documents`), a professional
//! the act does not name (403), another act's document through this act's
//! path (404), a non-expert answering (403); an administrator reads but
//! never writes. Nothing refused is stored, and every refusal of a read is
//! in the access log.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::expertise::*;
use common::server::token_of;
use serde_json::json;
use session::Sha256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_leave_nothing_and_are_audited() {
    let e = Expertise::start().await;
    let (id, links) = e.requested_with_links("routine").await;
    let ok = e.upload(id, &e.requester, "radio.jpg", jpeg(1)).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let sha = ok.json()["sha256"].as_str().expect("sha256").to_string();
    let path = format!("/api/acts/{id}/documents/{sha}");

    // A renamed executable.
    let a = e.upload(id, &e.requester, "scanner.pdf", elf()).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(a.code(), "unsupported_document_type");
    let sentence = a.json()["error"].as_str().expect("error").to_string();
    assert!(
        sentence.contains("JPEG, PNG, WebP, PDF or DICOM"),
        "{sentence}"
    );

    // Before consent: another request, without the attestation.
    let b = e.create(json!({})).await;
    assert_eq!(b.status, StatusCode::CREATED);
    let other: session::ActId = b.json()["id"].as_str().expect("id").parse().expect("id");
    let a = e.upload(other, &e.requester, "cr.pdf", pdf("x")).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.code(), "consent_required");
    // Attested later by the requester (the expert may not), then taken.
    let consent = format!("/api/acts/{other}/consent");
    let body = json!({"text_sha256": attestation_sha256()});
    let a = e.post(&consent, &e.expert, body.clone()).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "not_the_requester")
    );
    let a = e
        .post(
            &consent,
            &e.requester,
            json!({"text_sha256": "0".repeat(64)}),
        )
        .await;
    assert_eq!(a.code(), "attestation_text_unknown");
    let a = e.post(&consent, &e.requester, body).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    assert_eq!(a.json()["recorded"], json!(["consent_given"]));
    let a = e
        .upload(other, &e.requester, "autre.pdf", pdf("other"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let others = a.json()["sha256"].as_str().expect("sha256").to_string();

    // Another act's document through this act's path.
    let a = e
        .get(&format!("/api/acts/{id}/documents/{others}"), &e.requester)
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::NOT_FOUND, "unknown_document")
    );
    let a = e
        .get(&format!("/api/acts/{id}/documents/zz"), &e.requester)
        .await;
    assert_eq!(a.code(), "not_a_digest");

    // A patient's join link, as a bearer token: 403, audited.
    let patient = token_of(links["patient"].as_str().expect("the patient's link"));
    let bearer = format!("Bearer {patient}");
    for p in [path.clone(), format!("/api/acts/{id}")] {
        let a = e
            .send(Method::GET, &p, None, Some(&bearer), Body::empty())
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{p}");
        assert_eq!(a.code(), "patient_link_no_documents");
    }
    let a = e
        .send(
            Method::POST,
            &format!("/api/acts/{id}/documents?name=x.pdf"),
            Some(&e.requester),
            Some(&bearer),
            Body::from(pdf("link")),
        )
        .await;
    assert_eq!(
        a.code(),
        "patient_link_no_documents",
        "even with a cookie beside it"
    );
    // No credential at all: 401; a forged bearer: 401.
    let a = e.send(Method::GET, &path, None, None, Body::empty()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = e
        .send(
            Method::GET,
            &path,
            None,
            Some("Bearer forged"),
            Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // A professional the act does not name: no read, no write, no answer.
    let a = e.get(&path, &e.outsider).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "not_taking_part")
    );
    let a = e.get(&format!("/api/acts/{id}"), &e.outsider).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = e.upload(id, &e.outsider, "x.pdf", pdf("outsider")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let answer = format!("/api/acts/{id}/answer");
    let a = e
        .post(&answer, &e.outsider, json!({"decision": "accept"}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // The requester may not answer for the expert; an administrator reads
    // the document but never answers nor attaches.
    let a = e
        .post(&answer, &e.requester, json!({"decision": "accept"}))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::FORBIDDEN, "not_the_expert")
    );
    let a = e.get(&path, &e.admin).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.bytes[..], &jpeg(1)[..]);
    let a = e
        .post(&answer, &e.admin, json!({"decision": "accept"}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = e.upload(id, &e.admin, "x.pdf", pdf("admin")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A decline needs its reason.
    let a = e
        .post(&answer, &e.expert, json!({"decision": "decline"}))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let a = e
        .post(&answer, &e.expert, json!({"decision": "maybe"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Nothing refused was stored: one document here, one in the other act.
    let store = &e.s.server.state.store;
    let stored: Vec<String> = store
        .documents(id)
        .expect("documents")
        .iter()
        .map(|d| d.sha256.to_string())
        .collect();
    assert_eq!(stored, std::slice::from_ref(&sha));
    assert_eq!(store.documents(other).expect("documents").len(), 1);
    let kinds = e.kinds(id);
    assert_eq!(
        kinds.iter().filter(|k| **k == "attachment_added").count(),
        1
    );
    assert!(!kinds.contains(&"expert_answered"), "{kinds:?}");
    assert_eq!(
        Sha256::digest(&jpeg(1)).to_string(),
        sha,
        "stored under the bytes' digest"
    );

    // The access log: the refused reads, by whom, and the link's.
    let entries = e.s.entries();
    let on = |action: &str, outcome: &str| {
        entries
            .iter()
            .filter(|x| x.act == Some(id) && x.action == action && x.outcome == outcome)
            .count()
    };
    assert_eq!(on("read_document", "refused"), 1, "the outsider");
    assert_eq!(on("read_document", "refused:unknown_document"), 1);
    assert_eq!(on("read_document", "allowed"), 1, "the administrator");
    assert_eq!(on("read_act", "refused"), 1);
    assert_eq!(
        on("attach_document", "refused:unsupported_document_type"),
        1
    );
    assert_eq!(on("attach_document", "refused:not_taking_part"), 2);
    assert_eq!(on("answer_expertise", "refused:not_the_expert"), 1);
    let link_entries: Vec<_> = entries
        .iter()
        .filter(|x| x.actor.starts_with("link:") && x.outcome == "refused:patient_link")
        .collect();
    assert_eq!(link_entries.len(), 3, "{link_entries:?}");
    e.s.server.assert_trace_intact();
}
