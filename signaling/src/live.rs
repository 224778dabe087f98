//! What the professional's page learns live from the act's new events:
//! incidents as they open and close, mode changes, and the number to call
//! when the phone route is chosen. Pure: [`notifications`] maps the events
//! a room step just appended onto messages and who may receive them; the
//! room delivers them. Patients get only what they must (a mode change
//! that concerns them, so their client stops or restarts its video).

use session::act::Act;
use session::event::{ActEvent, Event};
use session::incident::IncidentId;
use session::mode::MediaMode;

use crate::protocol::{IncidentView, ServerMessage};

/// Who may receive a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Professionals,
    Everyone,
}

/// The notifications for `events`, which `act` has already applied.
pub fn notifications(act: &Act, events: &[Event]) -> Vec<(Audience, ServerMessage)> {
    let mut out = Vec::new();
    for e in events {
        match &e.body {
            ActEvent::IncidentOpened {
                incident, metrics, ..
            }
            | ActEvent::IncidentClosed {
                incident, metrics, ..
            } => {
                if let Some(view) = incident_view(act, *incident, metrics) {
                    out.push((Audience::Professionals, ServerMessage::Incident(view)));
                }
            }
            ActEvent::ModeChanged {
                participant,
                mode,
                cause,
                ..
            } => {
                out.push((
                    Audience::Everyone,
                    ServerMessage::ModeChanged {
                        participant: participant.0,
                        mode: *mode,
                        cause: *cause,
                    },
                ));
                if *mode == MediaMode::Phone
                    && let Some(number) = act.callback_number(*participant)
                {
                    out.push((
                        Audience::Professionals,
                        ServerMessage::PhoneRoute {
                            participant: participant.0,
                            number: number.expose().as_str().to_string(),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn incident_view(
    act: &Act,
    id: IncidentId,
    metrics: &session::incident::Metrics,
) -> Option<IncidentView> {
    let i = act.incidents.iter().find(|i| i.id == id)?;
    Some(IncidentView {
        incident: id.0,
        kind: i.kind,
        participant: i.participant.map(|p| p.0),
        opened_at: i.opened_at.to_rfc3339(),
        closed_at: i.closed_at.map(|t| t.to_rfc3339()),
        duration_ms: i
            .closed_at
            .map(|c| u64::try_from(c.since(i.opened_at).as_millis()).unwrap_or(u64::MAX)),
        metrics: metrics.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use session::act::{ActKind, Command};
    use session::incident::{IncidentKind, Metrics};
    use session::mode::{ModeCause, PhoneNumber};
    use session::participant::{Identity, Role};
    use session::{ActId, ParticipantId, PatientAlias, Pii, Timestamp};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
    }

    fn act() -> Act {
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
        for (role, identity) in [
            (
                Role::Requester,
                Identity::Professional {
                    name: Pii::new("Dr Fictif".into()),
                    rpps: Pii::new("10000000009".parse().unwrap()),
                },
            ),
            (
                Role::Patient,
                Identity::Patient {
                    alias: Pii::new("dossier-1".parse::<PatientAlias>().unwrap()),
                },
            ),
        ] {
            act.handle(Command::Register { role, identity }, t(0))
                .unwrap();
        }
        act.handle(Command::Prepare, t(0)).unwrap();
        act
    }

    #[test]
    fn incidents_go_to_professionals_with_their_duration() {
        let mut act = act();
        let mut metrics = Metrics::new();
        metrics.insert("loss_pct".into(), 12.5);
        let opened = act
            .handle(
                Command::OpenIncident {
                    kind: IncidentKind::PacketLoss,
                    participant: Some(ParticipantId(2)),
                    metrics: metrics.clone(),
                },
                t(10),
            )
            .unwrap();
        let n = notifications(&act, &opened);
        assert_eq!(n.len(), 1);
        let (Audience::Professionals, ServerMessage::Incident(view)) = &n[0] else {
            panic!("{n:?}");
        };
        assert_eq!(view.kind, IncidentKind::PacketLoss);
        assert_eq!(view.participant, Some(2));
        assert_eq!(view.closed_at, None);
        assert_eq!(view.metrics, metrics);
        let closed = act
            .handle(
                Command::CloseIncident {
                    incident: IncidentId(1),
                    metrics: Metrics::new(),
                },
                t(22),
            )
            .unwrap();
        let n = notifications(&act, &closed);
        let (Audience::Professionals, ServerMessage::Incident(view)) = &n[0] else {
            panic!("{n:?}");
        };
        assert_eq!(view.duration_ms, Some(12_000));
        assert!(view.closed_at.is_some());
    }

    #[test]
    fn mode_changes_go_to_everyone_and_the_number_to_professionals_only() {
        let mut act = act();
        let patient = ParticipantId(2);
        act.handle(
            Command::GiveCallbackNumber {
                participant: patient,
                number: Pii::new(PhoneNumber::parse("06 00 00 00 01").unwrap()),
            },
            t(1),
        )
        .unwrap();
        let given = act
            .handle(
                Command::ChangeMode {
                    participant: patient,
                    mode: MediaMode::Phone,
                    cause: ModeCause::Manual,
                    by: ParticipantId(1),
                },
                t(2),
            )
            .unwrap();
        let n = notifications(&act, &given);
        assert_eq!(n.len(), 2);
        assert!(matches!(
            n[0],
            (
                Audience::Everyone,
                ServerMessage::ModeChanged {
                    participant: 2,
                    mode: MediaMode::Phone,
                    ..
                }
            )
        ));
        assert_eq!(
            n[1],
            (
                Audience::Professionals,
                ServerMessage::PhoneRoute {
                    participant: 2,
                    number: "0600000001".into()
                }
            )
        );
    }
}
