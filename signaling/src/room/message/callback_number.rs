//! `callback_number`: the number to call a participant back on, should the
//! call fall back to the phone.

use session::act::Command;
use session::mode::PhoneNumber;
use session::{Pii, Timestamp};

use super::{From, Handled};
use crate::room::{Room, Step};

impl Room {
    pub(super) fn callback_number(
        &mut self,
        from: From,
        number: &str,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        match PhoneNumber::parse(number) {
            Ok(number) => {
                self.apply(
                    Command::GiveCallbackNumber {
                        participant: from.p,
                        number: Pii::new(number),
                    },
                    now,
                    step,
                );
                Handled::Quiet
            }
            Err(e) => from.refuse(step, &e.to_string()),
        }
    }
}
