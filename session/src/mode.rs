//! How a participant's consultation is carried: full video, audio only, or
//! the phone route the professional switches to when the link fails (HAS:
//! the professional must be able to call the patient back). Every change is
//! traced ([`crate::event::ActEvent::ModeChanged`]). Also the media path a
//! participant's connection settled on ([`MediaPath`]).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::ParticipantId;

pub use crate::vocab::{MediaMode, MediaRoute, ModeCause};

/// How a participant's media flows, as reported once connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPath {
    pub participant: ParticipantId,
    /// `direct` (peer to peer) or `relay` (through the TURN relay).
    pub route: MediaRoute,
    /// ICE candidate types of the selected pair: `host`, `srflx`, `prflx`, `relay`.
    pub candidate_types: Vec<String>,
    /// Negotiated codecs, e.g. `opus`, `VP8`, `AV1`.
    pub codecs: Vec<String>,
}

/// A call-back phone number as given by the patient at join: digits, with
/// an optional leading `+`, spaces, dots and dashes dropped. It identifies
/// a person, so it only ever travels inside [`crate::Pii`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Shortest and longest number accepted, in digits (E.164 allows 15).
    pub const MIN_DIGITS: usize = 6;
    pub const MAX_DIGITS: usize = 15;

    pub fn parse(s: &str) -> Result<PhoneNumber, Error> {
        let s = s.trim();
        let (plus, rest) = match s.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", s),
        };
        let mut digits = String::new();
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '.' | '-' | '(' | ')' => {}
                _ => {
                    return Err(Error::InvalidInput(
                        "a phone number holds digits, spaces, dots, dashes and a leading +".into(),
                    ));
                }
            }
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(Error::InvalidInput(format!(
                "a phone number has {} to {} digits",
                Self::MIN_DIGITS,
                Self::MAX_DIGITS
            )));
        }
        Ok(PhoneNumber(format!("{plus}{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_or_refused() {
        assert_eq!(
            PhoneNumber::parse(" 06 00.00-00 01 ").unwrap().as_str(),
            "0600000001"
        );
        assert_eq!(
            PhoneNumber::parse("+33 6 00 00 00 01").unwrap().as_str(),
            "+33600000001"
        );
        for bad in [
            "",
            "12345",
            "06 00 00 00 0a",
            "+",
            "1234567890123456",
            "06;00",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }
}
