//! AuditEvents: one per event of the trace that decree 2010-1229 asks to
//! keep (each phase entered, each consent given or withdrawn, each
//! technical incident and interruption with its period and outcome, each
//! mode change), shaped as the ANS event-traceability guide does: the
//! event's period, its agents, and the Encounter as the entity, with the
//! trace record (seq, hash) the event comes from.

use serde_json::{Value, json};
use session::Timestamp;

use super::Ctx;
use crate::elements::{Resource, coding, concept, period, time};
use crate::facts::Mark;
use crate::ids::{AUDIT_ENTITY_TYPE, DICOM, SECURITY_SOURCE_TYPE};

/// FHIR `AuditEvent.outcome`: success, minor or serious failure.
const SUCCESS: &str = "0";
const MINOR_FAILURE: &str = "4";
const SERIOUS_FAILURE: &str = "8";

/// One audit event before it becomes a resource.
struct Audit {
    kind: &'static str,
    display: &'static str,
    subtype: Option<(String, String)>,
    mark: Mark,
    end: Option<Timestamp>,
    outcome: &'static str,
    outcome_desc: String,
    agents: Vec<(u32, bool)>,
}

pub fn audit_events(ctx: &Ctx<'_>) -> Vec<Resource> {
    let f = ctx.facts;
    let mut audits = Vec::new();
    for p in &f.phases {
        let by = match p.phase {
            session::Phase::Closed => f.conclusion.as_ref().and_then(|c| c.by),
            _ => None,
        };
        audits.push(Audit {
            kind: "phase",
            display: "Phase de l'acte",
            subtype: Some((p.phase.as_str().to_string(), phase_display(p.phase).into())),
            mark: p.mark.clone(),
            end: None,
            outcome: SUCCESS,
            outcome_desc: match (p.phase, &f.cancel_reason) {
                (session::Phase::Cancelled, Some(reason)) => format!("annulé : {reason}"),
                _ => phase_display(p.phase).to_string(),
            },
            agents: by.map(|b| vec![(b, true)]).unwrap_or_default(),
        });
    }
    for c in &f.consents {
        audits.push(Audit {
            kind: "consent_given",
            display: "Consentement recueilli",
            subtype: Some((c.method.clone(), c.method.replace('_', " "))),
            mark: c.mark.clone(),
            end: None,
            outcome: SUCCESS,
            outcome_desc: format!("portée : {}", c.scopes.join(", ")),
            agents: vec![(c.given_by, true)],
        });
    }
    for w in &f.withdrawals {
        audits.push(Audit {
            kind: "consent_withdrawn",
            display: "Consentement retiré",
            subtype: None,
            mark: w.mark.clone(),
            end: None,
            outcome: SUCCESS,
            outcome_desc: format!("portée : {}", w.scopes.join(", ")),
            agents: vec![(w.by, true)],
        });
    }
    for i in &f.incidents {
        let (outcome, desc) = match &i.closed {
            Some((_, ms)) => (
                MINOR_FAILURE,
                format!("incident {} clos après {ms} ms", i.kind),
            ),
            None => (SERIOUS_FAILURE, format!("incident {} non clos", i.kind)),
        };
        audits.push(Audit {
            kind: "incident",
            display: "Incident technique",
            subtype: Some((i.kind.clone(), i.kind.replace('_', " "))),
            mark: i.mark.clone(),
            end: i.closed.as_ref().map(|(m, _)| m.at),
            outcome,
            outcome_desc: desc,
            agents: i.participant.map(|p| vec![(p, false)]).unwrap_or_default(),
        });
    }
    for i in &f.interruptions {
        let (outcome, desc) = match &i.resumed {
            Some(m) => (
                MINOR_FAILURE,
                format!("acte interrompu {} ms", m.at.since(i.mark.at).as_millis()),
            ),
            None => (SERIOUS_FAILURE, "acte interrompu, non repris".to_string()),
        };
        audits.push(Audit {
            kind: "interruption",
            display: "Interruption de l'acte",
            subtype: None,
            mark: i.mark.clone(),
            end: i.resumed.as_ref().map(|m| m.at),
            outcome,
            outcome_desc: desc,
            agents: vec![(i.participant, false)],
        });
    }
    for m in &f.modes {
        audits.push(Audit {
            kind: "mode_changed",
            display: "Changement de mode",
            subtype: Some((m.mode.clone(), m.mode.replace('_', " "))),
            mark: m.mark.clone(),
            end: None,
            outcome: SUCCESS,
            outcome_desc: format!("participant {} : {} ({})", m.participant, m.mode, m.cause),
            agents: if m.by == m.participant {
                vec![(m.by, true)]
            } else {
                vec![(m.by, true), (m.participant, false)]
            },
        });
    }
    audits.sort_by_key(|a| a.mark.seq);
    audits.into_iter().map(|a| resource(ctx, a)).collect()
}

fn phase_display(p: session::Phase) -> &'static str {
    use session::Phase::*;
    match p {
        Request => "demande",
        Preparation => "préparation",
        Performance => "réalisation",
        Conclusion => "conclusion",
        Closed => "clos",
        Cancelled => "annulé",
    }
}

fn resource(ctx: &Ctx<'_>, a: Audit) -> Resource {
    let mut r = Resource::new("AuditEvent", format!("audit/{}", a.mark.seq));
    let events = ctx.systems.code_system("act-event");
    let mut agents: Vec<Value> = a
        .agents
        .iter()
        .map(|(p, requestor)| json!({ "who": ctx.actor(*p), "requestor": requestor }))
        .collect();
    if agents.is_empty() {
        agents.push(json!({
            "type": concept(DICOM, "110150", "Application"),
            "who": { "display": format!("teleconsult ({})", ctx.systems.base()) },
            "requestor": false,
        }));
    }
    r.set("type", coding(&events, a.kind, a.display));
    if let Some((code, display)) = &a.subtype {
        r.set("subtype", json!([coding(&events, code, display)]));
    }
    r.set("action", json!("E"))
        .set(
            "period",
            period(a.mark.at, Some(a.end.unwrap_or(a.mark.at))),
        )
        .set("recorded", time(a.mark.at))
        .set("outcome", json!(a.outcome))
        .set("outcomeDesc", json!(a.outcome_desc))
        .set("agent", Value::Array(agents))
        .set(
            "source",
            json!({
                "site": ctx.systems.base(),
                "observer": { "display": format!("teleconsult ({})", ctx.systems.base()) },
                "type": [coding(SECURITY_SOURCE_TYPE, "4", "Application Server")],
            }),
        )
        .set(
            "entity",
            json!([{
                "what": ctx.encounter(),
                "type": coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
                "detail": [
                    { "type": "trace-seq", "valueString": a.mark.seq.to_string() },
                    { "type": "trace-hash", "valueString": a.mark.hash },
                ],
            }]),
        );
    r
}
