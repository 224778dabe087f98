//! The Bundle's signature: a JWS (RFC 7515) with EdDSA (Ed25519) by the
//! trace's signing key, in compact serialization with a detached payload
//! (RFC 7515 appendix F), in `Provenance.signature.data` (base64).
//!
//! The payload is the RFC 8785 canonical JSON of the Bundle as it stands
//! with the signature in place but without its `data`: every other value
//! of the Bundle, the signature's own `when`, `who` and formats included,
//! is covered. A verifier removes `data`, canonicalizes, base64url-encodes
//! the result into the JWS's empty middle part and checks the signature.
//! JOSE is done by `jsonwebtoken`, canonicalization by
//! `serde_json_canonicalizer`; nothing of either is written here.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jws::{Jws, decode, encode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use session::keys::{HeadSigner, KeyId, TrustedKeys};

use crate::Error;
use crate::elements::coding;
use crate::ids::{SIGNATURE_TYPE, Systems};

/// `Signature.sigFormat` of a JWS.
pub const JOSE: &str = "application/jose";
/// `Signature.targetFormat`: what was signed.
pub const TARGET_FORMAT: &str = "application/fhir+json";

/// What a verified export says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedExport {
    /// The signing key's id (the JWS `kid`).
    pub key: KeyId,
    /// The act id (the Encounter's identifier).
    pub act: Option<String>,
    /// How many resources the Bundle holds (the Provenance included).
    pub resources: usize,
    /// `Bundle.timestamp`.
    pub timestamp: Option<String>,
    /// Whether some elements are withheld (`REDACTED` labels).
    pub withheld: bool,
}

/// The RFC 8785 canonical bytes of `value`.
pub fn canonical(value: &Value) -> Result<Vec<u8>, Error> {
    Ok(serde_json_canonicalizer::to_vec(value)?)
}

/// The index of the Provenance entry of `bundle`.
fn provenance_index(bundle: &Value) -> Result<usize, Error> {
    let entries = bundle["entry"]
        .as_array()
        .ok_or(Error::NotABundle("no entry array"))?;
    entries
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Provenance")
        .ok_or(Error::NoProvenance)
}

/// The JWS payload of `bundle`: its canonical JSON without the JWS
/// signature's `data`.
pub fn payload(bundle: &Value) -> Result<Vec<u8>, Error> {
    let i = provenance_index(bundle)?;
    let mut unsigned = bundle.clone();
    if let Some(sigs) = unsigned["entry"][i]["resource"]["signature"].as_array_mut() {
        for s in sigs.iter_mut().filter(|s| s["sigFormat"] == JOSE) {
            if let Some(map) = s.as_object_mut() {
                map.remove("data");
            }
        }
    }
    canonical(&unsigned)
}

/// The protected header: `{"alg":"EdDSA","kid":"<key id>"}`.
fn header(key: KeyId) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = None;
    h.kid = Some(key.to_string());
    h
}

