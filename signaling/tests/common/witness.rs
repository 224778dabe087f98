//! Fixtures for the witnessing tests: a witness run in-process by the
//! crate's own driver (`witness::server::run`, what `teleconsult witness
//! serve` runs), servers assembled by `signaling::server::build` on a data
//! directory that outlives them (stopped, copied, put back), acts recorded
//! through the store, and waits on the server's newest cosigned checkpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use session::{Act, ActId, DataDir};
use signaling::AppState;
use signaling::witnessing::WitnessConfig;
use tempfile::TempDir;

use super::server::{TIMEOUT, free_loopback_addr, new_teleconsultation, test_settings};

/// The log's origin (the servers' default).
pub const ORIGIN: &str = session::tlog::DEFAULT_ORIGIN;

/// How often the test servers submit while the tree grows.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// A fresh data directory under `root` with its keys, and the log's
/// verifier key (what the witness is configured with).
pub fn new_data_dir(root: &Path) -> (DataDir, String) {
    let data = DataDir::new(root.join("data"));
    let (store, _) = data.open_writer().expect("make the data directory");
    let vkey = store.log_signer().expect("a writer").verifier_key();
    store.close();
    (data, vkey)
}

/// A witness of the log whose verifier key it is given, on loopback.
pub struct TestWitness {
    pub dir: TempDir,
    pub addr: SocketAddr,
    pub url: String,
    /// Its verifier key (cosignature/v1).
    pub vkey: String,
    pub state: Arc<witness::WitnessState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestWitness {
    pub async fn start(log_vkey: &str) -> TestWitness {
        TestWitness::start_at(free_loopback_addr(), log_vkey).await
    }

    /// A witness listening on `addr` (one a server was told of before).
    pub async fn start_at(addr: SocketAddr, log_vkey: &str) -> TestWitness {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = [witness::LogConfig::parse(&format!("{ORIGIN}={log_vkey}")).expect("log")];
        let state = Arc::new(
            witness::WitnessState::open(dir.path(), "witness.test/w1", &logs)
                .expect("open the witness"),
        );
        let (stop, task) = serve(addr, state.clone()).await;
        TestWitness {
            dir,
            addr,
            url: format!("http://{addr}"),
            vkey: state.verifier_key().to_owned(),
            state,
            stop: Some(stop),
            task,
        }
    }

    /// Stops answering (its state and files are kept).
    pub async fn pause(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(TIMEOUT, &mut self.task)
            .await
            .expect("the witness stops in time")
            .expect("the witness stops cleanly");
    }

    /// Answers again, on the same address, with the same state.
    pub async fn resume(&mut self) {
        let (stop, task) = serve(self.addr, self.state.clone()).await;
        self.stop = Some(stop);
        self.task = task;
    }

    /// The size of the checkpoint it holds for the log.
    pub fn held(&self) -> u64 {
        self.state.held_size(ORIGIN)
    }

    /// Its settings entry, with its key.
    pub fn config(&self) -> WitnessConfig {
        WitnessConfig::new(&self.url, Some(&self.vkey)).expect("valid witness settings")
    }

    pub fn client(&self) -> witness::client::Client {
        witness::client::Client::new(&self.url).expect("a client")
    }
}

/// Serves `state` on `addr` until the sender is used or dropped.
async fn serve(
    addr: SocketAddr,
    state: Arc<witness::WitnessState>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind the witness");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        witness::server::run(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .expect("the witness serves");
    });
    (stop, task)
}

impl Drop for TestWitness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// A server on a data directory that outlives it.
pub struct Running {
    pub state: AppState,
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Assembles a server on `data` with `witnesses` (submitting every
/// [`INTERVAL`]) as `teleconsult serve` does, and runs it; the build's
/// error when it refuses to start.
pub async fn build_on(
    data: &DataDir,
    witnesses: Vec<WitnessConfig>,
) -> Result<Running, signaling::Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let mut settings = test_settings(data.clone(), addr, format!("http://{addr}"));
    settings.witnesses = witnesses;
    settings.witness_interval = INTERVAL;
    let server = signaling::server::build(settings).await?;
    let state = server.state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
    });
    Ok(Running {
        state,
        addr,
        stop,
        task,
    })
}

impl Running {
    /// Records `n` téléconsultations (their opening events); returns the
    /// tree's size after them.
    pub fn record_acts(&self, n: usize) -> u64 {
        for _ in 0..n {
            let now = self.state.clock().now();
            let (act, events) =
                Act::open(ActId::random(), new_teleconsultation(), now).expect("open an act");
            self.state
                .store
                .append(act.id, Some(0), events)
                .expect("record the act");
        }
        self.state.store.tree_size().expect("the tree's size")
    }

