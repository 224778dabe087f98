//! Durable appends per second on SQLite and on PostgreSQL, 1 and 64
//! writers, measured in one run (`docs/BENCHMARKS.md`, issue 16).
//!
//! Each round measures four cells one after the other, in an order that
//! alternates from round to round: {SQLite, PostgreSQL} × {1, 64 writers}.
//! A cell opens a fresh store (a new directory for SQLite, a new database
//! on the server for PostgreSQL, both as the server opens them: SQLite's
//! WAL with `synchronous = FULL`, PostgreSQL with `synchronous_commit =
//! on`), starts its writers, each on an act of its own, and counts the
//! appends acknowledged during the measured window. A writer is an OS
//! thread appending one event and waiting for its acknowledgement, in a
//! loop (closed loop): with 64 of them, what is measured is group commit.
//! Events alternate between an incident (kind, participant, three
//! metrics) and a reported chat message (ids and a SHA-256 digest), the
//! act events a live consultation appends most. PostgreSQL cells also
//! report the WAL written per commit (`pg_current_wal_lsn()` at the
//! window's ends).
//!
//! ```text
//! cargo run --release -p store-postgres --example append_bench -- \
//!     --url "$TELECONSULT_TEST_PG" [--dir DIR] [--rounds 5] [--secs 3] [--writers 1,64]
//! ```
//!
//! `--url`: a server on which the role may create databases (one per
//! PostgreSQL cell, dropped after it); `--dir`: where the SQLite stores go
//! (default `target/append-bench`, so on the same disk as a server started
//! by `scripts/services.sh`), removed after.
//!
//! `tests/append_bench.rs` runs it with one short round, so it does not
//! rot.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use session::act::ActKind;
use session::incident::{IncidentKind, Metrics};
use session::keys::{DataKey, HeadSigner};
use session::{
    Act, ActEvent, ActId, DataDir, Event, IncidentId, MessageId, ParticipantId, Sha256, Timestamp,
    TraceStore,
};
use store_postgres::{PgMode, PgStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Config {
    /// The PostgreSQL server's URL (its database is only used to create
    /// and drop the cells' databases).
    pub url: String,
    /// Where the SQLite cells' stores go.
    pub dir: PathBuf,
    pub rounds: usize,
    /// The measured window of each cell.
    pub window: Duration,
    /// Before the window: every writer has appended its act's first event
    /// and runs; the window starts after this much more.
    pub warmup: Duration,
    /// Writers per cell, each count measured on both stores.
    pub writers: Vec<usize>,
}

impl Config {
    /// From the command line (see the module's doc).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Config, BoxError> {
        let mut config = Config {
            url: String::new(),
            dir: PathBuf::from("target/append-bench"),
            rounds: 5,
            window: Duration::from_secs(3),
            warmup: Duration::from_millis(300),
            writers: vec![1, 64],
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--url" => config.url = value()?,
                "--dir" => config.dir = value()?.into(),
                "--rounds" => config.rounds = value()?.parse()?,
                "--secs" => config.window = Duration::from_secs_f64(value()?.parse()?),
                "--writers" => {
                    config.writers = value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?
                }
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if config.url.is_empty() {
            return Err("--url postgres://... is required".into());
        }
        if config.rounds == 0 || config.writers.contains(&0) {
            return Err("rounds and writers must be at least 1".into());
        }
        Ok(config)
    }
}

/// The two stores measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// One cell of one round.
#[derive(Debug, Clone)]
pub struct Cell {
    pub engine: Engine,
    pub writers: usize,
    pub round: usize,
    /// Appends acknowledged within the window.
    pub appends: u64,
    /// The window's length as measured.
    pub elapsed: Duration,
    /// Commits within the window: PostgreSQL's [`PgStore::commits`]; for
    /// SQLite the signed checkpoints stamped within it (one per commit).
    pub commits: u64,
    /// Latencies (µs) of the appends acknowledged within the window,
    /// from the call to its return.
    pub latencies_us: Vec<u32>,
    /// Mean size of an event's row as stored (`public` JSON plus `sealed`
    /// bytes), PostgreSQL only.
    pub row_bytes: Option<f64>,
    /// WAL the server wrote within the window (`pg_current_wal_lsn()` at
    /// its ends; the whole cluster's, which only the benchmark uses),
    /// PostgreSQL only.
    pub wal_bytes: Option<u64>,
}

impl Cell {
    pub fn per_sec(&self) -> f64 {
        self.appends as f64 / self.elapsed.as_secs_f64()
    }

    pub fn commits_per_sec(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64()
    }

    /// WAL bytes per commit, where measured.
    pub fn wal_per_commit(&self) -> Option<f64> {
        self.wal_bytes
            .map(|b| b as f64 / self.commits.max(1) as f64)
    }
}

/// Every cell of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub cells: Vec<Cell>,
}

