//! An act's trace as a reader sees it: events opened with the data keys,
//! and the full export document. Shared by `teleconsult trace show/export`
//! and the HTTP routes, so both give the same record.

use serde_json::{Map, Value, json};
use session::event::{ActEvent, Event};
use session::keys::{DataKey, HeadSigner, TrustedKeys};
use session::store::{read_act, verify_store};
use session::trace::TraceRecord;
use session::trace::seal::{SEALED_KEY, strip_markers};
use session::{Act, ActId, PII_KEY, Timestamp, TraceStore};

/// One record as shown: opened if keys are given, else public only
/// (sealed fields as `[sealed]`).
pub fn record_json(r: &TraceRecord, keys: &[DataKey]) -> Result<Value, session::Error> {
    let event = if keys.is_empty() {
        r.public_view()?
    } else {
        let mut v = serde_json::to_value(r.open(keys)?.body)?;
        strip_markers(&mut v);
        v
    };
    Ok(json!({
        "seq": r.seq,
        "at": r.at.to_rfc3339(),
        "kind": r.kind,
        "event": event,
        "hash": hex::encode(r.hash),
    }))
}

/// The act's verified records (see [`read_act`]): `UnknownAct`, or
/// `TraceIntegrity` with `trace verify`'s finding when its chain is broken.
pub fn records_of(store: &dyn TraceStore, act: ActId) -> Result<Vec<TraceRecord>, session::Error> {
    read_act(store, act)
}

/// The act's events, opened, with its attachments and file shares
/// gathered from them: what `trace show --json` prints.
pub fn events(
    store: &dyn TraceStore,
    act: ActId,
    keys: &[DataKey],
) -> Result<Value, session::Error> {
    let events = records_of(store, act)?
        .iter()
        .map(|r| record_json(r, keys))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(shown(act, events))
}

/// `trace show --json`'s object for `events` (as [`record_json`] gives
/// them): the events, then each attachment and each file share with its
/// `sha256` (see [`attachments_and_shares`]).
pub fn shown(act: ActId, events: Vec<Value>) -> Value {
    let (attachments, shares) = attachments_and_shares(&events);
    json!({
        "act": act.to_string(),
        "events": events,
        "attachments": attachments,
        "shares": shares,
    })
}

/// The documents attached to the act and the files shared in its
/// session, from its events (opened or public: a sealed name stays
/// `[sealed]`):
///
/// - attachments: `{seq, at, sha256, media_type, size, name, by}`;
/// - shares: `{share, seq, at, sha256, media_type, size, name, sender,
///   received: [{by, at, sha256, matches}], cancelled_by: [participant]}`,
///   `matches` telling whether the receiver's digest is the offer's.
pub fn attachments_and_shares(events: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut attachments = Vec::new();
    let mut shares: Vec<Value> = Vec::new();
    for r in events {
        let e = &r["event"];
        match r["kind"].as_str() {
            Some("attachment_added") => attachments.push(json!({
                "seq": r["seq"],
                "at": r["at"],
                "sha256": e["document"],
                "media_type": e["media_type"],
                "size": e["size"],
                "name": e["name"],
                "by": e["by"],
            })),
            Some("share_offered") => shares.push(json!({
                "share": e["share"],
                "seq": r["seq"],
                "at": r["at"],
                "sha256": e["digest"],
                "media_type": e["media_type"],
                "size": e["size"],
                "name": e["name"],
                "sender": e["sender"],
                "received": [],
                "cancelled_by": [],
            })),
            Some(kind @ ("share_received" | "share_cancelled")) => {
                let Some(share) = shares.iter_mut().find(|s| s["share"] == e["share"]) else {
                    continue;
                };
                if kind == "share_received" {
                    let matches = share["sha256"] == e["digest"];
                    if let Some(list) = share["received"].as_array_mut() {
                        list.push(json!({
                            "by": e["by"],
                            "at": r["at"],
                            "sha256": e["digest"],
                            "matches": matches,
                        }));
                    }
                } else if let Some(list) = share["cancelled_by"].as_array_mut() {
                    list.push(e["by"].clone());
                }
            }
            _ => {}
        }
    }
    (attachments, shares)
}

/// The full record of an act for archiving or audit, with its
/// verification report (format `teleconsult-act-export/1`).
pub fn export_document(
    store: &dyn TraceStore,
    act: ActId,
    keys: &[DataKey],
    trusted: &TrustedKeys,
) -> Result<Value, session::Error> {
    let records = records_of(store, act)?;
    let opened = records
        .iter()
        .map(|r| r.open(keys))
        .collect::<Result<Vec<_>, _>>()?;
    let state = Act::replay(act, &opened)?;
    let report = verify_store(store, trusted, Some(act))?;
    let events = records
        .iter()
        .map(|r| record_json(r, keys))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "format": "teleconsult-act-export/1",
        "exported_at": Timestamp::now().to_rfc3339(),
        "act": summary(&state)?,
        "verification": report,
        "events": events,
    }))
}

