//! Bad frames on the signaling WebSocket: each gets an `error` frame with a
//! stable code and the connection stays up, until too many have come and
//! the server closes it with 4006. The server keeps serving, and nothing a
//! bad frame does breaks the trace.

mod common;

use std::time::Duration;

use common::server::*;
use common::time;
use serde_json::json;
use session::act::LeaveReason;
use signaling::protocol::{ErrorCode, MAX_FRAME_BYTES, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

/// A frame over the limit but under twice it: read, then refused.
fn oversized_frame() -> String {
    let report = "a".repeat(MAX_FRAME_BYTES + 1024);
    let frame = json!({"type": "conclude", "report": report}).to_string();
    assert!(frame.len() > MAX_FRAME_BYTES && frame.len() < 2 * MAX_FRAME_BYTES);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_frame_gets_an_error_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, w) = server.join(&act.token("professional")).await;
    assert_eq!(w.participant, 1);
    let before = server.events(act.id()).len();

    pro.send_text("{not json").await;
    let why = pro.expect_error(ErrorCode::Malformed).await;
    assert!(why.contains("not valid JSON"), "{why}");
    assert!(pro.sync().await.is_empty(), "nothing else came");

    pro.send_text("{\"type\":\"ping\",").await;
    let why = pro.expect_error(ErrorCode::Malformed).await;
    assert!(why.contains("truncated JSON"), "{why}");
    pro.sync().await;

    pro.send(json!({"type": "dance", "with": "Jeanne Fictive"}))
        .await;
    let why = pro.expect_error(ErrorCode::Malformed).await;
    assert!(why.contains("not a message of this protocol"), "{why}");
    assert!(!why.contains("Jeanne"), "never echoes the frame: {why}");
    pro.sync().await;

    // A known type with a field of the wrong type, or an unknown field.
    pro.send(json!({"type": "admit", "participant": "two"}))
        .await;
    pro.expect_error(ErrorCode::Malformed).await;
    pro.send(json!({"type": "admit", "participant": 2, "extra": 1}))
        .await;
    pro.expect_error(ErrorCode::Malformed).await;
    pro.sync().await;

    pro.send_raw(Message::binary(b"{\"type\":\"ping\"}".to_vec()))
        .await;
    let why = pro.expect_error(ErrorCode::Malformed).await;
    assert!(why.contains("text frames only"), "{why}");
    pro.sync().await;

    pro.send_text(oversized_frame()).await;
    let why = pro.expect_error(ErrorCode::TooLarge).await;
    assert!(
        why.contains(&MAX_FRAME_BYTES.to_string()),
        "names the limit: {why}"
    );
    pro.sync().await;

    // A second hello is refused, and is no violation.
    pro.hello(&act.token("professional")).await;
    pro.expect_error(ErrorCode::Refused).await;
    pro.sync().await;

    // Refused frames record nothing.
    assert_eq!(server.events(act.id()).len(), before);
    assert_eq!(
        pro.count(|m| matches!(m, ServerMessage::Welcome { .. })),
        1,
        "no second welcome"
    );
    server.assert_still_serving(&act.token("patient"), 2).await;
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_violations_close_the_connection_with_4006() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut patient, w) = server.join(&act.token("patient")).await;
    assert_eq!(w.participant, 2);

    // Up to the limit, every kind of violation counts and each is answered.
    for i in 0..MAX_VIOLATIONS {
        match i % 4 {
            0 => {
                patient.send_text("nope").await;
                patient.expect_error(ErrorCode::Malformed).await;
            }
            1 => {
                patient.send(json!({"type": "teleport"})).await;
                patient.expect_error(ErrorCode::Malformed).await;
            }
            2 => {
                patient.send_raw(Message::binary(vec![0u8; 16])).await;
                patient.expect_error(ErrorCode::Malformed).await;
            }
            _ => {
                patient.send_text(oversized_frame()).await;
                patient.expect_error(ErrorCode::TooLarge).await;
            }
        }
    }
    // Still open at the limit.
    patient.sync().await;

    // One more closes it.
    patient.send_text("[]").await;
    patient.expect_error(ErrorCode::Malformed).await;
    assert_eq!(patient.expect_close().await, close::PROTOCOL_VIOLATION);

    // The server keeps serving; this welcome also orders the room after the
    // closed connection's leave, so the trace holds it now.
    server.assert_still_serving(&act.token("patient"), 2).await;
    let events = server.events(act.id());
    assert!(
        left_for(&events, 2, LeaveReason::ProtocolViolation),
        "the leave is recorded with its reason: {:?}",
        server.kinds(act.id())
    );
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_then_closed() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;

    // Far more than the burst of 100 at once; the refill (30/s) could only
    // make up the difference if sending stalled for many seconds.
    for _ in 0..400 {
        if !pro.feed_text(json!({"type": "ping"}).to_string()).await {
            break;
        }
    }
    pro.flush().await;
    let code = pro.expect_close().await;
    assert_eq!(code, close::PROTOCOL_VIOLATION);
    // (Pongs for the frames that passed may or may not arrive: the close
    // is queued by the connection itself, ahead of the room's answers.)
    let limited = pro.count(|m| {
        matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            }
        )
    });
    assert_eq!(
        limited,
        MAX_VIOLATIONS as usize + 1,
        "one error per refused frame, until the close"
    );
    server
        .assert_still_serving(&act.token("professional"), 1)
        .await;
    assert!(left_for(
        &server.events(act.id()),
        1,
        LeaveReason::ProtocolViolation
    ));
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anything_but_hello_first_is_refused_and_closed() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let size = server.store_size();

    // Not JSON.
    let mut c = server.connect().await;
    c.send_text("GET / HTTP/1.1").await;
    c.expect_error(ErrorCode::HelloFirst).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);

    // A valid message, but not hello.
    let mut c = server.connect().await;
    c.send(json!({"type": "ping"})).await;
    c.expect_error(ErrorCode::HelloFirst).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);

    // A binary hello.
    let mut c = server.connect().await;
    let hello = json!({"type": "hello", "v": 1, "token": act.token("patient")});
    c.send_raw(Message::binary(hello.to_string().into_bytes()))
        .await;
    c.expect_error(ErrorCode::HelloFirst).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);

    // Another protocol version.
    let mut c = server.connect().await;
    c.send(json!({"type": "hello", "v": 2, "token": act.token("patient")}))
        .await;
    c.expect_error(ErrorCode::UnsupportedVersion).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);

    // An oversized first frame.
    let mut c = server.connect().await;
    c.send_text(oversized_frame()).await;
    c.expect_error(ErrorCode::HelloFirst).await;
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);

    assert_eq!(server.store_size(), size, "refused hellos record nothing");
    server.assert_still_serving(&act.token("patient"), 2).await;
    server.assert_trace_intact();
}

