//! `Pii<T>`: a value that identifies a person or is medical.
//!
//! It has two jobs:
//! - it redacts itself in `Debug` and `Display`, so it can never reach a log
//!   line by accident;
//! - it marks the value for encryption at rest: when an event is written to the
//!   trace, every `Pii` in it is moved into the event's sealed (AEAD-encrypted)
//!   part, see [`crate::trace::seal`].
//!
//! On the wire (serde) a `Pii<T>` is the object `{"$pii": <T>}`. No Rust field
//! can be named `$pii`, so the marker cannot collide with ordinary data.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The JSON key that marks a personal or medical value.
pub const PII_KEY: &str = "$pii";

/// A personal or medical value; see the module docs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    pub fn new(value: T) -> Self {
        Pii(value)
    }

    /// The clear value. Call this only where the value is shown to someone
    /// entitled to it, never to build a log line.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Pii<T> {
    fn from(value: T) -> Self {
        Pii(value)
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii(<redacted>)")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Serialize, Deserialize)]
struct Marked<T> {
    #[serde(rename = "$pii")]
    value: T,
}

impl<T: Serialize> Serialize for Pii<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Marked { value: &self.0 }.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pii<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Marked::<T>::deserialize(deserializer).map(|m| Pii(m.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_in_debug_and_display() {
        let p = Pii::new("Jeanne Exemple".to_string());
        assert_eq!(format!("{p:?}"), "Pii(<redacted>)");
        assert_eq!(format!("{p}"), "<redacted>");
        assert!(!format!("{p:?} {p} {:?}", Some(&p)).contains("Exemple"));
    }

    #[test]
    fn serializes_with_marker() {
        let p = Pii::new(42u32);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"$pii":42}"#);
        let back: Pii<u32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), &42);
    }
}
