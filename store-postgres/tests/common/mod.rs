//! Fixtures for the PostgreSQL store's tests: a fresh database per test on
//! the server `TELECONSULT_TEST_PG` names (started by
//! `scripts/services.sh up`), stores opened on it, acts driven through
//! their life, and a raw connection for tampering.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use session::act::{Act, ActKind, CancelReason, Command};
use session::consent::{self, Consent, ConsentMethod, ConsentScope};
use session::keys::{DataKey, HeadSigner, TrustedKeys};
use session::participant::{Identity, Role};
use session::store::verify_store;
use session::trace::VerifyReport;
use session::{ActId, Event, ParticipantId, Pii, Timestamp, TraceStore};
use store_postgres::{PgMode, PgStore};

pub const PATIENT_ALIAS: &str = "dossier-fictif-0042";
pub const DOCTOR_NAME: &str = "Dr Fictif Requerant";
pub const REPORT: &str = "Examen sans particularite; controle dans un mois.";

/// The server's URL, or a failure telling how to start it.
pub fn server_url() -> String {
    std::env::var("TELECONSULT_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "TELECONSULT_TEST_PG is not set: run `scripts/services.sh up` and \
             `set -a; . target/services.env; set +a`, then run the tests again"
        )
    })
}

/// `url` with its database replaced by `db`.
pub fn url_for(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{db}")
}

/// A raw client on `url`, its connection driven on a thread of its own.
pub fn raw(url: &str) -> postgres_raw::Client {
    postgres_raw::Client::connect(url)
}

/// A fresh, empty database for one test, dropped at the end.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tc_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            Timestamp::now().as_micros() % 1_000_000
        );
        let admin = raw(&server_url());
        admin.batch(&format!("CREATE DATABASE {name}"));
        TestDb {
            url: url_for(&server_url(), &name),
            name,
        }
    }
}

impl TestDb {
    /// Drops the database. A plain `DROP DATABASE` waits for autovacuum to
    /// leave (which `FORCE` may not signal without `pg_signal_backend`);
    /// `FORCE` then ends the connections of a store still open on it (ours:
    /// the same role).
    pub fn drop_now(&self) -> Result<(), String> {
        let admin = postgres_raw::Client::try_connect(&server_url()).map_err(|e| e.to_string())?;
        let plain = format!("DROP DATABASE IF EXISTS {}", self.name);
        // A backend this role may not end (autovacuum's, a superuser's)
        // can hold the database for a moment: wait for the drop to go
        // through, up to a deadline, rather than fail on the first try.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let tried = admin
                .try_batch(&plain)
                .or_else(|_| admin.try_batch(&format!("{plain} WITH (FORCE)")))
                .map_err(|e| store_postgres::describe(&e));
            match tried {
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(100))
                }
                done => return done,
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Err(e) = self.drop_now() {
            eprintln!("test database {} left behind: {e}", self.name);
        }
    }
}

/// The keys of one test's trace.
pub struct Keys {
    pub signer: HeadSigner,
    pub data: DataKey,
    pub trusted: TrustedKeys,
}

impl Keys {
    pub fn new() -> Keys {
        let signer = HeadSigner::generate().expect("signer");
        Keys {
            trusted: TrustedKeys::new([signer.public()]),
            data: DataKey::generate().expect("data key"),
            signer,
        }
    }

    pub fn writer(&self, url: &str) -> PgStore {
        PgStore::open(
            url,
            PgMode::Write {
                signer: Box::new(self.signer.clone()),
                data: self.data.clone(),
            },
        )
        .expect("open the PostgreSQL store")
        .with_trusted(self.trusted.clone())
    }

    pub fn reader(&self, url: &str) -> PgStore {
        PgStore::open(url, PgMode::Read)
            .expect("open the PostgreSQL store to read")
            .with_trusted(self.trusted.clone())
    }

    pub fn verify(&self, store: &dyn TraceStore) -> VerifyReport {
        verify_store(store, &self.trusted, None).expect("verify")
    }
}

fn t(s: i64) -> Timestamp {
    Timestamp::from_micros(1_795_000_000_000_000 + s * 1_000_000)
}

fn professional(name: &str, rpps: &str) -> Identity {
    Identity::Professional {
        name: Pii::new(name.into()),
        rpps: Pii::new(rpps.parse().expect("rpps")),
    }
}

