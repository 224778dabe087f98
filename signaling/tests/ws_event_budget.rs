//! Durable writes have budgets: before consent, a patient who floods
//! `callback_number` and `mode` frames gets `error` `refused` beyond their
//! budget of trace events, and the trace holds at most the budget; the
//! patient's consent still passes, and the consultation goes on.

mod common;

use std::time::Duration;

use common::server::*;
use common::time;
use serde_json::json;
use session::ActEvent;
use signaling::budget::BudgetLimits;
use signaling::protocol::{ErrorCode, ServerMessage};

/// Frames in the flood: under the connection's burst of 100, so the
/// frame-rate limit does not answer first.
const FLOOD: usize = 90;

fn recorded_by_flood(events: &[session::Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.body,
                ActEvent::CallbackNumberGiven { .. } | ActEvent::ModeChanged { .. }
            )
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_consent_flood_leaves_at_most_the_budget_in_the_trace() {
    let server = TestServer::start().await;
    let budget = BudgetLimits::default().participant_per_minute as usize;
    assert!(budget < FLOOD);
    let act = server.create_act();
    let (mut patient, w) = server.join(&act.token("patient")).await;
    for i in 0..FLOOD {
        let frame = match i % 3 {
            0 => {
                json!({"type": "callback_number", "number": format!("06 00 00 {:02} 01", i % 100)})
            }
            1 => json!({"type": "mode", "mode": "audio_only", "cause": "automatic"}),
            _ => json!({"type": "mode", "mode": "video", "cause": "automatic"}),
        };
        assert!(
            patient.feed_text(frame.to_string()).await,
            "frame {i} queued"
        );
    }
    patient.flush().await;
    // Everything the flood caused has arrived once the pong has.
    let answers = patient.sync().await;
    let refusals: Vec<&String> = answers
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Error {
                code: ErrorCode::Refused,
                message,
            } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(refusals.len(), FLOOD - budget, "{answers:?}");
    assert!(
        refusals.iter().all(|m| m.contains("too many events")),
        "{refusals:?}"
    );
    let events = server.events(act.id());
    assert_eq!(recorded_by_flood(&events), budget, "the budget, no more");
    let numbers = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::CallbackNumberGiven { .. }))
        .count();
    assert!(numbers > 0, "numbers were recorded within the budget");

    // The patient's consent is not lost to their own flood, and the
    // professional is not held by it.
    let (mut pro, _) = server.join(&act.token("professional")).await;
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    pro.send(json!({"type": "mode", "mode": "phone", "cause": "manual", "participant": 2}))
        .await;
    pro.expect("phone_route", |m| match m {
        ServerMessage::PhoneRoute { participant: 2, .. } => Some(()),
        _ => None,
    })
    .await;
    pro.sync().await;
    assert!(
        !pro.seen
            .iter()
            .any(|m| matches!(m, ServerMessage::Error { .. })),
        "the professional is refused nothing: {:?}",
        pro.seen
    );
    server.assert_trace_intact();
}

/// On paused time held still (`common::time`): the wait the server
/// announces is exact.
#[tokio::test(start_paused = true)]
async fn a_reconnection_loop_is_held_by_the_join_budget() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let joins = BudgetLimits::default().joins_per_minute as usize;
    let act = server.create_act();
    let token = act.token("patient");
    let mut last = None;
    for _ in 0..joins {
        let (c, w) = server.join(&token).await;
        assert_eq!(w.participant, 2);
        last = Some(c);
    }
    // The minute's joins were all at once; 15 s later (the connection in
    // the room talking meanwhile, as a live client does)...
    let mut last = last.expect("a connection");
    for _ in 0..15 {
        time::advance(Duration::from_secs(1)).await;
        last.sync().await;
    }
    let mut flooder = server.connect().await;
    flooder.hello(&token).await;
    let message = flooder.expect_error(ErrorCode::Refused).await;
    assert!(message.contains("joined too many times"), "{message}");
    // Not a protocol violation: its own code, with the seconds to wait.
    assert!(message.contains("try again in"), "{message}");
    assert_eq!(flooder.expect_close().await, close::JOIN_LATER);
    let reason = flooder.close_reason.clone().expect("a close reason");
    let secs: u32 = reason
        .strip_prefix("retry_after:")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("reason {reason:?}"));
    assert_eq!(secs, 45, "the rest of the minute");
    // The connection already in the room is not replaced by the refused one.
    last.sync().await;
    let joined = server
        .events(act.id())
        .iter()
        .filter(|e| matches!(e.body, ActEvent::Joined { participant, .. } if participant.0 == 2))
        .count();
    assert_eq!(joined, joins, "one join per accepted hello, no more");
}
