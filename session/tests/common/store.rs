//! Fixtures for the trace store: a store in a temporary directory, acts
//! driven through their whole life, and raw SQLite access for tampering.

use std::collections::BTreeMap;

use rusqlite::Connection;
use session::act::{Act, ActKind, CancelReason, Command};
use session::conclusion::{Prescription, PrescriptionKind};
use session::incident::{IncidentKind, Metrics};
use session::participant::{Identity, Role};
use session::store::{DataDir, WriterKeys, verify_store};
use session::trace::VerifyReport;
use session::{ActId, Event, ParticipantId, Pii, SqliteStore, Timestamp, TraceStore};
use tempfile::TempDir;

/// A fictitious patient alias that must never appear in clear on disk.
pub const PATIENT_ALIAS: &str = "dossier-fictif-0042";
/// A fictitious professional name, likewise.
pub const DOCTOR_NAME: &str = "Dr Fictif Requerant";
/// A report phrase, likewise.
pub const REPORT: &str = "Examen sans particularite; controle dans un mois.";

pub struct TestTrace {
    pub dir: TempDir,
    pub data: DataDir,
    pub store: SqliteStore,
    pub keys: WriterKeys,
}

impl TestTrace {
    pub fn new() -> TestTrace {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path().join("data"));
        let (store, keys) = data.open_writer().expect("open store");
        TestTrace {
            dir,
            data,
            store,
            keys,
        }
    }

    pub fn verify(&self) -> VerifyReport {
        verify_store(&self.store, &self.keys.trusted, None).expect("verify")
    }

    /// Closes the store so that other connections see a quiet file.
    pub fn close(self) -> (TempDir, DataDir, WriterKeys) {
        self.store.close();
        drop(self.store);
        (self.dir, self.data, self.keys)
    }
}

/// Verifies the store under `data` with its public key, opening it afresh.
pub fn verify_dir(data: &DataDir) -> VerifyReport {
    let store = data.open_reader().expect("open reader");
    let trusted = data.key_dir().trusted().expect("public key");
    verify_store(&store, &trusted, None).expect("verify")
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
}

/// Drives a teleconsultation through its whole life, appending each step as
/// the server would (one append per command). Returns its id.
pub fn full_act(store: &dyn TraceStore) -> ActId {
    full_act_written(store, |_| {})
}

/// [`full_act`], with each event passed through `edit` before it is
/// appended: to store what earlier code wrote.
pub fn full_act_written(store: &dyn TraceStore, mut edit: impl FnMut(&mut Event)) -> ActId {
    let (mut act, first) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
    let id = act.id;
    let mut len = 0u64;
    let mut push = |mut events: Vec<Event>| {
        events.iter_mut().for_each(&mut edit);
        let n = events.len() as u64;
        store.append(id, Some(len), events).expect("append");
        len += n;
    };
    push(vec![first]);
    let mut steps = Vec::from(super::in_performance(
        super::professional(DOCTOR_NAME, "10000000009"),
        super::patient(PATIENT_ALIAS),
    ));
    steps.extend([
        Command::OpenIncident {
            kind: IncidentKind::PacketLoss,
            participant: Some(ParticipantId(2)),
            metrics: Metrics::from([("loss_pct".to_string(), 12.5)]),
        },
        Command::CloseIncident {
            incident: session::incident::IncidentId(1),
            metrics: Metrics::new(),
        },
        Command::Conclude {
            by: super::REQUESTER_ID,
            report: Pii::new(REPORT.into()),
            prescriptions: vec![Prescription {
                kind: PrescriptionKind::Medication,
                text: Pii::new("Paracetamol 1 g".into()),
            }],
        },
    ]);
    for (i, cmd) in steps.into_iter().enumerate() {
        let events = act.handle(cmd, t(10 * (i as i64 + 1))).expect("command");
        push(events);
    }
    id
}

/// A short act that is cancelled: request, one participant, cancel.
pub fn cancelled_act(store: &dyn TraceStore) -> ActId {
    let (mut act, first) = Act::request(ActId::random(), ActKind::Teleexpertise, false, t(0));
    let mut events = vec![first];
    events.extend(
        act.handle(
            Command::Register {
                role: Role::Requester,
                identity: Identity::Professional {
                    name: Pii::new("Dr Fictif Second".into()),
                    rpps: Pii::new("10101010105".parse().expect("rpps")),
                },
            },
            t(1),
        )
        .expect("register"),
    );
    events.extend(
        act.handle(Command::Cancel(CancelReason::PatientAbsent), t(2))
            .expect("cancel"),
    );
    store.append(act.id, Some(0), events).expect("append");
    act.id
}

/// A raw connection to the store's file with the append-only triggers
/// dropped, as a forger with file access would have.
pub fn forger(data: &DataDir) -> Connection {
    let c = Connection::open(data.db_path()).expect("open raw");
    c.execute_batch(
        "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;
         DROP TRIGGER checkpoints_no_update; DROP TRIGGER checkpoints_no_delete;",
    )
    .expect("drop triggers");
    c
}

/// Problems as `(act, seq, what)` for compact assertions.
pub fn problems(report: &VerifyReport) -> Vec<(Option<String>, Option<u64>, String)> {
    report
        .problems
        .iter()
        .map(|p| (p.act.clone(), p.seq, p.what.clone()))
        .collect()
}

/// The number of events per act.
pub fn lengths(store: &dyn TraceStore) -> BTreeMap<ActId, usize> {
    store
        .act_ids()
        .expect("acts")
        .into_iter()
        .map(|a| (a, store.records(a).expect("records").len()))
        .collect()
}

/// The stored hash of an act's event `seq`, read as a forger would.
pub fn stored_hash(c: &Connection, act: ActId, seq: u64) -> [u8; 32] {
    let h: Vec<u8> = c
        .query_row(
            "SELECT hash FROM events WHERE act_no = (SELECT no FROM acts WHERE act = ?1) AND seq = ?2",
            rusqlite::params![act.as_bytes(), seq as i64],
            |r| r.get(0),
        )
        .expect("stored hash");
    h.try_into().expect("32 bytes")
}

/// Writes a well-formed record straight into the file, bypassing the store
/// (no link, no head, no checkpoint), as a forger would.
pub fn forge_insert(c: &Connection, r: &session::trace::TraceRecord) {
    c.execute(
        "INSERT INTO events (act_no, seq, at, kind, public, sealed, prev_hash, hash)
         VALUES ((SELECT no FROM acts WHERE act = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            r.act.as_bytes(),
            r.seq as i64,
            r.at.as_micros(),
            r.kind,
            r.public,
            r.sealed,
            r.prev_hash.as_slice(),
            r.hash.as_slice()
        ],
    )
    .expect("forged insert");
}
