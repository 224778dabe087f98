//! A chat message whose two ends report different digests (the text was
//! altered on the way, or one page lies): the trace holds both reports and
//! a `chat_mismatch` incident, opened and closed at once; both ends get
//! `exchange_mismatch` naming the message, and the professional the
//! incident.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use signaling::protocol::ServerMessage;

#[tokio::test(start_paused = true)]
async fn different_digests_open_a_chat_mismatch_and_warn_both_ends() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, mut patient) = server.in_performance().await;

    pro.send(chat(5, 1, 0x11)).await;
    patient.send(chat(5, 1, 0x22)).await;
    let to_patient = patient.sync().await;
    let to_pro = pro.sync().await;

    let expected = vec![("chat".to_string(), id(5))];
    assert_eq!(mismatches(&to_patient), expected);
    assert_eq!(mismatches(&to_pro), expected);
    assert!(
        to_pro.iter().any(|m| matches!(m, ServerMessage::Incident(i)
            if i.kind.to_string() == "chat_mismatch" && i.participant == Some(2))),
        "the professional sees the incident: {to_pro:?}"
    );
    assert!(
        !to_patient
            .iter()
            .any(|m| matches!(m, ServerMessage::Incident(_))),
        "incidents go to professionals only"
    );
    let kinds = server.kinds(act.id());
    let tail = &kinds[kinds.len() - 4..];
    assert_eq!(
        tail,
        [
            "chat_reported",
            "chat_reported",
            "incident_opened",
            "incident_closed"
        ]
    );
    assert_eq!(incident_kinds(&server.events(act.id())), ["chat_mismatch"]);
    server.assert_trace_intact();
}
