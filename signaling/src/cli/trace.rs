//! `teleconsult trace ...`: read, verify and export the act trace.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use session::keys::{DataKey, TrustedKeys};
use session::store::verify_store;
use session::trace::TraceRecord;
use session::{ActId, Timestamp, TraceStore};

use super::Place;
use signaling::export::{export_document, record_json};

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
        /// Also compare the store with the checkpoint this witness holds
        /// (its base URL): a larger or inconsistent one is a rollback.
        /// Repeatable.
        #[arg(long = "witness", value_name = "URL")]
        witnesses: Vec<String>,
        /// A witness's verifier key (`name+id+base64`): the checkpoints the
        /// witnesses hold must carry a valid cosignature of one of these.
        /// Repeatable.
        #[arg(long = "witness-key", value_name = "VKEY")]
        witness_keys: Vec<String>,
        /// The trace log's origin, as the server is configured.
        #[arg(long, env = "TELECONSULT_LOG_ORIGIN", default_value = session::tlog::DEFAULT_ORIGIN)]
        log_origin: String,
    },
    /// Print the trace log's verifier key (`ORIGIN+id+base64`), what a
    /// witness is configured with (`witness serve --log ORIGIN=VKEY`).
    LogKey {
        /// The public key, instead of DATA/keys/signing.pub.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// The trace log's origin, as the server is configured.
        #[arg(long, env = "TELECONSULT_LOG_ORIGIN", default_value = session::tlog::DEFAULT_ORIGIN)]
        log_origin: String,
    },
    /// Export an act's full record for archiving or audit: `json` (this
    /// product's format) or `fhir` (one signed FHIR R4 Bundle; sealed
    /// values withheld when no data key is held); or its compte rendu as
    /// a PDF (`pdf`; a concluded act only).
    Export {
        act: ActId,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write here instead of standard output (needed for a PDF when
        /// standard output is a terminal).
        #[arg(long)]
        output: Option<PathBuf>,
        /// The platform's public URL, under which a FHIR export's
        /// identifier systems hang.
        #[arg(
            long,
            env = "TELECONSULT_PUBLIC_URL",
            default_value = "https://localhost:8443"
        )]
        public_url: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// The full record with its verification (teleconsult-act-export/1).
    Json,
    /// The full record as one signed FHIR R4 Bundle.
    Fhir,
    /// The compte rendu of a concluded act, as a PDF.
    Pdf,
    /// The act's receipt (events and inclusion proofs, signed checkpoint).
    Receipt,
}

pub fn run(data: &Place, cmd: TraceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TraceCommand::Show { act, json } => show(data, act, json),
        TraceCommand::Verify {
            act,
            public_key,
            json,
            witnesses,
            witness_keys,
            log_origin,
        } => verify(
            data,
            act,
            public_key,
            json,
            &Witnesses {
                urls: witnesses,
                keys: witness_keys,
                origin: log_origin,
            },
        ),
        TraceCommand::LogKey {
            public_key,
            log_origin,
        } => log_key(data, public_key, &log_origin),
        TraceCommand::Export {
            act,
            format: ExportFormat::Json,
            output,
            ..
        } => export(data, act, output),
        TraceCommand::Export {
            act,
            format: ExportFormat::Fhir,
            output,
            public_url,
        } => export_fhir(data, act, output, &public_url),
        TraceCommand::Export {
            act,
            format: ExportFormat::Pdf,
            output,
            ..
        } => export_pdf(data, act, output),
        TraceCommand::Export {
            act,
            format: ExportFormat::Receipt,
            output,
            ..
        } => super::receipt::export(data, act, output, audit),
    }
}

