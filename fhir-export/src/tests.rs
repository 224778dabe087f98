//! The French profile rules and the mapping, on the worked example.

use serde_json::Value;

use super::*;
use crate::example;

fn build(withheld: bool, pdf: bool) -> Value {
    let records = example::records(withheld);
    bundle(&ExportInput {
        records: &records,
        public_url: example::PUBLIC_URL,
        now: example::now(),
        withheld,
        report_pdf: pdf.then_some(example::PDF),
    })
    .expect("the example exports")
}

fn of_type<'a>(b: &'a Value, t: &str) -> Vec<&'a Value> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == t)
        .collect()
}

fn system(what: &str) -> String {
    format!("{}/fhir/sid/{what}", example::PUBLIC_URL)
}

#[test]
fn the_encounter_is_fr_core_class_vr_with_the_act_id_and_a_status_per_phase() {
    let b = build(false, true);
    assert_eq!(b["resourceType"], "Bundle");
    assert_eq!(b["type"], "collection");
    let enc = of_type(&b, "Encounter");
    assert_eq!(enc.len(), 1);
    let e = enc[0];
    assert_eq!(e["meta"]["profile"][0], ids::FR_CORE_ENCOUNTER);
    assert_eq!(
        e["class"]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    );
    assert_eq!(e["class"]["code"], "VR");
    assert_eq!(e["identifier"][0]["system"], system("act"));
    assert_eq!(e["identifier"][0]["value"], example::ACT);
    assert_eq!(e["status"], "finished");
    let history = e["statusHistory"].as_array().unwrap();
    let phases: Vec<&str> = history
        .iter()
        .map(|h| h["extension"][0]["valueCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "request",
            "preparation",
            "performance",
            "conclusion",
            "closed"
        ]
    );
    // Each phase lasts until the next one starts.
    for pair in history.windows(2) {
        assert_eq!(pair[0]["period"]["end"], pair[1]["period"]["start"]);
    }
    assert_eq!(e["period"]["start"], "2026-11-18T11:06:40.000000Z");
    assert_eq!(e["period"]["end"], history[4]["period"]["start"]);
    assert_eq!(
        e["reasonCode"][0]["text"],
        "Avis sur cette lésion cutanée ?"
    );
    assert_eq!(e["participant"].as_array().unwrap().len(), 2);
}

#[test]
fn practitioners_carry_the_idnps_as_8_plus_rpps_and_their_role_in_the_act() {
    let b = build(false, true);
    let ps = of_type(&b, "Practitioner");
    assert_eq!(ps.len(), 2);
    let ids: Vec<&str> = ps
        .iter()
        .map(|p| {
            let id = &p["identifier"][0];
            assert_eq!(id["system"], "urn:oid:1.2.250.1.71.4.2.1");
            assert_eq!(id["type"]["coding"][0]["system"], ids::FR_CORE_V2_0203);
            assert_eq!(id["type"]["coding"][0]["code"], "IDNPS");
            assert_eq!(p["meta"]["profile"][0], ids::FR_CORE_PRACTITIONER);
            id["value"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids, ["810000000017", "810000000025"]);
    assert_eq!(ps[0]["name"][0]["text"], "Dr Alix Exemple");
    let roles: Vec<&str> = of_type(&b, "PractitionerRole")
        .iter()
        .map(|r| r["code"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["requérant", "requis"]);
}

#[test]
fn the_patient_is_known_by_its_alias_under_the_platform_system_and_has_no_name() {
    let b = build(false, true);
    let p = of_type(&b, "Patient");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["identifier"][0]["system"], system("patient-alias"));
    assert_eq!(p[0]["identifier"][0]["value"], "dossier-0001");
    assert!(p[0].get("name").is_none());
}

#[test]
fn consents_say_scope_status_after_withdrawal_and_the_text_digest() {
    let b = build(false, true);
    let c = of_type(&b, "Consent");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0]["scope"]["coding"][0]["code"], "treatment");
    assert_eq!(c[0]["status"], "active");
    assert_eq!(c[1]["scope"]["coding"][0]["code"], "patient-privacy");
    assert_eq!(c[1]["status"], "inactive");
    assert!(c[1]["provision"]["period"]["end"].is_string());
    let digest = session::consent::text_digest("Le patient a été informé et consent.");
    assert_eq!(
        c[0]["sourceAttachment"]["extension"][0]["valueString"],
        digest
    );
    assert_eq!(
        c[0]["extension"][0]["valueCode"],
        "attested_by_professional"
    );
}

