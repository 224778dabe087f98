//! The incidents and mode changes of one act, as `trace show` lists them
//! after the events: one line per incident (kind, who, start, end,
//! duration, the worst metric) and one per mode change, so a reader sees
//! at a glance what went wrong and how the consultation went on. Works
//! from the events' public JSON, so it needs no data key.

use std::collections::BTreeMap;

use serde_json::Value;

/// The lines to print; empty when the act had no incident nor mode change.
/// `events` are `trace show`'s records (`seq`, `at`, `kind`, `event`).
pub fn summary_lines(events: &[Value]) -> Vec<String> {
    struct Open<'a> {
        kind: &'a str,
        participant: String,
        at: &'a str,
        opened: &'a Value,
        closed: Option<(&'a str, u64, &'a Value)>,
    }
    let mut incidents: BTreeMap<u64, Open> = BTreeMap::new();
    let mut modes = Vec::new();
    for r in events {
        let at = r["at"].as_str().unwrap_or("?");
        let e = &r["event"];
        match r["kind"].as_str() {
            Some("incident_opened") => {
                let Some(id) = e["incident"].as_u64() else {
                    continue;
                };
                incidents.insert(
                    id,
                    Open {
                        kind: e["kind"].as_str().unwrap_or("?"),
                        participant: who(&e["participant"]),
                        at,
                        opened: &e["metrics"],
                        closed: None,
                    },
                );
            }
            Some("incident_closed") => {
                if let Some(i) = e["incident"].as_u64().and_then(|id| incidents.get_mut(&id)) {
                    i.closed = Some((at, e["duration_ms"].as_u64().unwrap_or(0), &e["metrics"]));
                }
            }
            Some("mode_changed") => modes.push(format!(
                "  {at}  {} -> {} ({}, by {})",
                who(&e["participant"]),
                e["mode"].as_str().unwrap_or("?"),
                e["cause"].as_str().unwrap_or("?"),
                who(&e["by"]),
            )),
            _ => {}
        }
    }
    let mut lines = Vec::new();
    if !incidents.is_empty() {
        lines.push(format!("incidents ({}):", incidents.len()));
        for (id, i) in &incidents {
            let (end, duration, closing) = match i.closed {
                Some((at, ms, m)) => (at.to_string(), format!("{:.1} s", ms as f64 / 1000.0), m),
                None => ("still open".to_string(), "-".to_string(), &Value::Null),
            };
            lines.push(format!(
                "  i{id:<3} {:<22} {:<4} {} .. {}  {}{}",
                i.kind,
                i.participant,
                i.at,
                end,
                duration,
                metrics_note(i.opened, closing),
            ));
        }
    }
    if !modes.is_empty() {
        lines.push(format!("mode changes ({}):", modes.len()));
        lines.extend(modes);
    }
    lines
}

fn who(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "-".to_string(), |p| format!("p{p}"))
}

/// The closing snapshot's values, or the opening's, as `key=value`.
fn metrics_note(opened: &Value, closed: &Value) -> String {
    let pick = match closed {
        Value::Object(m) if !m.is_empty() => closed,
        _ => opened,
    };
    let Value::Object(m) = pick else {
        return String::new();
    };
    let parts: Vec<String> = m
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|x| format!("{k}={}", round(x))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", parts.join(" "))
    }
}

fn round(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_incidents_with_durations_and_mode_changes() {
        let events = vec![
            json!({"seq": 9, "at": "2026-11-24T18:00:00Z", "kind": "incident_opened",
                   "event": {"incident": 1, "kind": "packet_loss", "participant": 2,
                             "metrics": {"loss_pct": 10.04}}}),
            json!({"seq": 10, "at": "2026-11-24T18:00:01Z", "kind": "mode_changed",
                   "event": {"participant": 2, "mode": "audio_only", "cause": "automatic", "by": 2}}),
            json!({"seq": 11, "at": "2026-11-24T18:00:04Z", "kind": "incident_opened",
                   "event": {"incident": 2, "kind": "signaling_disconnected", "participant": 1,
                             "metrics": {}}}),
            json!({"seq": 12, "at": "2026-11-24T18:00:10Z", "kind": "incident_closed",
                   "event": {"incident": 1, "duration_ms": 10000,
                             "metrics": {"episode_ms": 10000, "loss_pct": 0}}}),
        ];
        let lines = summary_lines(&events);
        assert_eq!(lines[0], "incidents (2):");
        assert!(
            lines[1].contains("packet_loss")
                && lines[1].contains("p2")
                && lines[1].contains("10.0 s")
                && lines[1].contains("episode_ms=10000"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("signaling_disconnected") && lines[2].contains("still open"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "mode changes (1):");
        assert!(
            lines[4].contains("p2 -> audio_only (automatic, by p2)"),
            "{}",
            lines[4]
        );
        assert!(summary_lines(&[]).is_empty());
    }
}
