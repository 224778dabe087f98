//! The act's lifecycle: request → preparation → performance → conclusion,
//! or cancelled from any open phase; never back.

use super::{Act, Decision};
use crate::Error;
use crate::event::ActEvent;
use crate::timestamp::Timestamp;
use crate::vocab::{CancelReason, Phase};

impl Decision<'_> {
    /// Request → preparation.
    pub(super) fn prepare(&self) -> Result<Vec<ActEvent>, Error> {
        if self.phase != Phase::Request {
            return Err(self.illegal());
        }
        Ok(vec![ActEvent::PhaseEntered {
            phase: Phase::Preparation,
        }])
    }

    /// Preparation → performance, with consent to the act.
    pub(super) fn start_performance(&self) -> Result<Vec<ActEvent>, Error> {
        if self.phase != Phase::Preparation {
            return Err(self.illegal());
        }
        if !self.consent.allows_media() {
            return Err(Error::ConsentRequired);
        }
        Ok(vec![ActEvent::PhaseEntered {
            phase: Phase::Performance,
        }])
    }

    /// Performance → conclusion; screen shares stop and open incidents
    /// close first.
    pub(super) fn end_performance(&self) -> Result<Vec<ActEvent>, Error> {
        if self.phase != Phase::Performance {
            return Err(self.illegal());
        }
        let mut events = self.stop_screen_shares();
        events.extend(self.close_open_incidents(self.now));
        events.push(ActEvent::PhaseEntered {
            phase: Phase::Conclusion,
        });
        Ok(events)
    }

    /// Any open phase → cancelled; screen shares stop and open incidents
    /// close first.
    pub(super) fn cancel(&self, reason: CancelReason) -> Vec<ActEvent> {
        let mut events = self.stop_screen_shares();
        events.extend(self.close_open_incidents(self.now));
        events.push(ActEvent::Cancelled { reason });
        events
    }
}

impl Act {
    pub(super) fn fold_phase_entered(&mut self, phase: Phase, at: Timestamp) -> Result<(), Error> {
        let next_ok = matches!(
            (self.phase, phase),
            (Phase::Request, Phase::Preparation)
                | (Phase::Preparation, Phase::Performance)
                | (Phase::Performance, Phase::Conclusion)
        );
        if !next_ok {
            return Err(Error::IllegalTransition {
                phase: self.phase,
                action: "enter that phase",
            });
        }
        self.enter(phase, at);
        Ok(())
    }

    pub(super) fn fold_cancelled(
        &mut self,
        reason: CancelReason,
        at: Timestamp,
    ) -> Result<(), Error> {
        if self.phase.is_terminal() {
            return Err(Error::IllegalTransition {
                phase: self.phase,
                action: "cancel",
            });
        }
        self.cancel_reason = Some(reason);
        self.enter(Phase::Cancelled, at);
        Ok(())
    }
}
