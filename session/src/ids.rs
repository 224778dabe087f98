//! Identifiers of acts, participants, incidents and people, of the chat
//! messages and file shares of a live session, and the SHA-256 digests that
//! address documents and vouch for what was exchanged.
//!
//! A leaf, like [`crate::vocab`]: it names no sibling. Parsing an id fails
//! with this module's own [`IdError`], which [`crate::Error`] wraps.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not an id. Every message says what the id looks like.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0:?} is not an act id (a UUID)")]
    ActId(String),
    /// The reason is one of two sentences: wrong length, or wrong check
    /// digit. The number itself is not kept: it identifies a person.
    #[error("invalid RPPS number: {0}")]
    Rpps(&'static str),
    #[error(
        "a patient alias has 1 to {max} characters among letters, digits, '-', '_' and '.'",
        max = PatientAlias::MAX_LEN
    )]
    PatientAlias,
    #[error("a chat message id is 32 hex digits (16 random bytes)")]
    MessageId,
    #[error("a file share id is 32 hex digits (16 random bytes)")]
    ShareId,
    #[error("a SHA-256 digest is 64 hex digits")]
    Sha256,
}

/// One telemedicine act. Random (UUID v4) so that ids reveal nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActId(Uuid);

impl ActId {
    pub fn random() -> Self {
        ActId(Uuid::new_v4())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        ActId(Uuid::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for ActId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for ActId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Uuid::parse_str(s.trim())
            .map(ActId)
            .map_err(|_| IdError::ActId(s.to_string()))
    }
}

/// A participant within one act: 1, 2, 3... in order of registration.
/// Participants are referred to by this number in the trace, so that the
/// person behind it appears once, sealed, in `ParticipantRegistered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u32);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// Number of an incident within its act: 1, 2, 3...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub u32);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i{}", self.0)
    }
}

/// A health professional's RPPS number (Répertoire partagé des
/// professionnels de santé): 11 digits, the last a Luhn check digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rpps(String);

impl Rpps {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Rpps {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        if s.len() != 11 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Rpps("an RPPS number has exactly 11 digits"));
        }
        if !luhn_valid(s) {
            return Err(IdError::Rpps(
                "the check digit (last digit) does not match; check for a typo",
            ));
        }
        Ok(Rpps(s.to_string()))
    }
}

impl TryFrom<String> for Rpps {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Rpps> for String {
    fn from(r: Rpps) -> String {
        r.0
    }
}

/// Luhn (mod 10) over ASCII digits, check digit last.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A pseudonymous patient id chosen by the professional (e.g. a file number
/// in their own system). Never the patient's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PatientAlias(String);

impl PatientAlias {
    pub const MAX_LEN: usize = 64;

    /// A fresh random alias, for acts created without one.
    pub fn random() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        PatientAlias(format!("patient-{}", &id[..12]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PatientAlias {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(PatientAlias(s.to_string()))
        } else {
            Err(IdError::PatientAlias)
        }
    }
}

impl TryFrom<String> for PatientAlias {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<PatientAlias> for String {
    fn from(a: PatientAlias) -> String {
        a.0
    }
}

/// Parses exactly `N` bytes written as `2 * N` hex digits (either case).
fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A 16-byte id chosen at random by a client: shown and parsed as 32 hex
/// digits, lowercase when shown.
macro_rules! client_id {
    ($(#[$doc:meta])* $name:ident, $err:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(bytes)
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                hex_bytes(s).map($name).ok_or($err)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

client_id!(
    /// One chat message of a live session, chosen by its sender's page. The
    /// text never reaches the server; the trace names the message by this id.
    MessageId,
    IdError::MessageId
);

client_id!(
    /// One file shared peer to peer in a live session, chosen by the
    /// sender's page.
    ShareId,
    IdError::ShareId
);

/// A SHA-256 digest: the address of a stored document (its content's
/// digest), or what both ends of a chat message or file share report.
/// Written as 64 lowercase hex digits (parsing accepts either case).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn digest(bytes: &[u8]) -> Sha256 {
        use sha2::Digest as _;
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Sha256(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl FromStr for Sha256 {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        hex_bytes(s).map(Sha256).ok_or(IdError::Sha256)
    }
}

impl TryFrom<String> for Sha256 {
    type Error = IdError;

    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<Sha256> for String {
    fn from(d: Sha256) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpps_accepts_valid_luhn() {
        // Fictitious numbers built to pass the check digit.
        for n in ["10000000009", "10101010105", "12345678903"] {
            assert!(n.parse::<Rpps>().is_ok(), "{n}");
        }
    }

    #[test]
    fn rpps_rejects_bad_input_with_a_reason() {
        let e = "1234".parse::<Rpps>().unwrap_err().to_string();
        assert!(e.contains("11 digits"), "{e}");
        let e = "1000000000a".parse::<Rpps>().unwrap_err().to_string();
        assert!(e.contains("11 digits"), "{e}");
        let e = "10000000008".parse::<Rpps>().unwrap_err().to_string();
        assert!(e.contains("check digit"), "{e}");
    }

    #[test]
    fn patient_alias_rules() {
        assert!("dossier-0042".parse::<PatientAlias>().is_ok());
        assert!("".parse::<PatientAlias>().is_err());
        assert!("a b".parse::<PatientAlias>().is_err());
        assert!("x".repeat(65).parse::<PatientAlias>().is_err());
        assert!(PatientAlias::random().as_str().starts_with("patient-"));
    }

    #[test]
    fn client_ids_are_32_hex_digits() {
        let id: MessageId = "00112233445566778899AABBCCDDEEFF".parse().unwrap();
        assert_eq!(id.to_string(), "00112233445566778899aabbccddeeff");
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            "00112233445566778899aabbccddeeff"
        );
        assert_eq!(
            "00".repeat(16).parse::<ShareId>().unwrap().as_bytes(),
            &[0; 16]
        );
        for bad in ["", "0011", &"0".repeat(33), &"g".repeat(32)] {
            assert_eq!(bad.parse::<MessageId>(), Err(IdError::MessageId), "{bad:?}");
            assert_eq!(bad.parse::<ShareId>(), Err(IdError::ShareId), "{bad:?}");
        }
        assert!(serde_json::from_str::<ShareId>("\"abc\"").is_err());
    }

    #[test]
    fn sha256_is_64_lowercase_hex_digits() {
        let d = Sha256::digest(b"abc");
        let text = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(d.to_string(), text);
        assert_eq!(text.to_uppercase().parse::<Sha256>(), Ok(d));
        assert_eq!(serde_json::to_value(d).unwrap(), text);
        assert_eq!(
            serde_json::from_value::<Sha256>(serde_json::json!(text)).unwrap(),
            d
        );
        assert_eq!(text[1..].parse::<Sha256>(), Err(IdError::Sha256));
        assert_eq!(format!("{d:?}"), format!("Sha256({text})"));
    }

    #[test]
    fn act_id_round_trips() {
        let id = ActId::random();
        assert_eq!(id.to_string().parse::<ActId>().unwrap(), id);
        assert!("nope".parse::<ActId>().is_err());
    }
}
