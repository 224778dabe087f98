//! The act's lifecycle, scenario by scenario: every legal phase transition,
//! every illegal one (each refused command leaves the act exactly as it
//! was), the role, consent and incident rules, and replay of the trace.

mod common;

use common::*;
use session::act::{
    Act, ActKind, CancelReason, Command, LeaveReason, MediaPath, MediaRoute, Phase,
};
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

fn leave(participant: ParticipantId, reason: LeaveReason) -> Command {
    Command::Leave {
        participant,
        reason,
    }
}

fn admit(participant: ParticipantId, by: ParticipantId) -> Command {
    Command::Admit { participant, by }
}

fn record_media(participant: ParticipantId) -> Command {
    Command::RecordMedia(media_path(participant))
}

/// One command of each kind, each valid in itself (known participants,
/// non-empty report, the patient admitted by a professional, a media path
/// for the requester, who needs no admission), so that only the phase can
/// make it illegal. In the scenarios driven by
/// [`Scenario::teleconsultation_in`], p1 is the requester and p2 the patient.
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
        join(PATIENT_ID),
        leave(PATIENT_ID, LeaveReason::LeftByChoice),
        admit(PATIENT_ID, REQUESTER_ID),
        record_media(REQUESTER_ID),
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

// --- The live session: join, leave, admit, media ----------------------------

const OPEN_PHASES: [Phase; 4] = [
    Phase::Request,
    Phase::Preparation,
    Phase::Performance,
    Phase::Conclusion,
];

const LEAVE_REASONS: [LeaveReason; 7] = [
    LeaveReason::LeftByChoice,
    LeaveReason::ConnectionLost,
    LeaveReason::Replaced,
    LeaveReason::ActEnded,
    LeaveReason::ConsentWithdrawn,
    LeaveReason::ServerShutdown,
    LeaveReason::ProtocolViolation,
];

/// Handles `command`, which must succeed with exactly `expected` and leave
/// the act's state as it was: joins, leaves and media paths are recorded in
/// the trace only.
#[track_caller]
fn assert_recorded_only(s: &mut Scenario, command: Command, expected: ActEvent) {
    let before = s.act.clone();
    let events = s.ok(command);
    assert_all_at(&events, s);
    assert_eq!(bodies(&events), vec![expected]);
    assert_eq!(s.act, before);
}

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
    s.ok(Command::Conclude(conclusion()));
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

#[test]
fn the_requester_admits_the_patient() {
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    assert!(s.act.admitted.is_empty());
    let events = s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_all_at(&events, &s);
    assert_eq!(
        bodies(&events),
        vec![ActEvent::Admitted {
            participant: PATIENT_ID,
            by: REQUESTER_ID
        }]
    );
    assert_eq!(s.act.admitted, vec![PATIENT_ID]);
    assert_eq!(s.act.phase, Phase::Preparation);
}

#[test]
fn the_expert_admits_too() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Expert, expert()));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.ok(admit(ParticipantId(4), ParticipantId(3)));
    s.ok(admit(PATIENT_ID, ParticipantId(3)));
    assert_eq!(s.act.admitted, vec![ParticipantId(4), PATIENT_ID]);
}

#[test]
fn only_a_professional_admits() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let companion_id = ParticipantId(3);
    for (participant, by) in [
        (companion_id, PATIENT_ID),
        (PATIENT_ID, PATIENT_ID),
        (PATIENT_ID, companion_id),
        (companion_id, companion_id),
    ] {
        let err = s.refuse(admit(participant, by));
        assert!(
            matches!(&err, Error::InvalidInput(m) if m == "only a professional admits participants"),
            "{participant} by {by}: {err:?}"
        );
    }
    assert!(s.act.admitted.is_empty());
    // The same admissions by the requester succeed.
    s.ok(admit(companion_id, REQUESTER_ID));
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_eq!(s.act.admitted, vec![companion_id, PATIENT_ID]);
}