#[test]
fn the_report_is_a_consult_note_with_its_pdf_and_documents_keep_their_sha256() {
    use base64::Engine as _;
    use sha1::Digest as _;
    let b = build(false, true);
    let docs = of_type(&b, "DocumentReference");
    assert_eq!(docs.len(), 3);
    let report = docs[0];
    assert_eq!(report["type"]["coding"][0]["system"], "http://loinc.org");
    assert_eq!(report["type"]["coding"][0]["code"], "11488-4");
    let pdf = &report["content"][0]["attachment"];
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(pdf["contentType"], "application/pdf");
    assert_eq!(pdf["size"], example::PDF.len());
    assert_eq!(pdf["hash"], b64.encode(sha1::Sha1::digest(example::PDF)));
    assert_eq!(pdf["data"], b64.encode(example::PDF));
    let text = &report["content"][1]["attachment"];
    assert_eq!(
        b64.decode(text["data"].as_str().unwrap()).unwrap(),
        "Lésion bénigne. Surveillance à 6 mois.".as_bytes()
    );
    let attached = docs[1];
    let sha = session::Sha256::digest(example::PDF).to_string();
    assert_eq!(attached["identifier"][0]["value"], sha.as_str());
    assert_eq!(attached["identifier"][0]["system"], system("sha256"));
    assert!(
        attached["masterIdentifier"]["value"]
            .as_str()
            .unwrap()
            .starts_with("ni:///sha-256;")
    );
    // No SHA-1 is invented for bytes the export does not hold.
    assert!(attached["content"][0]["attachment"].get("hash").is_none());
    assert_eq!(
        attached["content"][0]["attachment"]["title"],
        "photo-lésion.pdf"
    );
    assert_eq!(docs[2]["description"], "Fichier partagé en séance");
    // Without a PDF, the report still carries its text.
    let b = build(false, false);
    let report = of_type(&b, "DocumentReference")[0];
    assert_eq!(report["content"].as_array().unwrap().len(), 1);
}

#[test]
fn prescriptions_become_a_medication_request_and_a_service_request() {
    let b = build(false, true);
    let m = of_type(&b, "MedicationRequest");
    let s = of_type(&b, "ServiceRequest");
    assert_eq!((m.len(), s.len()), (1, 1));
    assert_eq!(
        m[0]["medicationCodeableConcept"]["text"],
        "Crème émolliente, 2 applications par jour"
    );
    assert_eq!(s[0]["code"]["text"], "Dermatoscopie de contrôle");
    assert_eq!(m[0]["intent"], "order");
}

#[test]
fn audit_events_cover_phases_consents_incidents_and_mode_changes() {
    let b = build(false, true);
    let a = of_type(&b, "AuditEvent");
    let kinds: Vec<&str> = a
        .iter()
        .map(|e| e["type"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "phase",
            "phase",
            "consent_given",
            "phase",
            "incident",
            "mode_changed",
            "consent_withdrawn",
            "phase",
            "phase"
        ]
    );
    let enc = format!("urn:uuid:{}", ids::resource_id(example::act(), "encounter"));
    for e in &a {
        assert_eq!(e["entity"][0]["what"]["reference"], enc.as_str());
        assert!(!e["agent"].as_array().unwrap().is_empty());
    }
    let incident = a[4];
    assert_eq!(incident["outcome"], "4");
    assert_eq!(incident["period"]["start"], "2026-11-18T11:16:40.000000Z");
    assert_eq!(incident["period"]["end"], "2026-11-18T11:17:40.000000Z");
    assert_eq!(incident["subtype"][0]["code"], "packet_loss");
}

