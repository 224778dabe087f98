//! Fixtures for the command-line tests: run `teleconsult` on a fresh data
//! directory and read its output.
#![allow(dead_code)]

/// Nodes sharing a PostgreSQL trace and a Redis (act ownership).
pub mod cluster;
/// The live session's exchange reports (chat, file and screen shares).
pub mod exchange;
/// A téléexpertise's people, routes and documents on a test server.
pub mod expertise;
/// An act taken to its conclusion through the domain; raw answers; PDF text.
pub mod lifecycle;
/// A fresh PostgreSQL database per test on `TELECONSULT_TEST_PG`.
pub mod postgres;
/// Professional accounts and sign-in on a test server.
pub mod security;
/// The in-process server, WebSocket client and server process fixtures.
pub mod server;
/// Paused tokio time held still between a test's steps.
pub mod time;
/// A witness in-process, servers on a data directory that outlives them.
pub mod witness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Runs `teleconsult --data DATA ARGS...` (a test server's store, or a
/// [`Cli`]'s), with none of the settings the environment could give it.
pub fn teleconsult(data: &Path, args: &[&str]) -> Output {
    teleconsult_with_env(data, args, &[])
}

/// [`teleconsult`] with these environment variables set.
pub fn teleconsult_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teleconsult"));
    cmd.arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TELECONSULT_DATA_KEY")
        .env_remove("TELECONSULT_DATA")
        .env_remove("TELECONSULT_PUBLIC_URL")
        .env_remove("TELECONSULT_STORE")
        .env_remove("TELECONSULT_REDIS")
        .env_remove("TELECONSULT_NODE_ID")
        .env_remove("TELECONSULT_ADVERTISE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run teleconsult")
}

/// A fictitious professional, and RPPS numbers that pass the check digit.
pub const DOCTOR: &str = "Dr Fictif Requerant";
pub const DOCTOR_RPPS: &str = "10000000009";
pub const EXPERT: &str = "Dr Fictif Expert";
pub const EXPERT_RPPS: &str = "10101010105";
pub const PATIENT: &str = "dossier-fictif-0042";

/// `act create` for a téléexpertise between [`DOCTOR`] and [`EXPERT`],
/// before its question and options.
pub const CREATE_TELEEXPERTISE: [&str; 12] = [
    "act",
    "create",
    "--kind",
    "teleexpertise",
    "--professional",
    DOCTOR,
    "--rpps",
    DOCTOR_RPPS,
    "--expert",
    EXPERT,
    "--expert-rpps",
    EXPERT_RPPS,
];

pub struct Cli {
    pub dir: TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db(&self) -> PathBuf {
        self.data().join("trace.db")
    }

    /// Runs `teleconsult --data DIR ARGS...`.
    pub fn run(&self, args: &[&str]) -> Output {
        teleconsult(&self.data(), args)
    }

    /// The same with environment variables set (e.g. `TELECONSULT_STORE`).
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        teleconsult_with_env(&self.data(), args, env)
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "teleconsult {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Creates a teleconsultation and returns its id.
    pub fn create_teleconsultation(&self) -> String {
        let v = self.create_teleconsultation_json();
        v["id"].as_str().expect("id").to_string()
    }

    /// Creates a teleconsultation and returns what `act create --json`
    /// prints (id, links...).
    pub fn create_teleconsultation_json(&self) -> serde_json::Value {
        self.create_teleconsultation_with(PATIENT, &[])
    }

    /// Creates a teleconsultation of [`DOCTOR`] with `patient`, with
    /// `extra` arguments (`--store URL`, `--public-url URL`...), and
    /// returns what `act create --json` prints.
    pub fn create_teleconsultation_with(&self, patient: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "act",
            "create",
            "--kind",
            "teleconsultation",
            "--professional",
            DOCTOR,
            "--rpps",
            DOCTOR_RPPS,
            "--patient",
            patient,
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(self.ok(&args).trim()).expect("one JSON object")
    }
}

/// Runs the `sqlite3` command-line shell on `db`, as an attacker with file
/// access would.
pub fn sqlite3(db: &Path, sql: &str) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 command is needed (apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
