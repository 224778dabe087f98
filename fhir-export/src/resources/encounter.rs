//! The Encounter: the act itself (FR Core Encounter), class `VR`.

use serde_json::{Value, json};
use session::{ActKind, Phase};

use super::people::role_concept;
use super::{Ctx, ENCOUNTER};
use crate::elements::{Resource, coding, complex, concept, period};
use crate::ids::{FR_CORE_ENCOUNTER, V2_0203, V3_ACT_CODE};

/// The Encounter status of a phase.
pub fn status(phase: Phase) -> &'static str {
    match phase {
        Phase::Request => "planned",
        Phase::Preparation => "arrived",
        Phase::Performance | Phase::Conclusion => "in-progress",
        Phase::Closed => "finished",
        Phase::Cancelled => "cancelled",
    }
}

/// The act kind as the Encounter's type.
pub fn kind_display(kind: ActKind) -> &'static str {
    match kind {
        ActKind::Teleconsultation => "Téléconsultation",
        ActKind::Teleexpertise => "Téléexpertise",
    }
}

pub fn encounter(ctx: &Ctx<'_>) -> Resource {
    let f = ctx.facts;
    let mut r = Resource::new("Encounter", ENCOUNTER);
    let phase_ext = ctx.systems.extension("act-phase");
    let history: Vec<Value> = f
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let end = f.phases.get(i + 1).map(|next| next.mark.at);
            json!({
                "extension": [{ "url": phase_ext, "valueCode": p.phase.as_str() }],
                "status": status(p.phase),
                "period": period(p.mark.at, if p.phase.is_terminal() { Some(p.mark.at) } else { end }),
            })
        })
        .collect();
    let participants: Vec<Value> = f
        .participants
        .iter()
        .filter(|p| p.role != "patient")
        .map(|p| {
            json!({
                "type": [role_concept(f.kind, &p.role)],
                "individual": ctx.actor(p.id),
            })
        })
        .collect();
    let start = f.phases[0].mark.at;
    r.set("meta", json!({ "profile": [FR_CORE_ENCOUNTER] }))
        .set(
            "identifier",
            json!([{
                "use": "official",
                "type": concept(V2_0203, "VN", "Visit number"),
                "system": ctx.systems.sid("act"),
                "value": f.act.to_string(),
            }]),
        )
        .set("status", json!(status(f.phase())))
        .set("statusHistory", Value::Array(history))
        .set("class", coding(V3_ACT_CODE, "VR", "virtual"))
        .set(
            "type",
            json!([{
                "coding": [coding(
                    &ctx.systems.code_system("act-kind"),
                    f.kind.as_str(),
                    kind_display(f.kind),
                )],
                "text": kind_display(f.kind),
            }]),
        )
        .set("subject", ctx.patient())
        .set("period", period(start, f.ended()));
    if !participants.is_empty() {
        r.set("participant", Value::Array(participants));
    }
    if let Some(q) = &f.question {
        let reason = complex(&q.text, |t| json!({ "text": t }));
        r.note(q.text.is_withheld())
            .set("reasonCode", json!([reason]));
    }
    r
}
