//! `store migrate` refuses what it cannot copy safely: a destination that
//! already holds a trace (left as it was), a destination that is not
//! PostgreSQL, and a PostgreSQL server that does not answer (named,
//! without its password).

mod common;

use common::postgres::PgDb;
use common::*;

/// Exit status 2: the command could not run (see `cli`).
fn refused(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    stderr(out)
}

#[test]
fn a_non_empty_destination_or_an_unreachable_server_is_refused() {
    let cli = Cli::new();
    cli.create_teleconsultation();

    // A destination holding a trace already: refused, and left as it was.
    let db = PgDb::new();
    cli.ok(&["store", "migrate", "--to", &db.url]);
    let events = db.sql("SELECT count(*) FROM events");
    cli.create_teleconsultation();
    let err = refused(&cli.run(&["store", "migrate", "--to", &db.url]));
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(db.sql("SELECT count(*) FROM events"), events);

    // Not PostgreSQL.
    let err = refused(&cli.run(&["store", "migrate", "--to", "/tmp/elsewhere.db"]));
    assert!(err.contains("PostgreSQL"), "{err}");

    // No server on that port: named, without the password.
    let err = refused(&cli.run(&[
        "store",
        "migrate",
        "--to",
        "postgres://tc:hunter2@127.0.0.1:1/trace",
    ]));
    assert!(err.contains("PostgreSQL at 127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
