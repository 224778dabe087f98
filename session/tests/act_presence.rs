//! Presence in the live session: devices join until the performance ends
//! and leave until the act is over, for every reason; joins and leaves are
//! recorded in the trace only, and name registered participants.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Command, LeaveReason, Phase};
use session::event::ActEvent;
use session::participant::Role;
use session::{Error, ParticipantId, Pii};

#[test]
fn join_is_allowed_from_request_to_performance() {
    for phase in [Phase::Request, Phase::Preparation, Phase::Performance] {
        let mut s = Scenario::teleconsultation_in(phase);
        for p in [REQUESTER_ID, PATIENT_ID] {
            assert_recorded_only(
                &mut s,
                join(p),
                ActEvent::Joined {
                    participant: p,
                    user_agent: Pii::new(USER_AGENT.into()),
                },
            );
        }
        assert_eq!(s.act.phase, phase);
        assert_eq!(s.replay().unwrap(), s.act, "{phase}");
    }
}

#[test]
fn join_is_refused_once_the_performance_is_over() {
    for phase in [Phase::Conclusion, Phase::Closed, Phase::Cancelled] {
        assert_illegal(phase, join(PATIENT_ID));
        assert_illegal(phase, join(REQUESTER_ID));
    }
}

#[test]
fn a_participant_registered_during_the_performance_may_join() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(join(ParticipantId(3)));
    s.ok(admit(ParticipantId(3), REQUESTER_ID));
    assert_eq!(s.act.admitted, vec![ParticipantId(3)]);
}

#[test]
fn leave_is_allowed_in_every_open_phase_for_every_reason() {
    for phase in OPEN_PHASES {
        for reason in LEAVE_REASONS {
            let mut s = Scenario::teleconsultation_in(phase);
            assert_recorded_only(
                &mut s,
                leave(PATIENT_ID, reason),
                ActEvent::Left {
                    participant: PATIENT_ID,
                    reason,
                },
            );
            assert_eq!(s.replay().unwrap(), s.act, "{phase} {reason:?}");
        }
    }
}

#[test]
fn leave_is_refused_once_the_act_is_over() {
    for phase in [Phase::Closed, Phase::Cancelled] {
        for reason in LEAVE_REASONS {
            assert_illegal(phase, leave(PATIENT_ID, reason));
        }
    }
}

#[test]
fn devices_left_connected_after_the_performance_may_still_leave() {
    // Joined during the performance, the devices disconnect once it has
    // ended, while the report is written.
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(join(PATIENT_ID));
    s.ok(join(REQUESTER_ID));
    s.ok(Command::EndPerformance);
    s.ok(leave(PATIENT_ID, LeaveReason::ActEnded));
    s.ok(leave(REQUESTER_ID, LeaveReason::LeftByChoice));
    s.ok(conclude());
    // Once closed, a late disconnect can no longer be recorded.
    let err = s.refuse(leave(PATIENT_ID, LeaveReason::ActEnded));
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Closed,
                action: "leave"
            }
        ),
        "{err:?}"
    );
    assert_eq!(s.replay().unwrap(), s.act);
}

/// What act.rs does today, not necessarily what it should do: the act does
/// not track who is connected, so a leave needs no earlier join and a
/// device may join twice. The signaling layer is trusted to pair them. If
/// the rule is tightened, change this test.
#[test]
fn the_act_does_not_pair_joins_and_leaves() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(leave(PATIENT_ID, LeaveReason::ConnectionLost));
    s.ok(join(PATIENT_ID));
    s.ok(join(PATIENT_ID));
    s.ok(leave(PATIENT_ID, LeaveReason::Replaced));
    s.ok(leave(PATIENT_ID, LeaveReason::LeftByChoice));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn join_leave_admit_and_media_with_an_unknown_participant_are_refused() {
    for phase in [Phase::Preparation, Phase::Performance] {
        for unknown in [ParticipantId(0), ParticipantId(3), ParticipantId(9)] {
            let commands = [
                join(unknown),
                leave(unknown, LeaveReason::LeftByChoice),
                admit(unknown, REQUESTER_ID),
                // An unknown admitter, admitting a known participant.
                admit(PATIENT_ID, unknown),
                record_media(unknown),
            ];
            for command in commands {
                let mut s = Scenario::teleconsultation_in(phase);
                let name = command.name();
                let err = s.refuse(command);
                assert!(
                    matches!(err, Error::UnknownParticipant(p) if p == unknown),
                    "{name} with {unknown} in {phase}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn an_unknown_participant_is_reported_before_the_phase() {
    // As for consent, the participant is checked before the phase: where
    // both are wrong, the error names the participant. In the terminal
    // phases the phase alone is reported.
    let cases = [
        (Phase::Request, admit(ParticipantId(7), REQUESTER_ID)),
        (Phase::Request, record_media(ParticipantId(7))),
        (Phase::Conclusion, join(ParticipantId(7))),
        (Phase::Conclusion, admit(PATIENT_ID, ParticipantId(7))),
    ];
    for (phase, command) in cases {
        let mut s = Scenario::teleconsultation_in(phase);
        let name = command.name();
        let err = s.refuse(command);
        assert!(
            matches!(err, Error::UnknownParticipant(ParticipantId(7))),
            "{name} in {phase}: {err:?}"
        );
    }
    for phase in [Phase::Closed, Phase::Cancelled] {
        assert_illegal(phase, join(ParticipantId(7)));
        assert_illegal(phase, leave(ParticipantId(7), LeaveReason::Replaced));
        assert_illegal(phase, admit(ParticipantId(7), REQUESTER_ID));
        assert_illegal(phase, record_media(ParticipantId(7)));
    }
}
