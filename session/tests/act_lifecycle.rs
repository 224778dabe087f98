//! The act's lifecycle, scenario by scenario: every legal phase transition,
//! every illegal one (each refused command leaves the act exactly as it
//! was), the role, consent and incident rules, and replay of the trace.

mod common;

use common::*;
use session::act::{Act, ActKind, CancelReason, Command, Phase};
use session::conclusion::Conclusion;
use session::consent::{ConsentMethod, ConsentScope};
use session::event::{ActEvent, Event};
use session::incident::{IncidentId, IncidentKind, Metrics};
use session::participant::Role;
use session::{ActId, Error, ParticipantId, Pii};

const ALL_PHASES: [Phase; 6] = [
    Phase::Request,
    Phase::Preparation,
    Phase::Performance,
    Phase::Conclusion,
    Phase::Closed,
    Phase::Cancelled,
];

fn phase_entered(phase: Phase) -> ActEvent {
    ActEvent::PhaseEntered { phase }
}

fn bodies(events: &[Event]) -> Vec<ActEvent> {
    events.iter().map(|e| e.body.clone()).collect()
}

/// Every event of one command carries the command's time.
#[track_caller]
fn assert_all_at(events: &[Event], s: &Scenario) {
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e.at, s.now(), "{e:?}");
    }
}

/// The phases entered so far, in order.
fn phases(act: &Act) -> Vec<Phase> {
    act.phase_times.iter().map(|(p, _)| *p).collect()
}

fn open_incident(kind: IncidentKind) -> Command {
    Command::OpenIncident {
        kind,
        participant: None,
        metrics: Metrics::new(),
    }
}

fn close_incident(n: u32) -> Command {
    Command::CloseIncident {
        incident: IncidentId(n),
        metrics: Metrics::new(),
    }
}

/// One command of each kind, each valid in itself (known participants,
/// non-empty report), so that only the phase can make it illegal. In the
/// scenarios driven by [`Scenario::teleconsultation_in`], p1 is the
/// requester and p2 the patient.
fn one_of_each_command() -> Vec<Command> {
    vec![
        register(Role::Companion, companion(COMPANION_NAME)),
        Command::Prepare,
        Command::GiveConsent(electronic_consent(PATIENT_ID)),
        Command::WithdrawConsent {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID,
        },
        Command::StartPerformance,
        Command::EndPerformance,
        Command::Conclude(conclusion()),
        open_incident(IncidentKind::PacketLoss),
        close_incident(1),
        Command::Cancel(CancelReason::ByProfessional),
    ]
}

/// Drives a teleconsultation to `phase` and checks that `command` is
/// refused there as an illegal transition, changing nothing.
#[track_caller]
fn assert_illegal(phase: Phase, command: Command) {
    let mut s = Scenario::teleconsultation_in(phase);
    if phase == Phase::Performance {
        // Give the incident commands something to act on.
        s.ok(open_incident(IncidentKind::VideoFreeze));
    }
    let action = command.name();
    let err = s.refuse(command);
    assert!(
        matches!(err, Error::IllegalTransition { phase: p, action: a } if p == phase && a == action),
        "{action} in {phase}: expected IllegalTransition, got {err:?}"
    );
}

// --- Legal transitions --------------------------------------------------

#[test]
fn request_opens_the_act_in_the_request_phase() {
    let s = Scenario::new(ActKind::Teleconsultation, true);
    assert_eq!(s.act.phase, Phase::Request);
    assert_eq!(s.act.entered(Phase::Request), Some(at_ms(0)));
    assert_eq!(s.act.phase_times, vec![(Phase::Request, at_ms(0))]);
    assert_eq!(
        s.events,
        vec![Event {
            at: at_ms(0),
            body: ActEvent::Requested {
                kind: ActKind::Teleconsultation,
                patient_present: true,
            },
        }]
    );
    assert!(s.act.participants.is_empty());
    assert!(!s.act.media_allowed());
}

#[test]
fn request_to_preparation() {
    let mut s = Scenario::teleconsultation();
    let events = s.ok(Command::Prepare);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Preparation)]);
    assert_eq!(s.act.phase, Phase::Preparation);
    assert_eq!(s.act.entered(Phase::Preparation), Some(s.now()));
    assert_eq!(s.act.entered(Phase::Performance), None);
}