#[test]
fn the_provenance_targets_every_other_resource() {
    let b = build(false, true);
    let entries = b["entry"].as_array().unwrap();
    let prov = of_type(&b, "Provenance")[0];
    let targets: Vec<&str> = prov["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    assert_eq!(targets.len(), entries.len() - 1);
    for e in entries {
        if e["resource"]["resourceType"] != "Provenance" {
            assert!(targets.contains(&e["fullUrl"].as_str().unwrap()));
        }
    }
}

#[test]
fn withheld_values_are_masked_and_labelled_and_no_clear_value_leaks() {
    let b = build(true, false);
    let text = b.to_string();
    for secret in [
        "Alix",
        "Camille",
        "10000000017",
        "dossier-0001",
        "lésion",
        "Lésion",
        "émolliente",
        "Dermatoscopie",
        "schéma",
        "[sealed]",
    ] {
        assert!(!text.contains(secret), "{secret} leaks");
    }
    assert_eq!(b["meta"]["security"][0]["code"], "REDACTED");
    let masked = serde_json::json!([{
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "masked"
    }]);
    let p = of_type(&b, "Patient")[0];
    assert_eq!(p["identifier"][0]["_value"]["extension"], masked);
    assert_eq!(p["meta"]["security"][0]["code"], "REDACTED");
    for pr in of_type(&b, "Practitioner") {
        assert_eq!(pr["identifier"][0]["_value"]["extension"], masked);
        assert_eq!(pr["name"][0]["extension"], masked);
        assert_eq!(
            pr["meta"]["security"][0]["system"],
            ids::V3_OBSERVATION_VALUE
        );
    }
    let e = of_type(&b, "Encounter")[0];
    assert_eq!(e["reasonCode"][0]["extension"], masked);
    let report = of_type(&b, "DocumentReference")[0];
    assert_eq!(report["content"][0]["attachment"]["extension"], masked);
    // What is not sealed stays: the act id, the phases, the digests.
    assert_eq!(e["identifier"][0]["value"], example::ACT);
    assert_eq!(e["statusHistory"].as_array().unwrap().len(), 5);
}

#[test]
fn two_exports_of_the_same_trace_differ_only_by_their_time() {
    let records = example::records(false);
    let at = |micros| {
        bundle(&ExportInput {
            records: &records,
            public_url: example::PUBLIC_URL,
            now: session::Timestamp::from_micros(micros),
            withheld: false,
            report_pdf: None,
        })
        .unwrap()
    };
    let mut a = at(example::NOW_MICROS);
    let mut b = at(example::NOW_MICROS + 1);
    assert_ne!(a, b);
    for x in [&mut a, &mut b] {
        x["timestamp"] = Value::Null;
        let n = x["entry"].as_array().unwrap().len();
        x["entry"][n - 1]["resource"]["recorded"] = Value::Null;
    }
    assert_eq!(a, b);
}

/// The example's first `n` records, then, when `cancel` is given, the
/// act cancelled for that reason.
fn prefix(n: usize, withheld: bool, cancel: Option<session::CancelReason>) -> Vec<ExportRecord> {
    let mut records = example::records(withheld);
    records.truncate(n);
    if let Some(reason) = cancel {
        let last = records.last().expect("a record").clone();
        let body = session::ActEvent::Cancelled { reason };
        records.push(ExportRecord {
            seq: last.seq + 1,
            at: last.at,
            kind: body.kind().into(),
            hash: example::record_hash(last.seq + 1),
            event: serde_json::to_value(&body).unwrap(),
            ..last
        });
    }
    records
}

#[test]
fn a_cancelled_act_has_no_report_and_says_why() {
    let records = prefix(7, false, Some(session::CancelReason::ExpertDeclined));
    let b = bundle(&ExportInput {
        records: &records,
        public_url: example::PUBLIC_URL,
        now: example::now(),
        withheld: false,
        report_pdf: None,
    })
    .unwrap();
    let e = of_type(&b, "Encounter")[0];
    assert_eq!(e["status"], "cancelled");
    assert!(e["period"]["end"].is_string());
    // Only the attached document: no report without a conclusion.
    let docs = of_type(&b, "DocumentReference");
    assert_eq!(docs.len(), 1);
    assert_ne!(docs[0]["type"]["coding"][0]["code"], "11488-4");
    assert!(of_type(&b, "MedicationRequest").is_empty());
    let last = *of_type(&b, "AuditEvent").last().unwrap();
    assert_eq!(last["subtype"][0]["code"], "cancelled");
    assert!(
        last["outcomeDesc"]
            .as_str()
            .unwrap()
            .contains("expert_declined")
    );
}

#[test]
fn an_empty_trace_is_refused() {
    let e = bundle(&ExportInput {
        records: &[],
        public_url: example::PUBLIC_URL,
        now: example::now(),
        withheld: false,
        report_pdf: None,
    })
    .unwrap_err();
    assert!(matches!(e, Error::NoRequest), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever point the act reached, opened or withheld, cancelled or
    /// not: the export builds, every resource has a unique id, the
    /// Provenance targets all, and the signed Bundle verifies.
    #[test]
    fn every_point_of_the_act_exports_signs_and_verifies(
        n in 1usize..=18,
        withheld in proptest::bool::ANY,
        cancel in proptest::bool::ANY,
    ) {
        let cancel = (cancel && n < 18).then_some(session::CancelReason::ByProfessional);
        let records = prefix(n, withheld, cancel);
        let b = bundle(&ExportInput {
            records: &records,
            public_url: example::PUBLIC_URL,
            now: example::now(),
            withheld,
            report_pdf: None,
        })
        .unwrap();
        let entries = b["entry"].as_array().unwrap();
        let mut urls: Vec<&str> = entries.iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
        urls.sort_unstable();
        urls.dedup();
        proptest::prop_assert_eq!(urls.len(), entries.len());
        let s = sign(&b, &example::signer()).unwrap();
        let trusted = session::keys::TrustedKeys::new([example::signer().public()]);
        let v = verify(&s, &trusted).unwrap();
        proptest::prop_assert_eq!(v.resources, entries.len());
        if withheld && n >= 2 {
            proptest::prop_assert!(v.withheld);
        }
    }
}

#[test]
fn a_companion_is_a_related_person_of_the_patient() {
    let mut records = example::records(false);
    let last = records[3].clone();
    let body = session::ActEvent::ParticipantRegistered(session::participant::Participant {
        id: session::ParticipantId(4),
        role: session::participant::Role::Companion,
        identity: session::participant::Identity::Companion {
            name: session::Pii::new("Accompagnant Fictif".into()),
        },
    });
    let mut event = serde_json::to_value(&body).unwrap();
    session::trace::seal::strip_markers(&mut event);
    records.insert(
        4,
        ExportRecord {
            seq: 5,
            kind: body.kind().into(),
            event,
            ..last
        },
    );
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
    }
    let b = bundle(&ExportInput {
        records: &records,
        public_url: example::PUBLIC_URL,
        now: example::now(),
        withheld: false,
        report_pdf: None,
    })
    .unwrap();
    let rp = of_type(&b, "RelatedPerson");
    assert_eq!(rp.len(), 1);
    assert_eq!(rp[0]["name"][0]["text"], "Accompagnant Fictif");
    let patient = format!("urn:uuid:{}", ids::resource_id(example::act(), "patient"));
    assert_eq!(rp[0]["patient"]["reference"], patient.as_str());
    let e = of_type(&b, "Encounter")[0];
    assert_eq!(e["participant"].as_array().unwrap().len(), 3);
    assert_eq!(e["participant"][2]["type"][0]["text"], "accompagnant");
}
