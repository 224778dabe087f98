//! A participant removed from the session keeps no way through the relay,
//! with a real relay and a real TURN client driven by a real signaling
//! session:
//!
//! - the patient leaves by choice: their credentials are refused at once
//!   and their allocation deleted, while the professional's still work;
//! - the patient comes back with the same link while media is allowed:
//!   new credentials work, those revoked when they left stay dead.

mod common;

use std::time::Duration;

use load_tests::turn_client::TurnClient;
use signaling::protocol::ClientMessage;

use common::ws::{Ws, ice, turn_credentials};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_leaves_loses_relay_access_and_gets_new_credentials_back() {
    let s = common::server_with(true).await;
    let relay = s.state.config.relay.clone().unwrap();
    let relay_addr = relay.relay.udp_addr().unwrap();
    let common::InPerformance {
        patient_token,
        mut call,
        patient_ice,
        ..
    } = common::in_performance(&s).await;
    let (first_user, first_pass) = turn_credentials(&patient_ice);
    let (pro_user, pro_pass) = turn_credentials(&call.pro.expect("pro ice_servers", ice).await);
    let first = TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect("the patient's credentials allocate in the call");

    // The patient leaves by choice: their allocation goes, their
    // credentials are refused; the professional's are untouched.
    call.patient.send(ClientMessage::Leave {});
    common::wait_until(
        "the patient's allocation is deleted when they leave",
        WAIT,
        || relay.relay.allocations_of(&first_user) == 0,
    )
    .await;
    drop(first);
    TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect_err("credentials are refused once their participant left");
    let pro_alloc = TurnClient::allocate(relay_addr, &pro_user, &pro_pass)
        .await
        .expect("the professional keeps relay access");
    drop(pro_alloc);

    // Back with the same link: new credentials work, the old ones stay dead.
    let mut back = Ws::join(&s.ws_url, &patient_token).await;
    let (second_user, second_pass) =
        turn_credentials(&back.expect("ice_servers on return", ice).await);
    assert_ne!(second_user, first_user, "the return brings new credentials");
    let second = TurnClient::allocate(relay_addr, &second_user, &second_pass)
        .await
        .expect("credentials issued on the return allocate");
    TurnClient::allocate(relay_addr, &first_user, &first_pass)
        .await
        .expect_err("credentials revoked when the patient left stay dead");
    drop(second);
    s.assert_trace_intact();
}
