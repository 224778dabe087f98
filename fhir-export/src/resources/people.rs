//! Who took part: the Patient (by alias only), a Practitioner and a
//! PractitionerRole per professional, a RelatedPerson per companion.

use serde_json::{Value, json};
use session::ActKind;

use super::{Ctx, PATIENT};
use crate::elements::{Resource, coding, complex, masked_extension, reference, set_primitive};
use crate::facts::{Shown, Who};
use crate::ids::{
    FR_CORE_PRACTITIONER, FR_CORE_V2_0203, IDNPS_RPPS_PREFIX, IDNPS_SYSTEM, V3_PARTICIPATION_TYPE,
};

/// The role of a professional in the act, as a `PractitionerRole.code`
/// and an `Encounter.participant.type`: the decree's requérant (the one
/// who asks; in a téléconsultation the doctor who consults) or requis
/// (the expert asked).
pub fn role_concept(kind: ActKind, role: &str) -> Value {
    let (code, display, text) = match (role, kind) {
        ("expert", _) => ("CON", "consultant", "requis"),
        ("requester", ActKind::Teleconsultation) => ("ATND", "attender", "requérant"),
        ("requester", _) => ("REF", "referrer", "requérant"),
        ("patient", _) => ("SBJ", "subject", "patient"),
        _ => ("PART", "Participation", "accompagnant"),
    };
    json!({ "coding": [coding(V3_PARTICIPATION_TYPE, code, display)], "text": text })
}

/// The IDNPS of an RPPS number: `8` followed by the 11 digits.
pub fn idnps(rpps: &str) -> String {
    format!("{IDNPS_RPPS_PREFIX}{rpps}")
}

pub fn people(ctx: &Ctx<'_>) -> Vec<Resource> {
    let mut out = Vec::new();
    for p in &ctx.facts.participants {
        match &p.who {
            Who::Patient { alias } => {
                let mut r = Resource::new("Patient", PATIENT);
                let mut identifier = json!({
                    "use": "usual",
                    "system": ctx.systems.sid("patient-alias"),
                });
                let w = set_primitive(&mut identifier, "value", alias);
                r.note(w).set("identifier", json!([identifier]));
                out.push(r);
            }
            Who::Professional { name, rpps } => {
                let practitioner_local = format!("practitioner/{}", p.id);
                let mut r = Resource::new("Practitioner", practitioner_local.clone());
                let mut identifier = json!({
                    "use": "official",
                    "type": {
                        "coding": [coding(
                            FR_CORE_V2_0203,
                            "IDNPS",
                            "Identifiant National de Professionnel de Santé",
                        )]
                    },
                    "system": IDNPS_SYSTEM,
                });
                let id_value = match rpps {
                    Shown::Clear(r) => Shown::Clear(idnps(r)),
                    Shown::Withheld => Shown::Withheld,
                };
                let w1 = set_primitive(&mut identifier, "value", &id_value);
                let human = complex(name, |n| json!({ "text": n }));
                r.note(w1 || name.is_withheld())
                    .set("meta", json!({ "profile": [FR_CORE_PRACTITIONER] }))
                    .set("identifier", json!([identifier]))
                    .set("name", json!([human]));
                out.push(r);

                let mut role = Resource::new("PractitionerRole", format!("role/{}", p.id));
                role.set("active", json!(true))
                    .set("practitioner", reference(&ctx.url(&practitioner_local)))
                    .set("code", json!([role_concept(ctx.facts.kind, &p.role)]));
                out.push(role);
            }
            Who::Companion { name } => {
                let mut r = Resource::new("RelatedPerson", format!("related-person/{}", p.id));
                let human = match name {
                    Shown::Clear(n) => json!({ "text": n }),
                    Shown::Withheld => json!({ "extension": masked_extension() }),
                };
                r.note(name.is_withheld())
                    .set("patient", ctx.patient())
                    .set("relationship", json!([{ "text": "accompagnant" }]))
                    .set("name", json!([human]));
                out.push(r);
            }
        }
    }
    out
}
