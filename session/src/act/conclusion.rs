//! The act's conclusion: the report and prescriptions, which close it.

use super::{Act, Decision};
use crate::Error;
use crate::conclusion::Conclusion;
use crate::event::ActEvent;
use crate::timestamp::Timestamp;
use crate::vocab::Phase;

impl Decision<'_> {
    /// Records the report and closes the act. From performance it passes
    /// through conclusion first; screen shares stop and open incidents
    /// close before.
    pub(super) fn conclude(&self, conclusion: Conclusion) -> Result<Vec<ActEvent>, Error> {
        if conclusion.report.expose().trim().is_empty() {
            return Err(Error::InvalidInput("the report is empty".into()));
        }
        if conclusion.report.expose().len() > Conclusion::MAX_REPORT_LEN {
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
        events.push(ActEvent::Concluded(conclusion));
        Ok(events)
    }
}

impl Act {
    pub(super) fn fold_concluded(&mut self, c: &Conclusion, at: Timestamp) -> Result<(), Error> {
        if self.phase != Phase::Conclusion {
            return Err(Error::IllegalTransition {
                phase: self.phase,
                action: "conclude",
            });
        }
        self.conclusion = Some(c.clone());
        self.enter(Phase::Closed, at);
        Ok(())
    }
}
