//! DocumentReferences: the report (LOINC 11488-4, with its PDF when
//! given and its text), and each document attached to the act or shared
//! in its session.
//!
//! `Attachment.hash` is SHA-1 in FHIR R4. The export computes it for the
//! bytes it holds (the PDF, the report's text); for attached and shared
//! documents the trace holds only their SHA-256, which goes into the
//! `masterIdentifier` (an RFC 6920 `ni:` URI), an identifier (hex, as the
//! trace has it) and the platform's `sha256` extension: no SHA-1 is
//! invented for bytes the export does not have.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha1::Digest as _;

use super::Ctx;
use super::encounter::kind_display;
use crate::elements::{
    Resource, concept, masked_extension, ni_sha256, period, set_primitive, time,
};
use crate::facts::{DocumentFact, Shown};
use crate::ids::{LOINC, URI_SYSTEM};

/// An Attachment carrying `bytes`: type, size, SHA-1 (base64, as FHIR
/// defines `Attachment.hash`) and the data in base64.
pub fn attachment(content_type: &str, bytes: &[u8], title: &str) -> Value {
    json!({
        "contentType": content_type,
        "language": "fr",
        "data": STANDARD.encode(bytes),
        "size": bytes.len(),
        "hash": STANDARD.encode(sha1::Sha1::digest(bytes)),
        "title": title,
    })
}

pub fn documents(ctx: &Ctx<'_>) -> Vec<Resource> {
    let mut out = Vec::new();
    if let Some(r) = report(ctx) {
        out.push(r);
    }
    for d in &ctx.facts.documents {
        out.push(document(ctx, d));
    }
    out
}

fn report(ctx: &Ctx<'_>) -> Option<Resource> {
    let f = ctx.facts;
    let c = f.conclusion.as_ref()?;
    let mut r = Resource::new("DocumentReference", "report");
    let mut content = Vec::new();
    if let Some(pdf) = ctx.report_pdf {
        content.push(json!({
            "attachment": attachment(
                "application/pdf",
                pdf,
                &format!("compte-rendu-{}.pdf", f.act),
            )
        }));
    }
    let text = match &c.report {
        Shown::Clear(t) => attachment("text/plain; charset=utf-8", t.as_bytes(), "Compte rendu"),
        Shown::Withheld => json!({
            "extension": masked_extension(),
            "contentType": "text/plain; charset=utf-8",
        }),
    };
    content.push(json!({ "attachment": text }));
    r.note(c.report.is_withheld())
        .set("status", json!("current"))
        .set("docStatus", json!("final"))
        .set("type", concept(LOINC, "11488-4", "Consult note"))
        .set("subject", ctx.patient())
        .set("date", time(c.mark.at))
        .set(
            "description",
            json!(format!(
                "Compte rendu de {}",
                kind_display(f.kind).to_lowercase()
            )),
        )
        .set("content", Value::Array(content))
        .set(
            "context",
            json!({
                "encounter": [ctx.encounter()],
                "period": period(f.phases[0].mark.at, f.ended()),
            }),
        );
    if let Some(by) = c.by {
        r.set("author", json!([ctx.actor(by)]));
    }
    Some(r)
}

fn document(ctx: &Ctx<'_>, d: &DocumentFact) -> Resource {
    let (local, what) = match &d.share {
        Some(_) => (format!("share/{}", d.mark.seq), "Fichier partagé en séance"),
        None => (
            format!("document/{}", d.mark.seq),
            "Document joint à l'acte",
        ),
    };
    let mut r = Resource::new("DocumentReference", local);
    let mut att = json!({
        "extension": [{ "url": ctx.systems.extension("sha256"), "valueString": d.sha256 }],
        "size": d.size,
    });
    if let Some(t) = &d.media_type {
        att["contentType"] = json!(t);
    }
    let w = set_primitive(&mut att, "title", &d.name);
    if let Some(ni) = ni_sha256(&d.sha256) {
        r.set(
            "masterIdentifier",
            json!({ "system": URI_SYSTEM, "value": ni }),
        );
    }
    r.note(w)
        .set(
            "identifier",
            json!([{ "system": ctx.systems.sid("sha256"), "value": d.sha256 }]),
        )
        .set("status", json!("current"))
        .set("type", json!({ "text": what }))
        .set("subject", ctx.patient())
        .set("date", time(d.mark.at))
        .set("author", json!([ctx.actor(d.by)]))
        .set("description", json!(what))
        .set("content", json!([{ "attachment": att }]))
        .set("context", json!({ "encounter": [ctx.encounter()] }));
    r
}
