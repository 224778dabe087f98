//! `teleconsult act create`, `trace show` and `trace export`: the
//! operator's view of an act, and clear refusals of bad input.

mod common;

use common::*;

#[test]
fn create_prints_one_json_object_with_the_id() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let list = cli.ok(&["act", "list", "--json"]);
    assert!(list.contains(&id));
}

#[test]
fn teleexpertise_registers_both_professionals() {
    let cli = Cli::new();
    let mut args = CREATE_TELEEXPERTISE.to_vec();
    args.extend(["--question", "Avis sur un cliche fictif ?", "--json"]);
    let out = cli.ok(&args);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let roles: Vec<&str> = v["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["requester", "expert", "patient"]);
}

#[test]
fn show_and_export_give_identities_to_the_key_holder() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    let shown = cli.ok(&["trace", "show", &id]);
    assert!(shown.contains("requested"), "{shown}");
    assert!(shown.contains(DOCTOR) && shown.contains(PATIENT), "{shown}");

    let export = cli.ok(&["trace", "export", &id, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(v["format"], "teleconsult-act-export/1");
    assert_eq!(v["act"]["kind"], "teleconsultation");
    assert_eq!(v["act"]["phases"][0]["phase"], "request");
    assert!(v["act"]["phases"][0]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["act"]["participants"][0]["identity"]["name"], DOCTOR);
    assert_eq!(v["act"]["participants"][0]["identity"]["rpps"], DOCTOR_RPPS);
    assert_eq!(v["verification"]["problems"].as_array().unwrap().len(), 0);
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
}

#[test]
fn without_the_data_key_sealed_fields_stay_sealed() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    std::fs::rename(
        cli.data().join("keys/data.key"),
        cli.dir.path().join("data.key.elsewhere"),
    )
    .unwrap();
    let out = cli.run(&["trace", "show", &id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[sealed]"), "{text}");
    assert!(!text.contains(DOCTOR) && !text.contains(PATIENT), "{text}");
    assert!(stderr(&out).contains("no data key"));
    // An export holds the full record, so it needs the key.
    let out = cli.run(&["trace", "export", &id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs the data key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_gets_a_clear_sentence_and_writes_nothing() {
    let cli = Cli::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "act",
                "create",
                "--kind",
                "teleconsultation",
                "--professional",
                DOCTOR,
                "--rpps",
                "10000000008",
            ],
            "check digit",
        ),
        (
            &[
                "act",
                "create",
                "--kind",
                "teleconsultation",
                "--professional",
                DOCTOR,
                "--rpps",
                "123",
            ],
            "11 digits",
        ),
        (
            &[
                "act",
                "create",
                "--kind",
                "visio",
                "--professional",
                DOCTOR,
                "--rpps",
                DOCTOR_RPPS,
            ],
            "not an act kind",
        ),
        (
            &[
                "act",
                "create",
                "--kind",
                "teleexpertise",
                "--professional",
                DOCTOR,
                "--rpps",
                DOCTOR_RPPS,
            ],
            "needs an expert",
        ),
        (
            &[
                "act",
                "create",
                "--kind",
                "teleconsultation",
                "--professional",
                DOCTOR,
                "--rpps",
                DOCTOR_RPPS,
                "--patient",
                "Jeanne Nom",
            ],
            "patient alias",
        ),
    ];
    for (args, expected) in cases {
        let out = cli.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(!cli.db().exists(), "refused input must not create a store");

    cli.create_teleconsultation();
    for args in [
        &["trace", "show", "not-a-uuid"][..],
        &["trace", "show", "00000000-0000-4000-8000-000000000000"][..],
        &[
            "trace",
            "export",
            "00000000-0000-4000-8000-000000000000",
            "--format",
            "json",
        ][..],
    ] {
        let out = cli.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("not an act id") || err.contains("no act"),
            "{args:?}: {err}"
        );
    }
}
