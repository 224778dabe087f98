//! `withdraw_consent`: media stops for everyone at once.

use session::Timestamp;
use session::act::Command;
use session::consent::ConsentScope;
use session::participant::Role;

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    pub(super) fn withdraw_consent(
        &mut self,
        from: From,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if !matches!(from.role, Role::Patient | Role::Companion | Role::Requester) {
            return from.forbidden(step, "withdraw consent");
        }
        self.apply(
            Command::WithdrawConsent {
                scopes: vec![ConsentScope::TelemedicineAct],
                by: from.p,
            },
            now,
            step,
        );
        Handled::Changed
    }
}