/// The platform's name at the head of the compte rendu.
pub const PLATFORM_NAME: &str = "teleconsult — plateforme de télémédecine";

/// The compte rendu of a concluded act as a PDF (see the `report` crate),
/// from its verified trace: `Ok(None)` when the act is not concluded (no
/// report yet, or cancelled). Sealed values are opened with `keys`; with
/// `withheld` (a reader who may not see them), or without any key, they
/// print as « [masqué] ». The trace's state comes from [`verify_store`]
/// with `trusted`; a chain that does not verify was refused already
/// ([`records_of`]).
///
/// This is the one function the FHIR export calls for the PDF of its
/// report's DocumentReference (DESIGN.md of issue 14), with DESIGN.md's
/// signature; a render failure (a fault of the renderer, not of the
/// trace) is `session::Error::Render`, added for it.
///
/// The « Reçu de trace » section prints the newest stored checkpoint of
/// the transparency log when it covers the act
/// ([`crate::receipts::covering_checkpoint`]; no checkpoint is signed
/// here): the server's route makes sure one is stored first
/// ([`crate::receipts::choose_checkpoint`]), so that the PDF and the
/// receipt name the same checkpoint.
pub fn report_pdf(
    store: &dyn TraceStore,
    act: ActId,
    keys: &[DataKey],
    trusted: &TrustedKeys,
    withheld: bool,
) -> Result<Option<Vec<u8>>, session::Error> {
    let records = records_of(store, act)?;
    let withheld = withheld || keys.is_empty();
    let events = records
        .iter()
        .map(|r| {
            if keys.is_empty() {
                open_withheld(r)
            } else {
                r.open(keys)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let state = Act::replay(act, &events)?;
    if report::concluded_at(&state).is_none() {
        return Ok(None);
    }
    let verified = verify_store(store, trusted, Some(act))?;
    let trace = report::TraceState {
        verification: match verified.problems.first() {
            None => report::Verification::Intact,
            Some(p) => report::Verification::Broken(p.to_string()),
        },
        head: records
            .last()
            .map(|r| hex::encode(r.hash))
            .unwrap_or_default(),
        events: records.len() as u64,
        checkpoint: crate::receipts::covering_checkpoint(store, act)?
            .as_ref()
            .map(crate::receipts::printed),
    };
    report::render(&report::ReportInput {
        act: &state,
        events: &events,
        platform: PLATFORM_NAME,
        trace: &trace,
        withheld,
    })
    .map(Some)
    .map_err(|e| session::Error::Render {
        what: "the compte rendu",
        source: Box::new(e),
    })
}

/// A record's event without the data key: each sealed value replaced by a
/// stand-in of its type (an RPPS and an alias that parse, text elsewhere),
/// so the act replays for a report that prints none of them (withheld).
fn open_withheld(r: &TraceRecord) -> Result<Event, session::Error> {
    let mut public: Value = serde_json::from_slice(&r.public)?;
    stand_in(&mut public, "");
    let body: ActEvent = serde_json::from_value(public)?;
    Ok(Event { at: r.at, body })
}

/// Replaces every `{"$sealed": n}` under `value` (found under the key
/// `key`) by `{"$pii": stand-in}`.
fn stand_in(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(SEALED_KEY) => {
            let placeholder = match key {
                // 11 digits with a valid check digit; an alias's characters.
                "rpps" => "00000000000",
                "alias" => "masque",
                _ => report::MASKED,
            };
            let mut marked = Map::new();
            marked.insert(PII_KEY.to_string(), Value::String(placeholder.into()));
            *value = Value::Object(marked);
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                stand_in(v, k);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| stand_in(v, key)),
        _ => {}
    }
}

/// What R.6316-4 asks to find at a glance.
pub fn summary(act: &Act) -> Result<Value, session::Error> {
    let mut participants = serde_json::to_value(&act.participants)?;
    strip_markers(&mut participants);
    let mut conclusion = serde_json::to_value(&act.conclusion)?;
    strip_markers(&mut conclusion);
    let phases: Vec<Value> = act
        .phase_times
        .iter()
        .map(|(p, t)| json!({"phase": p, "at": t.to_rfc3339()}))
        .collect();
    let incidents: Vec<Value> = act
        .incidents
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "kind": i.kind,
                "participant": i.participant,
                "opened_at": i.opened_at.to_rfc3339(),
                "closed_at": i.closed_at.map(|t| t.to_rfc3339()),
                "duration_ms": i.closed_at.map(|c| c.since(i.opened_at).as_millis() as u64),
            })
        })
        .collect();
    Ok(json!({
        "id": act.id.to_string(),
        "kind": act.kind,
        "patient_present": act.patient_present,
        "phase": act.phase,
        "phases": phases,
        "participants": participants,
        "consent_allows_media": act.consent.allows_media(),
        "incidents": incidents,
        "conclusion": conclusion,
        "cancel_reason": act.cancel_reason,
    }))
}

