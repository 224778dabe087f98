//! Properties of the act state machine over random command sequences: the
//! phase only moves forward, a terminal act refuses everything, a refused
//! command changes nothing, the trace replays to the live act, no act
//! reaches the performance without consent, and no incident stays open in a
//! finished act.
//!
//! The commands cover every `Command` variant, with participant and incident
//! numbers that may not exist, consent of either method and scope, and
//! empty reports. They are applied on a clock that only moves forward.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::RngSeed;
use session::act::{Act, ActKind, CancelReason, Command, Phase};
use session::conclusion::{Conclusion, Prescription, PrescriptionKind};
use session::consent::{Consent, ConsentScope};
use session::event::{ActEvent, Event};
use session::incident::{IncidentId, IncidentKind, Metrics};
use session::participant::{Identity, Role};
use session::{ActId, Error, ParticipantId, Pii};

// --- Strategies -------------------------------------------------------------

/// Participant numbers from 0 to 6: 0, 5 and 6 never exist (a room holds
/// four), 1 to 4 only once registered.
fn participant_id() -> impl Strategy<Value = ParticipantId> {
    (0u32..=6).prop_map(ParticipantId)
}

fn scopes() -> impl Strategy<Value = Vec<ConsentScope>> {
    prop::collection::vec(
        select(vec![
            ConsentScope::TelemedicineAct,
            ConsentScope::DataHosting,
        ]),
        0..=2,
    )
}

fn role() -> impl Strategy<Value = Role> {
    select(vec![
        Role::Patient,
        Role::Requester,
        Role::Expert,
        Role::Companion,
    ])
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        select(vec![
            (REQUESTER_NAME, RPPS_REQUESTER),
            (EXPERT_NAME, RPPS_EXPERT),
            (OTHER_NAME, RPPS_OTHER),
        ])
        .prop_map(|(name, rpps)| professional(name, rpps)),
        select(vec![PATIENT_ALIAS_1, PATIENT_ALIAS_2]).prop_map(patient),
        Just(companion(COMPANION_NAME)),
    ]
}

fn consent() -> impl Strategy<Value = Consent> {
    (scopes(), participant_id(), any::<bool>()).prop_map(|(scopes, by, electronic)| {
        let mut c = if electronic {
            electronic_consent(by)
        } else {
            attested_consent(by)
        };
        c.scopes = scopes;
        c
    })
}

fn conclusion_strategy() -> impl Strategy<Value = Conclusion> {
    (
        select(vec!["", "  \n", CONCLUSION_REPORT]),
        prop::collection::vec(
            select(vec![
                PrescriptionKind::Medication,
                PrescriptionKind::Examination,
                PrescriptionKind::Other,
            ]),
            0..=2,
        ),
    )
        .prop_map(|(report, kinds)| Conclusion {
            report: Pii::new(report.into()),
            prescriptions: kinds
                .into_iter()
                .map(|kind| Prescription {
                    kind,
                    text: Pii::new("Bilan sanguin de controle".into()),
                })
                .collect(),
        })
}

fn incident_kind() -> impl Strategy<Value = IncidentKind> {
    select(vec![
        IncidentKind::SignalingDisconnected,
        IncidentKind::IceDisconnected,
        IncidentKind::IceFailed,
        IncidentKind::PeerConnectionLost,
        IncidentKind::PacketLoss,
        IncidentKind::VideoFreeze,
        IncidentKind::HighRtt,
        IncidentKind::BitrateCollapse,
        IncidentKind::RelayFallback,
        IncidentKind::RelayAllocationLost,
        IncidentKind::ConnectionTestFailed,
        IncidentKind::Other,
    ])
}

/// Empty, or one value that may be NaN or infinite.
fn metrics() -> impl Strategy<Value = Metrics> {
    prop_oneof![
        Just(Metrics::new()),
        select(vec![0.0, 12.5, 250.0, f64::NAN, f64::INFINITY])
            .prop_map(|v| Metrics::from([("loss_pct".to_string(), v)])),
    ]
}

fn cancel_reason() -> impl Strategy<Value = CancelReason> {
    select(vec![
        CancelReason::ByProfessional,
        CancelReason::PatientAbsent,
        CancelReason::ConsentRefused,
        CancelReason::TechnicalFailure,
    ])
}

