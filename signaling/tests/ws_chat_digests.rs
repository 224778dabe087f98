//! A chat message in the live session: its sender and its receiver each
//! report the same salted digest (the text never reaches the server). The
//! trace holds two `chat_reported` events, no incident, and neither end is
//! warned. A report resent after a lost `pong` is not recorded twice.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use session::ActEvent;

#[tokio::test(start_paused = true)]
async fn equal_digests_from_both_ends_are_two_reports_and_no_incident() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    // The professional (1) sends; the patient (2) receives. Each round
    // trip orders the reports in the trace.
    pro.send(chat(1, 1, 0xab)).await;
    let mut to_pro = pro.sync().await;
    patient.send(chat(1, 1, 0xab)).await;
    let mut to_patient = patient.sync().await;
    // The patient answers; this time the receiver reports first.
    pro.send(chat(2, 2, 0xcd)).await;
    to_pro.extend(pro.sync().await);
    patient.send(chat(2, 2, 0xcd)).await;
    // A resend of a report already held.
    patient.send(chat(2, 2, 0xcd)).await;
    to_patient.extend(patient.sync().await);
    to_pro.extend(pro.sync().await);

    assert!(mismatches(&to_pro).is_empty() && mismatches(&to_patient).is_empty());
    assert!(
        !to_patient
            .iter()
            .chain(&to_pro)
            .any(|m| matches!(m, signaling::protocol::ServerMessage::Error { .. })),
        "nothing refused: {to_pro:?} {to_patient:?}"
    );
    let events = server.events(act.id());
    let reports: Vec<(u32, u32, String)> = events
        .iter()
        .filter_map(|e| match &e.body {
            ActEvent::ChatReported {
                sender,
                reporter,
                digest,
                ..
            } => Some((sender.0, reporter.0, digest.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        reports,
        [
            (1, 1, digest(0xab)),
            (1, 2, digest(0xab)),
            (2, 1, digest(0xcd)),
            (2, 2, digest(0xcd)),
        ]
    );
    assert!(
        incident_kinds(&events).is_empty(),
        "{:?}",
        server.kinds(act.id())
    );
    server.assert_trace_intact();
}
