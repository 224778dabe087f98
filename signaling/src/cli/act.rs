//! `teleconsult act ...`

use std::path::PathBuf;
use std::process::ExitCode;

use super::Place;
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use session::act::{Command, NewAct};
use session::document::{MAX_DOCUMENT_BYTES, Upload};
use session::expertise::ExpertiseRequest;
use session::participant::{Identity, Role};
use session::store::load_act;
use session::vocab::Urgency;
use session::{Act, ActId, ActKind, PatientAlias, Pii, Rpps, Timestamp};
use signaling::api;
use signaling::links::{DEFAULT_TTL, links_for};
use signaling::state::server_secrets;

#[derive(Debug, Subcommand)]
pub enum ActCommand {
    /// Create an act in the request phase, with its participants.
    Create(CreateArgs),
    /// Attach a document (JPEG, PNG, WebP, PDF or DICOM, at most 50 MiB)
    /// to an act, as one of its professionals: the operator's way;
    /// professionals use the page. Works with or without a server running
    /// on the data directory.
    Attach(AttachArgs),
    /// List the acts in the trace store.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The act's id.
    act: ActId,
    /// The file to attach; its type is told by its content.
    file: PathBuf,
    /// The RPPS number of the professional of the act who attaches it
    /// (the requesting professional by default).
    #[arg(long, alias = "as")]
    by: Option<Rpps>,
    /// The name recorded for it (the file's own name by default).
    #[arg(long)]
    name: Option<String>,
    /// Print one JSON object (`sha256`, `media_type`, `size`, `name`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// teleconsultation or teleexpertise.
    #[arg(long)]
    kind: ActKind,
    /// The requesting professional's name.
    #[arg(long)]
    professional: String,
    /// The requesting professional's RPPS number (11 digits).
    #[arg(long)]
    rpps: Rpps,
    /// The expert's name (téléexpertise).
    #[arg(long, requires = "expert_rpps")]
    expert: Option<String>,
    /// The expert's RPPS number.
    #[arg(long, requires = "expert")]
    expert_rpps: Option<Rpps>,
    /// A pseudonymous patient id (never a name); one is generated if absent.
    #[arg(long)]
    patient: Option<PatientAlias>,
    /// A téléexpertise held without the patient: the requester attests
    /// the patient's consent.
    #[arg(long)]
    without_patient: bool,
    /// The question put to the expert (required for a téléexpertise).
    #[arg(long)]
    question: Option<String>,
    /// How soon the expert should answer: immediate (1 h), urgent (24 h)
    /// or routine (7 days); French names too.
    #[arg(long, default_value = "routine", requires = "question")]
    urgency: Urgency,
    /// Record the requester's attestation of the absent patient's consent
    /// (with --without-patient): documents may then be attached.
    #[arg(long, requires = "without_patient")]
    attest_consent: bool,
    /// Print one JSON object with the act's id and join links.
    #[arg(long)]
    json: bool,
    /// The server's public URL, for the join links.
    #[arg(
        long,
        env = "TELECONSULT_PUBLIC_URL",
        default_value = "https://localhost:8443"
    )]
    public_url: String,
}

pub fn run(data: &Place, cmd: ActCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActCommand::Create(args) => create(data, args),
        ActCommand::Attach(args) => attach(data, args),
        ActCommand::List { json } => list(data, json),
    }
}

