//! A lost connection that does not come back interrupts the act without
//! ending it; the participant's return resumes it, with how long it lasted.
//! Both survive a replay from the events.

mod common;

use common::*;
use session::act::Command;
use session::{ActEvent, Error, Phase};

fn interrupt(lost_for_ms: u64) -> Command {
    Command::Interrupt {
        participant: PATIENT_ID,
        lost_for_ms,
    }
}

#[test]
fn only_a_live_act_is_interrupted_and_only_once() {
    for phase in [Phase::Request, Phase::Preparation] {
        let mut s = Scenario::teleconsultation_in(phase);
        assert!(matches!(
            s.refuse(interrupt(30_000)),
            Error::IllegalTransition { .. }
        ));
    }
    for phase in [Phase::Closed, Phase::Cancelled] {
        let mut s = Scenario::teleconsultation_in(phase);
        s.refuse(interrupt(30_000));
    }
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let events = s.ok(interrupt(30_000));
    assert!(matches!(
        events[0].body,
        ActEvent::Interrupted {
            lost_for_ms: 30_000,
            ..
        }
    ));
    assert!(s.act.is_interrupted_by(PATIENT_ID));
    assert_eq!(s.act.phase, Phase::Performance, "the act stays open");
    s.refuse(interrupt(31_000));
    s.refuse(Command::Interrupt {
        participant: session::ParticipantId(9),
        lost_for_ms: 1,
    });
}

#[test]
fn the_return_resumes_the_act_with_the_interruption_time() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.refuse(Command::Resume {
        participant: PATIENT_ID,
    });
    s.ok(interrupt(30_000));
    for _ in 0..4 {
        s.tick();
    }
    let events = s.ok(Command::Resume {
        participant: PATIENT_ID,
    });
    // Interrupted at one step, resumed five steps later.
    assert!(
        matches!(
            events[0].body,
            ActEvent::Resumed {
                interrupted_ms: 5_000,
                ..
            }
        ),
        "{events:?}"
    );
    assert!(!s.act.is_interrupted_by(PATIENT_ID));
    // The professional may still conclude.
    s.drive_to(Phase::Closed);

    // Replaying the events gives the same act.
    let replayed = session::Act::replay(s.act.id, &s.events).expect("replay");
    assert_eq!(replayed, s.act);
}

#[test]
fn an_interrupted_act_can_be_concluded_without_the_patient() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(interrupt(60_000));
    s.drive_to(Phase::Closed);
    let replayed = session::Act::replay(s.act.id, &s.events).expect("replay");
    assert!(replayed.is_interrupted_by(PATIENT_ID));
    assert_eq!(replayed.phase, Phase::Closed);
}
