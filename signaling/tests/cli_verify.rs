//! `teleconsult trace verify` against real tampering with the `sqlite3`
//! shell: exit 0 when intact, 1 naming the first bad event, 2 when the
//! store cannot be read, and never a panic.

mod common;

use common::*;

fn verify(cli: &Cli) -> std::process::Output {
    cli.run(&["trace", "verify"])
}

#[test]
fn intact_trace_exits_zero() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    cli.create_teleconsultation();
    let out = verify(&cli);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("trace intact: 2 act(s), 6 event(s)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sqlite3_update_is_detected() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    cli.create_teleconsultation();
    let hex_id = id.replace('-', "");
    sqlite3(
        &cli.db(),
        &format!(
            "DROP TRIGGER events_no_update; UPDATE events SET at = at + 1000000 WHERE act_no = (SELECT no FROM acts WHERE act = x'{hex_id}') AND seq = 2;"
        ),
    );
    let out = verify(&cli);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "first bad: act {id}, event #2: its content was changed"
        )),
        "{text}"
    );
}

#[test]
fn sqlite3_delete_of_the_most_recent_event_is_detected() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    let hex_id = id.replace('-', "");
    sqlite3(
        &cli.db(),
        &format!(
            "DROP TRIGGER events_no_delete; DELETE FROM events WHERE act_no = (SELECT no FROM acts WHERE act = x'{hex_id}') AND seq = 3;"
        ),
    );
    let out = verify(&cli);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("act {id}, event #3: is missing")),
        "{text}"
    );
}

#[test]
fn triggers_refuse_plain_updates() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    let out = std::process::Command::new("sqlite3")
        .arg(cli.db())
        .arg("UPDATE events SET at = 0;")
        .output()
        .expect("sqlite3");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("append-only"));
    assert_eq!(verify(&cli).status.code(), Some(0));
}

#[test]
fn auditor_verifies_with_the_public_key_only() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    let audit = cli.dir.path().join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::copy(cli.db(), audit.join("trace.db")).unwrap();
    let public = cli.dir.path().join("signing.pub");
    std::fs::copy(cli.data().join("keys/signing.pub"), &public).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_teleconsult"))
        .args(["--data"])
        .arg(&audit)
        .args(["trace", "verify", "--public-key"])
        .arg(&public)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The wrong public key does not vouch for it.
    let other = Cli::new();
    other.create_teleconsultation();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_teleconsult"))
        .args(["--data"])
        .arg(&audit)
        .args(["trace", "verify", "--public-key"])
        .arg(other.data().join("keys/signing.pub"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("not among the trusted keys"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn unreadable_store_exits_two_with_a_sentence() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    let len = std::fs::metadata(cli.db()).unwrap().len();
    let before = std::fs::read(cli.db()).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(cli.db())
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let truncated = std::fs::read(cli.db()).unwrap();
    let out = verify(&cli);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("truncated"), "{err}");
    assert!(!err.contains("panicked"));
    assert_eq!(
        std::fs::read(cli.db()).unwrap(),
        truncated,
        "verify must not write"
    );
    // Creating an act on it is refused too, and overwrites nothing.
    let out = cli.run(&[
        "act",
        "create",
        "--kind",
        "teleconsultation",
        "--professional",
        DOCTOR,
        "--rpps",
        DOCTOR_RPPS,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(cli.db()).unwrap(), truncated);
    assert_ne!(before.len(), truncated.len());
}
