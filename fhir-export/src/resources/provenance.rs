//! The Provenance: who assembled the Bundle, from which trace (the act
//! and the chain head the export vouches for), targeting every other
//! resource. Its `signature` is added by [`crate::sign`].

use serde_json::{Value, json};

use super::Ctx;
use crate::elements::{Resource, concept, period, reference, time};
use crate::ids::PROVENANCE_AGENT_TYPE;

/// The local name of the Provenance.
pub const PROVENANCE: &str = "provenance";

pub fn provenance(ctx: &Ctx<'_>, targets: &[String]) -> Resource {
    let f = ctx.facts;
    let mut r = Resource::new("Provenance", PROVENANCE);
    r.set(
        "target",
        Value::Array(targets.iter().map(|t| reference(t)).collect()),
    )
    .set("occurredPeriod", period(f.phases[0].mark.at, f.ended()))
    .set("recorded", time(ctx.now))
    .set(
        "agent",
        json!([{
            "type": concept(PROVENANCE_AGENT_TYPE, "assembler", "Assembler"),
            "who": { "display": format!("teleconsult ({})", ctx.systems.base()) },
        }]),
    )
    .set(
        "entity",
        json!([
            {
                "role": "source",
                "what": {
                    "identifier": { "system": ctx.systems.sid("act"), "value": f.act.to_string() },
                    "display": "trace de l'acte",
                },
            },
            {
                "role": "source",
                "what": {
                    "identifier": {
                        "system": ctx.systems.sid("trace-head"),
                        "value": format!("{}:{}", f.head.seq, f.head.hash),
                    },
                    "display": "tête de chaîne de la trace (seq:sha256)",
                },
            },
        ]),
    );
    r
}
