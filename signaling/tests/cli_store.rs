//! `--store` (and `TELECONSULT_STORE`) on the commands that open the
//! trace: a path reaches the same trace as `--data`, the flag wins over
//! the variable, and values that name no store are refused clearly; and
//! `serve`'s `--node-id`, `--redis` and settings-file `store` refused when
//! bad, before anything starts.

mod common;

use common::witness::teleconsult_exits_with_env;
use common::*;

/// Exit status 2: the command could not run (see `cli`).
fn refused(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    stderr(out)
}

#[test]
fn a_store_path_or_the_variable_reaches_the_same_trace_as_data() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    let db = cli.db();
    let db = db.to_str().expect("utf-8 path");
    let sqlite = format!("sqlite:{db}");

    for store in [db, sqlite.as_str()] {
        let shown = cli.ok(&["--store", store, "trace", "show", &id]);
        assert!(
            shown.contains("requested") && shown.contains(DOCTOR),
            "{shown}"
        );
    }
    let out = cli.run_with_env(&["trace", "verify"], &[("TELECONSULT_STORE", db)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));
    let out = cli.run_with_env(&["act", "list", "--json"], &[("TELECONSULT_STORE", db)]);
    assert!(stdout(&out).contains(&id), "{}", stderr(&out));

    // The flag wins over the variable (which names no store).
    let out = cli.run_with_env(
        &["--store", db, "trace", "show", &id],
        &[("TELECONSULT_STORE", "/nonexistent/trace.db")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // And the variable is read: alone, it is the store opened.
    let out = cli.run_with_env(
        &["trace", "show", &id],
        &[("TELECONSULT_STORE", "/nonexistent/trace.db")],
    );
    let err = refused(&out);
    assert!(
        err.contains("/nonexistent/trace.db") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_store_elsewhere_keeps_the_keys_in_the_data_directory() {
    let cli = Cli::new();
    let elsewhere = cli.dir.path().join("elsewhere.db");
    let store = elsewhere.to_str().expect("utf-8 path");
    let v = cli.create_teleconsultation_with(PATIENT, &["--store", store]);
    let id = v["id"].as_str().expect("id").to_string();
    assert!(elsewhere.exists(), "the trace went to --store");
    assert!(!cli.db().exists(), "not to DATA/trace.db");
    assert!(cli.data().join("keys/signing.key").exists(), "keys in DATA");

    let shown = cli.ok(&["--store", store, "trace", "show", &id]);
    assert!(shown.contains(PATIENT), "{shown}");
    let verified = cli.ok(&["--store", store, "trace", "verify", &id]);
    assert!(verified.contains("intact"), "{verified}");
    // Without --store, the data directory has no trace.
    let err = refused(&cli.run(&["trace", "show", &id]));
    assert!(err.contains("trace.db"), "{err}");
}

#[test]
fn values_that_name_no_store_are_refused_clearly() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    let cases: [(&str, &[&str]); 6] = [
        (
            "mysql://x",
            &["unknown scheme \"mysql\"", "postgres://USER@HOST/DB"],
        ),
        ("postgres://", &["needs a host"]),
        ("postgresql://tc@db", &["needs a database name"]),
        ("", &["empty"]),
        (
            "postgres://tc:hunter2@127.0.0.1:1/trace",
            &["cannot open the trace store", "PostgreSQL at 127.0.0.1:1"],
        ),
        (
            "/nonexistent/dir/trace.db",
            &["/nonexistent/dir/trace.db", "does not exist"],
        ),
    ];
    for (store, says) in cases {
        for args in [
            vec!["--store", store, "trace", "show", &id],
            vec!["--store", store, "trace", "verify"],
            vec!["act", "list", "--store", store],
        ] {
            let err = refused(&cli.run(&args));
            for s in says {
                assert!(err.contains(s), "{args:?}: {err}");
            }
            assert!(
                !err.contains("hunter2"),
                "{args:?}: the password shown: {err}"
            );
        }
    }
    // A file that is not a trace store (its public key).
    let key = cli.data().join("keys/signing.pub");
    let err = refused(&cli.run(&["--store", key.to_str().unwrap(), "trace", "verify"]));
    assert!(err.contains("not a teleconsult trace store"), "{err}");
    // The same through the variable, which is named.
    let out = cli.run_with_env(&["trace", "verify"], &[("TELECONSULT_STORE", "mysql://x")]);
    let err = refused(&out);
    assert!(err.contains("TELECONSULT_STORE"), "{err}");
}

#[test]
fn serve_refuses_a_bad_node_id_redis_url_or_settings_store() {
    let cli = Cli::new();
    let serve = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--no-relay",
    ];
    fn with<'a>(serve: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = serve.to_vec();
        args.extend_from_slice(extra);
        args
    }
    let data = cli.data();
    for (args, says) in [
        (with(&serve, &["--node-id", "bad id"]), "node id \"bad id\""),
        (
            with(&serve, &["--node-id", &"n".repeat(65)]),
            "1 to 64 characters",
        ),
        (with(&serve, &["--redis", "http://cache:6379"]), "--redis"),
        (
            with(&serve, &["--redis", "redis://:hunter2@"]),
            "redis://HOST:PORT",
        ),
        (
            with(&serve, &["--store", "mysql://root:hunter2@db/x"]),
            "unknown scheme",
        ),
    ] {
        let out = teleconsult_exits_with_env(&data, &args, &[]);
        let err = refused(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("hunter2"), "{args:?}: {err}");
    }
    let out = teleconsult_exits_with_env(&data, &serve, &[("TELECONSULT_NODE_ID", "a/b")]);
    assert!(refused(&out).contains("node id \"a/b\""));

    // The settings file's keys, under the flags.
    let settings = cli.dir.path().join("teleconsult.toml");
    std::fs::write(&settings, "store = \"mysql://x\"\nnode_id = \"tc-1\"\n").unwrap();
    let config = settings.to_str().unwrap();
    let out = teleconsult_exits_with_env(&data, &with(&serve, &["--config", config]), &[]);
    let err = refused(&out);
    assert!(
        err.contains("settings file's `store`") && err.contains("mysql"),
        "{err}"
    );
    std::fs::write(&settings, "node_id = \"has space\"\n").unwrap();
    let out = teleconsult_exits_with_env(&data, &with(&serve, &["--config", config]), &[]);
    assert!(refused(&out).contains("node id \"has space\""));
    // Nothing was created by a refused start.
    assert!(!cli.db().exists());
}