/// On paused time held still (`common::time`): nothing comes a second
/// before the hello timeout; at the timeout the server speaks, and the
/// client waits for it over real IO while time stands still.
#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_after_the_hello_timeout() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let act = server.create_act();
    let mut c = server.connect().await;
    // The server's side of the connection starts its hello timer.
    time::settle().await;
    let connected = tokio::time::Instant::now();
    // Nothing sent: the server gives up after HELLO_TIMEOUT, not before.
    time::advance(HELLO_TIMEOUT - Duration::from_secs(1)).await;
    time::settle().await;
    assert!(c.next_now().is_none(), "closed before the hello timeout");
    time::advance(Duration::from_secs(1)).await;
    let first = c.next().await;
    assert_eq!(
        connected.elapsed(),
        HELLO_TIMEOUT,
        "closed at the hello timeout"
    );
    match first {
        Got::Msg(ServerMessage::Error { code, .. }) => assert_eq!(code, ErrorCode::HelloFirst),
        other => panic!("expected an error frame, got {other:?}"),
    }
    assert_eq!(c.expect_close().await, close::PROTOCOL_VIOLATION);
    server
        .assert_still_serving(&act.token("professional"), 1)
        .await;
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_twice_the_limit_drops_only_that_connection() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, _) = server.join(&act.token("patient")).await;

    let huge = "a".repeat(2 * MAX_FRAME_BYTES + 1024);
    patient.send_text(huge).await;
    // Dropped, with or without a close frame.
    while let Got::Msg(_) = patient.next().await {}
    // The professional sees the patient gone and stays connected.
    pro.expect_state("the patient disconnected", |v| {
        v.participants.iter().any(|p| p.id == 2 && !p.connected)
    })
    .await;
    pro.sync().await;
    server.assert_still_serving(&act.token("patient"), 2).await;
    assert!(
        left_for(&server.events(act.id()), 2, LeaveReason::ConnectionLost),
        "{:?}",
        server.kinds(act.id())
    );
    server.assert_trace_intact();
}

/// Every message type refuses unknown fields, the field-less ones too
/// (`{"type": "leave", "x": 1}` as much as an extra field on `admit`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_on_every_message_type() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut patient, _) = server.join(&act.token("patient")).await;
    for ty in ["ping", "withdraw_consent", "leave"] {
        patient.send(json!({"type": ty, "unexpected": 1})).await;
        let got = patient.sync().await;
        assert!(
            got.iter().any(|m| matches!(
                m,
                ServerMessage::Error {
                    code: ErrorCode::Malformed,
                    ..
                }
            )),
            "{ty} with an unknown field was accepted: {got:?}"
        );
    }
    server.assert_trace_intact();
}