    /// Waits until a checkpoint of at least `size` leaves is cosigned and
    /// stored (the server's own state, not a timer).
    pub async fn witnessed(&self, size: u64) -> session::tlog::SignedCheckpoint {
        let mut rx = self
            .state
            .witnessing()
            .expect("witnesses are configured")
            .cosigned();
        let found = tokio::time::timeout(
            TIMEOUT,
            rx.wait_for(|c| c.as_ref().is_some_and(|c| c.size >= size)),
        )
        .await
        .unwrap_or_else(|_| panic!("no cosigned checkpoint of {size} leaves after {TIMEOUT:?}"))
        .expect("the witnessing task runs");
        found.clone().expect("a checkpoint")
    }

    /// Stops the server as Ctrl-C does and waits until its store is
    /// closed and released (no task holds it), so that its files can be
    /// copied or replaced.
    pub async fn stop(self) {
        let Running {
            state, stop, task, ..
        } = self;
        let _ = stop.send(());
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("the server stops in time")
            .expect("the server task ends cleanly");
        let store = Arc::downgrade(&state.store);
        drop(state);
        super::expertise::wait_until("the store is released", || store.upgrade().is_none()).await;
    }
}

/// Copies a directory tree, keeping the files' and directories' modes
/// (the data directory and its keys must stay private).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("an entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy a file");
        }
    }
    let mode = std::fs::metadata(from).expect("metadata").permissions();
    std::fs::set_permissions(to, mode).expect("keep the mode");
}

/// Replaces the directory `live` by `copy` (the operator's restore).
pub fn put_back(copy: &Path, live: &Path) {
    std::fs::remove_dir_all(live).expect("remove the live directory");
    std::fs::rename(copy, live).expect("put the copy back");
}

/// A history every rollback test starts from: a server witnessed at a
/// first size, its data directory copied then, and the same server grown
/// and witnessed further. Returns the sizes (first, then last witnessed)
/// and where the early copy is.
pub struct History {
    pub dir: TempDir,
    pub data: DataDir,
    pub witness: TestWitness,
    pub early: std::path::PathBuf,
    pub early_size: u64,
    pub late_size: u64,
}

impl History {
    pub async fn make() -> History {
        let dir = tempfile::tempdir().expect("tempdir");
        let (data, log_vkey) = new_data_dir(dir.path());
        let witness = TestWitness::start(&log_vkey).await;

        let server = build_on(&data, vec![witness.config()])
            .await
            .expect("a fresh store starts");
        let early_size = server.record_acts(3);
        server.witnessed(early_size).await;
        assert!(witness.held() >= early_size, "the witness holds it");
        let early_size = server.state.store.tree_size().expect("size");
        server.stop().await;
        let early = dir.path().join("early-copy");
        copy_dir(data.root(), &early);

        let server = build_on(&data, vec![witness.config()])
            .await
            .expect("the same store starts again: the witness holds its size");
        let late_size = server.record_acts(4);
        server.witnessed(late_size).await;
        let late_size = server.state.store.tree_size().expect("size");
        server.stop().await;
        // The stop may have made one more checkpoint: the witness holds at
        // most what the store holds, and more than the early copy.
        assert!(witness.held() > early_size && witness.held() <= late_size);
        History {
            dir,
            data,
            witness,
            early,
            early_size,
            late_size,
        }
    }
}

/// Runs `teleconsult --data DATA ARGS...` and waits for it to exit within
/// [`TIMEOUT`] (killed and failed otherwise: a server that should have
/// refused to start).
pub fn teleconsult_exits(data: &Path, args: &[&str]) -> Output {
    teleconsult_exits_with_env(data, args, &[])
}

/// [`teleconsult_exits`] with these environment variables set.
pub fn teleconsult_exits_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teleconsult"));
    cmd.arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TELECONSULT_DATA_KEY")
        .env_remove("TELECONSULT_DATA")
        .env_remove("TELECONSULT_PUBLIC_URL")
        .env_remove("TELECONSULT_CONFIG")
        .env_remove("TELECONSULT_LISTEN")
        .env_remove("TELECONSULT_WITNESS")
        .env_remove("TELECONSULT_LOG_ORIGIN")
        .env_remove("TELECONSULT_STORE")
        .env_remove("TELECONSULT_REDIS")
        .env_remove("TELECONSULT_NODE_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run teleconsult");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while child.try_wait().expect("poll the child").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap");
            panic!(
                "teleconsult {args:?} still runs after {TIMEOUT:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Polling a child process's exit; nothing to wait on in std.
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("reap")
}
