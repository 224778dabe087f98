//! An account's role and state come from the signed access log, and rows
//! deleted from that log with the `sqlite3` shell do not give them back:
//! the start-up upgrade does not sign a tampered accounts table when the
//! `accounts_signed` marker (or every account entry) was deleted, and a
//! disable or role change deleted from the log is noticed at sign-in and by
//! verification.

use std::path::Path;
use std::process::Command;

use session::access::{AccessStore, AccountRole, AccountSecrets, NewAccount};
use session::store::WriterKeys;
use session::{DataDir, Error, Pii, Timestamp};

/// Runs `sql` on the store with the `sqlite3` shell, as an attacker with
/// write access to the data directory would, triggers dropped first.
fn sqlite3(db: &Path, sql: &str) {
    let script = format!(
        "DROP TRIGGER IF EXISTS access_log_no_delete; DROP TRIGGER IF EXISTS access_log_no_update; {sql}"
    );
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(script)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn at(us: i64) -> Timestamp {
    Timestamp::from_micros(us)
}

fn new_account(login: &str, role: AccountRole) -> NewAccount {
    NewAccount {
        login: login.into(),
        role,
        password_hash: "$argon2id$fake".into(),
        secrets: AccountSecrets {
            name: Pii::new("Dr Nom Fictif".into()),
            rpps: Some(Pii::new("10101010105".parse().unwrap())),
            totp_secret: Pii::new(vec![1, 2, 3]),
        },
    }
}

/// A data directory whose access log holds a professional `dr-x` and an
/// administrator `dr-admin`, with sign-ins and reads around them.
fn setup() -> (tempfile::TempDir, DataDir, WriterKeys) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let (_store, keys) = data.open_writer().unwrap();
    let access = start(&data, &keys);
    access
        .add_account(new_account("dr-x", AccountRole::Professional), at(1))
        .unwrap();
    access
        .add_account(new_account("dr-admin", AccountRole::Administrator), at(2))
        .unwrap();
    for i in 0..3 {
        access
            .record("account:1", "login", None, "ok", at(10 + i))
            .unwrap();
    }
    (dir, data, keys)
}

/// Opens the access tables as the server does at start.
fn start(data: &DataDir, keys: &WriterKeys) -> AccessStore {
    AccessStore::open(
        &data.db_path(),
        keys.signer.clone(),
        vec![keys.data.clone()],
    )
    .unwrap()
}

fn actions(access: &AccessStore) -> Vec<String> {
    access
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn refused(access: &AccessStore, login: &str) {
    match access.account(login) {
        Err(Error::AccountNotProven(_)) => {}
        other => panic!("{login} should be refused as not proven, got {other:?}"),
    }
}

fn reported(access: &AccessStore, keys: &WriterKeys, what: &str) {
    let report = access.verify(&keys.trusted).unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains(what)),
        "verification should report {what:?}: {:?}",
        report.problems
    );
}

#[test]
fn deleting_the_marker_does_not_make_the_next_start_sign_a_forged_role() {
    let (_dir, data, keys) = setup();
    sqlite3(
        &data.db_path(),
        "DELETE FROM access_log WHERE action = 'accounts_signed'; \
         UPDATE accounts SET role = 'administrator' WHERE login = 'dr-x';",
    );
    let before = actions(&AccessStore::open_reader(&data.db_path()).unwrap());
    // The next start signs nothing from the table.
    let access = start(&data, &keys);
    assert_eq!(actions(&access), before, "the start signed the table");
    refused(&access, "dr-x");
    reported(&access, &keys, "no accounts_signed marker");
    reported(
        &access,
        &keys,
        "account 1: access entry #2 does not follow #1",
    );
    // The untouched account still signs in.
    assert_eq!(
        access.account("dr-admin").unwrap().unwrap().role,
        AccountRole::Administrator
    );
}

