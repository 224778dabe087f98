//! The prescriptions of the conclusion: a MedicationRequest for a drug,
//! a ServiceRequest for an examination or anything else.

use serde_json::json;

use super::Ctx;
use crate::elements::{Resource, complex, time};

pub fn orders(ctx: &Ctx<'_>) -> Vec<Resource> {
    let Some(c) = &ctx.facts.conclusion else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, p) in c.prescriptions.iter().enumerate() {
        let local = format!("prescription/{}/{}", c.mark.seq, i + 1);
        let what = complex(&p.text, |t| json!({ "text": t }));
        let mut r = if p.kind == "medication" {
            let mut r = Resource::new("MedicationRequest", local);
            r.set("status", json!("active"))
                .set("intent", json!("order"))
                .set("medicationCodeableConcept", what)
                .set("subject", ctx.patient())
                .set("encounter", ctx.encounter())
                .set("authoredOn", time(c.mark.at));
            r
        } else {
            let mut r = Resource::new("ServiceRequest", local);
            r.set("status", json!("active"))
                .set("intent", json!("order"))
                .set(
                    "category",
                    json!([{ "text": if p.kind == "examination" { "examen" } else { "autre" } }]),
                )
                .set("code", what)
                .set("subject", ctx.patient())
                .set("encounter", ctx.encounter())
                .set("authoredOn", time(c.mark.at));
            r
        };
        r.note(p.text.is_withheld());
        if let Some(by) = c.by {
            r.set("requester", ctx.actor(by));
        }
        out.push(r);
    }
    out
}
