//! An act and its trace as one FHIR R4 (4.0.1) Bundle, signed, and the
//! check of such a Bundle.
//!
//! - [`record`]: the trace records as the export reads them (opened, or
//!   their public view when sealed values are withheld);
//! - [`facts`]: the records folded into what the resources carry;
//! - [`resources`]: the resources, one module per kind (Encounter,
//!   Patient and Practitioners, Consent, DocumentReference, orders,
//!   AuditEvent, Provenance), following FR Core where it has a profile;
//! - [`signature`]: the JWS (EdDSA, detached, over RFC 8785 canonical
//!   JSON) in `Provenance.signature`, and its verification.
//!
//! The mapping and the signature are documented element by element in
//! `docs/FHIR_EXPORT.md`.

pub mod elements;
mod error;
pub mod example;
pub mod facts;
pub mod ids;
pub mod record;
pub mod resources;
pub mod signature;

use serde_json::{Value, json};
use session::Timestamp;
use session::keys::HeadSigner;

pub use error::Error;
pub use record::ExportRecord;
pub use signature::{VerifiedExport, verify};

use crate::elements::redacted_label;
use crate::facts::Facts;
use crate::ids::{Systems, full_url, resource_id};
use crate::resources::Ctx;

/// The media type of an export.
pub const MEDIA_TYPE: &str = "application/fhir+json";

/// What an export is built from.
///
/// Deviation from the design note: the input carries the verified
/// records (opened or public), not the replayed `session::Act`. An
/// operator without the data key cannot replay the act (its events do
/// not open), yet must get an export with the sealed values withheld; so
/// the export folds the records itself ([`facts`]).
#[derive(Clone, Copy, Debug)]
pub struct ExportInput<'a> {
    /// The act's verified records, in seq order.
    pub records: &'a [ExportRecord],
    /// The platform's public URL: the identifier systems hang under it.
    pub public_url: &'a str,
    /// `Bundle.timestamp` and the Provenance's time.
    pub now: Timestamp,
    /// Sealed values are withheld (the records are public views).
    pub withheld: bool,
    /// The report's PDF, when there is one.
    pub report_pdf: Option<&'a [u8]>,
}

/// The unsigned Bundle of the act: every resource and the Provenance
/// targeting them, without its signature (see [`sign`]).
pub fn bundle(input: &ExportInput<'_>) -> Result<Value, Error> {
    let facts = Facts::read(input.records, input.withheld)?;
    let ctx = Ctx {
        facts: &facts,
        systems: Systems::new(input.public_url),
        withheld: input.withheld,
        report_pdf: input.report_pdf,
        now: input.now,
    };
    let mut resources = resources::all(&ctx);
    let targets: Vec<String> = resources.iter().map(|r| ctx.url(&r.local)).collect();
    resources.push(resources::provenance(&ctx, &targets));
    let mut any_withheld = false;
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|mut r| {
            r.body
                .insert("id".into(), Value::String(resource_id(facts.act, &r.local)));
            if r.withheld {
                any_withheld = true;
                let meta = r.body.entry("meta").or_insert_with(|| json!({}));
                meta["security"] = json!([redacted_label()]);
            }
            json!({ "fullUrl": full_url(facts.act, &r.local), "resource": Value::Object(r.body) })
        })
        .collect();
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": resource_id(facts.act, "bundle"),
        "identifier": { "system": ctx.systems.sid("act-export"), "value": facts.act.to_string() },
        "type": "collection",
        "timestamp": input.now.to_rfc3339(),
        "entry": entries,
    });
    if any_withheld {
        bundle["meta"] = json!({ "security": [redacted_label()] });
    }
    Ok(bundle)
}

/// Signs a Bundle from [`bundle`]: see [`signature::sign`].
pub fn sign(bundle: &Value, signer: &HeadSigner) -> Result<Value, Error> {
    signature::sign(bundle, signer)
}

/// The signed Bundle of the act.
pub fn export(input: &ExportInput<'_>, signer: &HeadSigner) -> Result<Value, Error> {
    sign(&bundle(input)?, signer)
}

#[cfg(test)]
mod tests;
