//! The consent gate over a real socket: no ICE servers and no relayed
//! negotiation before the patient's consent and admission; both once they
//! are given; `stop_media` and refusal again once consent is withdrawn.

mod common;

use common::server::*;
use serde_json::json;
use session::Phase;
use signaling::protocol::{ErrorCode, SignalData};

fn offer() -> SignalData {
    SignalData::Offer {
        sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n".into(),
    }
}

fn answer() -> SignalData {
    SignalData::Answer {
        sdp: "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n".into(),
    }
}

fn candidate() -> SignalData {
    SignalData::Candidate {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

/// `from` signals `to`, is refused, and `to` receives nothing.
async fn signal_refused(from: &mut Client, to: &mut Client, to_id: u32) {
    from.signal(to_id, &offer()).await;
    from.expect_error(ErrorCode::Refused).await;
    let got = to.sync().await;
    assert!(
        !got.iter().any(is_signal),
        "nothing relayed to participant {to_id}: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_needs_consent_and_admission_and_stops_on_withdrawal() {
    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, pw) = server.join(&act.token("professional")).await;
    let (mut patient, w) = server.join(&act.token("patient")).await;
    assert_eq!((pw.participant, w.participant), (1, 2));

    // Before consent: refused both ways; nobody gets ICE servers.
    signal_refused(&mut pro, &mut patient, 2).await;
    signal_refused(&mut patient, &mut pro, 1).await;

    // A consent to a text the server did not show is refused.
    patient
        .send(json!({
            "type": "consent",
            "accept": true,
            "language": "fr",
            "text_sha256": "00".repeat(32),
        }))
        .await;
    patient.expect_error(ErrorCode::Refused).await;
    // A professional cannot consent for the patient.
    pro.consent(&Welcome {
        consent_sha256: w.consent_sha256.clone(),
        ..pw
    })
    .await;
    pro.expect_error(ErrorCode::Forbidden).await;
    // The patient cannot admit itself.
    patient
        .send(json!({"type": "admit", "participant": 2}))
        .await;
    patient.expect_error(ErrorCode::Forbidden).await;

    // Consent, not yet admitted: still refused.
    patient.consent(&w).await;
    pro.expect_state("consent given", |v| v.consent_given && !v.media_allowed)
        .await;
    signal_refused(&mut pro, &mut patient, 2).await;
    signal_refused(&mut patient, &mut pro, 1).await;
    assert_eq!(pro.count(is_ice_servers), 0);
    assert_eq!(patient.count(is_ice_servers), 0);

    // Admitted: both get the ICE servers, negotiation is relayed as is.
    pro.send(json!({"type": "admit", "participant": 2})).await;
    assert_eq!(pro.expect_ice_servers().await, test_ice_servers());
    assert_eq!(patient.expect_ice_servers().await, test_ice_servers());
    // The state announcing the performance came with them.
    for c in [&pro, &patient] {
        let v = c.last_state();
        assert!(v.phase == Phase::Performance && v.media_allowed, "{v:?}");
    }
    pro.signal(2, &offer()).await;
    assert_eq!(patient.expect_signal().await, (1, offer()));
    patient.signal(1, &answer()).await;
    assert_eq!(pro.expect_signal().await, (2, answer()));
    patient.signal(1, &candidate()).await;
    assert_eq!(pro.expect_signal().await, (2, candidate()));
    // A signal to a participant that does not exist is refused.
    pro.signal(7, &offer()).await;
    pro.expect_error(ErrorCode::Refused).await;

    // Withdrawn: both told to stop media, and signals are refused again.
    patient.send(json!({"type": "withdraw_consent"})).await;
    patient.expect_stop_media().await;
    pro.expect_stop_media().await;
    let relayed_to_patient = patient.count(is_signal);
    let relayed_to_pro = pro.count(is_signal);
    signal_refused(&mut pro, &mut patient, 2).await;
    signal_refused(&mut patient, &mut pro, 1).await;
    assert_eq!(patient.count(is_signal), relayed_to_patient);
    assert_eq!(pro.count(is_signal), relayed_to_pro);
    // ICE servers were handed out once each.
    assert_eq!(pro.count(is_ice_servers), 1);
    assert_eq!(patient.count(is_ice_servers), 1);

    let kinds = server.kinds(act.id());
    for k in [
        "consent_given",
        "admitted",
        "phase_entered",
        "consent_withdrawn",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let gate = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(gate("consent_given") < gate("admitted"));
    assert!(gate("admitted") < gate("consent_withdrawn"));

    // Both stay connected after the withdrawal, and others can still join.
    pro.sync().await;
    patient.sync().await;
    let other = server.create_act();
    server
        .assert_still_serving(&other.token("patient"), 2)
        .await;
    server.assert_trace_intact();
}
