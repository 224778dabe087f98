//! Replay refuses traces the act's rules reject: empty, not opened by a
//! request, phases skipped, events reordered or dropped, and admissions or
//! session events about participants never registered or not allowed.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Act, ActKind, CancelReason, Command, LeaveReason, Phase};
use session::event::{ActEvent, Event};
use session::incident::IncidentId;
use session::participant::Role;
use session::{ActId, Error, ParticipantId, Pii};

#[test]
fn replay_refuses_an_empty_trace() {
    let err = Act::replay(ActId::from_bytes([1; 16]), &[]).unwrap_err();
    assert!(matches!(err, Error::InvalidTrace(_)), "{err:?}");
}

#[test]
fn replay_refuses_a_trace_that_does_not_start_with_a_request() {
    let s = busy_act();
    let err = Act::replay(s.act.id, &s.events[1..]).unwrap_err();
    assert!(matches!(err, Error::InvalidTrace(_)), "{err:?}");
}

#[test]
fn replay_refuses_a_second_request() {
    let s = Scenario::teleconsultation();
    let mut events = s.events.clone();
    events.push(events[0].clone());
    let err = Act::replay(s.act.id, &events).unwrap_err();
    assert!(matches!(err, Error::InvalidTrace(_)), "{err:?}");
}

#[test]
fn replay_refuses_a_phase_skipped() {
    let s = Scenario::teleconsultation();
    let mut events = s.events.clone();
    events.push(Event {
        at: at_ms(60_000),
        body: phase_entered(Phase::Performance),
    });
    let err = Act::replay(s.act.id, &events).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Request,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn replay_refuses_events_reordered_or_dropped() {
    let s = busy_act();
    // Without the first registration, the next is numbered out of order.
    let mut dropped = s.events.clone();
    dropped.remove(1);
    let err = Act::replay(s.act.id, &dropped).unwrap_err();
    assert!(matches!(err, Error::InvalidTrace(_)), "{err:?}");

    // An incident closed before it was opened.
    let position =
        |wanted: &dyn Fn(&ActEvent) -> bool| s.events.iter().position(|e| wanted(&e.body)).unwrap();
    let opened = position(&|b| {
        matches!(
            b,
            ActEvent::IncidentOpened {
                incident: IncidentId(2),
                ..
            }
        )
    });
    let closed = position(&|b| {
        matches!(
            b,
            ActEvent::IncidentClosed {
                incident: IncidentId(2),
                ..
            }
        )
    });
    assert!(opened < closed);
    let mut reordered = s.events.clone();
    let close = reordered.remove(closed);
    reordered.insert(opened, close);
    let err = Act::replay(s.act.id, &reordered).unwrap_err();
    assert!(matches!(err, Error::InvalidTrace(_)), "{err:?}");
}

#[test]
fn apply_refuses_a_conclusion_outside_the_conclusion_phase() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let before = s.act.clone();
    let err = s
        .act
        .apply(&Event {
            at: at_ms(1),
            body: ActEvent::Concluded(conclusion()),
        })
        .unwrap_err();
    assert!(matches!(
        err,
        Error::IllegalTransition {
            phase: Phase::Performance,
            ..
        }
    ));
    assert_eq!(s.act, before);
    s.ok(Command::Cancel(CancelReason::ByProfessional));
    let err = s
        .act
        .apply(&Event {
            at: at_ms(1),
            body: ActEvent::Cancelled {
                reason: CancelReason::ByProfessional,
            },
        })
        .unwrap_err();
    assert!(matches!(
        err,
        Error::IllegalTransition {
            phase: Phase::Cancelled,
            ..
        }
    ));
}

/// `s`'s trace with `body` appended one step after its last event.
fn trace_with(s: &Scenario, body: ActEvent) -> Vec<Event> {
    let mut events = s.events.clone();
    events.push(Event {
        at: at_ms(s.clock_ms + Scenario::STEP_MS),
        body,
    });
    events
}

/// Appending `body` to `s`'s trace makes replay fail with an
/// [`Error::InvalidTrace`] that says `expected`; applying it to the live
/// act fails alike and changes nothing.
#[track_caller]
fn assert_replay_refuses(s: &Scenario, body: ActEvent, expected: &str) {
    let events = trace_with(s, body);
    let err = Act::replay(s.act.id, &events).unwrap_err();
    let Error::InvalidTrace(message) = &err else {
        panic!("expected InvalidTrace, got {err:?}");
    };
    assert_eq!(*message, format!("act {}: {expected}", s.act.id));
    assert!(
        err.to_string()
            .starts_with("the trace holds an event the act's rules reject: "),
        "{err}"
    );
    let mut act = s.act.clone();
    let again = act.apply(events.last().unwrap()).unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(act, s.act);
}

#[test]
fn replay_refuses_admitting_an_unknown_participant() {
    for phase in [Phase::Preparation, Phase::Performance] {
        let s = Scenario::teleconsultation_in(phase);
        for unknown in [ParticipantId(0), ParticipantId(3), ParticipantId(9)] {
            assert_replay_refuses(
                &s,
                admitted(unknown, REQUESTER_ID),
                &format!("participant {unknown} is admitted but was never registered"),
            );
        }
    }
}