#[test]
fn admission_by_a_non_professional_is_refused_in_every_open_phase() {
    // The admitter's role is checked before the phase, and before the role
    // of who is admitted.
    for phase in OPEN_PHASES {
        let mut s = Scenario::teleconsultation_in(phase);
        for command in [
            admit(PATIENT_ID, PATIENT_ID),
            admit(REQUESTER_ID, PATIENT_ID),
        ] {
            let err = s.refuse(command);
            assert!(
                matches!(&err, Error::InvalidInput(m) if m == "only a professional admits participants"),
                "{phase}: {err:?}"
            );
        }
    }
}

#[test]
fn admission_only_in_preparation_or_performance() {
    for phase in [Phase::Preparation, Phase::Performance] {
        let mut s = Scenario::teleconsultation_in(phase);
        s.ok(admit(PATIENT_ID, REQUESTER_ID));
        assert_eq!(s.act.admitted, vec![PATIENT_ID], "{phase}");
        assert_eq!(s.replay().unwrap(), s.act, "{phase}");
    }
    for phase in [
        Phase::Request,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        assert_illegal(phase, admit(PATIENT_ID, REQUESTER_ID));
    }
}

#[test]
fn admitting_twice_is_refused() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(register(Role::Patient, patient(PATIENT_ALIAS_1)));
    let patient_id = ParticipantId(3);
    s.ok(Command::Prepare);
    s.ok(admit(patient_id, REQUESTER_ID));
    let assert_already = |err: Error| {
        assert!(
            matches!(err, Error::AlreadyAdmitted(p) if p == patient_id),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "participant p3 is already admitted");
    };
    // Again, by the same professional or the other one, in the same phase
    // or the next.
    assert_already(s.refuse(admit(patient_id, REQUESTER_ID)));
    assert_already(s.refuse(admit(patient_id, EXPERT_ID)));
    s.ok(Command::GiveConsent(attested_consent(REQUESTER_ID)));
    s.ok(Command::StartPerformance);
    assert_already(s.refuse(admit(patient_id, EXPERT_ID)));
    // Leaving and joining again does not undo the admission.
    s.ok(leave(patient_id, LeaveReason::ConnectionLost));
    s.ok(join(patient_id));
    assert_already(s.refuse(admit(patient_id, REQUESTER_ID)));
    assert_eq!(s.act.admitted, vec![patient_id]);
    // Outside preparation and performance the phase is reported instead.
    s.ok(Command::EndPerformance);
    let err = s.refuse(admit(patient_id, REQUESTER_ID));
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Conclusion,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_professional_is_never_admitted() {
    // Professionals need no admission: admitting one is refused, whoever
    // admits, even themselves, in every open phase (the roles are checked
    // before the phase).
    for phase in OPEN_PHASES {
        let mut s = Scenario::teleexpertise_without_patient();
        s.drive_to(phase);
        for (participant, by) in [
            (EXPERT_ID, REQUESTER_ID),
            (REQUESTER_ID, EXPERT_ID),
            (REQUESTER_ID, REQUESTER_ID),
            (EXPERT_ID, EXPERT_ID),
        ] {
            let err = s.refuse(admit(participant, by));
            let Error::InvalidInput(message) = &err else {
                panic!("{participant} by {by} in {phase}: {err:?}");
            };
            assert_eq!(
                *message,
                format!(
                    "participant {participant} is a professional, and professionals need no admission"
                )
            );
        }
        assert!(s.act.admitted.is_empty(), "{phase}");
    }
}

#[test]
fn refusing_to_admit_a_professional_names_no_one() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.ok(Command::Prepare);
    let message = s.refuse(admit(EXPERT_ID, REQUESTER_ID)).to_string();
    for personal in [REQUESTER_NAME, EXPERT_NAME, RPPS_REQUESTER, RPPS_EXPERT] {
        assert!(!message.contains(personal), "{message}");
    }
}

#[test]
fn a_professional_registered_late_is_not_admitted_either() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(register(Role::Expert, expert()));
    let err = s.refuse(admit(ParticipantId(3), REQUESTER_ID));
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    // They get media without it.
    s.ok(record_media(ParticipantId(3)));
}

