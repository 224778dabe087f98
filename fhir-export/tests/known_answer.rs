//! The worked example of `docs/FHIR_EXPORT.md` is what the code does: the
//! signing key, the JWS header, the payload's digest, the detached JWS,
//! and the Encounter, Practitioner and Consent of the example Bundle, read
//! from the document's fenced blocks marked `kat=NAME`. Change either the
//! document or the code and this test fails.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fhir_export::signature::{canonical, payload};
use fhir_export::{ExportInput, example};
use serde_json::Value;
use session::keys::TrustedKeys;
use sha2::{Digest, Sha256};

const DOC: &str = include_str!("../../docs/FHIR_EXPORT.md");

/// The `kat=NAME` blocks of the document, trimmed.
fn blocks() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("```")
            .and_then(|l| l.split("kat=").nth(1))
        else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        out.insert(name.trim().to_string(), body.join("\n").trim().to_string());
    }
    out
}

fn signed() -> Value {
    let records = example::records(false);
    fhir_export::export(
        &ExportInput {
            records: &records,
            public_url: example::PUBLIC_URL,
            now: example::now(),
            withheld: false,
            report_pdf: Some(example::PDF),
        },
        &example::signer(),
    )
    .expect("the example exports")
}

fn resource<'a>(bundle: &'a Value, t: &str) -> &'a Value {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == t)
        .unwrap()
}

/// What the code gives for each block.
fn actual() -> BTreeMap<String, String> {
    let s = signed();
    let signer = example::signer();
    let n = s["entry"].as_array().unwrap().len();
    let data = s["entry"][n - 1]["resource"]["signature"][0]["data"]
        .as_str()
        .unwrap();
    let jws = String::from_utf8(STANDARD.decode(data).unwrap()).unwrap();
    let header = jws.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let text = |v: &Value| String::from_utf8(canonical(v).unwrap()).unwrap();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap();
    let mut m = BTreeMap::new();
    m.insert("public-key".into(), hex::encode(signer.public().as_bytes()));
    m.insert("kid".into(), signer.id().to_string());
    m.insert("jws-header".into(), String::from_utf8(header).unwrap());
    let p = payload(&s).unwrap();
    m.insert("payload-sha256".into(), hex::encode(Sha256::digest(&p)));
    m.insert("payload-length".into(), p.len().to_string());
    m.insert(
        "payload-start".into(),
        String::from_utf8(p[..120].to_vec()).unwrap(),
    );
    m.insert("jws".into(), jws);
    m.insert("encounter".into(), pretty(resource(&s, "Encounter")));
    m.insert("practitioner".into(), pretty(resource(&s, "Practitioner")));
    m.insert("consent".into(), pretty(resource(&s, "Consent")));
    m.insert(
        "signature".into(),
        pretty(&s["entry"][n - 1]["resource"]["signature"][0]),
    );
    m.insert(
        "canonical-encounter-id".into(),
        text(&resource(&s, "Encounter")["id"]),
    );
    m
}

#[test]
fn the_document_s_example_is_what_the_code_gives() {
    let doc = blocks();
    let actual = actual();
    if std::env::var_os("KAT_PRINT").is_some() {
        for (k, v) in &actual {
            println!("=== {k}\n{v}");
        }
    }
    for (name, value) in &actual {
        let documented = doc
            .get(name)
            .unwrap_or_else(|| panic!("docs/FHIR_EXPORT.md has no kat={name} block"));
        assert_eq!(documented, value, "kat={name}");
    }
}

#[test]
fn the_example_verifies_with_the_documented_public_key() {
    let doc = blocks();
    let key: [u8; 32] = hex::decode(&doc["public-key"]).unwrap().try_into().unwrap();
    let trusted = TrustedKeys::new([ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap()]);
    let v = fhir_export::verify(&signed(), &trusted).unwrap();
    assert_eq!(v.key.to_string(), doc["kid"]);
}