#[test]
fn replay_refuses_an_admission_by_an_unknown_participant() {
    for phase in [Phase::Preparation, Phase::Performance] {
        let s = Scenario::teleconsultation_in(phase);
        for unknown in [ParticipantId(0), ParticipantId(3), ParticipantId(9)] {
            assert_replay_refuses(
                &s,
                admitted(PATIENT_ID, unknown),
                &format!(
                    "participant p2 is admitted by participant {unknown}, who was never registered"
                ),
            );
        }
    }
}

#[test]
fn replay_refuses_an_admission_by_a_non_professional() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let companion_id = ParticipantId(3);
    for (participant, by) in [
        (PATIENT_ID, PATIENT_ID),
        (PATIENT_ID, companion_id),
        (companion_id, PATIENT_ID),
    ] {
        assert_replay_refuses(
            &s,
            admitted(participant, by),
            &format!(
                "participant {participant} is admitted by participant {by}, who is not a professional"
            ),
        );
    }
}

#[test]
fn replay_refuses_a_second_admission() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let patient_id = ParticipantId(3);
    s.drive_to(Phase::Preparation);
    s.ok(admit(patient_id, REQUESTER_ID));
    // By the same professional or the other, in the same phase or the next.
    for by in [REQUESTER_ID, EXPERT_ID] {
        assert_replay_refuses(
            &s,
            admitted(patient_id, by),
            "participant p3 is admitted a second time",
        );
    }
    s.drive_to(Phase::Performance);
    assert_replay_refuses(
        &s,
        admitted(patient_id, EXPERT_ID),
        "participant p3 is admitted a second time",
    );

    // The live trace's own admission, duplicated in place.
    let at = s
        .events
        .iter()
        .position(|e| matches!(e.body, ActEvent::Admitted { .. }))
        .unwrap();
    let mut doubled = s.events.clone();
    doubled.insert(at + 1, s.events[at].clone());
    let err = Act::replay(s.act.id, &doubled).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTrace(m) if m.ends_with("participant p3 is admitted a second time")),
        "{err:?}"
    );
}

#[test]
fn replay_refuses_an_admission_outside_preparation_and_performance() {
    for phase in [
        Phase::Request,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        let s = Scenario::teleconsultation_in(phase);
        assert_replay_refuses(
            &s,
            admitted(PATIENT_ID, REQUESTER_ID),
            &format!(
                "participant p2 is admitted in the {phase} phase, but admission happens only in preparation or performance"
            ),
        );
    }
}

#[test]
fn replay_refuses_session_events_of_an_unknown_participant() {
    for phase in ALL_PHASES {
        let s = Scenario::teleconsultation_in(phase);
        for unknown in [ParticipantId(0), ParticipantId(3), ParticipantId(9)] {
            assert_replay_refuses(
                &s,
                ActEvent::Joined {
                    participant: unknown,
                    user_agent: Pii::new(USER_AGENT.into()),
                },
                &format!("participant {unknown} joins but was never registered"),
            );
            assert_replay_refuses(
                &s,
                ActEvent::Left {
                    participant: unknown,
                    reason: LeaveReason::ConnectionLost,
                },
                &format!("participant {unknown} leaves but was never registered"),
            );
            assert_replay_refuses(
                &s,
                ActEvent::MediaConnected(media_path(unknown)),
                &format!(
                    "a media path is recorded for participant {unknown}, who was never registered"
                ),
            );
        }
    }
    // In a bare act nobody is registered yet.
    let s = Scenario::new(ActKind::Teleconsultation, true);
    assert_replay_refuses(
        &s,
        ActEvent::Joined {
            participant: REQUESTER_ID,
            user_agent: Pii::new(USER_AGENT.into()),
        },
        "participant p1 joins but was never registered",
    );
}

#[test]
fn replay_refuses_session_events_whose_registration_was_dropped() {
    let s = busy_act();
    // The expert (p4) registers last, so the numbering alone cannot tell
    // that the registration is missing; the events about p4 can.
    let registration = s
        .events
        .iter()
        .position(
            |e| matches!(&e.body, ActEvent::ParticipantRegistered(p) if p.id == ParticipantId(4)),
        )
        .unwrap();
    let mut dropped = s.events.clone();
    dropped.remove(registration);
    let err = Act::replay(s.act.id, &dropped).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTrace(m) if m.ends_with("participant p4 joins but was never registered")),
        "{err:?}"
    );
    // Without the join either, the admission p4 made is caught.
    dropped.retain(|e| {
        !matches!(
            e.body,
            ActEvent::Joined {
                participant: ParticipantId(4),
                ..
            }
        )
    });
    let err = Act::replay(s.act.id, &dropped).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTrace(m) if m.ends_with("participant p3 is admitted by participant p4, who was never registered")),
        "{err:?}"
    );
}