#[test]
fn preparation_to_performance_with_consent() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let events = s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentGiven(electronic_consent(PATIENT_ID))]
    );
    assert_eq!(s.act.phase, Phase::Preparation);
    assert!(!s.act.media_allowed(), "no media before the performance");

    let events = s.ok(Command::StartPerformance);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Performance)]);
    assert_eq!(s.act.phase, Phase::Performance);
    assert_eq!(s.act.entered(Phase::Performance), Some(s.now()));
    assert!(s.act.media_allowed());
}

#[test]
fn performance_to_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let events = s.ok(Command::EndPerformance);
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![phase_entered(Phase::Conclusion)]);
    assert_eq!(s.act.phase, Phase::Conclusion);
    assert_eq!(s.act.entered(Phase::Conclusion), Some(s.now()));
    assert!(!s.act.media_allowed(), "media stops with the performance");
    assert_eq!(s.act.conclusion, None);
}

#[test]
fn conclusion_to_closed() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let events = s.ok(Command::Conclude(conclusion()));
    assert_all_at(&events, &s);
    assert_eq!(bodies(&events), vec![ActEvent::Concluded(conclusion())]);
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(s.act.entered(Phase::Closed), Some(s.now()));
    assert_eq!(s.act.conclusion, Some(conclusion()));
    assert_eq!(s.act.cancel_reason, None);
}

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
fn the_whole_lifecycle_records_each_phase_once_in_order() {
    let mut s = Scenario::teleconsultation();
    let mut expected = vec![(Phase::Request, at_ms(0))];
    for phase in [
        Phase::Preparation,
        Phase::Performance,
        Phase::Conclusion,
        Phase::Closed,
    ] {
        s.drive_to(phase);
        assert_eq!(s.act.phase, phase);
        expected.push((phase, s.now()));
    }
    assert_eq!(s.act.phase_times, expected);
    assert!(s.act.phase_times.windows(2).all(|w| w[0].1 < w[1].1));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn a_teleexpertise_without_the_patient_runs_on_attested_consent() {
    let mut s = Scenario::teleexpertise_without_patient();
    assert!(!s.act.patient_present);
    s.ok(Command::Prepare);
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
    s.ok(Command::Conclude(conclusion()));
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(
        phases(&s.act),
        vec![
            Phase::Request,
            Phase::Preparation,
            Phase::Performance,
            Phase::Conclusion,
            Phase::Closed
        ]
    );
    assert_eq!(s.replay().unwrap(), s.act);
}

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

// --- Illegal transitions: the terminal phases -----------------------------

#[test]
fn every_command_is_refused_once_closed() {
    for command in one_of_each_command() {
        assert_illegal(Phase::Closed, command);
    }
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

#[test]
fn conclude_twice_is_refused() {
    assert_illegal(Phase::Closed, Command::Conclude(conclusion()));
}

// --- Illegal transitions: the open phases ---------------------------------

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
    assert_illegal(Phase::Request, Command::Conclude(conclusion()));
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
    assert_illegal(Phase::Preparation, Command::Conclude(conclusion()));
}

#[test]
fn start_performance_without_consent_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn start_performance_with_only_data_hosting_consent_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::DataHosting],
    )));
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn start_performance_after_consent_withdrawal_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    let events = s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID
        }]
    );
    assert!(s.act.consent.has(ConsentScope::DataHosting));
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");

    // Consent given again lets it start.
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::StartPerformance);
    assert_eq!(s.act.phase, Phase::Performance);
}

#[test]
fn withdrawing_data_hosting_only_still_lets_the_performance_start() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
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

