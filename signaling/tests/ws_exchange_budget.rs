//! A flood of chat digests is held by the exchange budget: beyond the
//! participant's events per minute, each report is `refused` and the trace
//! holds the budget, no more. The other budget (consents, modes) is not
//! spent by it, and the next minute the chat goes on.

mod common;

use std::time::Duration;

use common::exchange::*;
use common::server::*;
use common::time;
use serde_json::json;
use session::ActEvent;
use signaling::protocol::{ErrorCode, ServerMessage};

const BUDGET: usize = 10;
const FLOOD: u8 = 40;

#[tokio::test(start_paused = true)]
async fn a_chat_flood_records_at_most_the_exchange_budget() {
    let _held = time::hold();
    let server = TestServer::start_with(|s| {
        s.http.exchange_events_per_participant_per_minute = BUDGET as u32;
    })
    .await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    for n in 0..FLOOD {
        patient.send(chat(n, 2, n)).await;
    }
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
    assert_eq!(refusals.len(), FLOOD as usize - BUDGET, "{answers:?}");
    assert!(
        refusals
            .iter()
            .all(|m| m.contains("too many chat messages and files")),
        "{refusals:?}"
    );
    let reports = |server: &TestServer| {
        server
            .events(act.id())
            .iter()
            .filter(|e| matches!(e.body, ActEvent::ChatReported { .. }))
            .count()
    };
    assert_eq!(reports(&server), BUDGET);

    // The records' budget is whole: a mode change passes.
    patient
        .send(json!({"type": "mode", "mode": "audio_only", "cause": "automatic"}))
        .await;
    assert!(
        !patient
            .sync()
            .await
            .iter()
            .any(|m| matches!(m, ServerMessage::Error { .. }))
    );
    // A minute later (both pages talking meanwhile, as live ones do), the
    // chat goes on.
    pass(Duration::from_secs(60), &mut pro, &mut patient).await;
    patient.send(chat(0xf0, 2, 1)).await;
    patient.sync().await;
    assert_eq!(reports(&server), BUDGET + 1);
    server.assert_trace_intact();
}
