//! Degraded modes over the WebSocket: the patient's client falls back to
//! audio only and back (each change traced once, announced to everyone),
//! the patient leaves a call-back number at join, and the professional
//! switches to the phone route and gets that number, which the patient's
//! peers never see and the trace keeps sealed.

mod common;

use common::server::*;
use serde_json::json;
use session::ActEvent;
use session::mode::{MediaMode, ModeCause};
use signaling::protocol::{ErrorCode, ServerMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_fallback_and_phone_route_are_traced_and_announced() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;

    // At join, with the consent: a bad number is refused, a good one kept.
    patient
        .send(json!({"type": "callback_number", "number": "call me"}))
        .await;
    patient.expect_error(ErrorCode::Refused).await;
    patient
        .send(json!({"type": "callback_number", "number": "06 00 00 00 01"}))
        .await;
    patient.consent(&w).await;
    pro.expect_state("consent", |v| v.consent_given).await;
    pro.send(json!({"type": "admit", "participant": 2})).await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;

    // The patient's client measures a bad link and goes audio only.
    patient
        .send(json!({"type": "mode", "mode": "audio_only", "cause": "automatic"}))
        .await;
    for c in [&mut pro, &mut patient] {
        c.expect("mode_changed audio_only", |m| match m {
            ServerMessage::ModeChanged {
                participant: 2,
                mode: MediaMode::AudioOnly,
                cause: ModeCause::Automatic,
            } => Some(()),
            _ => None,
        })
        .await;
    }
    // Saying it twice is no second change.
    patient
        .send(json!({"type": "mode", "mode": "audio_only", "cause": "automatic"}))
        .await;
    patient.expect_error(ErrorCode::Refused).await;
    // Only a professional chooses the phone route.
    patient
        .send(json!({"type": "mode", "mode": "phone", "cause": "manual"}))
        .await;
    patient.expect_error(ErrorCode::Refused).await;
    patient
        .send(json!({"type": "mode", "mode": "video", "cause": "automatic"}))
        .await;
    pro.expect("mode_changed video", |m| match m {
        ServerMessage::ModeChanged {
            participant: 2,
            mode: MediaMode::Video,
            ..
        } => Some(()),
        _ => None,
    })
    .await;

    // The link fails for good: the professional calls back by phone.
    pro.send(json!({"type": "mode", "mode": "phone", "cause": "manual", "participant": 2}))
        .await;
    let number = pro
        .expect("phone_route", |m| match m {
            ServerMessage::PhoneRoute {
                participant: 2,
                number,
            } => Some(number.clone()),
            _ => None,
        })
        .await;
    assert_eq!(number, "0600000001");
    patient
        .expect("mode_changed phone", |m| match m {
            ServerMessage::ModeChanged {
                mode: MediaMode::Phone,
                ..
            } => Some(()),
            _ => None,
        })
        .await;
    patient.sync().await;
    assert!(
        !patient
            .seen
            .iter()
            .any(|m| matches!(m, ServerMessage::PhoneRoute { .. })),
        "the patient's page is not sent the number"
    );

    let events = server.events(act.id());
    let modes: Vec<(MediaMode, ModeCause, u32)> = events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::ModeChanged {
                mode, cause, by, ..
            } => Some((*mode, *cause, by.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        modes,
        [
            (MediaMode::AudioOnly, ModeCause::Automatic, 2),
            (MediaMode::Video, ModeCause::Automatic, 2),
            (MediaMode::Phone, ModeCause::Manual, 1),
        ]
    );
    let numbers = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::CallbackNumberGiven { .. }))
        .count();
    assert_eq!(numbers, 1);
    server.assert_trace_intact();
}
