//! Incidents: opened and closed with their duration from the command times,
//! numbered in order, refused when unknown or closed twice, and closed
//! automatically when the performance ends or the act is concluded or
//! cancelled.

mod common;

use common::lifecycle::*;
use common::*;
use session::act::{CancelReason, Command, Phase};
use session::event::{ActEvent, Event};
use session::incident::{IncidentId, IncidentKind, Metrics};
use session::{Error, ParticipantId};

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
    let events = s.ok(conclude());
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
    let events = s.ok(conclude());
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
