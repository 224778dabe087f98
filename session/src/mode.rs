//! How a participant's consultation is carried: full video, audio only, or
//! the phone route the professional switches to when the link fails (HAS:
//! the professional must be able to call the patient back). Every change is
//! traced ([`crate::event::ActEvent::ModeChanged`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The route and media the consultation uses for one participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaMode {
    /// Audio and video (the default once media flows).
    Video,
    /// Video is stopped to save the link; audio goes on.
    AudioOnly,
    /// The professional calls the participant back by phone.
    Phone,
}

impl MediaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Video => "video",
            MediaMode::AudioOnly => "audio_only",
            MediaMode::Phone => "phone",
        }
    }
}

impl fmt::Display for MediaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the mode changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeCause {
    /// The client decided from its measured bandwidth or loss.
    Automatic,
    /// A person chose it.
    Manual,
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

    #[test]
    fn modes_serialise_as_their_names() {
        for m in [MediaMode::Video, MediaMode::AudioOnly, MediaMode::Phone] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