/// What a FHIR export is made with besides the act.
#[derive(Debug)]
pub struct FhirExport<'a> {
    /// The data keys; empty when the reader holds none.
    pub keys: &'a [DataKey],
    pub trusted: &'a TrustedKeys,
    /// Sealed values are withheld from this reader.
    pub withheld: bool,
    /// The platform's public URL (the identifier systems).
    pub public_url: &'a str,
    pub now: Timestamp,
    /// The trace's signing key, which signs the Bundle.
    pub signer: &'a HeadSigner,
}

/// The act's signed FHIR R4 Bundle (see the `fhir_export` crate): its
/// verified records, opened unless withheld (or no key is held), and the
/// report's PDF when there is one.
pub fn fhir_bundle(
    store: &dyn TraceStore,
    act: ActId,
    with: &FhirExport<'_>,
) -> Result<Value, fhir_export::Error> {
    let records = records_of(store, act)?;
    let withheld = with.withheld || with.keys.is_empty();
    let exported = fhir_export::ExportRecord::all(&records, with.keys, withheld)?;
    let pdf = report_pdf(store, act, with.keys, with.trusted, withheld)?;
    fhir_export::export(
        &fhir_export::ExportInput {
            records: &exported,
            public_url: with.public_url,
            now: with.now,
            withheld,
            report_pdf: pdf.as_deref(),
        },
        with.signer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, kind: &str, event: Value) -> Value {
        json!({"seq": seq, "at": "2026-01-01T00:00:00Z", "kind": kind, "event": event})
    }

    #[test]
    fn attachments_and_shares_carry_their_digests() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let s = "1".repeat(32);
        let events = vec![
            record(
                7,
                "attachment_added",
                json!({"type": "attachment_added", "document": a, "media_type": "image/png", "size": 3, "name": "x.png", "by": 1}),
            ),
            record(
                9,
                "share_offered",
                json!({"type": "share_offered", "share": s, "sender": 1, "digest": a, "media_type": null, "size": 5, "name": "y.bin"}),
            ),
            record(
                10,
                "share_received",
                json!({"type": "share_received", "share": s, "by": 2, "digest": a}),
            ),
            record(
                11,
                "share_received",
                json!({"type": "share_received", "share": s, "by": 3, "digest": b}),
            ),
            record(
                12,
                "share_cancelled",
                json!({"type": "share_cancelled", "share": s, "by": 3}),
            ),
        ];
        let (attachments, shares) = attachments_and_shares(&events);
        assert_eq!(attachments.len(), 1);
        assert_eq!(attachments[0]["sha256"], a.as_str());
        assert_eq!(attachments[0]["seq"], 7);
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0]["sha256"], a.as_str());
        assert_eq!(shares[0]["received"][0]["matches"], true);
        assert_eq!(shares[0]["received"][1]["matches"], false);
        assert_eq!(shares[0]["cancelled_by"], json!([3]));
    }

    #[test]
    fn the_summary_names_who_concluded() {
        use session::consent::{Consent, ConsentMethod, ConsentScope};
        use session::participant::{Identity, Role};
        use session::{ActKind, Command, ParticipantId, Pii};

        let at = Timestamp::from_micros(1_795_000_000_000_000);
        let (mut act, _) = Act::request(ActId::random(), ActKind::Teleconsultation, true, at);
        let consent = Consent {
            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
            given_by: ParticipantId(2),
            method: ConsentMethod::Electronic {
                text_sha256: crate::consent_text::patient_texts()[0].sha256.clone(),
                language: "fr".into(),
            },
        };
        for command in [
            Command::Register {
                role: Role::Requester,
                identity: Identity::Professional {
                    name: Pii::new("Dr Fictif".into()),
                    rpps: Pii::new("10000000009".parse().unwrap()),
                },
            },
            Command::Register {
                role: Role::Patient,
                identity: Identity::Patient {
                    alias: Pii::new("dossier-1".parse().unwrap()),
                },
            },
            Command::Prepare,
            Command::GiveConsent(consent),
            Command::StartPerformance,
            Command::Conclude {
                by: ParticipantId(1),
                report: Pii::new("Rapport fictif.".into()),
                prescriptions: vec![],
            },
        ] {
            let name = command.name();
            act.handle(command, at)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let s = summary(&act).unwrap();
        assert_eq!(s["conclusion"]["by"], 1);
        assert_eq!(s["conclusion"]["report"], "Rapport fictif.");
    }
}
