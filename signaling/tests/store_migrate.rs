//! `teleconsult store migrate`: a SQLite store with several acts, a
//! document, professional accounts, checkpoints and an access log, copied
//! into an empty PostgreSQL database as stored. On the copy, `trace
//! verify` and `trace show` say what they said on SQLite (same acts,
//! chains, checkpoints, tree), the accounts are there, and new appends
//! follow the copied ones.

mod common;

use common::postgres::PgDb;
use common::*;
use serde_json::Value;

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n% compte rendu fictif pour la migration\n%%EOF\n".to_vec()
}

#[test]
fn a_migrated_store_verifies_and_reads_as_the_original() {
    let cli = Cli::new();
    let first = cli.create_teleconsultation();
    let second = cli.create_teleconsultation();
    let mut args = CREATE_TELEEXPERTISE.to_vec();
    args.extend([
        "--without-patient",
        "--question",
        "Avis sur un cliche fictif ?",
        "--attest-consent",
        "--json",
        "--public-url",
        "http://127.0.0.1:1",
    ]);
    let expertise: Value = serde_json::from_str(cli.ok(&args).trim()).expect("JSON");
    let expertise = expertise["id"].as_str().expect("id").to_string();
    let file = cli.dir.path().join("compte-rendu.pdf");
    std::fs::write(&file, pdf()).expect("write");
    cli.ok(&["act", "attach", &expertise, file.to_str().expect("utf-8")]);
    for (login, rpps) in [("doctor", DOCTOR_RPPS), ("expert", EXPERT_RPPS)] {
        cli.ok(&[
            "professional",
            "add",
            "--login",
            login,
            "--name",
            DOCTOR,
            "--rpps",
            rpps,
        ]);
    }
    cli.ok(&["professional", "disable", "expert"]);
    let acts = [&first, &second, &expertise];

    // What SQLite says (each `trace show` is recorded in the access log,
    // which is copied too).
    let shown_sqlite: Vec<String> = acts
        .iter()
        .map(|id| cli.ok(&["trace", "show", id, "--json"]))
        .collect();
    let verified_sqlite = cli.ok(&["trace", "verify", "--json"]);
    let report: Value = serde_json::from_str(&verified_sqlite).expect("JSON");
    assert!(
        report["checkpoints"].as_u64().expect("checkpoints") > 0,
        "{report}"
    );
    assert!(report["tree_size"].as_u64().expect("tree") > 0, "{report}");

    let db = PgDb::new();
    let out = cli.ok(&["store", "migrate", "--to", &db.url]);
    assert!(
        out.contains("3 acts") && out.contains("1 documents") && out.contains("2 accounts"),
        "{out}"
    );
    assert!(out.contains("the copy verifies"), "{out}");
    assert!(!out.contains(&db.url), "the password shown: {out}");

    // The same answers from PostgreSQL.
    let verified_pg = cli.ok(&["--store", &db.url, "trace", "verify", "--json"]);
    assert_eq!(verified_pg, verified_sqlite);
    let shown_pg: Vec<String> = acts
        .iter()
        .map(|id| cli.ok(&["--store", &db.url, "trace", "show", id, "--json"]))
        .collect();
    assert_eq!(shown_pg, shown_sqlite);
    let listed = cli.ok(&["--store", &db.url, "professional", "list"]);
    assert!(
        listed.contains("doctor") && listed.contains("expert"),
        "{listed}"
    );
    let rows = db.sql("SELECT count(*) FROM events");
    assert_ne!(rows, ["0"], "the events are in PostgreSQL");

    // New appends continue the copied trace, and it still verifies.
    let third = cli.create_teleconsultation_with(PATIENT, &["--store", &db.url]);
    assert!(third["id"].is_string());
    let after: Value =
        serde_json::from_str(&cli.ok(&["--store", &db.url, "trace", "verify", "--json"]))
            .expect("JSON");
    assert_eq!(after["acts"], 4, "{after}");
    assert!(
        after["tree_size"].as_u64() > report["tree_size"].as_u64(),
        "{after}"
    );
}
