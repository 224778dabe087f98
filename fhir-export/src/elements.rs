//! Small FHIR element builders shared by the resources: codings,
//! references, periods, and the marks of a withheld value.

use serde_json::{Map, Value, json};
use session::Timestamp;

use crate::facts::Shown;
use crate::ids::{DATA_ABSENT_REASON, V3_OBSERVATION_VALUE};

/// A FHIR `dateTime` / `instant`: RFC 3339 UTC with microseconds.
pub fn time(t: Timestamp) -> Value {
    Value::String(t.to_rfc3339())
}

/// A `Period`; an open one has no `end`.
pub fn period(start: Timestamp, end: Option<Timestamp>) -> Value {
    let mut p = json!({ "start": time(start) });
    if let Some(end) = end {
        p["end"] = time(end);
    }
    p
}

/// A `Coding`.
pub fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

/// A `CodeableConcept` of one coding.
pub fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [coding(system, code, display)] })
}

/// A `Reference` to a resource of the Bundle by its full URL.
pub fn reference(full_url: &str) -> Value {
    json!({ "reference": full_url })
}

/// The `data-absent-reason` extension saying a value is `masked`.
pub fn masked_extension() -> Value {
    json!([{ "url": DATA_ABSENT_REASON, "valueCode": "masked" }])
}

/// The `meta.security` label of a resource with withheld elements.
pub fn redacted_label() -> Value {
    json!({ "system": V3_OBSERVATION_VALUE, "code": "REDACTED", "display": "redacted" })
}

/// Sets the primitive `name` of `object` to the value, or, withheld, to
/// no value with the `data-absent-reason` extension (`_name`). Returns
/// whether it was withheld.
pub fn set_primitive(object: &mut Value, name: &str, value: &Shown<String>) -> bool {
    let Some(map) = object.as_object_mut() else {
        return false;
    };
    match value {
        Shown::Clear(v) => {
            map.insert(name.to_string(), Value::String(v.clone()));
            false
        }
        Shown::Withheld => {
            map.insert(
                format!("_{name}"),
                json!({ "extension": masked_extension() }),
            );
            true
        }
    }
}

/// A complex element holding `clear` (built from the value), or, withheld,
/// only the `data-absent-reason` extension.
pub fn complex(value: &Shown<String>, clear: impl FnOnce(&str) -> Value) -> Value {
    match value {
        Shown::Clear(v) => clear(v),
        Shown::Withheld => json!({ "extension": masked_extension() }),
    }
}

/// Starts a resource: its type, its id and, when some of its elements are
/// withheld, the `REDACTED` security label (added by [`Resource::finish`]).
#[derive(Debug)]
pub struct Resource {
    pub local: String,
    pub body: Map<String, Value>,
    pub withheld: bool,
}

impl Resource {
    pub fn new(resource_type: &str, local: impl Into<String>) -> Resource {
        let mut body = Map::new();
        body.insert("resourceType".into(), Value::String(resource_type.into()));
        Resource {
            local: local.into(),
            body,
            withheld: false,
        }
    }

    pub fn set(&mut self, name: &str, value: Value) -> &mut Resource {
        self.body.insert(name.to_string(), value);
        self
    }

    /// Notes that `withheld` elements were masked in this resource.
    pub fn note(&mut self, withheld: bool) -> &mut Resource {
        self.withheld |= withheld;
        self
    }

    pub fn resource_type(&self) -> &str {
        self.body
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The RFC 6920 name of content by its SHA-256 (`ni:///sha-256;` then
/// the digest in unpadded base64url), from the trace's hex digest.
pub fn ni_sha256(hex_digest: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = hex::decode(hex_digest).ok()?;
    Some(format!(
        "ni:///sha-256;{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}