#[test]
fn media_is_recorded_in_the_performance() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    // The requester, a professional, needs no admission.
    let relayed = MediaPath {
        participant: REQUESTER_ID,
        route: MediaRoute::Relay,
        candidate_types: vec!["relay".into(), "srflx".into()],
        codecs: vec!["opus".into(), "AV1".into()],
    };
    assert_recorded_only(
        &mut s,
        Command::RecordMedia(relayed.clone()),
        ActEvent::MediaConnected(relayed),
    );
    // The patient, once admitted.
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    assert_recorded_only(
        &mut s,
        record_media(PATIENT_ID),
        ActEvent::MediaConnected(media_path(PATIENT_ID)),
    );
    // Again, as when the connection is renegotiated.
    s.ok(record_media(PATIENT_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn media_is_refused_outside_the_performance() {
    // The phase is checked before consent and admission.
    for phase in [
        Phase::Request,
        Phase::Preparation,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        assert_illegal(phase, record_media(PATIENT_ID));
        assert_illegal(phase, record_media(REQUESTER_ID));
    }
    // Admitted in preparation, the patient still waits for the performance.
    let mut s = Scenario::teleconsultation_in(Phase::Preparation);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    let err = s.refuse(record_media(PATIENT_ID));
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                phase: Phase::Preparation,
                ..
            }
        ),
        "{err:?}"
    );
}

/// `err` is [`Error::MediaNotAllowed`] for `participant` with `reason`.
#[track_caller]
fn assert_media_refused(err: Error, participant: ParticipantId, reason: &str) {
    assert!(
        matches!(&err, Error::MediaNotAllowed { participant: p, reason: r } if *p == participant && *r == reason),
        "{err:?}"
    );
}

const NOT_ADMITTED: &str = "a professional has not admitted them";
const NO_CONSENT: &str = "consent to the act is not standing";

#[test]
fn media_is_refused_for_a_participant_not_admitted() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(join(PATIENT_ID));
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NOT_ADMITTED);
    // A companion registered during the performance waits likewise.
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let companion_id = ParticipantId(3);
    assert_media_refused(
        s.refuse(record_media(companion_id)),
        companion_id,
        NOT_ADMITTED,
    );
    // Admitting one lets only that one in.
    s.ok(admit(companion_id, REQUESTER_ID));
    s.ok(record_media(companion_id));
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NOT_ADMITTED);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(record_media(PATIENT_ID));
    assert!(s.act.media_allowed_for(PATIENT_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn media_is_refused_once_consent_to_the_act_is_withdrawn() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.ok(record_media(PATIENT_ID));
    // Withdrawing data hosting only leaves the media allowed.
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: PATIENT_ID,
    });
    s.ok(record_media(PATIENT_ID));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert!(!s.act.media_allowed());
    // Refused for the admitted patient and for the professional alike.
    for p in [PATIENT_ID, REQUESTER_ID] {
        assert_media_refused(s.refuse(record_media(p)), p, NO_CONSENT);
        assert!(!s.act.media_allowed_for(p));
    }
    // Consent given again lets the media flow again; the admission stands.
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(record_media(PATIENT_ID));
    s.ok(record_media(REQUESTER_ID));
    assert_eq!(s.replay().unwrap(), s.act);
}

#[test]
fn without_consent_an_unadmitted_patient_is_told_about_consent_first() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: PATIENT_ID,
    });
    assert_media_refused(s.refuse(record_media(PATIENT_ID)), PATIENT_ID, NO_CONSENT);
}

#[test]
fn a_teleexpertise_without_the_patient_needs_no_admission_for_media() {
    let mut s = Scenario::teleexpertise_without_patient();
    s.drive_to(Phase::Performance);
    s.ok(record_media(REQUESTER_ID));
    s.ok(record_media(EXPERT_ID));
    assert!(s.act.admitted.is_empty());
    // Until the requester withdraws the attested consent.
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::TelemedicineAct],
        by: REQUESTER_ID,
    });
    assert_media_refused(s.refuse(record_media(EXPERT_ID)), EXPERT_ID, NO_CONSENT);
}