/// `trace log-key`: the current public key under the log's origin.
fn log_key(data: &Place, public_key: Option<PathBuf>, origin: &str) -> anyhow::Result<ExitCode> {
    if !signaling::config::is_log_origin(origin) {
        anyhow::bail!("log origin {origin:?}: non-empty, without spaces or '+'");
    }
    let trusted = match &public_key {
        Some(path) => TrustedKeys::from_file(path)?,
        None => data
            .key_dir()
            .trusted()
            .context("cannot read the public key (give --public-key FILE)")?,
    };
    let key = trusted.keys().next().context("no public key to print")?;
    println!("{}", session::tlog::verifier_key(origin, key));
    Ok(ExitCode::SUCCESS)
}

/// The data keys (current and retired), if this operator has them;
/// without them sealed fields show as `[sealed]`.
fn data_keys(data: &Place) -> anyhow::Result<Vec<DataKey>> {
    Ok(data.key_dir().data_keys_if_present()?)
}

/// The act's verified records: refused with `trace verify`'s finding when
/// the chain the store links is broken.
fn records_of(store: &dyn TraceStore, act: ActId) -> anyhow::Result<Vec<TraceRecord>> {
    Ok(signaling::export::records_of(store, act)?)
}

/// Writes the access log entry for a command-line read, before reading.
/// Reading the trace is audited, so it needs the signing key.
fn audit(data: &Place, action: &str, act: ActId) -> anyhow::Result<()> {
    let signer = data.key_dir().signer().context(
        "reading the trace is recorded in the signed access log, which needs the signing key",
    )?;
    let trusted = data
        .key_dir()
        .trusted()
        .unwrap_or_else(|_| TrustedKeys::new([signer.public()]));
    let opened = data.open_reader_with_access()?;
    let access = opened
        .access(signer, data_keys(data)?, trusted)
        .context("cannot open the access log")?;
    access.record(
        &super::cli_actor(),
        action,
        Some(act),
        "allowed",
        Timestamp::now(),
    )?;
    Ok(())
}

fn show(data: &Place, act: ActId, as_json: bool) -> anyhow::Result<ExitCode> {
    let store = data.open_reader()?;
    let records = records_of(&*store, act)?;
    audit(data, "read_trace", act)?;
    let keys = data_keys(data)?;
    if keys.is_empty() {
        eprintln!("note: no data key available; personal and medical fields are shown as [sealed]");
    }
    let events = records
        .iter()
        .map(|r| record_json(r, &keys))
        .collect::<Result<Vec<_>, _>>()?;
    if as_json {
        println!("{}", signaling::export::shown(act, events));
        return Ok(ExitCode::SUCCESS);
    }
    let (attachments, shares) = signaling::export::attachments_and_shares(&events);
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
    for line in exchange_lines(&attachments, &shares) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The attachments and file shares, one line each, with their SHA-256
/// (and each receiver's, with whether it matches the offer's).
fn exchange_lines(attachments: &[Value], shares: &[Value]) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let mut lines = Vec::new();
    if !attachments.is_empty() {
        lines.push("attachments:".to_string());
    }
    for a in attachments {
        lines.push(format!(
            "  #{:<4} sha256={} {} {} bytes name={} by={}",
            text(&a["seq"]),
            text(&a["sha256"]),
            text(&a["media_type"]),
            text(&a["size"]),
            text(&a["name"]),
            text(&a["by"]),
        ));
    }
    if !shares.is_empty() {
        lines.push("shares:".to_string());
    }
    for s in shares {
        lines.push(format!(
            "  #{:<4} share={} sha256={} {} {} bytes name={} sender={}",
            text(&s["seq"]),
            text(&s["share"]),
            text(&s["sha256"]),
            text(&s["media_type"]),
            text(&s["size"]),
            text(&s["name"]),
            text(&s["sender"]),
        ));
        for r in s["received"].as_array().into_iter().flatten() {
            let verdict = if r["matches"] == Value::Bool(true) {
                "matches"
            } else {
                "DIFFERS"
            };
            lines.push(format!(
                "        received by={} sha256={} ({verdict})",
                text(&r["by"]),
                text(&r["sha256"]),
            ));
        }
        for by in s["cancelled_by"].as_array().into_iter().flatten() {
            lines.push(format!("        cancelled by={}", text(by)));
        }
    }
    lines
}

