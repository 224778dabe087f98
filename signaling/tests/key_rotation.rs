//! `teleconsult keys rotate signing|data|invite`: after rotating each
//! secret, traces written before still open and verify, traces written
//! after use the new key, accounts sealed before still open, and join
//! links issued before still verify until they expire.

mod common;

use common::*;
use session::access::AccessStore;
use session::{DataDir, Timestamp, TraceStore};

fn links_of(cli: &Cli) -> (String, String) {
    let v = cli.create_teleconsultation_json();
    let patient = v["links"]["patient"].as_str().expect("patient link");
    (
        v["id"].as_str().expect("id").to_string(),
        patient.split_once('#').expect("token").1.to_string(),
    )
}

fn key_id_of(blob_owner: &DataDir, act: &str) -> Vec<String> {
    let store = blob_owner.open_reader().expect("reader");
    store
        .records(act.parse().expect("act id"))
        .expect("records")
        .iter()
        .filter_map(|r| session::trace::seal::blob_key_id(&r.sealed))
        .map(|k| k.to_string())
        .collect()
}

#[test]
fn old_traces_stay_readable_and_verifiable_after_each_rotation() {
    let cli = Cli::new();
    let (before, token) = links_of(&cli);
    assert!(add_doctor(&cli, "dr-before", &[]).status.success());
    let data = DataDir::new(cli.data());
    let data_key_before = data.key_dir().data_key().expect("key").id().to_string();
    let signing_before = data.key_dir().signer().expect("signer").id();

    for which in ["signing", "data", "invite"] {
        let out = cli.ok(&["keys", "rotate", which]);
        assert!(out.contains("rotated"), "{out}");
    }

    // New keys are in use...
    let keys = data.key_dir();
    assert_ne!(keys.signer().expect("signer").id(), signing_before);
    assert_ne!(
        keys.data_key().expect("key").id().to_string(),
        data_key_before
    );
    let (after, _) = links_of(&cli);
    let new_id = keys.data_key().expect("key").id().to_string();
    assert!(key_id_of(&data, &after).iter().all(|k| *k == new_id));
    assert!(
        key_id_of(&data, &before)
            .iter()
            .all(|k| *k == data_key_before)
    );

    // ...and the old act still opens (sealed names shown) and verifies.
    let shown = cli.ok(&["trace", "show", &before]);
    assert!(shown.contains(DOCTOR) && shown.contains(PATIENT), "{shown}");
    let shown = cli.ok(&["trace", "show", &after]);
    assert!(shown.contains(DOCTOR), "{shown}");
    let export = cli.ok(&["trace", "export", &before, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&export).expect("json");
    assert_eq!(doc["verification"]["problems"], serde_json::json!([]));
    let out = cli.run(&["trace", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("access log intact"),
        "{}",
        stdout(&out)
    );

    // `act list` still reads the act sealed before the rotation.
    let list = cli.ok(&["act", "list"]);
    assert!(!list.contains("unreadable"), "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");

    // The account sealed with the old data key still opens.
    let access = AccessStore::open(
        &data.db_path(),
        keys.signer().expect("signer"),
        keys.data_keys().expect("keys"),
    )
    .expect("access");
    let account = access.account("dr-before").expect("read").expect("exists");
    assert_eq!(account.secrets.name.expose(), DOCTOR);

    // The access log spans both signing keys and verifies.
    let entries = access.entries().expect("entries");
    assert!(entries.iter().any(|e| e.key_id == signing_before));
    assert!(entries.iter().any(|e| e.key_id != signing_before));
    let report = access
        .verify(&keys.trusted().expect("trusted"))
        .expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // A link issued before the invitation key rotation still works.
    let (invitations, _) = signaling::state::server_secrets(&data).expect("secrets");
    let inv = invitations
        .verify(&token, Timestamp::now())
        .expect("old link still valid");
    assert_eq!(inv.act.to_string(), before);

    // Without the retired public key, the old checkpoints no longer verify:
    // the rotation really changed the key.
    std::fs::remove_dir_all(keys.path().join("retired")).expect("remove");
    let out = cli.run(&["trace", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn every_cli_read_is_audited() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    cli.ok(&["trace", "show", &id]);
    cli.ok(&["trace", "show", &id, "--json"]);
    cli.ok(&["trace", "export", &id, "--format", "json"]);
    let data = DataDir::new(cli.data());
    let entries = AccessStore::open_reader(&data.db_path())
        .expect("reader")
        .entries()
        .expect("entries");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["read_trace", "read_trace", "export_trace"]);
    assert!(
        entries
            .iter()
            .all(|e| e.act.map(|a| a.to_string()) == Some(id.clone()))
    );
    assert!(entries.iter().all(|e| e.actor.starts_with("cli:")));
}

/// `professional add` for the fictitious doctor, with `extra` arguments.
fn add_doctor(cli: &Cli, login: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "professional",
        "add",
        "--login",
        login,
        "--name",
        DOCTOR,
        "--rpps",
        DOCTOR_RPPS,
    ];
    args.extend_from_slice(extra);
    cli.run(&args)
}

#[test]
fn professional_add_prints_the_second_factor_once_and_disable_works() {
    let cli = Cli::new();
    let out = add_doctor(&cli, "dr-fictif", &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = stdout(&out);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert!(
        v["totp_uri"]
            .as_str()
            .expect("uri")
            .starts_with("otpauth://totp/")
    );
    assert!(v["password"].as_str().expect("generated password").len() >= 12);
    // The same login twice is refused; a professional needs an RPPS.
    let again = add_doctor(&cli, "dr-fictif", &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let no_rpps = cli.run(&["professional", "add", "--login", "x", "--name", DOCTOR]);
    assert_eq!(no_rpps.status.code(), Some(2));
    let list = cli.ok(&["professional", "list"]);
    assert!(
        list.contains("dr-fictif") && list.contains("enabled"),
        "{list}"
    );
    cli.ok(&["professional", "disable", "dr-fictif"]);
    let list = cli.ok(&["professional", "list"]);
    assert!(list.contains("disabled"), "{list}");
    // Neither the name nor the RPPS is in the store file in clear.
    let mut bytes = std::fs::read(cli.db()).expect("db");
    bytes.extend(std::fs::read(cli.db().with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("dr-fictif"),
        "the login is in clear, for lookup"
    );
    assert!(!text.contains("Fictif Requerant"), "the name is sealed");
    assert!(!text.contains(DOCTOR_RPPS), "the RPPS is sealed");
}