/// The whole table: for each phase, which commands of
/// [`one_of_each_command`] are legal. Each is tried on a fresh act.
#[test]
fn phase_command_table() {
    // Register, Prepare, GiveConsent, WithdrawConsent, StartPerformance,
    // EndPerformance, Conclude, OpenIncident, CloseIncident, Cancel.
    let table: [(Phase, [bool; 10]); 6] = [
        (
            Phase::Request,
            [
                true, true, true, true, false, false, false, true, true, true,
            ],
        ),
        (
            Phase::Preparation,
            [
                true, false, true, true, true, false, false, true, true, true,
            ],
        ),
        (
            Phase::Performance,
            [true, false, true, true, false, true, true, true, true, true],
        ),
        (
            Phase::Conclusion,
            [
                false, false, false, true, false, false, true, true, true, true,
            ],
        ),
        (Phase::Closed, [false; 10]),
        (Phase::Cancelled, [false; 10]),
    ];
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

// --- Roles ----------------------------------------------------------------

#[test]
fn participants_are_numbered_in_order_of_registration() {
    let mut s = Scenario::new(ActKind::Teleexpertise, true);
    let e1 = s.ok(register(Role::Expert, expert()));
    let e2 = s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let e3 = s.ok(register(Role::Requester, requester()));
    assert_all_at(&e3, &s);
    for (events, n, role) in [
        (e1, 1, Role::Expert),
        (e2, 2, Role::Patient),
        (e3, 3, Role::Requester),
    ] {
        match &events[..] {
            [
                Event {
                    body: ActEvent::ParticipantRegistered(p),
                    ..
                },
            ] => {
                assert_eq!(p.id, ParticipantId(n));
                assert_eq!(p.role, role);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        s.act.participant(ParticipantId(2)).unwrap().role,
        Role::Patient
    );
    assert_eq!(
        s.act
            .participant_with_role(Role::Requester)
            .unwrap()
            .identity,
        requester()
    );
    assert!(matches!(
        s.act.participant(ParticipantId(4)),
        Err(Error::UnknownParticipant(ParticipantId(4)))
    ));
}

#[test]
fn a_second_patient_is_refused() {
    let mut s = Scenario::teleconsultation();
    let err = s.refuse(register(Role::Patient, patient(PATIENT_ALIAS_2)));
    assert!(matches!(err, Error::RoleTaken(Role::Patient)), "{err:?}");
}

#[test]
fn a_second_requester_or_expert_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    let err = s.refuse(register(Role::Requester, other_professional()));
    assert!(matches!(err, Error::RoleTaken(Role::Requester)), "{err:?}");
    let err = s.refuse(register(Role::Expert, other_professional()));
    assert!(matches!(err, Error::RoleTaken(Role::Expert)), "{err:?}");
}

#[test]
fn a_fifth_participant_is_refused() {
    let mut s = Scenario::teleconsultation();
    s.ok(register(Role::Expert, expert()));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    assert_eq!(s.act.participants.len(), Act::MAX_PARTICIPANTS);
    let err = s.refuse(register(Role::Companion, companion("Interprete Test")));
    assert!(matches!(err, Error::RoomFull(4)), "{err:?}");
}

#[test]
fn several_companions_fit_while_the_room_has_space() {
    let mut s = Scenario::new(ActKind::Teleconsultation, true);
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    s.ok(register(Role::Companion, companion("Accompagnant Un")));
    s.ok(register(Role::Companion, companion("Accompagnant Deux")));
    s.ok(register(Role::Companion, companion("Accompagnant Trois")));
    let err = s.refuse(register(Role::Requester, requester()));
    assert!(matches!(err, Error::RoomFull(4)), "{err:?}");
}

#[test]
fn an_identity_that_does_not_fit_the_role_is_refused() {
    let cases = [
        (Role::Patient, requester()),
        (Role::Patient, companion(COMPANION_NAME)),
        (Role::Requester, patient(PATIENT_ALIAS_1)),
        (Role::Requester, companion(COMPANION_NAME)),
        (Role::Expert, patient(PATIENT_ALIAS_1)),
        (Role::Expert, companion(COMPANION_NAME)),
        (Role::Companion, expert()),
        (Role::Companion, patient(PATIENT_ALIAS_1)),
    ];
    for (role, identity) in cases {
        let mut s = Scenario::new(ActKind::Teleexpertise, true);
        let err = s.refuse(register(role, identity));
        assert!(matches!(err, Error::InvalidInput(_)), "{role}: {err:?}");
    }
}

#[test]
fn participants_may_join_in_preparation_and_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Expert, expert()));
    s.drive_to(Phase::Performance);
    let events = s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    assert!(matches!(
        &events[0].body,
        ActEvent::ParticipantRegistered(p) if p.id == ParticipantId(4) && p.role == Role::Companion
    ));
}

// --- Consent ----------------------------------------------------------------

