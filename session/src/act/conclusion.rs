//! The act's conclusion: the report and prescriptions, written by one of
//! its professionals, which close it.

use super::{Act, Decision};
use crate::Error;
use crate::conclusion::{Conclusion, Prescription};
use crate::event::ActEvent;
use crate::ids::ParticipantId;
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::vocab::Phase;

impl Decision<'_> {
    /// Records the report of `by`, a professional of the act, and closes
    /// the act. From performance it passes through conclusion first;
    /// screen shares stop and open incidents close before.
    pub(super) fn conclude(
        &self,
        by: ParticipantId,
        report: Pii<String>,
        prescriptions: Vec<Prescription>,
    ) -> Result<Vec<ActEvent>, Error> {
        if !self.participant(by)?.role.is_professional() {
            return Err(Error::NotAProfessional(by));
        }
        if report.expose().trim().is_empty() {
            return Err(Error::InvalidInput("the report is empty".into()));
        }
        if report.expose().len() > Conclusion::MAX_REPORT_LEN {
            return Err(Error::InvalidInput(format!(
                "the report is longer than {} bytes",
                Conclusion::MAX_REPORT_LEN
            )));
        }
        let mut events = Vec::new();
        match self.phase {
            Phase::Performance => {
                events.extend(self.stop_screen_shares());
                events.extend(self.close_open_incidents(self.now));
                events.push(ActEvent::PhaseEntered {
                    phase: Phase::Conclusion,
                });
            }
            // Incidents opened while the report was being written
            // would otherwise stay open in a closed act.
            Phase::Conclusion => events.extend(self.close_open_incidents(self.now)),
            _ => return Err(self.illegal()),
        }
        events.push(ActEvent::Concluded(Conclusion {
            report,
            prescriptions,
            by: Some(by),
        }));
        Ok(events)
    }
}

impl Act {
    /// Folds a `concluded` event. One written before authors were
    /// recorded has none (`by` is `None`) and replays as before; one that
    /// names its author must name a professional of the act.
    pub(super) fn fold_concluded(&mut self, c: &Conclusion, at: Timestamp) -> Result<(), Error> {
        if self.phase != Phase::Conclusion {
            return Err(Error::IllegalTransition {
                phase: self.phase,
                action: "conclude",
            });
        }
        if let Some(by) = c.by {
            match self.participant(by) {
                Ok(p) if p.role.is_professional() => {}
                Ok(_) => {
                    return Err(self
                        .bad_trace(format!("participant {by} concludes but is no professional")));
                }
                Err(_) => {
                    return Err(self.bad_trace(format!(
                        "participant {by} concludes but was never registered"
                    )));
                }
            }
        }
        self.conclusion = Some(c.clone());
        self.enter(Phase::Closed, at);
        Ok(())
    }
}
