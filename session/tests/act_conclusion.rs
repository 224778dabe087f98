//! The conclusion: concluding from the performance or the conclusion
//! phase, once, with a report that is neither empty nor too long, with or
//! without prescriptions.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{Command, Phase};
use session::conclusion::Conclusion;
use session::event::ActEvent;
use session::{Error, Pii};

#[test]
fn conclude_straight_from_performance_passes_through_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let events = s.ok(Command::Conclude(conclusion()));
    assert_all_at(&events, &s);
    assert_eq!(
        bodies(&events),
        vec![
            phase_entered(Phase::Conclusion),
            ActEvent::Concluded(conclusion())
        ]
    );
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(s.act.entered(Phase::Conclusion), Some(s.now()));
    assert_eq!(s.act.entered(Phase::Closed), Some(s.now()));
    assert_eq!(s.act.conclusion, Some(conclusion()));
}

#[test]
fn conclude_twice_is_refused() {
    assert_illegal(Phase::Closed, Command::Conclude(conclusion()));
}

#[test]
fn empty_report_is_refused_in_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    for report in ["", "   ", "\n\t "] {
        let err = s.refuse(Command::Conclude(conclusion_with_report(report)));
        assert!(matches!(err, Error::InvalidInput(_)), "{report:?}: {err:?}");
    }
    assert_eq!(s.act.phase, Phase::Conclusion);
}

#[test]
fn empty_report_is_refused_in_performance_without_entering_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(Command::Conclude(conclusion_with_report("")));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(s.act.phase, Phase::Performance);
    assert_eq!(s.act.entered(Phase::Conclusion), None);
}

#[test]
fn report_length_limit() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let too_long = "a".repeat(Conclusion::MAX_REPORT_LEN + 1);
    let err = s.refuse(Command::Conclude(conclusion_with_report(&too_long)));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let longest = "a".repeat(Conclusion::MAX_REPORT_LEN);
    s.ok(Command::Conclude(conclusion_with_report(&longest)));
    assert_eq!(s.act.phase, Phase::Closed);
}

#[test]
fn a_conclusion_without_prescriptions_is_accepted() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let c = Conclusion {
        report: Pii::new(CONCLUSION_REPORT.into()),
        prescriptions: Vec::new(),
    };
    s.ok(Command::Conclude(c.clone()));
    assert_eq!(s.act.conclusion, Some(c));
}