fn create(data: &Place, args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.kind == ActKind::Teleconsultation && (args.expert.is_some() || args.without_patient) {
        anyhow::bail!(
            "a teleconsultation has no expert and always has the patient; use --kind teleexpertise"
        );
    }
    if args.kind == ActKind::Teleexpertise && args.expert.is_none() {
        anyhow::bail!("a teleexpertise needs an expert: give --expert NAME --expert-rpps NUMBER");
    }
    if args.kind == ActKind::Teleexpertise && args.question.is_none() {
        anyhow::bail!("a teleexpertise needs the question put to the expert: give --question TEXT");
    }
    let professional = |name: &str, rpps: &Rpps| api::professional(name, rpps.as_str());
    let new = NewAct {
        kind: args.kind,
        requester: professional(&args.professional, &args.rpps)?,
        expert: match (&args.expert, &args.expert_rpps) {
            (Some(name), Some(rpps)) => Some(professional(name, rpps)?),
            _ => None,
        },
        patient: Identity::Patient {
            alias: Pii::new(args.patient.unwrap_or_else(PatientAlias::random)),
        },
        patient_present: !args.without_patient,
        expertise: args.question.map(|question| ExpertiseRequest {
            question: Pii::new(question),
            urgency: args.urgency,
        }),
    };
    let now = Timestamp::now();
    let (mut act, mut events) = Act::open(ActId::random(), new, now)?;
    if args.attest_consent {
        // The operator records the requester's attestation of the text
        // the page shows.
        let text = api::expertise::attestation_texts()
            .into_iter()
            .next()
            .context("no attestation text")?;
        let attest = api::expertise::AttestConsent {
            text_sha256: text.sha256,
        };
        let command = api::expertise::attestation(&act, attest)
            .map_err(|e| anyhow::anyhow!(e.status_code_and_message().2))?;
        events.extend(act.handle(command, now)?);
    }

    // Works whether or not a server runs on this data directory: the store
    // takes appends from several processes.
    let (store, _keys) = data.open_writer()?;
    store
        .append(act.id, Some(0), events)
        .context("cannot record the act")?;
    let (invitations, _) = server_secrets(data)?;
    let links = links_for(&act, &args.public_url, &invitations, now, DEFAULT_TTL);

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&api::created(&act, now, links))?
        );
    } else {
        println!("created {} {}", act.kind, act.id);
        for (role, link) in links {
            println!("  {role:<13} {link}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn attach(data: &Place, args: AttachArgs) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        anyhow::bail!(
            "{} is {size} bytes; a document may have at most {MAX_DOCUMENT_BYTES} (50 MiB)",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let upload = Upload::inspect(bytes).with_context(|| format!("{} refused", path.display()))?;
    let name = match args.name {
        Some(name) => name,
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .context("the file's name is not UTF-8; give --name NAME")?
            .to_string(),
    };
    // As `act create`: the store takes appends from several processes, and
    // the act's length fences this one against a running server's.
    let (opened, writer) = data.open_writer_with_access()?;
    let store = opened.trace.clone();
    let keys = data.key_dir().data_keys()?;
    let (mut act, stored) = load_act(&*store, args.act, &keys)?;
    let by = match &args.by {
        None => act.participant_with_role(Role::Requester),
        Some(rpps) => act.participants.iter().find(|p| {
            p.role.is_professional()
                && matches!(&p.identity, Identity::Professional { rpps: r, .. } if r.expose() == rpps)
        }),
    }
    .map(|p| p.id)
    .context("the act names no such professional (give the RPPS number of its requester or expert)")?;
    let (sha256, media_type, size) = (upload.sha256(), upload.media_type(), upload.size());
    let now = Timestamp::now();
    let events = act.handle(Command::attach(&upload, Pii::new(name.clone()), by), now)?;
    store
        .attach(act.id, stored, upload, events)
        .context("cannot record the document")?;
    let access = opened
        .access(writer.signer, keys, writer.trusted)
        .context("cannot open the access log")?;
    access.record(
        &super::cli_actor(),
        "attach_document",
        Some(act.id),
        "ok",
        now,
    )?;
    let name = act
        .attachment(&sha256)
        .map_or(name, |a| a.name.expose().clone());
    if args.json {
        println!(
            "{}",
            json!({"act": act.id.to_string(), "sha256": sha256.to_string(), "media_type": media_type, "size": size, "name": name})
        );
    } else {
        println!(
            "attached {sha256} {media_type} {size} bytes {name} to {}",
            act.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(data: &Place, json: bool) -> anyhow::Result<ExitCode> {
    let store = data.open_reader()?;
    // Current and retired data keys: acts sealed before a rotation too.
    // None without a data key at all (public keys only); a key that is
    // there but refused (too open) stops the command with the fix to run.
    let keys = Some(data.key_dir().data_keys_if_present()?).filter(|k| !k.is_empty());
    let mut rows = Vec::new();
    for id in store.act_ids()? {
        let (kind, phase) = match &keys {
            Some(k) => match load_act(&*store, id, k) {
                Ok((act, _)) => (act.kind.to_string(), act.phase.to_string()),
                Err(e @ session::Error::TraceIntegrity(_)) => {
                    eprintln!("act {id} refused: {e}");
                    ("?".into(), "refused (trace integrity)".into())
                }
                Err(_) => ("?".into(), "unreadable".into()),
            },
            None => ("?".into(), "?".into()),
        };
        rows.push(json!({"id": id.to_string(), "kind": kind, "phase": phase}));
    }
    if json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        for r in rows {
            println!(
                "{}  {:<17} {}",
                r["id"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["phase"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
