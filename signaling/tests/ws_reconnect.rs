//! A second connection with the same invitation resumes the same
//! participant: it is welcomed, the first is closed with 4002, and the
//! trace records `left` (replaced) then `joined`.

mod common;

use common::server::*;
use serde_json::json;
use session::ActEvent;
use session::act::LeaveReason;
use signaling::protocol::{ErrorCode, ServerMessage, SignalData};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let token = act.token("professional");
    let (mut first, w1) = server.join(&token).await;
    let (mut second, w2) = server.join(&token).await;
    assert_eq!(w1.participant, 1);
    assert_eq!(w2.participant, 1, "the same participant");
    assert_eq!(w2.role, w1.role);

    assert_eq!(first.expect_close().await, close::REPLACED);
    assert_eq!(
        first.count(|m| matches!(m, ServerMessage::Welcome { .. })),
        1
    );

    // The first connection is fully gone now; the round trip orders the
    // room after anything its end caused.
    second.sync().await;
    let events = server.events(act.id());
    let tail: Vec<&ActEvent> = events.iter().rev().take(2).rev().map(|e| &e.body).collect();
    match tail.as_slice() {
        [
            ActEvent::Left {
                participant: l,
                reason: LeaveReason::Replaced,
            },
            ActEvent::Joined { participant: j, .. },
        ] => assert_eq!((l.0, j.0), (1, 1)),
        other => panic!("expected left (replaced) then joined, got {other:?}"),
    }
    let joins = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::Joined { .. }))
        .count();
    let leaves = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::Left { .. }))
        .count();
    assert_eq!((joins, leaves), (2, 1), "{:?}", server.kinds(act.id()));

    // The room lists the participant once, connected.
    let last_state = second.last_state();
    let me: Vec<_> = last_state
        .participants
        .iter()
        .filter(|p| p.id == 1)
        .collect();
    assert_eq!(me.len(), 1);
    assert!(me[0].connected);
    server.assert_still_serving(&act.token("patient"), 2).await;
    server.assert_trace_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_patient_gets_media_back() {
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    // The patient reloads the page.
    let (mut again, w2) = server.join(&act.token("patient")).await;
    assert_eq!(w2.participant, 2);
    assert_eq!(patient.expect_close().await, close::REPLACED);
    assert_eq!(
        again.expect_ice_servers().await,
        test_ice_servers(),
        "consent and admission still stand"
    );
    pro.signal(2, &SignalData::Offer { sdp: "v=0".into() })
        .await;
    assert_eq!(again.expect_signal().await.0, 1);
    assert_eq!(
        patient.count(is_signal),
        0,
        "nothing reaches the old connection"
    );
    again
        .signal(1, &SignalData::Answer { sdp: "v=0".into() })
        .await;
    assert_eq!(pro.expect_signal().await.0, 2);

    // A message on the replaced connection after its close is impossible;
    // a third connection replaces the second as well.
    let (mut third, _) = server.join(&act.token("patient")).await;
    assert_eq!(again.expect_close().await, close::REPLACED);
    third.send(json!({"type": "leave"})).await;
    assert_eq!(third.expect_close().await, close::LEFT);
    pro.signal(2, &SignalData::Offer { sdp: "v=0".into() })
        .await;
    pro.expect_error(ErrorCode::Refused).await;
    let events = server.events(act.id());
    assert!(left_for(&events, 2, LeaveReason::Replaced));
    assert!(left_for(&events, 2, LeaveReason::LeftByChoice));
    server.assert_trace_intact();
}
