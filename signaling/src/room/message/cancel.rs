//! `cancel`: a professional cancels the act; it ends for everyone.

use session::act::Command;
use session::{CancelReason, Timestamp};

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    pub(super) fn cancel(
        &mut self,
        from: From,
        reason: CancelReason,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if !from.role.is_professional() {
            return from.forbidden(step, "cancel the act");
        }
        if self.apply_as(Some(from.p), Command::Cancel(reason), now, step) {
            self.end_for_all(step);
        }
        Handled::Changed
    }
}
