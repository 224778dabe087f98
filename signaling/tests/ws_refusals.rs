//! Well-formed messages that the act's rules or the sender's role refuse:
//! each is answered with an `error` frame (`forbidden` or `refused`), the
//! connection stays open, and nothing is recorded.

mod common;

use common::server::*;
use serde_json::{Value, json};
use session::conclusion::Conclusion;
use signaling::protocol::{ErrorCode, ServerMessage};

/// Sends `msg` and checks the answer is an error with `code`, that the
/// connection stays up and that nothing was recorded.
async fn answered(server: &TestServer, c: &mut Client, msg: Value, code: ErrorCode) {
    let (records, _) = server.store_size();
    c.send(msg.clone()).await;
    let got = c.sync().await;
    assert!(
        got.iter()
            .any(|m| matches!(m, ServerMessage::Error { code: c, .. } if *c == code)),
        "{msg} should be answered with {code:?}; got {got:?}"
    );
    assert_eq!(server.store_size().0, records, "{msg} recorded nothing");
}

fn conclude(report: &str) -> Value {
    json!({"type": "conclude", "report": report, "prescriptions": []})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_commands_get_an_error_frame() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;

    // The patient's role may not run the act.
    for msg in [
        json!({"type": "admit", "participant": 2}),
        conclude("Rapport fictif."),
        json!({"type": "cancel", "reason": "by_professional"}),
        json!({"type": "attest_consent", "text_sha256": "00"}),
    ] {
        answered(&server, &mut patient, msg, ErrorCode::Forbidden).await;
    }
    // Rules: unknown participant, nothing to withdraw, media before the
    // performance, a text the server never showed.
    answered(
        &server,
        &mut pro,
        json!({"type": "admit", "participant": 42}),
        ErrorCode::Refused,
    )
    .await;
    answered(
        &server,
        &mut patient,
        json!({"type": "withdraw_consent"}),
        ErrorCode::Refused,
    )
    .await;
    answered(
        &server,
        &mut patient,
        json!({"type": "media_path", "route": "direct", "candidate_types": ["host"], "codecs": ["opus"]}),
        ErrorCode::Refused,
    )
    .await;
    answered(
        &server,
        &mut patient,
        json!({"type": "consent", "accept": true, "language": "fr", "text_sha256": "ab"}),
        ErrorCode::Refused,
    )
    .await;

    // Admitting twice.
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    answered(
        &server,
        &mut pro,
        json!({"type": "admit", "participant": 2}),
        ErrorCode::Refused,
    )
    .await;

    assert!(
        server
            .state
            .store
            .act_ids()
            .expect("ids")
            .contains(&act.id())
    );
    server.assert_still_serving(&act.token("patient"), 2).await;
    server.assert_trace_intact();
}

/// A refused conclusion is answered too, so the professional's client does
/// not wait for an `ended` that never comes; a report between the act's
/// limit (64 KiB) and the frame limit (96 KiB) is refused aloud, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_conclusion_gets_an_error_frame() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;

    // Before the performance.
    answered(
        &server,
        &mut pro,
        conclude("Rapport fictif."),
        ErrorCode::Refused,
    )
    .await;

    let (mut patient, w) = server.join(&act.token("patient")).await;
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;

    // An empty report, and one over the act's limit but under the frame's.
    answered(&server, &mut pro, conclude("   "), ErrorCode::Refused).await;
    let long = "r".repeat(Conclusion::MAX_REPORT_LEN + 1);
    answered(&server, &mut pro, conclude(&long), ErrorCode::Refused).await;
    server.assert_trace_intact();
}