/// The event's fields other than its type, as `key=value` pairs.
fn describe(event: &Value) -> String {
    let Value::Object(map) = event else {
        return event.to_string();
    };
    if map.get("type").and_then(Value::as_str) == Some("connection_tested") {
        return describe_connection_test(event);
    }
    map.iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `participant=2 verdict=limited direct=failed relay_udp=ok(35ms,420kbit/s)`.
fn describe_connection_test(event: &Value) -> String {
    let mut parts = vec![
        format!("participant={}", event["participant"]),
        format!("verdict={}", event["verdict"].as_str().unwrap_or("?")),
    ];
    for p in event["paths"].as_array().into_iter().flatten() {
        let status = p["status"].as_str().unwrap_or("?");
        let figures = match (p["rtt_ms"].as_f64(), p["upload_kbps"].as_f64()) {
            (Some(rtt), Some(kbps)) => format!("({rtt:.0}ms,{kbps:.0}kbit/s)"),
            (Some(rtt), None) => format!("({rtt:.0}ms)"),
            _ => String::new(),
        };
        parts.push(format!(
            "{}={status}{figures}",
            p["path"].as_str().unwrap_or("?")
        ));
    }
    parts.join(" ")
}

/// The witnesses `trace verify` compares the store with.
struct Witnesses {
    urls: Vec<String>,
    keys: Vec<String>,
    origin: String,
}

/// What one witness said of the store: a sentence, and whether it is fine.
#[derive(serde::Serialize)]
struct WitnessFinding {
    url: String,
    ok: bool,
    message: String,
}

/// Compares the store with what each witness holds for the log (see
/// `signaling::witnessing::rollback`).
fn check_witnesses(
    store: &dyn TraceStore,
    trusted: &TrustedKeys,
    witnesses: &Witnesses,
) -> anyhow::Result<Vec<WitnessFinding>> {
    use signaling::witnessing::{WitnessConfig, rollback};
    if witnesses.urls.is_empty() {
        return Ok(Vec::new());
    }
    for key in &witnesses.keys {
        ::witness::cosignature::CosignatureVerifier::new(key)
            .map_err(|_| anyhow::anyhow!("--witness-key {key:?}: not a witness verifier key"))?;
    }
    let configs = witnesses
        .urls
        .iter()
        .map(|u| WitnessConfig::new(u, None))
        .collect::<Result<Vec<_>, _>>()?;
    let log_vkeys = rollback::log_verifier_keys(&witnesses.origin, trusted);
    let local = store.tree_size()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut findings = Vec::new();
    for w in configs {
        let client = ::witness::client::Client::new(&w.url)?;
        let fetched = rt.block_on(rollback::fetch_held(
            &client,
            &witnesses.origin,
            &log_vkeys,
            &witnesses.keys,
        ));
        let (ok, message) = match fetched {
            Err(e) => (false, format!("witness {}: cannot check: {e}", w.url)),
            Ok(Err(e)) => (false, e.to_string()),
            Ok(Ok(None)) => (
                true,
                format!(
                    "not witnessed yet: witness {} holds no checkpoint of {}",
                    w.url, witnesses.origin
                ),
            ),
            Ok(Ok(Some(held))) => {
                match rollback::compare(&w.url, &held, local, |s| store.tree_root(s)) {
                    Ok(()) => (
                        true,
                        format!(
                            "witnessed: witness {} holds size {}, this store has {local}, consistent",
                            w.url, held.size
                        ),
                    ),
                    Err(
                        e @ (signaling::Error::Rollback { .. }
                        | signaling::Error::ForkedStore { .. }),
                    ) => (false, e.to_string()),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        findings.push(WitnessFinding {
            url: w.url,
            ok,
            message,
        });
    }
    Ok(findings)
}

fn verify(
    data: &Place,
    act: Option<ActId>,
    public_key: Option<PathBuf>,
    as_json: bool,
    witnesses: &Witnesses,
) -> anyhow::Result<ExitCode> {
    let trusted = match &public_key {
        Some(path) => TrustedKeys::from_file(path)?,
        None => data
            .key_dir()
            .trusted()
            .context("cannot read the public key (give --public-key FILE)")?,
    };
    let opened = data.open_reader_with_access()?;
    let store = opened.trace.clone();
    store.check_storage()?;
    let report = verify_store(&*store, &trusted, act)?;
    let access = opened.access_reader(trusted.clone())?.verify(&trusted)?;
    let witnessed = check_witnesses(&*store, &trusted, witnesses)?;
    let intact = report.is_intact() && access.problems.is_empty() && witnessed.iter().all(|w| w.ok);
    if as_json {
        let mut v = serde_json::to_value(&report)?;
        v["access_log"] = serde_json::to_value(&access)?;
        if !witnessed.is_empty() {
            v["witnesses"] = serde_json::to_value(&witnessed)?;
        }
        println!("{v}");
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
    if !as_json {
        if access.problems.is_empty() {
            println!("access log intact: {} signed entr(ies)", access.entries);
        } else {
            println!(
                "access log NOT intact: {} problem(s)",
                access.problems.len()
            );
            for p in &access.problems {
                println!("  {p}");
            }
        }
        for w in &witnessed {
            println!("{}", w.message);
        }
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn export(data: &Place, act: ActId, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = data.open_reader()?;
    records_of(&*store, act)?;
    let keys = data
        .key_dir()
        .data_keys()
        .context("an export holds the full record and needs the data key")?;
    let trusted = data.key_dir().trusted()?;
    audit(data, "export_trace", act)?;
    let doc = export_document(&*store, act, &keys, &trusted)?;
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

/// `trace export --format fhir`: the act's signed FHIR Bundle, sealed
/// values opened when this operator holds the data keys, else withheld.
fn export_fhir(
    data: &Place,
    act: ActId,
    output: Option<PathBuf>,
    public_url: &str,
) -> anyhow::Result<ExitCode> {
    let store = data.open_reader()?;
    records_of(&*store, act)?;
    let keys = data_keys(data)?;
    if keys.is_empty() {
        eprintln!("note: no data key available; personal and medical values are withheld");
    }
    let trusted = data.key_dir().trusted()?;
    let signer = data
        .key_dir()
        .signer()
        .context("a FHIR export is signed with the trace's signing key")?;
    audit(data, "export_fhir", act)?;
    let bundle = signaling::export::fhir_bundle(
        &*store,
        act,
        &signaling::export::FhirExport {
            keys: &keys,
            trusted: &trusted,
            withheld: keys.is_empty(),
            public_url,
            now: Timestamp::now(),
            signer: &signer,
        },
    )?;
    let text = serde_json::to_string_pretty(&bundle)?;
    match output {
        Some(path) => {
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `trace export ACT --format pdf`: the compte rendu, with the personal
/// and medical values opened when this operator holds the data keys,
/// withheld (« [masqué] ») otherwise. A PDF is not written to a terminal.
fn export_pdf(data: &Place, act: ActId, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use std::io::{IsTerminal, Write};
    if output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!(
            "a PDF is not written to a terminal: give --output FILE (or redirect standard output)"
        );
    }
    let store = data.open_reader()?;
    records_of(&*store, act)?;
    let keys = data_keys(data)?;
    if keys.is_empty() {
        eprintln!(
            "note: no data key available; personal and medical values are withheld ([masqué])"
        );
    }
    let trusted = data.key_dir().trusted()?;
    audit(data, "export_pdf", act)?;
    let Some(pdf) = signaling::export::report_pdf(&*store, act, &keys, &trusted, keys.is_empty())?
    else {
        anyhow::bail!("act {act} is not concluded: its compte rendu is written at its conclusion");
    };
    match output {
        Some(path) => std::fs::write(&path, &pdf)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&pdf)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