#[test]
fn deleting_every_account_entry_from_the_middle_does_not_make_the_next_start_sign_the_table() {
    let (_dir, data, keys) = setup();
    sqlite3(
        &data.db_path(),
        "DELETE FROM access_log WHERE actor = 'accounts'; \
         UPDATE accounts SET role = 'administrator' WHERE login = 'dr-x';",
    );
    let access = start(&data, &keys);
    assert!(
        !actions(&access)
            .iter()
            .any(|a| a.starts_with("account_role:")),
        "the table was signed: {:?}",
        actions(&access)
    );
    refused(&access, "dr-x");
    reported(&access, &keys, "is missing");
}

#[test]
fn deleting_a_disable_from_the_middle_of_the_log_does_not_re_enable() {
    let (_dir, data, keys) = setup();
    let access = start(&data, &keys);
    assert!(access.disable("dr-x", at(20)).unwrap());
    access
        .record("account:2", "read_trace", None, "allowed", at(21))
        .unwrap();
    drop(access);
    sqlite3(
        &data.db_path(),
        "DELETE FROM access_log WHERE action = 'account_state:disabled'; \
         UPDATE accounts SET disabled_at = NULL WHERE login = 'dr-x';",
    );
    let access = start(&data, &keys);
    refused(&access, "dr-x");
    reported(&access, &keys, "is missing");
}

#[test]
fn deleting_a_role_change_from_the_middle_of_the_log_does_not_undo_it() {
    let (_dir, data, keys) = setup();
    let access = start(&data, &keys);
    // Made administrator, then back to professional.
    assert!(
        access
            .set_role("dr-x", AccountRole::Administrator, at(20))
            .unwrap()
    );
    assert!(
        access
            .set_role("dr-x", AccountRole::Professional, at(21))
            .unwrap()
    );
    access
        .record("account:1", "login", None, "ok", at(22))
        .unwrap();
    drop(access);
    let newest_role: String = {
        let out = Command::new("sqlite3")
            .arg(data.db_path())
            .arg("SELECT MAX(seq) FROM access_log WHERE action = 'account_role:professional';")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    sqlite3(
        &data.db_path(),
        &format!(
            "DELETE FROM access_log WHERE seq = {newest_role}; \
             UPDATE accounts SET role = 'administrator' WHERE login = 'dr-x';"
        ),
    );
    let access = start(&data, &keys);
    refused(&access, "dr-x");
    reported(&access, &keys, "is missing");
}

#[test]
fn deleting_the_newest_entries_while_the_server_runs_is_noticed() {
    let (_dir, data, keys) = setup();
    let access = start(&data, &keys);
    assert!(access.disable("dr-x", at(20)).unwrap());
    // The disable is the newest entry: removed with it, the chain left
    // behind is whole, but this process wrote it.
    sqlite3(
        &data.db_path(),
        "DELETE FROM access_log WHERE action = 'account_state:disabled'; \
         UPDATE accounts SET disabled_at = NULL WHERE login = 'dr-x';",
    );
    refused(&access, "dr-x");
}

#[test]
fn an_intact_log_proves_roles_and_a_legacy_store_is_still_upgraded_once() {
    let (_dir, data, keys) = setup();
    let access = start(&data, &keys);
    assert!(access.disable("dr-x", at(20)).unwrap());
    assert!(access.enable("dr-x", at(21)).unwrap());
    assert_eq!(
        access.account("dr-x").unwrap().unwrap().role,
        AccountRole::Professional
    );
    assert!(access.verify(&keys.trusted).unwrap().problems.is_empty());
    // A store written before role entries: accounts, and a log without any
    // account entry (here: without any entry).
    sqlite3(&data.db_path(), "DELETE FROM access_log;");
    drop(access);
    let access = start(&data, &keys);
    assert_eq!(
        actions(&access),
        [
            "account_role:professional",
            "account_role:administrator",
            "accounts_signed"
        ]
    );
    assert_eq!(
        access.account("dr-admin").unwrap().unwrap().role,
        AccountRole::Administrator
    );
    assert!(access.verify(&keys.trusted).unwrap().problems.is_empty());
}
