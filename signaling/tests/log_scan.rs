//! The logs hold nothing that identifies a patient or a professional: a
//! full session (join, consent, admission, negotiation, report, end),
//! logged at TRACE level through the same `tracing_subscriber::fmt` set-up
//! as the binary (with the `log` bridge), leaves in the captured logs
//! neither the patient's alias, the professional's name or RPPS number,
//! nor the report, the prescription, or the user agent.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::server::*;
use common::{DOCTOR, DOCTOR_RPPS, PATIENT};
use serde_json::json;
use signaling::protocol::{ServerMessage, SignalData};
use tracing_subscriber::fmt::MakeWriter;

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Found in the trace (sealed), never in a log line.
const REPORT: &str = "Compte rendu: Jeanne Fictive, toux depuis trois jours";
const PRESCRIPTION: &str = "Paracetamol pour Jeanne Fictive";
const PATIENT_AGENT: &str = "FictiveBrowser/7.3 (poste-de-Jeanne-Fictive)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_leaves_no_identifier_in_the_logs() {
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter(signaling::logs::filter("trace"))
        .with_ansi(false)
        .with_writer(logs.clone())
        .try_init()
        .expect("the only subscriber of this test binary");

    let server = TestServer::start().await;
    let act = server.create_act();
    let (mut pro, _) = server.join(&act.token("professional")).await;
    let mut patient = server.connect().await;
    patient
        .send(json!({
            "type": "hello",
            "v": signaling::protocol::VERSION,
            "token": act.token("patient"),
            "user_agent": PATIENT_AGENT,
        }))
        .await;
    let w = patient.welcome().await;
    // The professional sees the patient's alias: it does travel, so its
    // absence from the logs below is not for want of handling it.
    pro.expect_state("patient joined", |v| {
        v.participants
            .iter()
            .any(|p| p.display_name.as_deref() == Some(PATIENT))
    })
    .await;
    assert!(pro.last_state().participants.len() >= 2);

    patient.consent(&w).await;
    pro.send(json!({"type": "admit", "participant": w.participant}))
        .await;
    pro.expect_ice_servers().await;
    patient.expect_ice_servers().await;
    let offer = SignalData::Offer {
        sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n".into(),
    };
    pro.signal(w.participant, &offer).await;
    assert_eq!(patient.expect_signal().await.1, offer);
    patient
        .send(json!({
            "type": "media_path",
            "route": "direct",
            "candidate_types": ["host"],
            "codecs": ["opus", "VP8"],
        }))
        .await;
    patient.sync().await;
    // A frame that does not decode, with identifiers in it: refused
    // without echoing them.
    patient
        .send_text(format!(
            r#"{{"type":"admit","participant":"{PATIENT} {DOCTOR}"}}"#
        ))
        .await;
    patient.sync().await;

    pro.send(json!({
        "type": "conclude",
        "report": REPORT,
        "prescriptions": [{"kind": "medication", "text": PRESCRIPTION}],
    }))
    .await;
    for c in [&mut pro, &mut patient] {
        c.expect("ended", |m| {
            matches!(m, ServerMessage::Ended { .. }).then_some(())
        })
        .await;
        c.wait_ended().await;
    }
    let kinds = server.kinds(act.id());
    assert!(kinds.contains(&"concluded"), "{kinds:?}");
    server.assert_trace_intact();

    let text = logs.text();
    // Not vacuous: the session was logged, at every level down to TRACE.
    assert!(text.lines().count() >= 10, "too few log lines:\n{text}");
    assert!(
        text.contains(&act.id().to_string()),
        "the act is in the logs:\n{text}"
    );
    for secret in [
        PATIENT,
        DOCTOR,
        DOCTOR_RPPS,
        REPORT,
        "Jeanne",
        PRESCRIPTION,
        PATIENT_AGENT,
        "FictiveBrowser",
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} is in the logs:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
