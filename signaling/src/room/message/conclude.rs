//! `conclude`: a professional writes the report and prescriptions; the act
//! records them as theirs and closes for everyone.

use session::act::Command;
use session::conclusion::Prescription;
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
        let conclude = Command::Conclude {
            by: from.p,
            report: Pii::new(report),
            prescriptions: prescriptions
                .into_iter()
                .map(|x| Prescription {
                    kind: x.kind,
                    text: Pii::new(x.text),
                })
                .collect(),
        };
        if self.apply_as(Some(from.p), conclude, now, step) {
            self.end_for_all(step);
        }
        Handled::Changed
    }
}

#[cfg(test)]
mod tests {
    use session::ActEvent;
    use session::act::Phase;

    use crate::protocol::{ClientMessage, ErrorCode, ServerMessage};
    use crate::room::testing::*;

    fn conclude(report: &str) -> ClientMessage {
        ClientMessage::Conclude {
            report: report.into(),
            prescriptions: vec![],
        }
    }

    #[test]
    fn the_conclusion_names_the_professional_who_sent_it() {
        let mut r = live_room(30);
        // The patient may not conclude: nothing is recorded.
        let s = say(&mut r, 20, conclude("Rapport fictif."));
        assert!(s.events.is_empty());
        assert!(matches!(
            sent_to(&s, 20)[0],
            ServerMessage::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        ));
        let s = say(&mut r, 10, conclude("Rapport fictif."));
        let Some(ActEvent::Concluded(c)) = s.events.last().map(|e| &e.body) else {
            panic!("{:?}", kinds(&s));
        };
        assert_eq!(c.by, Some(PRO));
        assert_eq!(r.act().phase, Phase::Closed);
        assert_eq!(r.act().conclusion.as_ref().and_then(|c| c.by), Some(PRO));
    }
}
