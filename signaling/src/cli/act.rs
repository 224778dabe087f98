//! `teleconsult act ...`

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use session::act::NewAct;
use session::participant::Identity;
use session::store::load_act;
use session::{Act, ActId, ActKind, DataDir, PatientAlias, Pii, Rpps, Timestamp, TraceStore};
use signaling::api;
use signaling::links::{DEFAULT_TTL, links_for};
use signaling::state::server_secrets;

#[derive(Debug, Subcommand)]
pub enum ActCommand {
    /// Create an act in the request phase, with its participants.
    Create(CreateArgs),
    /// List the acts in the trace store.
    List {
        #[arg(long)]
        json: bool,
    },
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

pub fn run(data: &DataDir, cmd: ActCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActCommand::Create(args) => create(data, args),
        ActCommand::List { json } => list(data, json),
    }
}

fn create(data: &DataDir, args: CreateArgs) -> anyhow::Result<ExitCode> {
    if args.kind == ActKind::Teleconsultation && (args.expert.is_some() || args.without_patient) {
        anyhow::bail!(
            "a teleconsultation has no expert and always has the patient; use --kind teleexpertise"
        );
    }
    if args.kind == ActKind::Teleexpertise && args.expert.is_none() {
        anyhow::bail!("a teleexpertise needs an expert: give --expert NAME --expert-rpps NUMBER");
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
        expertise: None,
    };
    let now = Timestamp::now();
    let (act, events) = Act::open(ActId::random(), new, now)?;

    // Works whether or not a server runs on this data directory: the store
    // takes appends from several processes.
    let (store, _keys) = data.open_writer().context("cannot open the trace store")?;
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

fn list(data: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    let store = data.open_reader().context("cannot open the trace store")?;
    // Current and retired data keys: acts sealed before a rotation too.
    // None without a data key at all (public keys only); a key that is
    // there but refused (too open) stops the command with the fix to run.
    let keys = Some(data.key_dir().data_keys_if_present()?).filter(|k| !k.is_empty());
    let mut rows = Vec::new();
    for id in store.act_ids()? {
        let (kind, phase) = match &keys {
            Some(k) => match load_act(&store, id, k) {
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
