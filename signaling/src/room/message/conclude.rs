//! `conclude`: a professional writes the report and prescriptions; the act
//! closes for everyone.

use session::act::Command;
use session::conclusion::{Conclusion, Prescription};
use session::{Pii, Timestamp};

use super::{From, Handled};
use crate::protocol::PrescriptionInput;
use crate::room::{Room, Step};

impl Room {
    pub(super) fn conclude(
        &mut self,
        from: From,
        report: String,
        prescriptions: Vec<PrescriptionInput>,
        now: Timestamp,
        step: &mut Step,
    ) -> Handled {
        if !from.role.is_professional() {
            return from.forbidden(step, "conclude the act");
        }
        let conclusion = Conclusion {
            report: Pii::new(report),
            prescriptions: prescriptions
                .into_iter()
                .map(|x| Prescription {
                    kind: x.kind,
                    text: Pii::new(x.text),
                })
                .collect(),
        };
        if self.apply_as(Some(from.p), Command::Conclude(conclusion), now, step) {
            self.end_for_all(step);
        }
        Handled::Changed
    }
}
