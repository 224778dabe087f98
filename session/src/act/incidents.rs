//! Technical incidents as the act records them: opened and closed by
//! command, all closed when the performance ends or the act is cancelled
//! or concluded. The detectors in [`crate::incident`] decide *when*; this
//! file turns their [`IncidentEvent`]s into commands.

use super::{Act, Command, Decision, Incident, duration_ms};
use crate::Error;
use crate::event::ActEvent;
use crate::ids::{IncidentId, ParticipantId};
use crate::incident::{IncidentEvent, Metrics, clean_metrics};
use crate::timestamp::Timestamp;
use crate::vocab::IncidentKind;

impl Decision<'_> {
    /// Opens the next incident, numbered in order.
    pub(super) fn open_incident(
        &self,
        kind: IncidentKind,
        participant: Option<ParticipantId>,
        metrics: Metrics,
    ) -> Result<Vec<ActEvent>, Error> {
        if let Some(p) = participant {
            self.participant(p)?;
        }
        Ok(vec![ActEvent::IncidentOpened {
            incident: IncidentId(self.incidents.len() as u32 + 1),
            kind,
            participant,
            metrics: clean_metrics(metrics),
        }])
    }

    /// Closes an open incident, with its duration in the act.
    pub(super) fn close_incident(
        &self,
        incident: IncidentId,
        metrics: Metrics,
    ) -> Result<Vec<ActEvent>, Error> {
        let found = self
            .incidents
            .iter()
            .find(|i| i.id == incident)
            .ok_or(Error::UnknownIncident(incident))?;
        if found.closed_at.is_some() {
            return Err(Error::IncidentAlreadyClosed(incident));
        }
        Ok(vec![ActEvent::IncidentClosed {
            incident,
            duration_ms: duration_ms(found.opened_at, self.now),
            metrics: clean_metrics(metrics),
        }])
    }
}

impl Decision<'_> {
    /// An incident found in one report and over at once: the events that
    /// open it about `participant` and close it, duration 0, in the same
    /// decision (nothing else in that decision may open an incident
    /// before them).
    pub(super) fn instant_incident(
        &self,
        kind: IncidentKind,
        participant: ParticipantId,
    ) -> [ActEvent; 2] {
        let incident = IncidentId(self.incidents.len() as u32 + 1);
        [
            ActEvent::IncidentOpened {
                incident,
                kind,
                participant: Some(participant),
                metrics: Metrics::new(),
            },
            ActEvent::IncidentClosed {
                incident,
                duration_ms: 0,
                metrics: Metrics::new(),
            },
        ]
    }
}

impl Act {
    /// The events that close every incident still open, at `now`.
    pub(super) fn close_open_incidents(&self, now: Timestamp) -> Vec<ActEvent> {
        self.incidents
            .iter()
            .filter(|i| i.closed_at.is_none())
            .map(|i| ActEvent::IncidentClosed {
                incident: i.id,
                duration_ms: duration_ms(i.opened_at, now),
                metrics: Metrics::new(),
            })
            .collect()
    }

    pub(super) fn fold_incident_opened(
        &mut self,
        incident: IncidentId,
        kind: IncidentKind,
        participant: Option<ParticipantId>,
        at: Timestamp,
    ) -> Result<(), Error> {
        if incident.0 as usize != self.incidents.len() + 1 {
            return Err(self.bad_trace(format!("incident {incident} opened out of order")));
        }
        self.incidents.push(Incident {
            id: incident,
            kind,
            participant,
            opened_at: at,
            closed_at: None,
        });
        Ok(())
    }

    pub(super) fn fold_incident_closed(
        &mut self,
        incident: IncidentId,
        at: Timestamp,
    ) -> Result<(), Error> {
        let id = self.id;
        let i = self
            .incidents
            .iter_mut()
            .find(|i| i.id == incident && i.closed_at.is_none())
            .ok_or_else(|| {
                Error::InvalidTrace(format!("act {id}: incident {incident} closed but not open"))
            })?;
        i.closed_at = Some(at);
        Ok(())
    }
}

impl IncidentEvent {
    /// The act command that records this event. A close needs the id the
    /// act gave the incident when it was opened, which the caller keeps
    /// per [`crate::incident::IncidentKey`].
    pub fn to_command(&self, opened_as: Option<IncidentId>) -> Option<Command> {
        match self {
            IncidentEvent::Open { key, metrics, .. } => Some(Command::OpenIncident {
                kind: key.kind,
                participant: Some(key.participant),
                metrics: metrics.clone(),
            }),
            IncidentEvent::Close { metrics, .. } => {
                opened_as.map(|incident| Command::CloseIncident {
                    incident,
                    metrics: metrics.clone(),
                })
            }
        }
    }
}
