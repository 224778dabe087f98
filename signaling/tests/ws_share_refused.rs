//! Exchanges follow the act's media rule: before consent, the professional's
//! file offer, chat report and screen share are refused (`refused`, no
//! `share_recorded`); a patient in the waiting room (consent given, not
//! admitted) is refused too. Nothing is recorded; once the performance
//! starts, the same offer is accepted.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use serde_json::json;
use signaling::protocol::{ErrorCode, ServerMessage};

#[tokio::test(start_paused = true)]
async fn exchanges_before_consent_or_admission_are_refused() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;
    let before = server.events(act.id()).len();

    for frame in [
        offered(1, 1, 10, "avant.png"),
        chat(1, 1, 1),
        screen_share(true),
    ] {
        pro.send(frame).await;
        let why = pro.expect_error(ErrorCode::Refused).await;
        assert!(!why.contains("avant"), "no echo: {why}");
    }
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    // In the waiting room: consent given, not admitted.
    patient.send(offered(2, 1, 10, "attente.png")).await;
    patient.expect_error(ErrorCode::Refused).await;
    let answers = pro.sync().await;
    assert!(
        !answers
            .iter()
            .chain(&patient.sync().await)
            .any(|m| matches!(m, ServerMessage::ShareRecorded { .. })),
        "no refused offer is confirmed"
    );
    let kinds = server.kinds(act.id());
    assert_eq!(
        kinds[before..],
        ["consent_given"],
        "nothing but the consent was recorded"
    );

    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    pro.send(offered(1, 1, 10, "avant.png")).await;
    expect_recorded(&mut pro, 1).await;
    server.assert_trace_intact();
}
