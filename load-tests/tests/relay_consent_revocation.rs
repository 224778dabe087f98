//! The relay obeys the consent gate, with a real relay and a real TURN
//! client driven by a real signaling session:
//!
//! - credentials handed out with media are refused once the patient
//!   withdraws consent, and their allocation is deleted;
//! - consent given anew brings new credentials, which work, while those
//!   revoked before stay dead (they used to revive on re-consent);
//! - the conclusion of the act kills the new ones too, connection-test
//!   credentials included.

mod common;

use std::time::Duration;

use load_tests::turn_client::TurnClient;
use signaling::protocol::{ClientMessage, ServerMessage};

use common::ws::{Pair, ice, turn_credentials};

/// Waits, up to 10 s, until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_die_on_withdrawal_and_conclusion_and_stay_dead_after_reconsent() {
    let s = common::server_with(true).await;
    let relay = s.state.config.relay.clone().unwrap();
    let relay_addr = relay.relay.udp_addr().unwrap();
    let (act, pro_token, patient_token) = common::consultation(&s.state);

    let mut call = Pair::join(&s.ws_url, &pro_token, &patient_token).await;
    let me = call.patient_id;

    // The connection test's credentials, handed out before consent.
    let Ok(axum::Json(started)) = signaling::precall::start(
        axum::extract::State(s.state.clone()),
        Ok(axum::Json(signaling::precall::Start {
            token: patient_token.clone(),
        })),
    )
    .await
    else {
        panic!("the connection test starts");
    };
    let (precall_user, precall_pass) = started
        .paths
        .iter()
        .find_map(|p| {
            p.ice_servers
                .iter()
                .find(|s| s.username.is_some())
                .map(|s| turn_credentials(std::slice::from_ref(s)))
        })
        .expect("a relay path");

    let (first_user, first_pass) = turn_credentials(&call.consent_and_admit().await);
    let first = TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect("the call's credentials allocate while consent stands");
    assert_eq!(relay.relay.allocations_of(&first_user), 1);

    // Withdrawal: refused, and the allocation is gone.
    call.patient.send(ClientMessage::WithdrawConsent {});
    call.patient
        .expect("stop_media", |m| {
            matches!(m, ServerMessage::StopMedia { .. }).then_some(())
        })
        .await;
    until(
        "the allocation made before the withdrawal is deleted",
        || relay.relay.allocations_of(&first_user) == 0,
    )
    .await;
    drop(first);
    TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect_err("credentials are refused after withdrawal");
    TurnClient::allocate(relay_addr, &precall_user, &precall_pass)
        .await
        .expect_err("connection-test credentials are refused after withdrawal");

    // Consent again: new credentials work, the old ones stay dead.
    call.patient.send(call.consent());
    let (second_user, second_pass) =
        turn_credentials(&call.patient.expect("ice_servers", ice).await);
    assert_ne!(second_user, first_user, "re-consent issues new credentials");
    let second = TurnClient::allocate(relay_addr, &second_user, &second_pass)
        .await
        .expect("credentials issued after re-consent allocate");
    TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect_err("credentials revoked before the re-consent stay dead");
    TurnClient::allocate(relay_addr, &precall_user, &precall_pass)
        .await
        .expect_err("connection-test credentials revoked before stay dead");

    // Conclusion: the new credentials die too, and their allocation.
    call.pro.send(ClientMessage::Conclude {
        report: "Compte rendu de test.".into(),
        prescriptions: vec![],
    });
    until("the allocation is deleted at the conclusion", || {
        relay.relay.allocations_of(&second_user) == 0
    })
    .await;
    drop(second);
    TurnClient::allocate(relay_addr, &second_user, &second_pass)
        .await
        .expect_err("credentials are refused after the conclusion");
    assert!(
        relay
            .credentials
            .is_revoked(&act.to_string(), &me.to_string())
    );
    s.assert_trace_intact();
}
