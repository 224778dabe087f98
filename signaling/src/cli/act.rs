//! `teleconsult act ...`

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use session::participant::{Identity, Role};
use session::store::load_act;
use session::{
    Act, ActId, ActKind, Command, DataDir, PatientAlias, Pii, Rpps, Timestamp, TraceStore,
};

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
    /// Print one JSON object with the act's id.
    #[arg(long)]
    json: bool,
}

pub fn run(data: &DataDir, cmd: ActCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ActCommand::Create(args) => create(data, args),
        ActCommand::List { json } => list(data, json),
    }
}

fn professional(name: &str, rpps: Rpps) -> anyhow::Result<Identity> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty() && name.len() <= 200,
        "a professional's name has 1 to 200 characters"
    );
    Ok(Identity::Professional {
        name: Pii::new(name.to_string()),
        rpps: Pii::new(rpps),
    })
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
    let now = Timestamp::now();
    let (mut act, first) = Act::request(ActId::random(), args.kind, !args.without_patient, now);
    let mut events = vec![first];
    let mut register = |act: &mut Act, role, identity| -> anyhow::Result<()> {
        events.extend(act.handle(Command::Register { role, identity }, now)?);
        Ok(())
    };
    register(
        &mut act,
        Role::Requester,
        professional(&args.professional, args.rpps)?,
    )?;
    if let (Some(name), Some(rpps)) = (args.expert, args.expert_rpps) {
        register(&mut act, Role::Expert, professional(&name, rpps)?)?;
    }
    let alias = args.patient.unwrap_or_else(PatientAlias::random);
    register(
        &mut act,
        Role::Patient,
        Identity::Patient {
            alias: Pii::new(alias),
        },
    )?;

    let (store, _keys) = data.open_writer().context("cannot open the trace store")?;
    store
        .append(act.id, Some(0), events)
        .context("cannot record the act")?;

    if args.json {
        let participants: Vec<_> = act
            .participants
            .iter()
            .map(|p| json!({"id": p.id.0, "role": p.role}))
            .collect();
        let out = json!({
            "id": act.id.to_string(),
            "kind": act.kind,
            "phase": act.phase,
            "requested_at": now.to_rfc3339(),
            "participants": participants,
        });
        println!("{out}");
    } else {
        println!("created {} {}", act.kind, act.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(data: &DataDir, json: bool) -> anyhow::Result<ExitCode> {
    let store = data.open_reader().context("cannot open the trace store")?;
    let keys = data.key_dir().data_key().ok();
    let mut rows = Vec::new();
    for id in store.act_ids()? {
        let (kind, phase) = match &keys {
            Some(k) => match load_act(&store, id, std::slice::from_ref(k)) {
                Ok((act, _)) => (act.kind.to_string(), act.phase.to_string()),
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