#[test]
fn electronic_consent_by_a_professional_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Expert, expert()));
    for by in [REQUESTER_ID, ParticipantId(3)] {
        let err = s.refuse(Command::GiveConsent(electronic_consent(by)));
        assert!(matches!(err, Error::ConsentNotAllowed(_)), "{by}: {err:?}");
    }
}

#[test]
fn electronic_consent_by_a_companion_is_accepted() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(Command::GiveConsent(electronic_consent(ParticipantId(3))));
    s.ok(Command::StartPerformance);
    assert!(s.act.media_allowed());
}

#[test]
fn attested_consent_by_the_requester_without_the_patient_is_accepted() {
    let mut s = Scenario::teleexpertise_without_patient();
    let events = s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentGiven(attested_consent(REQUESTER_ID))]
    );
    assert!(matches!(
        attested_consent(REQUESTER_ID).method,
        ConsentMethod::AttestedByProfessional { .. }
    ));
    assert!(s.act.consent.allows_media());
}

#[test]
fn attested_consent_by_the_expert_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    let err = s.refuse(Command::GiveConsent(attested_consent(EXPERT_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn attested_consent_is_refused_when_the_patient_is_present() {
    let mut s = Scenario::new(ActKind::Teleexpertise, true);
    s.ok(register(Role::Requester, requester()));
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let err = s.refuse(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn attested_consent_is_refused_in_a_teleconsultation() {
    // A teleconsultation always has the patient, even if asked otherwise.
    let mut s = Scenario::new(ActKind::Teleconsultation, false);
    assert!(s.act.patient_present);
    s.ok(register(Role::Requester, requester()));
    s.ok(Command::Prepare);
    let err = s.refuse(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
    let err = s.refuse(Command::StartPerformance);
    assert!(matches!(err, Error::ConsentRequired), "{err:?}");
}

#[test]
fn consent_with_no_scope_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::GiveConsent(electronic_consent_to(PATIENT_ID, &[])));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[test]
fn consent_by_an_unknown_participant_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::GiveConsent(electronic_consent(ParticipantId(9))));
    assert!(
        matches!(err, Error::UnknownParticipant(ParticipantId(9))),
        "{err:?}"
    );
}

#[test]
fn withdrawing_consent_never_given_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    let err = s.refuse(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    assert!(matches!(err, Error::ConsentNotAllowed(_)), "{err:?}");
}

#[test]
fn withdrawing_consent_by_an_unknown_participant_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: ParticipantId(0),
    });
    assert!(
        matches!(err, Error::UnknownParticipant(ParticipantId(0))),
        "{err:?}"
    );
}

#[test]
fn withdrawal_names_only_the_scopes_actually_granted() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::TelemedicineAct],
    )));
    let events = s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting, ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(
        bodies(&events),
        vec![ActEvent::ConsentWithdrawn {
            scopes: vec![ConsentScope::TelemedicineAct],
            by: PATIENT_ID
        }]
    );
    assert_eq!(
        s.act.consent.withdrawals,
        vec![(ConsentScope::TelemedicineAct, s.now(), PATIENT_ID)]
    );
}

#[test]
fn withdrawing_consent_during_the_performance_stops_the_media() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    assert!(s.act.media_allowed());
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_eq!(s.act.phase, Phase::Performance);
    assert!(!s.act.media_allowed());
    // The act can still end and be concluded or cancelled.
    s.ok(Command::Cancel(CancelReason::ConsentRefused));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn consent_may_be_given_from_request_to_performance() {
    for phase in [Phase::Request, Phase::Preparation, Phase::Performance] {
        let mut s = Scenario::teleconsultation_in(phase);
        s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
        assert!(s.act.consent.allows_media(), "{phase}");
    }
}

// --- Incidents ------------------------------------------------------------

