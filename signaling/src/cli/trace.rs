//! `teleconsult trace ...`: read, verify and export the act trace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use session::keys::{DataKey, TrustedKeys};
use session::store::{load_act, verify_store};
use session::trace::TraceRecord;
use session::trace::seal::strip_markers;
use session::{Act, ActId, DataDir, Timestamp, TraceStore};

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Show an act's events, in order, with their times.
    Show {
        act: ActId,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check that the trace was not changed: exit 0 when intact, 1 when
    /// not (naming the first bad event). Needs only the public key.
    Verify {
        /// Only this act (the signed checkpoints are always checked).
        act: Option<ActId>,
        /// The public key to trust, instead of DATA/keys/signing.pub.
        #[arg(long)]
        public_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Export an act's full record for archiving or audit.
    Export {
        act: ActId,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Json,
}

pub fn run(data: &DataDir, cmd: TraceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TraceCommand::Show { act, json } => show(data, act, json),
        TraceCommand::Verify {
            act,
            public_key,
            json,
        } => verify(data, act, public_key, json),
        TraceCommand::Export {
            act,
            format: ExportFormat::Json,
            output,
        } => export(data, act, output),
    }
}

fn open_reader(data: &DataDir) -> anyhow::Result<session::SqliteStore> {
    data.open_reader().context("cannot open the trace store")
}

/// The data key, if this operator has it; without it sealed fields show
/// as `[sealed]`.
fn data_key(data: &DataDir) -> Option<DataKey> {
    data.key_dir().data_key().ok()
}

/// One record as shown: opened if the key is at hand, else public only.
fn record_json(r: &TraceRecord, key: Option<&DataKey>) -> anyhow::Result<Value> {
    let event = match key {
        Some(k) => {
            let mut v = serde_json::to_value(r.open(std::slice::from_ref(k))?.body)?;
            strip_markers(&mut v);
            v
        }
        None => r.public_view()?,
    };
    Ok(json!({
        "seq": r.seq,
        "at": r.at.to_rfc3339(),
        "kind": r.kind,
        "event": event,
        "hash": hex::encode(r.hash),
    }))
}

fn records_of(store: &dyn TraceStore, act: ActId) -> anyhow::Result<Vec<TraceRecord>> {
    let records = store.records(act)?;
    anyhow::ensure!(!records.is_empty(), "no act {act} in the trace store");
    Ok(records)
}

fn show(data: &DataDir, act: ActId, as_json: bool) -> anyhow::Result<ExitCode> {
    let store = open_reader(data)?;
    let records = records_of(&store, act)?;
    let key = data_key(data);
    if key.is_none() {
        eprintln!("note: no data key available; personal and medical fields are shown as [sealed]");
    }
    let events = records
        .iter()
        .map(|r| record_json(r, key.as_ref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if as_json {
        println!("{}", json!({"act": act.to_string(), "events": events}));
        return Ok(ExitCode::SUCCESS);
    }
    println!("act {act}");
    for e in &events {
        println!(
            "#{:<4} {}  {:<22} {}",
            e["seq"],
            e["at"].as_str().unwrap_or(""),
            e["kind"].as_str().unwrap_or(""),
            describe(&e["event"])
        );
    }
    for line in super::incidents::summary_lines(&events) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The event's fields other than its type, as `key=value` pairs.
fn describe(event: &Value) -> String {
    let Value::Object(map) = event else {
        return event.to_string();
    };
    map.iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn verify(
    data: &DataDir,
    act: Option<ActId>,
    public_key: Option<PathBuf>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let trusted = match &public_key {
        Some(path) => TrustedKeys::from_file(path)?,
        None => data
            .key_dir()
            .trusted()
            .context("cannot read the public key (give --public-key FILE)")?,
    };
    let store = open_reader(data)?;
    store.check_file()?;
    let report = verify_store(&store, &trusted, act)?;
    if as_json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.is_intact() {
        println!(
            "trace intact: {} act(s), {} event(s), {} signed checkpoint(s)",
            report.acts, report.events, report.checkpoints
        );
    } else {
        println!("trace NOT intact: {} problem(s)", report.problems.len());
        println!("first bad: {}", report.problems[0]);
        for p in report.problems.iter().skip(1) {
            println!("also: {p}");
        }
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn export(data: &DataDir, act: ActId, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = open_reader(data)?;
    let records = records_of(&store, act)?;
    let key = data
        .key_dir()
        .data_key()
        .context("an export holds the full record and needs the data key")?;
    let (state, _) = load_act(&store, act, std::slice::from_ref(&key))?;
    let trusted = data.key_dir().trusted()?;
    let report = verify_store(&store, &trusted, Some(act))?;
    let events = records
        .iter()
        .map(|r| record_json(r, Some(&key)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let doc = json!({
        "format": "teleconsult-act-export/1",
        "exported_at": Timestamp::now().to_rfc3339(),
        "act": summary(&state)?,
        "verification": report,
        "events": events,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    match output {
        Some(path) => {
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What R.6316-4 asks to find at a glance.
fn summary(act: &Act) -> anyhow::Result<Value> {
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