/// Signs `bundle` (from [`crate::bundle`]) with `signer`: adds the
/// Provenance's signature and returns the signed Bundle.
pub fn sign(bundle: &Value, signer: &HeadSigner) -> Result<Value, Error> {
    let i = provenance_index(bundle)?;
    let systems = Systems::new(
        bundle["identifier"]["system"]
            .as_str()
            .and_then(|s| s.strip_suffix("/fhir/sid/act-export"))
            .ok_or(Error::NotABundle("no act-export identifier"))?,
    );
    let mut signed = bundle.clone();
    let who = json!({
        "identifier": { "system": systems.sid("signing-key"), "value": signer.id().to_string() },
        "display": format!("teleconsult ({})", systems.base()),
    });
    signed["entry"][i]["resource"]["signature"] = json!([{
        "type": [coding(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.5", "Verification Signature")],
        "when": bundle["timestamp"].clone(),
        "who": who,
        "targetFormat": TARGET_FORMAT,
        "sigFormat": JOSE,
    }]);
    let payload = String::from_utf8(payload(&signed)?)
        .map_err(|_| Error::NotABundle("canonical JSON is not UTF-8"))?;
    let raw = RawValue::from_string(payload)?;
    let der = signer
        .signing_key()
        .to_pkcs8_der()
        .map_err(|e| Error::KeyEncoding(e.to_string()))?;
    let key = EncodingKey::from_ed_der(der.as_bytes());
    let jws: Jws<Box<RawValue>> = encode(&header(signer.id()), Some(&raw), &key)?;
    // RFC 7515 appendix F: the payload part is left out of the compact
    // serialization; the verifier puts it back.
    let compact = format!("{}..{}", jws.protected, jws.signature);
    signed["entry"][i]["resource"]["signature"][0]["data"] = json!(STANDARD.encode(compact));
    Ok(signed)
}

/// Checks a signed Bundle against the trusted keys: the JWS must be
/// EdDSA by a trusted key over this Bundle's content, and the Provenance
/// must target every other resource.
pub fn verify(bundle: &Value, trusted: &TrustedKeys) -> Result<VerifiedExport, Error> {
    if bundle["resourceType"] != "Bundle" {
        return Err(Error::NotABundle("resourceType is not Bundle"));
    }
    let i = provenance_index(bundle)?;
    let provenance = &bundle["entry"][i]["resource"];
    let data = provenance["signature"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["sigFormat"] == JOSE)
        .and_then(|s| s["data"].as_str())
        .ok_or(Error::NoSignature)?;
    let compact = STANDARD
        .decode(data)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(Error::BadJws("data is not base64 of a compact JWS"))?;
    let parts: Vec<&str> = compact.split('.').collect();
    let [protected, detached, signature] = parts[..] else {
        return Err(Error::BadJws("a compact JWS has three parts"));
    };
    if !detached.is_empty() {
        return Err(Error::BadJws("the payload is not detached"));
    }
    let header = jsonwebtoken::decode_header(&compact)?;
    if header.alg != Algorithm::EdDSA {
        return Err(Error::WrongAlgorithm(format!("{:?}", header.alg)));
    }
    let kid = header.kid.unwrap_or_default();
    let key_id = hex::decode(&kid)
        .ok()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(KeyId)
        .ok_or_else(|| Error::UntrustedKey(kid.clone()))?;
    let public = trusted
        .key(key_id)
        .ok_or_else(|| Error::UntrustedKey(kid.clone()))?;
    let jws: Jws<Value> = Jws {
        protected: protected.to_string(),
        payload: URL_SAFE_NO_PAD.encode(payload(bundle)?),
        signature: signature.to_string(),
        _pd: Default::default(),
    };
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    decode(
        &jws,
        &DecodingKey::from_ed_der(public.as_bytes()),
        &validation,
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => Error::SignatureMismatch,
        _ => Error::Jose(e),
    })?;
    // Every other resource is a target of the Provenance.
    let targets: Vec<&str> = provenance["target"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["reference"].as_str())
        .collect();
    let entries = bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (j, e) in entries.iter().enumerate() {
        let url = e["fullUrl"].as_str().unwrap_or_default();
        if j != i && !targets.contains(&url) {
            return Err(Error::NotTargeted(format!(
                "{} {url}",
                e["resource"]["resourceType"].as_str().unwrap_or("resource")
            )));
        }
    }
    let act = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Encounter")
        .and_then(|e| e["resource"]["identifier"][0]["value"].as_str())
        .map(str::to_string);
    let withheld = bundle["meta"]["security"]
        .as_array()
        .is_some_and(|s| s.iter().any(|l| l["code"] == "REDACTED"));
    Ok(VerifiedExport {
        key: key_id,
        act,
        resources: entries.len(),
        timestamp: bundle["timestamp"].as_str().map(str::to_string),
        withheld,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExportInput, bundle, example};

    fn signed() -> Value {
        let records = example::records(false);
        let b = bundle(&ExportInput {
            records: &records,
            public_url: example::PUBLIC_URL,
            now: example::now(),
            withheld: false,
            report_pdf: Some(example::PDF),
        })
        .unwrap();
        sign(&b, &example::signer()).unwrap()
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::new([example::signer().public()])
    }

    /// Every leaf of `v` with its JSON pointer.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                leaves(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }

    #[test]
    fn a_signed_export_verifies_with_the_trace_key() {
        let s = signed();
        let v = verify(&s, &trusted()).unwrap();
        assert_eq!(v.key, example::signer().id());
        assert_eq!(v.act.as_deref(), Some(example::ACT));
        assert_eq!(v.resources, s["entry"].as_array().unwrap().len());
        assert!(!v.withheld);
        let sig = &s["entry"].as_array().unwrap().last().unwrap()["resource"]["signature"][0];
        assert_eq!(sig["sigFormat"], "application/jose");
        assert_eq!(sig["targetFormat"], "application/fhir+json");
        assert_eq!(sig["when"], s["timestamp"]);
    }

    #[test]
    fn changing_any_one_value_fails_verification() {
        let s = signed();
        let mut paths = Vec::new();
        leaves(&s, String::new(), &mut paths);
        assert!(paths.len() > 300, "{} leaves", paths.len());
        for p in &paths {
            let mut t = s.clone();
            let leaf = t.pointer_mut(p).unwrap();
            *leaf = match leaf.take() {
                Value::String(x) if x.is_empty() => Value::String("x".into()),
                Value::String(x) => {
                    // Change one character, keeping the length.
                    let mut c: Vec<char> = x.chars().collect();
                    c[0] = if c[0] == 'A' { 'B' } else { 'A' };
                    Value::String(c.into_iter().collect())
                }
                Value::Number(n) => Value::from(n.as_u64().unwrap_or(0) + 1),
                Value::Bool(b) => Value::Bool(!b),
                Value::Null => Value::Bool(true),
                other => other,
            };
            let e = verify(&t, &trusted()).expect_err(p);
            assert!(!e.to_string().is_empty(), "{p}");
        }
    }

    #[test]
    fn refusals_name_what_fails() {
        let s = signed();
        let other = TrustedKeys::new([session::keys::HeadSigner::from_seed([9; 32]).public()]);
        assert!(matches!(verify(&s, &other), Err(Error::UntrustedKey(_))));

        let mut t = s.clone();
        t["entry"][1]["resource"]["identifier"][0]["value"] = json!("dossier-0002");
        let e = verify(&t, &trusted()).unwrap_err();
        assert!(matches!(e, Error::SignatureMismatch), "{e}");
        assert!(e.to_string().contains("changed after signing"));

        let mut t = s.clone();
        t["entry"].as_array_mut().unwrap().pop();
        assert!(matches!(verify(&t, &trusted()), Err(Error::NoProvenance)));

        assert!(matches!(
            verify(&json!({"resourceType": "Patient"}), &trusted()),
            Err(Error::NotABundle(_))
        ));

        let n = s["entry"].as_array().unwrap().len();
        let mut t = s.clone();
        let data = t["entry"][n - 1]["resource"]["signature"][0]["data"]
            .as_str()
            .unwrap()
            .to_string();
        let compact = String::from_utf8(STANDARD.decode(data).unwrap()).unwrap();
        let parts: Vec<&str> = compact.split('.').collect();
        let attached = format!("{}.e30.{}", parts[0], parts[2]);
        t["entry"][n - 1]["resource"]["signature"][0]["data"] = json!(STANDARD.encode(attached));
        assert!(matches!(verify(&t, &trusted()), Err(Error::BadJws(_))));

        let mut t = s.clone();
        t["entry"][n - 1]["resource"]["signature"][0]
            .as_object_mut()
            .unwrap()
            .remove("data");
        assert!(matches!(verify(&t, &trusted()), Err(Error::NoSignature)));
    }

    #[test]
    fn a_resource_the_provenance_does_not_target_is_refused() {
        let records = example::records(false);
        let mut b = bundle(&ExportInput {
            records: &records,
            public_url: example::PUBLIC_URL,
            now: example::now(),
            withheld: false,
            report_pdf: None,
        })
        .unwrap();
        let n = b["entry"].as_array().unwrap().len();
        b["entry"][n - 1]["resource"]["target"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let s = sign(&b, &example::signer()).unwrap();
        let e = verify(&s, &trusted()).unwrap_err();
        assert!(matches!(e, Error::NotTargeted(_)), "{e}");
        assert!(e.to_string().contains("Encounter"), "{e}");
    }

    #[test]
    fn the_jws_header_names_eddsa_and_the_key_and_the_payload_is_detached() {
        let s = signed();
        let n = s["entry"].as_array().unwrap().len();
        let data = s["entry"][n - 1]["resource"]["signature"][0]["data"]
            .as_str()
            .unwrap();
        let compact = String::from_utf8(STANDARD.decode(data).unwrap()).unwrap();
        let parts: Vec<&str> = compact.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[1].is_empty());
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "EdDSA", "kid": example::signer().id().to_string()})
        );
    }
}