/// Any command, weighted so that sequences get past the early phases.
fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => (role(), identity()).prop_map(|(role, identity)| Command::Register { role, identity }),
        3 => Just(Command::Prepare),
        4 => consent().prop_map(Command::GiveConsent),
        1 => (scopes(), participant_id())
            .prop_map(|(scopes, by)| Command::WithdrawConsent { scopes, by }),
        3 => Just(Command::StartPerformance),
        2 => Just(Command::EndPerformance),
        2 => conclusion_strategy().prop_map(Command::Conclude),
        3 => (incident_kind(), prop::option::of(participant_id()), metrics()).prop_map(
            |(kind, participant, metrics)| Command::OpenIncident {
                kind,
                participant,
                metrics,
            }
        ),
        3 => ((0u32..=5).prop_map(IncidentId), metrics())
            .prop_map(|(incident, metrics)| Command::CloseIncident { incident, metrics }),
        1 => cancel_reason().prop_map(Command::Cancel),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    kind: ActKind,
    patient_present: bool,
    /// Start with the requester and the patient registered, the act in
    /// preparation and consent given, so that more runs reach the later
    /// phases.
    prelude: bool,
    /// Each command with the milliseconds since the previous one.
    steps: Vec<(u64, Command)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        select(vec![ActKind::Teleconsultation, ActKind::Teleexpertise]),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((1u64..=120_000, command()), 0..48),
    )
        .prop_map(|(kind, patient_present, prelude, steps)| Case {
            kind,
            patient_present,
            prelude,
            steps,
        })
}

// --- Running a case -----------------------------------------------------------

/// One command as it was handled.
#[derive(Debug)]
struct Step {
    command: Command,
    now: session::Timestamp,
    before: Act,
    result: Result<Vec<Event>, Error>,
    after: Act,
}

#[derive(Debug)]
struct Run {
    act: Act,
    /// Every event emitted, the request first.
    events: Vec<Event>,
    steps: Vec<Step>,
}

