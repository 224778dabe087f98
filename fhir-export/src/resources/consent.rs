//! The patient's consent: one Consent per scope of each consent given,
//! inactive once that scope was withdrawn.

use serde_json::{Value, json};

use super::Ctx;
use crate::elements::{Resource, coding, concept, ni_sha256, period, time};
use crate::ids::{CONSENT_SCOPE, LOINC, V3_ACT_CODE};

/// The FHIR consent scope of one of the act's scopes.
fn scope(s: &str) -> Value {
    match s {
        "data_hosting" => json!({
            "coding": [coding(CONSENT_SCOPE, "patient-privacy", "Privacy Consent")],
            "text": "hébergement des données de santé de l'acte",
        }),
        _ => json!({
            "coding": [coding(CONSENT_SCOPE, "treatment", "Treatment")],
            "text": "acte de télémédecine (art. R.6316-2 CSP)",
        }),
    }
}

pub fn consents(ctx: &Ctx<'_>) -> Vec<Resource> {
    let f = ctx.facts;
    let mut out = Vec::new();
    for c in &f.consents {
        for s in &c.scopes {
            let withdrawn = f
                .withdrawals
                .iter()
                .find(|w| w.mark.seq > c.mark.seq && w.scopes.contains(s));
            let mut r = Resource::new("Consent", format!("consent/{}/{s}", c.mark.seq));
            let mut attachment = json!({
                "extension": [{
                    "url": ctx.systems.extension("sha256"),
                    "valueString": c.text_sha256,
                }],
                "contentType": "text/plain; charset=utf-8",
                "title": "Texte d'information et de consentement montré",
            });
            if let Some(lang) = &c.language {
                attachment["language"] = json!(lang);
            }
            if let Some(ni) = ni_sha256(&c.text_sha256) {
                attachment["url"] = json!(ni);
            }
            r.set(
                "extension",
                json!([{
                    "url": ctx.systems.extension("consent-method"),
                    "valueCode": c.method,
                }]),
            )
            .set(
                "status",
                json!(if withdrawn.is_some() {
                    "inactive"
                } else {
                    "active"
                }),
            )
            .set("scope", scope(s))
            .set(
                "category",
                json!([concept(LOINC, "59284-0", "Patient Consent")]),
            )
            .set("patient", ctx.patient())
            .set("dateTime", time(c.mark.at))
            .set("performer", json!([ctx.actor(c.given_by)]))
            .set("sourceAttachment", attachment)
            .set(
                "policyRule",
                json!({
                    "coding": [coding(V3_ACT_CODE, "OPTIN", "opt-in")],
                    "text": "Code de la santé publique, art. R.6316-2",
                }),
            )
            .set(
                "provision",
                json!({
                    "type": "permit",
                    "period": period(c.mark.at, withdrawn.map(|w| w.mark.at)),
                }),
            );
            out.push(r);
        }
    }
    out
}
