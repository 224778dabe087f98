//! Commands out of order are refused as illegal transitions, changing
//! nothing: each phase's refusals, everything once closed, and the whole
//! table of which command each phase allows.

mod common;

use common::lifecycle::*;
use common::*;
use session::Error;
use session::act::{Command, Phase};
use session::incident::IncidentKind;
use session::participant::Role;

#[test]
fn every_command_is_refused_once_closed() {
    for command in one_of_each_command() {
        assert_illegal(Phase::Closed, command);
    }
}

#[test]
fn start_performance_from_request_is_refused() {
    assert_illegal(Phase::Request, Command::StartPerformance);
}

#[test]
fn start_performance_from_request_is_refused_even_with_consent() {
    let mut s = Scenario::teleconsultation();
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(
        err,
        Error::IllegalTransition {
            phase: Phase::Request,
            ..
        }
    ));
}

#[test]
fn end_performance_from_request_is_refused() {
    assert_illegal(Phase::Request, Command::EndPerformance);
}

#[test]
fn conclude_from_request_is_refused() {
    assert_illegal(Phase::Request, conclude());
}

#[test]
fn prepare_twice_is_refused() {
    assert_illegal(Phase::Preparation, Command::Prepare);
}

#[test]
fn end_performance_from_preparation_is_refused() {
    assert_illegal(Phase::Preparation, Command::EndPerformance);
}

#[test]
fn conclude_from_preparation_is_refused() {
    assert_illegal(Phase::Preparation, conclude());
}

#[test]
fn prepare_during_performance_is_refused() {
    assert_illegal(Phase::Performance, Command::Prepare);
}

#[test]
fn start_performance_twice_is_refused() {
    assert_illegal(Phase::Performance, Command::StartPerformance);
}

#[test]
fn register_in_conclusion_is_refused() {
    assert_illegal(
        Phase::Conclusion,
        register(Role::Companion, companion(COMPANION_NAME)),
    );
}

#[test]
fn prepare_in_conclusion_is_refused() {
    assert_illegal(Phase::Conclusion, Command::Prepare);
}

#[test]
fn give_consent_in_conclusion_is_refused() {
    assert_illegal(
        Phase::Conclusion,
        Command::GiveConsent(electronic_consent(PATIENT_ID)),
    );
}

#[test]
fn start_performance_in_conclusion_is_refused() {
    assert_illegal(Phase::Conclusion, Command::StartPerformance);
}

#[test]
fn end_performance_twice_is_refused() {
    assert_illegal(Phase::Conclusion, Command::EndPerformance);
}

/// The whole table: for each phase, which commands of
/// [`one_of_each_command`] are legal. Each is tried on a fresh act.
#[test]
fn phase_command_table() {
    // Register, Prepare, GiveConsent, WithdrawConsent, StartPerformance,
    // EndPerformance, Conclude, OpenIncident, CloseIncident, Cancel,
    // Join, Leave, Admit, RecordMedia.
    let table: [(Phase, [bool; 14]); 6] = [
        (
            Phase::Request,
            [
                true, true, true, true, false, false, false, true, true,
                true, // live session:
                true, true, false, false,
            ],
        ),
        (
            Phase::Preparation,
            [
                true, false, true, true, true, false, false, true, true,
                true, // live session:
                true, true, true, false,
            ],
        ),
        (
            Phase::Performance,
            [
                true, false, true, true, false, true, true, true, true, true, // live session:
                true, true, true, true,
            ],
        ),
        (
            Phase::Conclusion,
            [
                false, false, false, true, false, false, true, true, true,
                true, // live session:
                false, true, false, false,
            ],
        ),
        (Phase::Closed, [false; 14]),
        (Phase::Cancelled, [false; 14]),
    ];
    assert_eq!(one_of_each_command().len(), table[0].1.len());
    for (phase, legal) in table {
        for (command, legal) in one_of_each_command().into_iter().zip(legal) {
            // Consent and an open incident on record, so that only the
            // phase decides.
            let mut s = Scenario::teleconsultation();
            s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
            s.drive_to(phase);
            if !phase.is_terminal() {
                s.ok(open_incident(IncidentKind::HighRtt));
            }
            let name = command.name();
            if legal {
                let events = s.handle(command).unwrap_or_else(|e| {
                    panic!("{name} should be legal in {phase}, got {e}");
                });
                assert!(!events.is_empty());
                assert!(s.act.phase >= phase, "{name} moved {phase} backward");
            } else {
                let err = s.refuse(command);
                assert!(
                    matches!(err, Error::IllegalTransition { phase: p, action } if p == phase && action == name),
                    "{name} in {phase}: {err:?}"
                );
            }
            assert_eq!(s.replay().unwrap(), s.act);
        }
    }
}
