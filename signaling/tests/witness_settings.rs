//! Bad witness settings are refused before anything starts, naming the
//! entry: a URL that is not http(s), a key that is not a witness's
//! verifier key (settings file), a bad log origin; `trace verify` refuses a
//! bad `--witness` or `--witness-key` the same way.

mod common;

use common::witness::teleconsult_exits;
use common::{Cli, stderr};

#[test]
fn bad_witness_settings_name_the_entry() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    // What the witness is configured with: the log's verifier key.
    let (store, _) = session::DataDir::new(cli.data()).open_writer().unwrap();
    let vkey = store.log_signer().unwrap().verifier_key();
    store.close();
    drop(store);
    assert_eq!(cli.ok(&["trace", "log-key"]).trim(), vkey);

    let serve = [
        "serve",
        "--insecure-http",
        "--no-relay",
        "--listen",
        "127.0.0.1:0",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = serve.iter().chain(extra).copied().collect();
        teleconsult_exits(&cli.data(), &args)
    };

    let out = run(&["--witness", "ftp://witness.example"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("witness \"ftp://witness.example\": not an http:// or https:// URL"),
        "{}",
        stderr(&out)
    );

    let config = cli.dir.path().join("teleconsult.toml");
    std::fs::write(
        &config,
        "[[witness]]\nurl = \"http://127.0.0.1:7380\"\n\n[[witness]]\nurl = \"http://127.0.0.1:7381\"\nkey = \"witness.example+00000000+BAAA\"\n",
    )
    .unwrap();
    let out = run(&["--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("teleconsult.toml")
            && e.contains("witness entry 2: witness http://127.0.0.1:7381: invalid verifier key"),
        "{e}"
    );

    let out = run(&["--log-origin", "two words"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("log origin \"two words\""),
        "{}",
        stderr(&out)
    );

    let out = teleconsult_exits(&cli.data(), &["trace", "verify", "--witness", "not a url"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an http:// or https:// URL"),
        "{}",
        stderr(&out)
    );
    let out = teleconsult_exits(
        &cli.data(),
        &[
            "trace",
            "verify",
            "--witness",
            "http://127.0.0.1:9",
            "--witness-key",
            "k+1+2",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--witness-key \"k+1+2\""),
        "{}",
        stderr(&out)
    );
}
