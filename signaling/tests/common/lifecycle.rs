//! An act taken through its lifecycle straight through the domain (no
//! room, no browser): prepared, consented, performed with an incident,
//! concluded with a report and prescriptions, each step at a time of the
//! test's choosing; and the raw answers of the routes that send bytes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use session::conclusion::{Prescription, PrescriptionKind};
use session::consent::{Consent, ConsentMethod, ConsentScope};
use session::participant::Role;
use session::vocab::IncidentKind;
use session::{Act, ActId, Command, IncidentId, ParticipantId, Pii, Timestamp};
use tower::ServiceExt;

use super::server::{TIMEOUT, TestServer};

/// When each step of [`conclude`] happens, after the act's request.
pub const PREPARED_AFTER: Duration = Duration::from_secs(60);
pub const CONSENTED_AFTER: Duration = Duration::from_secs(90);
pub const PERFORMED_AFTER: Duration = Duration::from_secs(120);
pub const INCIDENT_OPENED_AFTER: Duration = Duration::from_secs(300);
/// The incident lasts 2 min 05 s.
pub const INCIDENT_CLOSED_AFTER: Duration = Duration::from_secs(425);
pub const CONCLUDED_AFTER: Duration = Duration::from_secs(900);

/// The SHA-256 of the (fictitious) consent text [`conclude`] records.
pub fn consent_digest() -> String {
    session::consent::text_digest("Texte de consentement fictif, présenté au patient.")
}

/// Two prescriptions: a medication and an examination.
pub fn prescriptions() -> Vec<Prescription> {
    vec![
        Prescription {
            kind: PrescriptionKind::Medication,
            text: Pii::new("Paracétamol 1 g, trois fois par jour pendant cinq jours".into()),
        },
        Prescription {
            kind: PrescriptionKind::Examination,
            text: Pii::new("Échographie de la cheville gauche".into()),
        },
    ]
}

/// Takes `act` (a téléconsultation just created: requester 1, patient 2)
/// through preparation, the patient's consent to the French text,
/// performance with a video freeze of the patient's, and its conclusion
/// by the requester with `report` and `prescriptions`. Returns the act.
pub fn conclude(
    server: &TestServer,
    act: ActId,
    report: &str,
    prescriptions: Vec<Prescription>,
) -> Act {
    let store = &server.state.store;
    let (mut state, mut len) =
        session::store::load_act(&**store, act, std::slice::from_ref(&server.state.data_key))
            .expect("load the act");
    let t0 = state.phase_times[0].1;
    let consent = Consent {
        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
        given_by: ParticipantId(2),
        method: ConsentMethod::Electronic {
            text_sha256: consent_digest(),
            language: "fr".into(),
        },
    };
    let requester = state
        .participant_with_role(Role::Requester)
        .expect("a requester")
        .id;
    let steps = [
        (PREPARED_AFTER, Command::Prepare),
        (CONSENTED_AFTER, Command::GiveConsent(consent)),
        (PERFORMED_AFTER, Command::StartPerformance),
        (
            INCIDENT_OPENED_AFTER,
            Command::OpenIncident {
                kind: IncidentKind::VideoFreeze,
                participant: Some(ParticipantId(2)),
                metrics: Default::default(),
            },
        ),
        (
            INCIDENT_CLOSED_AFTER,
            Command::CloseIncident {
                incident: IncidentId(1),
                metrics: Default::default(),
            },
        ),
        (
            CONCLUDED_AFTER,
            Command::Conclude {
                by: requester,
                report: Pii::new(report.into()),
                prescriptions,
            },
        ),
    ];
    for (after, command) in steps {
        let name = command.name();
        let events = state
            .handle(command, t0.plus(after))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let n = events.len() as u64;
        store
            .append(act, Some(len), events)
            .unwrap_or_else(|e| panic!("record {name}: {e}"));
        len += n;
    }
    state
}

/// The time `after` the act's request.
pub fn at(act: &Act, after: Duration) -> Timestamp {
    act.phase_times[0].1.plus(after)
}

/// A GET with an optional cookie, answered by the server's router: the
/// status, the headers and the body's bytes.
pub async fn get_bytes(
    server: &TestServer,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let res = tokio::time::timeout(
        TIMEOUT,
        server
            .app()
            .oneshot(req.body(Body::empty()).expect("request")),
    )
    .await
    .expect("in time")
    .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

/// The stable `code` of an API error body (`{"error": ..., "code": ...}`).
pub fn error_code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("a JSON error");
    v["code"].as_str().expect("a code").to_string()
}

/// `pdftotext -layout -enc UTF-8 FILE -` (a label and its value stay on
/// their line) without the pages' footers (the lines ending in « page N /
/// M », which must be there), every run of white space made one space:
/// text the PDF wraps over lines or pages reads as written.
pub fn pdf_text(pdf: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext is needed (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 text");
    assert!(text.contains("page 1 / "), "no page numbers:\n{text}");
    let body: Vec<&str> = text.lines().filter(|l| !is_footer(l)).collect();
    one_line(&body.join("\n"))
}

/// A footer line: it ends with « page N / M ».
fn is_footer(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().rev().take(4).collect();
    matches!(words.as_slice(), [m, "/", n, "page"]
        if m.bytes().all(|b| b.is_ascii_digit()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `text` with each run of white space as one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the end-to-end tests leave what a person should look at
/// (`target/e2e/`).
pub fn e2e_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).expect("create target/e2e");
    dir
}