#[test]
fn an_incident_is_opened_and_closed_with_its_duration() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let metrics = Metrics::from([
        ("loss_pct".to_string(), 12.5),
        ("rtt_ms".to_string(), f64::NAN),
        ("jitter_ms".to_string(), f64::INFINITY),
    ]);
    let events = s.ok(Command::OpenIncident {
        kind: IncidentKind::PacketLoss,
        participant: Some(PATIENT_ID),
        metrics,
    });
    let opened_at = s.now();
    assert_all_at(&events, &s);
    assert_eq!(
        bodies(&events),
        vec![ActEvent::IncidentOpened {
            incident: IncidentId(1),
            kind: IncidentKind::PacketLoss,
            participant: Some(PATIENT_ID),
            metrics: Metrics::from([("loss_pct".to_string(), 12.5)]),
        }]
    );
    assert_eq!(s.act.incidents.len(), 1);
    assert_eq!(s.act.incidents[0].opened_at, opened_at);
    assert_eq!(s.act.incidents[0].closed_at, None);

    s.tick();
    s.tick();
    let events = s.ok(Command::CloseIncident {
        incident: IncidentId(1),
        metrics: Metrics::from([("loss_pct".to_string(), 0.5)]),
    });
    assert_eq!(
        bodies(&events),
        vec![ActEvent::IncidentClosed {
            incident: IncidentId(1),
            duration_ms: 3 * Scenario::STEP_MS,
            metrics: Metrics::from([("loss_pct".to_string(), 0.5)]),
        }]
    );
    assert_eq!(s.act.incidents[0].closed_at, Some(s.now()));
    assert_eq!(s.act.phase, Phase::Performance);
}

#[test]
fn duration_is_computed_from_the_command_times() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let opened = at_ms(100_000);
    let closed = at_ms(102_345);
    s.act
        .handle(open_incident(IncidentKind::IceDisconnected), opened)
        .unwrap();
    let events = s.act.handle(close_incident(1), closed).unwrap();
    assert!(matches!(
        events[0].body,
        ActEvent::IncidentClosed {
            duration_ms: 2_345,
            ..
        }
    ));
}

#[test]
fn incidents_are_numbered_in_order() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(open_incident(IncidentKind::IceDisconnected));
    s.ok(close_incident(1));
    let events = s.ok(open_incident(IncidentKind::RelayFallback));
    assert!(matches!(
        events[0].body,
        ActEvent::IncidentOpened {
            incident: IncidentId(2),
            ..
        }
    ));
}

#[test]
fn closing_an_incident_twice_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(open_incident(IncidentKind::VideoFreeze));
    s.ok(close_incident(1));
    let err = s.refuse(close_incident(1));
    assert!(
        matches!(err, Error::IncidentAlreadyClosed(IncidentId(1))),
        "{err:?}"
    );
}

#[test]
fn closing_an_unknown_incident_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(close_incident(1));
    assert!(
        matches!(err, Error::UnknownIncident(IncidentId(1))),
        "{err:?}"
    );
    s.ok(open_incident(IncidentKind::VideoFreeze));
    let err = s.refuse(close_incident(2));
    assert!(
        matches!(err, Error::UnknownIncident(IncidentId(2))),
        "{err:?}"
    );
    let err = s.refuse(close_incident(0));
    assert!(
        matches!(err, Error::UnknownIncident(IncidentId(0))),
        "{err:?}"
    );
}

#[test]
fn an_incident_about_an_unknown_participant_is_refused() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let err = s.refuse(Command::OpenIncident {
        kind: IncidentKind::PeerConnectionLost,
        participant: Some(ParticipantId(5)),
        metrics: Metrics::new(),
    });
    assert!(
        matches!(err, Error::UnknownParticipant(ParticipantId(5))),
        "{err:?}"
    );
}

#[test]
fn incidents_may_be_recorded_before_the_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(open_incident(IncidentKind::ConnectionTestFailed));
    s.ok(close_incident(1));
    assert!(s.act.incidents[0].closed_at.is_some());
}

/// Opens incidents 1 and 2 one step apart, then closes incident 1, so that
/// only incident 2 is left open. Returns when incident 2 was opened.
fn two_incidents_one_open(s: &mut Scenario) -> u64 {
    s.ok(open_incident(IncidentKind::IceDisconnected));
    s.ok(open_incident(IncidentKind::HighRtt));
    let opened = s.clock_ms;
    s.ok(close_incident(1));
    opened
}