/// Drives a teleconsultation through its whole life, one append per
/// command, as the server would. Returns its id.
pub fn full_act(store: &dyn TraceStore) -> ActId {
    let (mut act, first) = Act::request(ActId::random(), ActKind::Teleconsultation, true, t(0));
    let id = act.id;
    let mut len = 0u64;
    let mut push = |events: Vec<Event>| {
        let n = events.len() as u64;
        store.append(id, Some(len), events).expect("append");
        len += n;
    };
    push(vec![first]);
    let steps = [
        Command::Register {
            role: Role::Requester,
            identity: professional(DOCTOR_NAME, "10000000009"),
        },
        Command::Register {
            role: Role::Patient,
            identity: Identity::Patient {
                alias: Pii::new(PATIENT_ALIAS.parse().expect("alias")),
            },
        },
        Command::Prepare,
        Command::GiveConsent(Consent {
            scopes: vec![ConsentScope::TelemedicineAct, ConsentScope::DataHosting],
            given_by: ParticipantId(2),
            method: ConsentMethod::Electronic {
                text_sha256: consent::text_digest("J'accepte."),
                language: "fr".into(),
            },
        }),
        Command::StartPerformance,
        Command::Conclude {
            by: ParticipantId(1),
            report: Pii::new(REPORT.into()),
            prescriptions: vec![],
        },
    ];
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
                identity: professional("Dr Fictif Second", "10101010105"),
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

/// Events that any act may hold many of: one phase-neutral event per call,
/// for load (not replayable as an act).
pub fn filler(i: u64) -> Event {
    Event {
        at: t(i as i64),
        body: session::ActEvent::PhaseEntered {
            phase: session::Phase::Request,
        },
    }
}

/// Problems as `(act, seq, what)` for compact assertions.
pub fn problems(report: &VerifyReport) -> Vec<(Option<String>, Option<u64>, String)> {
    report
        .problems
        .iter()
        .map(|p| (p.act.clone(), p.seq, p.what.clone()))
        .collect()
}

pub fn hex_of(act: ActId) -> String {
    act.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A blocking PostgreSQL client for fixtures and tampering, on
/// tokio-postgres with a runtime of its own.
pub mod postgres_raw {
    use super::*;

    pub struct Client {
        rt: tokio::runtime::Runtime,
        client: tokio_postgres::Client,
    }

    impl Client {
        pub fn connect(url: &str) -> Client {
            Self::try_connect(url).expect("connect to the test server")
        }

        pub fn try_connect(url: &str) -> Result<Client, tokio_postgres::Error> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let config = tokio_postgres::Config::from_str(url)?;
            let (client, conn) = rt.block_on(config.connect(tokio_postgres::NoTls))?;
            rt.spawn(async move {
                let _ = conn.await;
            });
            Ok(Client { rt, client })
        }

        pub fn batch(&self, sql: &str) {
            self.try_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {}", store_postgres::describe(&e)));
        }

        pub fn try_batch(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
            self.rt.block_on(self.client.batch_execute(sql))
        }

        pub fn query(
            &self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Vec<tokio_postgres::Row> {
            self.rt
                .block_on(self.client.query(sql, params))
                .unwrap_or_else(|e| panic!("{sql}: {}", store_postgres::describe(&e)))
        }

        pub fn execute(
            &self,
            sql: &str,
            params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<u64, tokio_postgres::Error> {
            self.rt.block_on(self.client.execute(sql, params))
        }
    }
}

/// A raw client on the test's database as its owner, with the
/// append-only triggers disabled and the revoked privileges granted back:
/// what a forger holding the database's owner (or a superuser) can do.
pub fn forger(url: &str) -> postgres_raw::Client {
    let c = raw(url);
    c.batch(
        "GRANT UPDATE, DELETE ON events, checkpoints, documents, tlog_leaves, tlog_hashes, tlog_checkpoints TO CURRENT_USER;
         ALTER TABLE events DISABLE TRIGGER USER; ALTER TABLE checkpoints DISABLE TRIGGER USER;
         ALTER TABLE documents DISABLE TRIGGER USER; ALTER TABLE tlog_leaves DISABLE TRIGGER USER;
         ALTER TABLE tlog_hashes DISABLE TRIGGER USER; ALTER TABLE tlog_checkpoints DISABLE TRIGGER USER;",
    );
    c
}

/// A small PDF document.
pub fn pdf(text: &str) -> session::document::Upload {
    session::document::Upload::inspect(format!("%PDF-1.7\n% {text}\n%%EOF\n").into_bytes())
        .expect("a PDF")
}

/// The event recording `doc` as attached by p1 under `name`.
pub fn attachment(doc: &session::document::Upload, name: &str) -> Event {
    Event {
        at: t(100),
        body: session::ActEvent::AttachmentAdded {
            document: doc.sha256(),
            media_type: doc.media_type(),
            size: doc.size(),
            name: Pii::new(name.into()),
            by: ParticipantId(1),
        },
    }
}

/// A raw client on the test's database as its owner, with the access
/// tables' guards lifted (privileges granted back, triggers disabled):
/// what a forger holding the owner's role (or a superuser) can do. Put
/// them back with [`access_guards_back`].
pub fn access_forger(url: &str) -> postgres_raw::Client {
    let c = raw(url);
    c.batch(
        "GRANT UPDATE, DELETE ON access_log, accounts TO CURRENT_USER;
         ALTER TABLE access_log DISABLE TRIGGER USER;",
    );
    c
}

/// Restores what [`access_forger`] lifted.
pub fn access_guards_back(c: &postgres_raw::Client) {
    c.batch(
        "ALTER TABLE access_log ENABLE TRIGGER USER;
         REVOKE UPDATE, DELETE ON access_log, accounts FROM CURRENT_USER;
         GRANT UPDATE (role, disabled_at, totp_step) ON accounts TO CURRENT_USER;",
    );
}
