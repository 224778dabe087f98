//! Fixtures of the room's unit tests: a téléconsultation's room, its
//! participants, and the inputs they send.

use std::collections::BTreeMap;
use std::time::Duration;

use session::act::{ActKind, Command, MediaRoute, Phase};
use session::incident::RelaySample;
use session::participant::{Identity, Role};
use session::{Act, ActId, ParticipantId, PatientAlias, Pii, Timestamp};

use super::*;
use crate::consent_text;
use crate::protocol::{ClientMessage, ServerMessage, SignalData};

pub const PRO: ParticipantId = ParticipantId(1);
pub const PATIENT: ParticipantId = ParticipantId(2);

pub fn t(s: i64) -> Timestamp {
    Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
}

pub fn room() -> Room {
    let (mut act, _) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
    act.handle(
        Command::Register {
            role: Role::Requester,
            identity: Identity::Professional {
                name: Pii::new("Dr Fictif".into()),
                rpps: Pii::new("10000000009".parse().unwrap()),
            },
        },
        t(0),
    )
    .unwrap();
    act.handle(
        Command::Register {
            role: Role::Patient,
            identity: Identity::Patient {
                alias: Pii::new("dossier-1".parse::<PatientAlias>().unwrap()),
            },
        },
        t(0),
    )
    .unwrap();
    Room::new(act, vec![])
}

pub fn hello(room: &mut Room, conn: ConnId, p: ParticipantId) -> Step {
    room.handle(
        Input::Hello {
            conn,
            participant: p,
            user_agent: "test".into(),
        },
        t(1),
    )
}

pub fn say(room: &mut Room, conn: ConnId, msg: ClientMessage) -> Step {
    room.handle(Input::Message { conn, msg }, t(2))
}

pub fn sent_to(step: &Step, conn: ConnId) -> Vec<&ServerMessage> {
    step.outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, msg } if *c == conn => Some(msg),
            _ => None,
        })
        .collect()
}

pub fn consent(room: &mut Room, conn: ConnId) -> Step {
    let sha = consent_text::patient_texts()[0].sha256.clone();
    say(
        room,
        conn,
        ClientMessage::Consent {
            accept: true,
            language: "fr".into(),
            text_sha256: sha,
        },
    )
}

pub fn offer() -> SignalData {
    SignalData::Offer { sdp: "v=0".into() }
}

/// A room in performance: the professional on conn 10, the patient on
/// 20, consent given and the patient admitted.
pub fn live_room(timeout_s: u64) -> Room {
    let mut r = room().with_recovery_timeout(Duration::from_secs(timeout_s));
    hello(&mut r, 10, PRO);
    hello(&mut r, 20, PATIENT);
    consent(&mut r, 20);
    say(&mut r, 10, ClientMessage::Admit { participant: 2 });
    assert_eq!(r.act().phase, Phase::Performance);
    r
}

pub fn kinds(step: &Step) -> Vec<&'static str> {
    step.events.iter().map(|e| e.body.kind()).collect()
}

/// The patient's relay traffic at `at` seconds: `sent` datagrams so
/// far, the last one at `last` seconds; `None`: no allocation.
pub fn relay(sent: Option<u64>, last: i64) -> Input {
    let mut traffic = BTreeMap::new();
    if let Some(sent) = sent {
        traffic.insert(
            PATIENT,
            RelaySample {
                allocations: 1,
                generation: 1,
                sent_packets: sent,
                sent_bytes: sent * 1000,
                last_sent_at: Some(t(last)),
                ..RelaySample::default()
            },
        );
    }
    Input::RelayTraffic(traffic)
}

pub fn route_report(route: MediaRoute) -> ClientMessage {
    ClientMessage::Stats(crate::protocol::StatsReport {
        route: Some(route),
        ..Default::default()
    })
}
