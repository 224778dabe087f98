//! Replay: the act rebuilt from its trace equals the live act, in every
//! phase, at every prefix, through JSON, and for traces written under the
//! earlier presence rules.

mod common;

use common::lifecycle::*;
use common::*;
use session::ParticipantId;
use session::act::{Act, Phase};
use session::consent::ConsentScope;
use session::event::{ActEvent, Event};

#[test]
fn replay_rebuilds_the_live_act() {
    let s = busy_act();
    assert_eq!(s.act.phase, Phase::Closed);
    assert!(s.act.incidents.iter().all(|i| i.closed_at.is_some()));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn replay_rebuilds_the_admissions() {
    let s = busy_act();
    assert_eq!(s.act.admitted, vec![PATIENT_ID, ParticipantId(3)]);
    let replayed = s.replay().unwrap();
    assert_eq!(replayed.admitted, s.act.admitted);
    assert_eq!(replayed, s.act);

    // The admissions are in the trace, in order, with who admitted.
    let admissions: Vec<(ParticipantId, ParticipantId)> = s
        .events
        .iter()
        .filter_map(|e| match e.body {
            ActEvent::Admitted { participant, by } => Some((participant, by)),
            _ => None,
        })
        .collect();
    assert_eq!(
        admissions,
        vec![
            (PATIENT_ID, REQUESTER_ID),
            (ParticipantId(3), ParticipantId(4))
        ]
    );

    // Without the first admission, only the second is left.
    let first = s
        .events
        .iter()
        .position(|e| matches!(e.body, ActEvent::Admitted { .. }))
        .unwrap();
    let mut dropped = s.events.clone();
    dropped.remove(first);
    let replayed = Act::replay(s.act.id, &dropped).unwrap();
    assert_eq!(replayed.admitted, vec![ParticipantId(3)]);
}

#[test]
fn replay_keeps_every_session_event() {
    let s = busy_act();
    let count = |kind: &str| s.events.iter().filter(|e| e.body.kind() == kind).count();
    assert_eq!(count("joined"), 4);
    assert_eq!(count("left"), 3);
    assert_eq!(count("admitted"), 2);
    assert_eq!(count("media_connected"), 3);

    // Through JSON, as the trace stores them: the user agent is marked
    // personal, so it is sealed at rest; the rest stays readable.
    let json = serde_json::to_value(&s.events).unwrap();
    let joined = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "joined")
        .unwrap();
    assert_eq!(joined["user_agent"][session::PII_KEY], USER_AGENT);
    assert_eq!(joined["participant"], REQUESTER_ID.0);
    let left = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "left")
        .unwrap();
    assert_eq!(left["reason"], "connection_lost");
    let media = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "media_connected")
        .unwrap();
    assert_eq!(media["route"], "relay");
    assert_eq!(media["codecs"], serde_json::json!(["opus", "VP8"]));
    let back: Vec<Event> = serde_json::from_value(json).unwrap();
    assert_eq!(back, s.events);
    assert_eq!(Act::replay(s.act.id, &back).unwrap(), s.act);
}

#[test]
fn replay_rebuilds_every_phase() {
    for phase in ALL_PHASES {
        let s = Scenario::teleconsultation_in(phase);
        assert_eq!(s.replay().unwrap(), s.act, "{phase}");
    }
}

#[test]
fn replay_of_every_prefix_matches_apply_step_by_step() {
    let s = busy_act();
    let mut folded = Act::replay(s.act.id, &s.events[..1]).unwrap();
    for (n, e) in s.events.iter().enumerate().skip(1) {
        folded.apply(e).unwrap();
        assert_eq!(Act::replay(s.act.id, &s.events[..=n]).unwrap(), folded);
    }
    assert_eq!(folded, s.act);
}

#[test]
fn replay_survives_serialization() {
    let s = busy_act();
    let json = serde_json::to_string(&s.events).unwrap();
    let back: Vec<Event> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s.events);
    assert_eq!(Act::replay(s.act.id, &back).unwrap(), s.act);
}

/// Replay checks what every trace must satisfy, not every live rule: a
/// trace written before admitting professionals and recording media without
/// standing consent or admission were refused still replays. See
/// [`Act::apply`].
#[test]
fn replay_accepts_traces_written_under_the_earlier_presence_rules() {
    let s = Scenario::teleconsultation_in(Phase::Performance);
    let mut events = s.events.clone();
    let mut ms = s.clock_ms;
    // A professional admitted; the patient, never admitted, gets media,
    // withdraws consent to the act and gets media again.
    for body in [
        admitted(REQUESTER_ID, REQUESTER_ID),
        ActEvent::MediaConnected(media_path(PATIENT_ID)),
        ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID,
        },
        ActEvent::MediaConnected(media_path(PATIENT_ID)),
    ] {
        ms += Scenario::STEP_MS;
        events.push(Event {
            at: at_ms(ms),
            body,
        });
    }
    let act = Act::replay(s.act.id, &events).unwrap();
    assert_eq!(act.admitted, vec![REQUESTER_ID]);
    assert!(!act.consent.allows_media());
}
