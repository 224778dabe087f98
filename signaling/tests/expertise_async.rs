//! The asynchronous téléexpertise, end to end over the API: the requester
//! asks a question (urgent, consent attested) and attaches a PDF and a
//! JPEG; the expert finds it in their work list, reads both documents
//! back byte for byte with headers that keep a browser from running them,
//! asks for more, accepts, reviews and reports; the act closes, its
//! conclusion is recorded as the expert's, and the requester reads the
//! answer. Every read and change is in the access
//! log, each answer is a trace event, the trace verifies, and the act's
//! room, started by the routes, stops again.

mod common;

use axum::http::{StatusCode, header};
use common::expertise::*;
use serde_json::json;
use session::Sha256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_in_writing_and_the_requester_reads_the_report() {
    let e = Expertise::start().await;
    let id = e.requested("urgent").await;
    assert_eq!(
        e.kinds(id),
        [
            "requested",
            "participant_registered",
            "participant_registered",
            "participant_registered",
            "expertise_requested",
            "consent_given",
        ]
    );

    // Two documents, attached by the requester.
    let files = [("compte-rendu.pdf", pdf("a")), ("cliche dos.jpg", jpeg(7))];
    let mut digests = Vec::new();
    for (name, bytes) in &files {
        let a = e.upload(id, &e.requester, name, bytes.clone()).await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let sha = Sha256::digest(bytes).to_string();
        assert_eq!(a.json()["sha256"], sha.as_str());
        assert_eq!(a.json()["size"], bytes.len());
        digests.push(sha);
    }
    assert_eq!(
        e.upload(id, &e.requester, "compte-rendu.pdf", pdf("a"))
            .await
            .code(),
        "duplicate_document",
        "the same document twice"
    );

    // The expert's work list: the request, addressed to them, not overdue.
    let list = e.get("/api/acts", &e.expert).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.header(header::CACHE_CONTROL), "no-store");
    let acts = list.json()["acts"].as_array().expect("acts").clone();
    let mine = acts
        .iter()
        .find(|a| a["id"] == id.to_string().as_str())
        .expect("the request is in the expert's list");
    assert_eq!(mine["my_role"], "expert");
    assert_eq!(mine["kind"], "teleexpertise");
    assert_eq!(mine["documents"], 2);
    assert_eq!(mine["expertise"]["urgency"], "urgent");
    assert_eq!(mine["expertise"]["overdue"], false);
    assert_eq!(mine["expertise"]["answered"], false);
    let list = e.get("/api/acts", &e.requester).await.json();
    assert_eq!(list["acts"][0]["my_role"], "requester");

    // The documents, read back by the expert.
    for ((name, bytes), sha) in files.iter().zip(&digests) {
        let a = e
            .get(&format!("/api/acts/{id}/documents/{sha}"), &e.expert)
            .await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(&a.bytes[..], &bytes[..], "byte for byte");
        let expected_type = if name.ends_with(".pdf") {
            "application/pdf"
        } else {
            "image/jpeg"
        };
        assert_eq!(a.header(header::CONTENT_TYPE), expected_type);
        assert_eq!(a.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(a.header(header::CONTENT_SECURITY_POLICY), "sandbox");
        assert_eq!(a.header(header::CACHE_CONTROL), "no-store");
        let disposition = a.header(header::CONTENT_DISPOSITION);
        assert!(
            disposition.starts_with("inline; filename=\""),
            "{disposition}"
        );
        assert!(
            disposition.contains(&name.replace(' ', "%20")),
            "{disposition}"
        );
    }

    // The detail as the expert sees it.
    let d = e.get(&format!("/api/acts/{id}"), &e.expert).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.header(header::CACHE_CONTROL), "no-store");
    let d = d.json();
    assert_eq!(d["my_role"], "expert");
    assert_eq!(d["phase"], "request");
    assert_eq!(d["urgency"], "urgent");
    assert!(
        d["question"]
            .as_str()
            .expect("question")
            .starts_with("Lesion")
    );
    assert_eq!(d["documents"][1]["name"], "cliche dos.jpg");
    assert_eq!(d["documents"][1]["media_type"], "image/jpeg");
    assert_eq!(d["consent"], true);

    // Asks for more, then accepts: each answer a trace event.
    let a = e
        .post(
            &format!("/api/acts/{id}/answer"),
            &e.expert,
            json!({"decision": "more", "reason": "Le cliche de profil, s'il existe."}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    assert_eq!(a.json()["phase"], "request");
    assert_eq!(a.json()["recorded"], json!(["expert_answered"]));
    // The requester adds what was asked for.
    let a = e.upload(id, &e.requester, "profil.jpg", jpeg(9)).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let a = e
        .post(
            &format!("/api/acts/{id}/answer"),
            &e.expert,
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(
        a.json()["recorded"],
        json!(["expert_answered", "phase_entered"])
    );
    assert_eq!(a.json()["phase"], "preparation");

    // The review, then the report: the act closes.
    let a = e
        .post(&format!("/api/acts/{id}/review"), &e.expert, json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    assert_eq!(a.json()["phase"], "performance");
    let report = "Aspect de naevus benin (cas fictif) ; surveillance annuelle.";
    let a = e
        .post(
            &format!("/api/acts/{id}/report"),
            &e.expert,
            json!({"report": report, "prescriptions": []}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json());
    assert_eq!(a.json()["phase"], "closed");

    // The requester reads the answer.
    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["phase"], "closed");
    assert_eq!(d["my_role"], "requester");
    assert_eq!(d["report"], report);
    // The report is the expert's (p2): in the detail and in the trace.
    let expert = d["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .find(|p| p["role"] == "expert")
        .expect("the expert")["id"]
        .clone();
    assert_eq!(expert, 2);
    assert_eq!(d["report_by"], expert);
    let concluded =
        e.s.server
            .events(id)
            .into_iter()
            .find_map(|ev| match ev.body {
                session::ActEvent::Concluded(c) => Some(c),
                _ => None,
            })
            .expect("a concluded event");
    assert_eq!(concluded.by, Some(session::ParticipantId(2)));
    assert_eq!(concluded.report.expose(), report);
    assert!(d["concluded_at"].is_string());
    assert_eq!(d["answers"][0]["decision"], "more_requested");
    assert_eq!(
        d["answers"][0]["reason"],
        "Le cliche de profil, s'il existe."
    );
    assert_eq!(d["answers"][1]["decision"], "accepted");
    assert!(d["review_started_at"].is_string());
    assert_eq!(d["documents"].as_array().expect("documents").len(), 3);
    assert_eq!(d["overdue"], false);

    let kinds = e.kinds(id);
    for kind in ["expert_answered", "review_started", "concluded"] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "attachment_added").count(),
        3
    );
    e.s.server.assert_trace_intact();

    // The access log: every change and read, by an account, on this act.
    let entries = e.s.entries();
    let count = |action: &str, outcome: &str| {
        entries
            .iter()
            .filter(|x| x.action == action && x.outcome == outcome && x.act == Some(id))
            .count()
    };
    assert_eq!(count("attach_document", "ok"), 3);
    assert_eq!(count("attach_document", "refused:duplicate_document"), 1);
    assert_eq!(count("read_document", "allowed"), 2);
    assert_eq!(count("read_act", "allowed"), 2);
    assert_eq!(count("answer_expertise", "ok"), 2);
    assert_eq!(count("start_review", "ok"), 1);
    assert_eq!(count("report_expertise", "ok"), 1);

    // The room the routes started stopped again.
    let state = e.s.server.state.clone();
    wait_until("the act's room stops", || state.live_rooms() == 0).await;
}
