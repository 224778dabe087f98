//! Cancellation: from every open phase, with its reason, once only; a
//! cancelled act refuses every command, whatever it held before.

mod common;

use common::lifecycle::*;
use common::*;
use session::Error;
use session::act::{ActKind, CancelReason, Command, Phase};
use session::event::ActEvent;
use session::incident::IncidentKind;

#[track_caller]
fn assert_cancels_from(phase: Phase, reason: CancelReason) {
    let mut s = Scenario::teleconsultation_in(phase);
    let before = phases(&s.act);
    let events = s.ok(Command::Cancel(reason));
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![ActEvent::Cancelled { reason }]);
    assert_eq!(s.act.phase, Phase::Cancelled);
    assert_eq!(s.act.cancel_reason, Some(reason));
    assert_eq!(s.act.entered(Phase::Cancelled), Some(s.now()));
    assert_eq!(s.act.entered(Phase::Closed), None);
    assert_eq!(s.act.conclusion, None);
    let mut expected = before;
    expected.push(Phase::Cancelled);
    assert_eq!(phases(&s.act), expected);
    assert!(!s.act.media_allowed());
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn cancel_from_request() {
    assert_cancels_from(Phase::Request, CancelReason::ByProfessional);
}

#[test]
fn cancel_from_preparation() {
    assert_cancels_from(Phase::Preparation, CancelReason::ConsentRefused);
}

#[test]
fn cancel_from_performance() {
    assert_cancels_from(Phase::Performance, CancelReason::TechnicalFailure);
}

#[test]
fn cancel_from_conclusion() {
    assert_cancels_from(Phase::Conclusion, CancelReason::PatientAbsent);
}

#[test]
fn cancel_a_bare_act_with_no_participants() {
    let mut s = Scenario::new(ActKind::Teleexpertise, false);
    s.ok(Command::Cancel(CancelReason::PatientAbsent));
    assert_eq!(s.act.phase, Phase::Cancelled);
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn every_command_is_refused_once_cancelled() {
    for command in one_of_each_command() {
        assert_illegal(Phase::Cancelled, command);
    }
}

#[test]
fn every_command_is_refused_once_cancelled_from_performance() {
    // Cancelled with consent given and an incident on record, so that only
    // the phase can be the reason.
    let mut base = Scenario::teleconsultation_in(Phase::Performance);
    base.ok(open_incident(IncidentKind::IceFailed));
    base.ok(Command::Cancel(CancelReason::TechnicalFailure));
    for command in one_of_each_command() {
        let mut s = base.clone();
        let action = command.name();
        let err = s.refuse(command);
        assert!(
            matches!(err, Error::IllegalTransition { phase: Phase::Cancelled, action: a } if a == action),
            "{action}: {err:?}"
        );
    }
}

#[test]
fn a_second_cancel_is_refused() {
    let mut s = Scenario::teleconsultation();
    s.ok(Command::Cancel(CancelReason::ByProfessional));
    let err = s.refuse(Command::Cancel(CancelReason::PatientAbsent));
    assert!(matches!(
        err,
        Error::IllegalTransition {
            phase: Phase::Cancelled,
            action: "cancel"
        }
    ));
    assert_eq!(s.act.cancel_reason, Some(CancelReason::ByProfessional));
}

#[test]
fn cancel_after_close_is_refused() {
    assert_illegal(
        Phase::Closed,
        Command::Cancel(CancelReason::TechnicalFailure),
    );
}