fn run(case: &Case) -> Run {
    let (mut act, first) = Act::request(
        ActId::from_bytes([9; 16]),
        case.kind,
        case.patient_present,
        at_ms(0),
    );
    let mut events = vec![first];
    let mut commands: Vec<(u64, Command)> = Vec::new();
    if case.prelude {
        commands.extend(
            [
                register(Role::Requester, requester()),
                register(Role::Patient, patient(PATIENT_ALIAS_1)),
                Command::Prepare,
                Command::GiveConsent(electronic_consent(ParticipantId(2))),
            ]
            .map(|c| (1_000, c)),
        );
    }
    commands.extend(case.steps.iter().cloned());
    let mut clock = 0;
    let mut steps = Vec::new();
    for (delta, command) in commands {
        clock += delta;
        let now = at_ms(clock);
        let before = act.clone();
        let result = act.handle(command.clone(), now);
        if let Ok(emitted) = &result {
            events.extend(emitted.iter().cloned());
        }
        steps.push(Step {
            command,
            now,
            before,
            result,
            after: act.clone(),
        });
    }
    Run { act, events, steps }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // Deterministic: the same sequences on every run.
        rng_seed: RngSeed::Fixed(0x7e1e_c0de),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// --- Properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// The phase index only increases; `Cancelled`, last in the order, is
    /// terminal like `Closed`. The recorded phase times agree.
    #[test]
    fn phase_never_moves_backward(case in case()) {
        let r = run(&case);
        for s in &r.steps {
            prop_assert!(
                s.before.phase <= s.after.phase,
                "{} moved {} back to {}", s.command.name(), s.before.phase, s.after.phase
            );
            if s.before.phase.is_terminal() {
                prop_assert_eq!(s.after.phase, s.before.phase);
            }
        }
        let times = &r.act.phase_times;
        prop_assert_eq!(times[0].0, Phase::Request);
        prop_assert_eq!(times.last().unwrap().0, r.act.phase);
        for w in times.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "{:?}", times);
            prop_assert!(w[0].1 <= w[1].1, "{:?}", times);
        }
        prop_assert!(times.iter().filter(|(p, _)| p.is_terminal()).count() <= 1);
    }

    /// Once closed or cancelled, every command is an illegal transition.
    #[test]
    fn terminal_act_refuses_every_command(case in case()) {
        let r = run(&case);
        for s in r.steps.iter().filter(|s| s.before.phase.is_terminal()) {
            let phase = s.before.phase;
            let name = s.command.name();
            prop_assert!(
                matches!(&s.result, Err(Error::IllegalTransition { phase: p, action }) if *p == phase && *action == name),
                "{} in {}: {:?}", name, phase, s.result
            );
        }
    }

    /// A refused command leaves the act exactly as it was; an accepted one
    /// emits at least one event, all at the command's time.
    #[test]
    fn failed_command_changes_nothing(case in case()) {
        let r = run(&case);
        for s in &r.steps {
            match &s.result {
                Err(e) => prop_assert_eq!(&s.after, &s.before, "{} failed ({}) but changed the act", s.command.name(), e),
                Ok(events) => {
                    prop_assert!(!events.is_empty(), "{} emitted nothing", s.command.name());
                    prop_assert!(events.iter().all(|e| e.at == s.now));
                }
            }
        }
    }

    /// Replaying every emitted event rebuilds the live act, at the end and
    /// after every step.
    #[test]
    fn replay_reproduces_the_act(case in case()) {
        let r = run(&case);
        prop_assert_eq!(&Act::replay(r.act.id, &r.events).unwrap(), &r.act);
        let mut emitted = 1;
        for s in &r.steps {
            if let Ok(events) = &s.result {
                emitted += events.len();
            }
            let replayed = Act::replay(r.act.id, &r.events[..emitted]);
            prop_assert!(replayed.is_ok(), "{:?}", replayed);
            prop_assert_eq!(&replayed.unwrap(), &s.after);
        }
        // Through JSON too, as the trace stores it.
        let json = serde_json::to_string(&r.events).unwrap();
        let back: Vec<Event> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&Act::replay(r.act.id, &back).unwrap(), &r.act);
    }

    /// No act reaches the performance without consent to the act at that
    /// moment; an act never given that consent never gets there at all.
    #[test]
    fn consent_less_acts_never_reach_performance(case in case()) {
        let r = run(&case);
        let consented = r.events.iter().any(|e| matches!(
            &e.body,
            ActEvent::ConsentGiven(c) if c.scopes.contains(&ConsentScope::TelemedicineAct)
        ));
        if !consented {
            prop_assert_eq!(r.act.entered(Phase::Performance), None);
            prop_assert!(r.act.phase != Phase::Conclusion && r.act.phase != Phase::Closed);
        }
        for s in &r.steps {
            let entered = s.before.phase < Phase::Performance
                && s.after.entered(Phase::Performance).is_some();
            if entered {
                prop_assert!(s.before.consent.allows_media());
                prop_assert!(s.after.media_allowed());
            }
            if matches!(s.command, Command::StartPerformance) && !s.before.consent.allows_media() {
                prop_assert!(s.result.is_err());
            }
        }
    }

    /// Every incident is closed exactly once by the time the act is closed
    /// or cancelled, with its duration taken from the two times.
    #[test]
    fn incidents_are_closed_once_terminal(case in case()) {
        let r = run(&case);
        let mut opened = BTreeMap::new();
        let mut closed = BTreeMap::new();
        for e in &r.events {
            match &e.body {
                ActEvent::IncidentOpened { incident, .. } => {
                    prop_assert!(opened.insert(*incident, e.at).is_none());
                }
                ActEvent::IncidentClosed { incident, duration_ms, metrics } => {
                    prop_assert!(closed.insert(*incident, e.at).is_none(), "{} closed twice", incident);
                    let from = opened.get(incident).copied();
                    prop_assert!(from.is_some(), "{} closed before it was opened", incident);
                    let expected = e.at.since(from.unwrap()).as_millis();
                    prop_assert_eq!(u128::from(*duration_ms), expected);
                    prop_assert!(metrics.values().all(|v| v.is_finite()));
                }
                _ => {}
            }
        }
        prop_assert_eq!(opened.len(), r.act.incidents.len());
        if r.act.phase.is_terminal() {
            prop_assert_eq!(closed.len(), opened.len());
            for i in &r.act.incidents {
                prop_assert!(i.closed_at.is_some(), "{} still open in a {} act", i.id, r.act.phase);
            }
        }
    }
}

/// The generator does reach every phase, so the properties above are not
/// vacuous.
#[test]
fn the_generator_reaches_every_phase() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::new(config());
    let mut reached = BTreeMap::new();
    let mut finished_with_incidents = 0;
    for _ in 0..256 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let r = run(&case);
        for (phase, _) in &r.act.phase_times {
            *reached.entry(*phase).or_insert(0) += 1;
        }
        if r.act.phase.is_terminal() && !r.act.incidents.is_empty() {
            finished_with_incidents += 1;
        }
    }
    assert!(finished_with_incidents >= 5, "{finished_with_incidents}");
    for phase in [
        Phase::Request,
        Phase::Preparation,
        Phase::Performance,
        Phase::Conclusion,
        Phase::Closed,
        Phase::Cancelled,
    ] {
        let n = reached.get(&phase).copied().unwrap_or(0);
        assert!(n >= 5, "only {n} of 256 runs reached {phase}: {reached:?}");
    }
}
