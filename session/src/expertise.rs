//! A téléexpertise's request and the expert's answers: the question and
//! its urgency, the delay it sets, what the expert answered and when.
//! (The rules that make and check these events are in `act/expertise.rs`.)

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::pii::Pii;
use crate::timestamp::Timestamp;
use crate::vocab::Urgency;

/// What the requesting professional asks, given when the act is opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpertiseRequest {
    /// The question put to the expert: medical, so sealed at rest.
    pub question: Pii<String>,
    pub urgency: Urgency,
}

impl ExpertiseRequest {
    /// The longest question, in UTF-8 bytes: 8 KiB.
    pub const MAX_QUESTION_BYTES: usize = 8 * 1024;

    /// A question is not blank and at most [`Self::MAX_QUESTION_BYTES`].
    pub fn check(&self) -> Result<(), Error> {
        check_text("question", self.question.expose(), Self::MAX_QUESTION_BYTES)
    }
}

/// The expert's answer to the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ExpertAnswer {
    /// The expert takes the case: the act moves on to preparation.
    Accepted,
    /// The expert declines, saying why: the act is cancelled.
    Declined { reason: Pii<String> },
    /// The expert needs more (a document, an examination) before answering
    /// again; the act stays where it is.
    MoreRequested { what: Pii<String> },
}

impl ExpertAnswer {
    /// The longest reason or request for more, in UTF-8 bytes: 4 KiB.
    pub const MAX_TEXT_BYTES: usize = 4 * 1024;

    /// A decline's reason, or what more is asked, is not blank and at most
    /// [`Self::MAX_TEXT_BYTES`].
    pub fn check(&self) -> Result<(), Error> {
        match self {
            ExpertAnswer::Accepted => Ok(()),
            ExpertAnswer::Declined { reason } => {
                check_text("reason", reason.expose(), Self::MAX_TEXT_BYTES)
            }
            ExpertAnswer::MoreRequested { what } => {
                check_text("request for more", what.expose(), Self::MAX_TEXT_BYTES)
            }
        }
    }

    /// The decision's name, as serialized: `accepted`, `declined`,
    /// `more_requested`.
    pub fn decision(&self) -> &'static str {
        match self {
            ExpertAnswer::Accepted => "accepted",
            ExpertAnswer::Declined { .. } => "declined",
            ExpertAnswer::MoreRequested { .. } => "more_requested",
        }
    }
}

fn check_text(what: &'static str, text: &str, max: usize) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::TextEmpty { what });
    }
    if text.len() > max {
        return Err(Error::TextTooLong { what, max });
    }
    Ok(())
}

/// A téléexpertise's request and answers, as the act folds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpertiseState {
    pub question: Pii<String>,
    pub urgency: Urgency,
    pub requested_at: Timestamp,
    /// When the answer is due: the request's time plus the urgency's
    /// [`Urgency::response_delay`].
    pub respond_by: Timestamp,
    /// Every answer, in order, with its time.
    pub answers: Vec<(Timestamp, ExpertAnswer)>,
    /// When the expert first answered, whatever the answer.
    pub first_answer_at: Option<Timestamp>,
    /// When the expert opened the asynchronous review (the performance).
    pub review_started_at: Option<Timestamp>,
}

impl ExpertiseState {
    /// Unanswered past its delay: no answer yet and `now` after
    /// [`ExpertiseState::respond_by`].
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.first_answer_at.is_none() && now > self.respond_by
    }

    /// The expert's latest answer.
    pub fn latest_answer(&self) -> Option<&ExpertAnswer> {
        self.answers.last().map(|(_, a)| a)
    }

    /// Whether the expert accepted (an acceptance is final).
    pub fn accepted(&self) -> bool {
        self.answers
            .iter()
            .any(|(_, a)| matches!(a, ExpertAnswer::Accepted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(urgency: Urgency) -> ExpertiseState {
        let at = Timestamp::from_micros(1_000_000);
        ExpertiseState {
            question: Pii::new("Lesion suspecte ?".into()),
            urgency,
            requested_at: at,
            respond_by: at.plus(urgency.response_delay()),
            answers: Vec::new(),
            first_answer_at: None,
            review_started_at: None,
        }
    }

    #[test]
    fn overdue_only_unanswered_past_the_delay() {
        let mut s = state(Urgency::Immediate);
        let due = s.respond_by;
        assert!(!s.overdue(s.requested_at));
        assert!(!s.overdue(due), "due at, not yet overdue");
        assert!(s.overdue(due.plus(std::time::Duration::from_micros(1))));
        s.first_answer_at = Some(due.plus(std::time::Duration::from_secs(60)));
        s.answers.push((
            s.first_answer_at.unwrap(),
            ExpertAnswer::MoreRequested {
                what: Pii::new("Le cliche de profil".into()),
            },
        ));
        assert!(!s.overdue(due.plus(std::time::Duration::from_secs(3_600))));
        assert!(!s.accepted());
    }

    #[test]
    fn answers_serialise_with_their_decision_tag() {
        let v = serde_json::to_value(ExpertAnswer::Accepted).unwrap();
        assert_eq!(v, serde_json::json!({"decision": "accepted"}));
        let d = ExpertAnswer::Declined {
            reason: Pii::new("Hors de ma specialite".into()),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"decision": "declined", "reason": {"$pii": "Hors de ma specialite"}})
        );
        assert_eq!(serde_json::from_value::<ExpertAnswer>(v).unwrap(), d);
        assert_eq!(d.decision(), "declined");
    }

    #[test]
    fn texts_are_not_blank_nor_too_long() {
        let req = |q: &str| ExpertiseRequest {
            question: Pii::new(q.into()),
            urgency: Urgency::Routine,
        };
        assert!(req("Avis sur cette lesion").check().is_ok());
        assert!(matches!(
            req(" \n").check(),
            Err(Error::TextEmpty { what: "question" })
        ));
        assert!(req(&"q".repeat(8 * 1024)).check().is_ok());
        assert!(matches!(
            req(&"q".repeat(8 * 1024 + 1)).check(),
            Err(Error::TextTooLong {
                what: "question",
                max: 8192
            })
        ));
        let decline = |r: &str| ExpertAnswer::Declined {
            reason: Pii::new(r.into()),
        };
        assert!(matches!(
            decline("").check(),
            Err(Error::TextEmpty { what: "reason" })
        ));
        assert!(matches!(
            decline(&"r".repeat(4097)).check(),
            Err(Error::TextTooLong { max: 4096, .. })
        ));
        let more = ExpertAnswer::MoreRequested {
            what: Pii::new("  ".into()),
        };
        assert!(matches!(
            more.check(),
            Err(Error::TextEmpty {
                what: "request for more"
            })
        ));
        assert!(ExpertAnswer::Accepted.check().is_ok());
    }
}