fn main() -> Result<(), BoxError> {
    let config = Config::from_args(std::env::args().skip(1))?;
    let report = run(&config, |cell| {
        println!(
            "round {} {:>10} {:>2} writers: {:>8.0} appends/s, {:>6.0} commits/s ({:.1} appends per commit), p50 {:.2} ms, p99 {:.2} ms{}",
            cell.round + 1,
            cell.engine.name(),
            cell.writers,
            cell.per_sec(),
            cell.commits_per_sec(),
            cell.appends as f64 / cell.commits.max(1) as f64,
            percentile(&cell.latencies_us, 0.50) as f64 / 1000.0,
            percentile(&cell.latencies_us, 0.99) as f64 / 1000.0,
            cell.wal_per_commit()
                .map(|b| format!(", {:.0} kB of WAL per commit", b / 1000.0))
                .unwrap_or_default(),
        );
    })?;
    println!();
    print!("{}", report.table(&config.writers));
    Ok(())
}

/// Runs every round, calling `each` after every cell.
pub fn run(config: &Config, mut each: impl FnMut(&Cell)) -> Result<Report, BoxError> {
    let _ = std::fs::remove_dir_all(&config.dir);
    std::fs::create_dir_all(&config.dir)?;
    let mut report = Report::default();
    for round in 0..config.rounds {
        // Alternate which store goes first, so that neither always follows
        // the other's disk work (the WAL checkpoint of SQLite, the
        // checkpointer of PostgreSQL).
        let engines = if round.is_multiple_of(2) {
            [Engine::Sqlite, Engine::Postgres]
        } else {
            [Engine::Postgres, Engine::Sqlite]
        };
        for &writers in &config.writers {
            for engine in engines {
                let cell = match engine {
                    Engine::Sqlite => sqlite_cell(config, round, writers)?,
                    Engine::Postgres => postgres_cell(config, round, writers)?,
                };
                each(&cell);
                report.cells.push(cell);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&config.dir);
    Ok(report)
}

fn sqlite_cell(config: &Config, round: usize, writers: usize) -> Result<Cell, BoxError> {
    let dir = config.dir.join(format!("round{round}-{writers}"));
    let (store, _keys) = DataDir::new(&dir).open_writer()?;
    let store = Arc::new(store);
    let (mut cell, window) = measure(config, store.clone(), writers, || Ok((0, None)))?;
    let (from, to) = (window.0.as_micros(), window.1.as_micros());
    cell.commits = store
        .checkpoints()?
        .iter()
        .filter(|k| (from..=to).contains(&k.at.as_micros()))
        .count() as u64;
    cell.engine = Engine::Sqlite;
    cell.round = round;
    drop(store);
    remove(&dir);
    Ok(cell)
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn postgres_cell(config: &Config, round: usize, writers: usize) -> Result<Cell, BoxError> {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = format!(
        "append_bench_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = Admin::connect(&config.url)?;
    admin.batch(&format!("CREATE DATABASE {db}"))?;
    let url = url_for(&config.url, &db)?;
    let result = (|| {
        let store = Arc::new(PgStore::open(
            &url,
            PgMode::Write {
                signer: Box::new(HeadSigner::generate()?),
                data: DataKey::generate()?,
            },
        )?);
        let probe = || Ok((store.commits(), Some(admin.wal_position()?)));
        let (mut cell, _) = measure(config, store.clone(), writers, probe)?;
        store.close();
        drop(store);
        let on_db = Admin::connect(&url)?;
        cell.row_bytes = on_db.row_bytes()?;
        Ok::<_, BoxError>(cell)
    })();
    // Dropped whatever happened; FORCE ends a connection the store's pool
    // may still hold.
    let dropped = admin.batch(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    let mut cell = result?;
    dropped?;
    cell.engine = Engine::Postgres;
    cell.round = round;
    Ok(cell)
}

/// Runs `writers` closed-loop writers on `store`, each on a fresh act,
/// and measures the window. Returns the cell (engine and round to be set
/// by the caller; commits and WAL position from `probe`, read at the
/// window's ends) and the window in wall-clock time.
fn measure<S: TraceStore + 'static>(
    config: &Config,
    store: Arc<S>,
    writers: usize,
    probe: impl Fn() -> Result<(u64, Option<u64>), BoxError>,
) -> Result<(Cell, (Timestamp, Timestamp)), BoxError> {
    let epoch = Instant::now();
    let ready = Arc::new(Barrier::new(writers + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (store, ready, stop) = (store.clone(), ready.clone(), stop.clone());
            std::thread::spawn(move || writer(&*store, &ready, &stop, epoch))
        })
        .collect();
    ready.wait();
    std::thread::sleep(config.warmup);
    let (wall0, start, p0) = (Timestamp::now(), Instant::now(), probe());
    std::thread::sleep(config.window);
    let (wall1, end, p1) = (Timestamp::now(), Instant::now(), probe());
    stop.store(true, Ordering::Relaxed);
    let (from, to) = (since(epoch, start), since(epoch, end));
    let mut latencies_us = Vec::new();
    let mut failure = None;
    for t in threads {
        match t.join().expect("a writer thread panicked") {
            Ok(samples) => latencies_us.extend(
                samples
                    .into_iter()
                    .filter(|&(acked, _)| (from..=to).contains(&acked))
                    .map(|(_, latency)| latency),
            ),
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    let ((c0, w0), (c1, w1)) = (p0?, p1?);
    latencies_us.sort_unstable();
    let cell = Cell {
        engine: Engine::Sqlite,
        writers,
        round: 0,
        appends: latencies_us.len() as u64,
        elapsed: end - start,
        commits: c1 - c0,
        latencies_us,
        row_bytes: None,
        wal_bytes: w0.zip(w1).map(|(a, b)| b - a),
    };
    Ok((cell, (wall0, wall1)))
}

/// µs from `epoch` to `t`.
fn since(epoch: Instant, t: Instant) -> u64 {
    (t - epoch).as_micros() as u64
}

/// One writer: opens a fresh act, waits for the others, then appends one
/// event at a time until told to stop. Returns, for every append, when it
/// was acknowledged (µs since `epoch`) and how long it took (µs).
fn writer(
    store: &dyn TraceStore,
    ready: &Barrier,
    stop: &AtomicBool,
    epoch: Instant,
) -> Result<Vec<(u64, u32)>, session::Error> {
    let (act, first) = Act::request(
        ActId::random(),
        ActKind::Teleconsultation,
        true,
        Timestamp::now(),
    );
    let opened = store.append(act.id, Some(0), vec![first]);
    ready.wait();
    let mut len = opened?.head.seq;
    let mut samples = Vec::with_capacity(1 << 14);
    while !stop.load(Ordering::Relaxed) {
        let event = typical_event(len);
        let start = Instant::now();
        let appended = store.append(act.id, Some(len), vec![event])?;
        let acked = Instant::now();
        len = appended.head.seq;
        samples.push((since(epoch, acked), (acked - start).as_micros() as u32));
    }
    Ok(samples)
}

/// The `n`th event of a benchmark act: an incident with the metrics the
/// detector records, or a chat message's digest, in turn.
pub fn typical_event(n: u64) -> Event {
    let body = if n.is_multiple_of(2) {
        let metrics: Metrics = [
            ("loss_pct".to_string(), 12.5),
            ("rtt_ms".to_string(), 184.0),
            ("sustained_ms".to_string(), 5_000.0),
        ]
        .into_iter()
        .collect();
        ActEvent::IncidentOpened {
            incident: IncidentId(n as u32),
            kind: IncidentKind::PacketLoss,
            participant: Some(ParticipantId(2)),
            metrics,
        }
    } else {
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&n.to_be_bytes());
        ActEvent::ChatReported {
            message: MessageId::from_bytes(*ActId::random().as_bytes()),
            sender: ParticipantId(1),
            reporter: ParticipantId(2),
            digest: Sha256::from_bytes(digest),
        }
    };
    Event {
        at: Timestamp::now(),
        body,
    }
}

/// The `q` quantile of sorted `v` (0 when empty).
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

impl Report {
    /// The cells of `engine` with `writers` writers, in round order.
    pub fn cells_of(&self, engine: Engine, writers: usize) -> Vec<&Cell> {
        self.cells
            .iter()
            .filter(|c| c.engine == engine && c.writers == writers)
            .collect()
    }

    /// The summary as a Markdown table: per cell, appends/s (median and
    /// min–max over rounds), latency percentiles over every round's
    /// appends, commits/s and appends per commit (medians); then the ratio
    /// PostgreSQL/SQLite per writer count (median of the per-round ratios).
    pub fn table(&self, writers: &[usize]) -> String {
        let mut out = String::from(
            "| store | writers | durable appends/s, median (min–max) | p50 latency | p99 latency | commits/s (median) | appends per commit (median) | WAL per commit (median) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for &w in writers {
            for engine in [Engine::Sqlite, Engine::Postgres] {
                let cells = self.cells_of(engine, w);
                let rates: Vec<f64> = cells.iter().map(|c| c.per_sec()).collect();
                let (lo, hi) = min_max(&rates);
                let mut all: Vec<u32> = cells
                    .iter()
                    .flat_map(|c| c.latencies_us.iter().copied())
                    .collect();
                all.sort_unstable();
                let commits = median(cells.iter().map(|c| c.commits_per_sec()).collect());
                let batch = median(
                    cells
                        .iter()
                        .map(|c| c.appends as f64 / c.commits.max(1) as f64)
                        .collect(),
                );
                let wal: Vec<f64> = cells.iter().filter_map(|c| c.wal_per_commit()).collect();
                let wal = if wal.is_empty() {
                    "—".to_string()
                } else {
                    format!("{:.1} kB", median(wal) / 1000.0)
                };
                out += &format!(
                    "| {} | {w} | **{:.0}** ({:.0}–{:.0}) | {:.2} ms | {:.2} ms | {:.0} | {:.1} | {wal} |\n",
                    engine.name(),
                    median(rates),
                    lo,
                    hi,
                    percentile(&all, 0.50) as f64 / 1000.0,
                    percentile(&all, 0.99) as f64 / 1000.0,
                    commits,
                    batch,
                );
            }
        }
        out += "\n| writers | PostgreSQL / SQLite per round | median |\n|---:|---|---:|\n";
        for &w in writers {
            let ratios: Vec<f64> = self
                .cells_of(Engine::Postgres, w)
                .iter()
                .zip(self.cells_of(Engine::Sqlite, w))
                .map(|(p, s)| p.per_sec() / s.per_sec())
                .collect();
            let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            out += &format!(
                "| {w} | {} | **{:.2}** |\n",
                listed.join(" · "),
                median(ratios)
            );
        }
        let rows: Vec<f64> = self.cells.iter().filter_map(|c| c.row_bytes).collect();
        if !rows.is_empty() {
            out += &format!(
                "\nEvents as stored on PostgreSQL: {:.0} bytes a row on average (public JSON + sealed).\n",
                rows.iter().sum::<f64>() / rows.len() as f64
            );
        }
        out
    }
}

/// `url` with its database replaced by `db`.
fn url_for(url: &str, db: &str) -> Result<String, BoxError> {
    let (base, _) = url
        .rsplit_once('/')
        .ok_or("a PostgreSQL URL ends with /DATABASE")?;
    Ok(format!("{base}/{db}"))
}

/// A blocking client for creating, inspecting and dropping the cells'
/// databases, on a runtime of its own.
struct Admin {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Admin {
    fn connect(url: &str) -> Result<Admin, BoxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let config = tokio_postgres::Config::from_str(url)?;
        let (client, conn) = rt.block_on(config.connect(tokio_postgres::NoTls))?;
        rt.spawn(async move {
            let _ = conn.await;
        });
        Ok(Admin { rt, client })
    }

    fn batch(&self, sql: &str) -> Result<(), BoxError> {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .map_err(|e| format!("{sql}: {}", store_postgres::describe(&e)).into())
    }

    /// The server's current WAL position, in bytes.
    fn wal_position(&self) -> Result<u64, BoxError> {
        let row = self.rt.block_on(self.client.query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8",
            &[],
        ))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Mean bytes of an event row's payload (`public` + `sealed`).
    fn row_bytes(&self) -> Result<Option<f64>, BoxError> {
        let row = self.rt.block_on(self.client.query_one(
            "SELECT avg(octet_length(public) + octet_length(sealed))::float8 FROM events",
            &[],
        ))?;
        Ok(row.get(0))
    }
}
