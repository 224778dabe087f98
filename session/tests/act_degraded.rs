//! Degraded modes: audio-only and back, and the phone route on the
//! patient's call-back number. Each change is an event that replays.

mod common;

use common::*;
use session::act::{Act, Command, Phase};
use session::event::ActEvent;
use session::mode::{MediaMode, ModeCause, PhoneNumber};
use session::{ParticipantId, Pii};

fn mode(
    participant: ParticipantId,
    mode: MediaMode,
    cause: ModeCause,
    by: ParticipantId,
) -> Command {
    Command::ChangeMode {
        participant,
        mode,
        cause,
        by,
    }
}

fn number() -> Pii<PhoneNumber> {
    Pii::new(PhoneNumber::parse("06 00 00 00 01").unwrap())
}

#[test]
fn audio_only_and_back_are_traced_once_each() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    assert_eq!(s.act.mode_of(PATIENT_ID), MediaMode::Video);
    let events = s.ok(mode(
        PATIENT_ID,
        MediaMode::AudioOnly,
        ModeCause::Automatic,
        PATIENT_ID,
    ));
    assert!(matches!(
        events[0].body,
        ActEvent::ModeChanged {
            mode: MediaMode::AudioOnly,
            cause: ModeCause::Automatic,
            ..
        }
    ));
    assert_eq!(s.act.mode_of(PATIENT_ID), MediaMode::AudioOnly);
    // The same mode again is no change, so it is refused, not duplicated.
    s.refuse(mode(
        PATIENT_ID,
        MediaMode::AudioOnly,
        ModeCause::Automatic,
        PATIENT_ID,
    ));
    s.ok(mode(
        PATIENT_ID,
        MediaMode::Video,
        ModeCause::Automatic,
        PATIENT_ID,
    ));
    assert_eq!(s.act.mode_of(PATIENT_ID), MediaMode::Video);
    // The professional may switch the patient by hand, not automatically.
    s.refuse(mode(
        PATIENT_ID,
        MediaMode::AudioOnly,
        ModeCause::Automatic,
        REQUESTER_ID,
    ));
    s.ok(mode(
        PATIENT_ID,
        MediaMode::AudioOnly,
        ModeCause::Manual,
        REQUESTER_ID,
    ));
    // The patient may not change the professional's mode.
    s.refuse(mode(
        REQUESTER_ID,
        MediaMode::AudioOnly,
        ModeCause::Manual,
        PATIENT_ID,
    ));
    let replayed = Act::replay(s.act.id, &s.events).unwrap();
    assert_eq!(replayed, s.act);
}

#[test]
fn phone_route_needs_a_call_back_number_and_a_professional() {
    let mut s = Scenario::teleconsultation();
    s.drive_to(Phase::Preparation);
    s.refuse(mode(
        PATIENT_ID,
        MediaMode::Phone,
        ModeCause::Manual,
        REQUESTER_ID,
    ));
    s.refuse(Command::GiveCallbackNumber {
        participant: REQUESTER_ID,
        number: number(),
    });
    s.ok(Command::GiveCallbackNumber {
        participant: PATIENT_ID,
        number: number(),
    });
    s.drive_to(Phase::Performance);
    s.refuse(mode(
        PATIENT_ID,
        MediaMode::Phone,
        ModeCause::Manual,
        PATIENT_ID,
    ));
    s.ok(mode(
        PATIENT_ID,
        MediaMode::Phone,
        ModeCause::Manual,
        REQUESTER_ID,
    ));
    assert_eq!(s.act.mode_of(PATIENT_ID), MediaMode::Phone);
    assert_eq!(
        s.act.callback_number(PATIENT_ID).unwrap().expose().as_str(),
        "0600000001"
    );
    // The number is sealed: its JSON is marked personal data.
    let e = s
        .events
        .iter()
        .find(|e| matches!(e.body, ActEvent::CallbackNumberGiven { .. }))
        .unwrap();
    let json = serde_json::to_string(e).unwrap();
    assert!(json.contains(session::PII_KEY), "{json}");
    let replayed = Act::replay(s.act.id, &s.events).unwrap();
    assert_eq!(replayed, s.act);
    // Nothing changes mode once the act is over.
    s.drive_to(Phase::Closed);
    s.refuse(mode(
        PATIENT_ID,
        MediaMode::Video,
        ModeCause::Manual,
        REQUESTER_ID,
    ));
}
