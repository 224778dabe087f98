//! An act's trace as a reader sees it: events opened with the data keys,
//! and the full export document. Shared by `teleconsult trace show/export`
//! and the HTTP routes, so both give the same record.

use serde_json::{Value, json};
use session::keys::{DataKey, TrustedKeys};
use session::store::{read_act, verify_store};
use session::trace::TraceRecord;
use session::trace::seal::strip_markers;
use session::{Act, ActId, Timestamp, TraceStore};

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

/// The act's events, opened: what `trace show --json` prints.
pub fn events(
    store: &dyn TraceStore,
    act: ActId,
    keys: &[DataKey],
) -> Result<Value, session::Error> {
    let events = records_of(store, act)?
        .iter()
        .map(|r| record_json(r, keys))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"act": act.to_string(), "events": events}))
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
