//! The FHIR resources of an act, one module per kind of resource. Each
//! builds its resources from the [`Facts`] through a [`Ctx`], which also
//! tells how to refer to each participant.

mod audit;
mod consent;
mod documents;
mod encounter;
mod orders;
mod people;
mod provenance;

use serde_json::Value;
use session::Timestamp;

use crate::elements::{Resource, reference};
use crate::facts::Facts;
use crate::ids::{Systems, full_url};

pub use provenance::provenance;

/// What every resource builder reads.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub facts: &'a Facts,
    pub systems: Systems,
    pub withheld: bool,
    pub report_pdf: Option<&'a [u8]>,
    pub now: Timestamp,
}

impl Ctx<'_> {
    /// The full URL of the resource `local` of this act.
    pub fn url(&self, local: &str) -> String {
        full_url(self.facts.act, local)
    }

    /// The Encounter, as a reference.
    pub fn encounter(&self) -> Value {
        reference(&self.url(ENCOUNTER))
    }

    /// The Patient, as a reference.
    pub fn patient(&self) -> Value {
        reference(&self.url(PATIENT))
    }

    /// The participant `id` as an actor: their PractitionerRole for a
    /// professional, the Patient, or their RelatedPerson for a companion.
    pub fn actor(&self, id: u32) -> Value {
        reference(&self.url(&actor_local(self.facts, id)))
    }
}

pub const ENCOUNTER: &str = "encounter";
pub const PATIENT: &str = "patient";

/// The local name of participant `id`'s actor resource.
fn actor_local(facts: &Facts, id: u32) -> String {
    match facts.person(id).map(|p| p.role.as_str()) {
        Some("patient") => PATIENT.to_string(),
        Some("companion") => format!("related-person/{id}"),
        _ => format!("role/{id}"),
    }
}

/// Every resource of the act but the Provenance, in Bundle order.
pub fn all(ctx: &Ctx<'_>) -> Vec<Resource> {
    let mut out = vec![encounter::encounter(ctx)];
    out.extend(people::people(ctx));
    out.extend(consent::consents(ctx));
    out.extend(documents::documents(ctx));
    out.extend(orders::orders(ctx));
    out.extend(audit::audit_events(ctx));
    out
}