#[test]
fn media_allowed_for_agrees_with_record_media() {
    let mut s = Scenario::teleconsultation();
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    let check = |s: &mut Scenario| {
        for p in (0..=5).map(ParticipantId) {
            let allowed = s.act.media_allowed_for(p);
            let mut probe = s.clone();
            assert_eq!(
                probe.handle(record_media(p)).is_ok(),
                allowed,
                "{p} in {}",
                s.act.phase
            );
        }
    };
    check(&mut s);
    s.ok(Command::Prepare);
    s.ok(admit(ParticipantId(3), REQUESTER_ID));
    check(&mut s);
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(Command::StartPerformance);
    check(&mut s);
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    check(&mut s);
    s.ok(Command::EndPerformance);
    check(&mut s);
}

#[test]
fn refusing_media_names_no_one() {
    let mut s = Scenario::teleconsultation_in(Phase::Performance);
    let message = s.refuse(record_media(PATIENT_ID)).to_string();
    assert_eq!(
        message,
        "media is not allowed for participant p2: a professional has not admitted them"
    );
    for personal in [PATIENT_ALIAS_1, REQUESTER_NAME, RPPS_REQUESTER, USER_AGENT] {
        assert!(!message.contains(personal), "{message}");
    }
}

// --- Replay ---------------------------------------------------------------

/// A busy act: late joiners, consent withdrawn and given again, incidents
/// closed by hand and automatically, devices joining, dropping and leaving,
/// admissions by both professionals, media paths, refused commands in
/// between. It ends with p2 (the patient) and p3 (the companion) admitted;
/// p1 and p4, the professionals, need no admission.
fn busy_act() -> Scenario {
    let mut s = Scenario::teleconsultation();
    s.ok(join(REQUESTER_ID));
    s.ok(Command::GiveConsent(electronic_consent_to(
        PATIENT_ID,
        &[ConsentScope::DataHosting],
    )));
    s.ok(Command::Prepare);
    s.refuse(Command::StartPerformance);
    s.ok(open_incident(IncidentKind::ConnectionTestFailed));
    s.ok(join(PATIENT_ID));
    s.ok(admit(PATIENT_ID, REQUESTER_ID));
    s.refuse(admit(PATIENT_ID, REQUESTER_ID));
    s.refuse(record_media(PATIENT_ID));
    s.ok(Command::GiveConsent(electronic_consent(PATIENT_ID)));
    s.ok(register(Role::Companion, companion(COMPANION_NAME)));
    s.refuse(admit(ParticipantId(3), PATIENT_ID));
    s.ok(Command::StartPerformance);
    s.ok(Command::RecordMedia(MediaPath {
        participant: PATIENT_ID,
        route: MediaRoute::Relay,
        candidate_types: vec!["relay".into(), "host".into()],
        codecs: vec!["opus".into(), "VP8".into()],
    }));
    s.ok(record_media(REQUESTER_ID));
    // The companion is not admitted yet.
    s.refuse(record_media(ParticipantId(3)));
    s.ok(Command::OpenIncident {
        kind: IncidentKind::PacketLoss,
        participant: Some(PATIENT_ID),
        metrics: Metrics::from([("loss_pct".to_string(), 7.0)]),
    });
    s.ok(leave(PATIENT_ID, LeaveReason::ConnectionLost));
    s.ok(join(PATIENT_ID));
    s.ok(close_incident(2));
    s.refuse(close_incident(2));
    s.ok(Command::WithdrawConsent {
        scopes: vec![ConsentScope::DataHosting],
        by: ParticipantId(3),
    });
    s.ok(register(Role::Expert, expert()));
    s.refuse(admit(ParticipantId(4), REQUESTER_ID));
    s.ok(join(ParticipantId(4)));
    s.ok(admit(ParticipantId(3), ParticipantId(4)));
    s.ok(record_media(ParticipantId(3)));
    s.ok(open_incident(IncidentKind::RelayFallback));
    s.ok(Command::EndPerformance);
    s.refuse(join(ParticipantId(3)));
    s.ok(leave(PATIENT_ID, LeaveReason::ActEnded));
    s.ok(leave(ParticipantId(4), LeaveReason::LeftByChoice));
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

// --- Replay refuses session events the rules forbid ---------------------

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

fn admitted(participant: ParticipantId, by: ParticipantId) -> ActEvent {
    ActEvent::Admitted { participant, by }
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