#[track_caller]
fn assert_auto_closed(events: &[Event], s: &Scenario, opened_ms: u64) -> usize {
    let closing: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.body, ActEvent::IncidentClosed { .. }))
        .collect();
    assert_eq!(closing.len(), 1, "{events:?}");
    assert_eq!(
        closing[0].body,
        ActEvent::IncidentClosed {
            incident: IncidentId(2),
            duration_ms: s.clock_ms - opened_ms,
            metrics: Metrics::new(),
        }
    );
    assert!(s.act.incidents.iter().all(|i| i.closed_at.is_some()));
    assert_eq!(s.act.incidents[1].closed_at, Some(s.now()));
    events
        .iter()
        .position(|e| matches!(e.body, ActEvent::IncidentClosed { .. }))
        .unwrap()
}

#[test]
fn open_incidents_are_closed_when_the_performance_ends() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let opened = two_incidents_one_open(&mut s);
    s.tick();
    let events = s.ok(Command::EndPerformance);
    assert_eq!(assert_auto_closed(&events, &s, opened), 0);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].body, phase_entered(Phase::Conclusion));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn open_incidents_are_closed_when_concluding_from_the_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let opened = two_incidents_one_open(&mut s);
    let events = s.ok(Command::Conclude(conclusion()));
    assert_eq!(assert_auto_closed(&events, &s, opened), 0);
    assert_eq!(
        bodies(&events[1..]),
        vec![
            phase_entered(Phase::Conclusion),
            ActEvent::Concluded(conclusion())
        ]
    );
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn open_incidents_are_closed_when_concluding_from_the_conclusion() {
    let mut s = Scenario::teleconsultation_in(Phase::Conclusion);
    let opened = two_incidents_one_open(&mut s);
    let events = s.ok(Command::Conclude(conclusion()));
    assert_eq!(assert_auto_closed(&events, &s, opened), 0);
    assert_eq!(
        events.last().unwrap().body,
        ActEvent::Concluded(conclusion())
    );
    assert_eq!(s.act.phase, Phase::Closed);
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn open_incidents_are_closed_when_the_act_is_cancelled() {
    for phase in [
        Phase::Request,
        Phase::Preparation,
        Phase::Performance,
        Phase::Conclusion,
    ] {
        let mut s = Scenario::teleconsultation_in(phase);
        let opened = two_incidents_one_open(&mut s);
        s.tick();
        let events = s.ok(Command::Cancel(CancelReason::TechnicalFailure));
        assert_eq!(assert_auto_closed(&events, &s, opened), 0, "{phase}");
        assert_eq!(
            events.last().unwrap().body,
            ActEvent::Cancelled {
                reason: CancelReason::TechnicalFailure
            }
        );
        assert_eq!(s.replay().unwrap(), s.act);
    }
}

#[test]
fn incidents_opened_before_the_performance_are_closed_when_it_ends() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(open_incident(IncidentKind::ConnectionTestFailed));
    let opened = s.clock_ms;
    s.drive_to(Phase::Performance);
    assert_eq!(s.act.incidents[0].closed_at, None);
    let events = s.ok(Command::EndPerformance);
    assert_eq!(
        events[0].body,
        ActEvent::IncidentClosed {
            incident: IncidentId(1),
            duration_ms: s.clock_ms - opened,
            metrics: Metrics::new(),
        }
    );
}

// --- Replay ---------------------------------------------------------------

/// A busy act: late joiners, consent withdrawn and given again, incidents
/// closed by hand and automatically, refused commands in between.
fn busy_act() -> Scenario {
    let mut s = Scenario::teleconsultation();
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::DataHosting],
    )));
    s.ok(Command::Prepare);
    s.refuse(Command::StartPerformance);
    s.ok(open_incident(IncidentKind::ConnectionTestFailed));
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(Command::StartPerformance);
    s.ok(Command::OpenIncident {
        kind: IncidentKind::PacketLoss,
        participant: Some(PATIENT_ID),
        metrics: Metrics::from([("loss_pct".to_string(), 7.0)]),
    });
    s.ok(close_incident(2));
    s.refuse(close_incident(2));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: ParticipantId(3),
    });
    s.ok(register(Role::Expert, expert()));
    s.ok(open_incident(IncidentKind::RelayFallback));
    s.ok(Command::EndPerformance);
    s.ok(Command::Conclude(conclusion()));
    s
}

#[test]
fn replay_rebuilds_the_live_act() {
    let s = busy_act();
    assert_eq!(s.act.phase, Phase::Closed);
    assert!(s.act.incidents.iter().all(|i| i.closed_at.is_some()));
    assert_eq!(s.replay().unwrap(), s.act);
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
