//! Bad invitations: forged, tampered, expired, for an unknown act, for a
//! participant the act does not have, or for an act that has ended. Each is
//! refused on the WebSocket (an `error` or `ended` frame, then a close) and
//! by `POST /api/invitations/check` (401 / 410 / 404), and a refused join
//! records nothing.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::server::*;
use serde_json::json;
use session::ActId;
use session::participant::Role;
use signaling::invitation::InvitationKeys;
use signaling::protocol::{ErrorCode, ServerMessage, SignalData};

/// Hello with `token` is refused with `forbidden` and a 4006 close;
/// returns the error's message.
async fn refused(server: &TestServer, token: &str) -> String {
    let mut c = server.connect().await;
    c.hello(token).await;
    let why = c.expect_error(ErrorCode::Forbidden).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);
    assert!(
        !c.seen
            .iter()
            .any(|m| matches!(m, ServerMessage::Welcome { .. })),
        "never welcomed"
    );
    why
}

/// The token with one base64 character in its signed body changed.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    // Inside the participant number: still decodes, no longer verifies.
    let i = 3 + 24;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_and_record_nothing() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let later = server.state.clock().now().plus(Duration::from_secs(3600));
    let size = server.store_size();

    // Signed with another server's key.
    let other = InvitationKeys::generate().expect("keys");
    let forged = issue_with(&other, act.id(), 2, Role::Patient, later);
    let why = refused(&server, &forged).await;
    assert!(why.contains("not issued by this server"), "{why}");
    let (status, body) = server.check_invitation(&forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // One character of a valid token changed.
    let bad = tampered(&act.token("patient"));
    assert_ne!(bad, act.token("patient"));
    refused(&server, &bad).await;
    let (status, body) = server.check_invitation(&bad).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Not a token at all.
    refused(&server, "v1.not-a-token").await;
    let (status, _) = server.check_invitation("").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expired an hour ago.
    let past = server.state.clock().now().minus(Duration::from_secs(3600));
    let expired = server.issue(act.id(), 2, Role::Patient, past);
    let why = refused(&server, &expired).await;
    assert!(why.contains("expired"), "{why}");
    let (status, body) = server.check_invitation(&expired).await;
    assert_eq!(status, StatusCode::GONE, "{body}");

    // Properly signed, for an act that does not exist.
    let unknown = server.issue(ActId::random(), 2, Role::Patient, later);
    let why = refused(&server, &unknown).await;
    assert!(why.contains("does not exist"), "{why}");
    let (status, body) = server.check_invitation(&unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Properly signed, for a participant the act does not have.
    let stranger = server.issue(act.id(), 9, Role::Companion, later);
    refused(&server, &stranger).await;

    assert_eq!(server.store_size(), size, "refused joins record nothing");
    // The valid links still work, on the REST API and the WebSocket.
    let (status, body) = server.check_invitation(&act.token("patient")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "patient");
    assert_eq!(body["participant"], 2);
    server.assert_still_serving(&act.token("patient"), 2).await;
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_reused_after_the_act_ended_is_refused() {
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    pro.send(json!({
        "type": "conclude",
        "report": "Consultation fictive de test : rien a signaler.",
        "prescriptions": [],
    }))
    .await;
    for c in [&mut pro, &mut patient] {
        c.expect("ended", |m| {
            matches!(m, ServerMessage::Ended { .. }).then_some(())
        })
        .await;
        assert_eq!(c.expect_close().await, close::ACT_ENDED);
    }
    let kinds = server.kinds(act.id());
    assert_eq!(kinds.last(), Some(&"concluded"), "{kinds:?}");
    let size = server.store_size();

    // The patient's link again, and the professional's.
    for (name, participant) in [("patient", 2), ("professional", 1)] {
        let mut c = server.connect().await;
        c.hello(&act.token(name)).await;
        let reason = c
            .expect("ended", |m| match m {
                ServerMessage::Ended { reason } => Some(reason.clone()),
                ServerMessage::Welcome { .. } => panic!("{name} welcomed to an ended act"),
                _ => None,
            })
            .await;
        assert!(reason.contains("ended"), "{reason}");
        assert_eq!(c.expect_close().await, close::ACT_ENDED);
        assert_eq!(
            c.count(|m| matches!(m, ServerMessage::State(_))),
            0,
            "participant {participant} learns nothing of the room"
        );
        let (status, body) = server.check_invitation(&act.token(name)).await;
        assert_eq!(status, StatusCode::GONE, "{body}");
    }
    assert_eq!(
        server.store_size(),
        size,
        "joins to an ended act record nothing"
    );

    // Other acts are served as before.
    let next = server.create_act();
    let (mut pro2, _) = server.join(&next.token("professional")).await;
    pro2.signal(2, &SignalData::Offer { sdp: "v=0".into() })
        .await;
    pro2.expect_error(ErrorCode::Refused).await;
    server.assert_trace_intact();
}
