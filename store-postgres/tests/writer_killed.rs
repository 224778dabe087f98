//! A writer process killed with SIGKILL mid-append: every event it
//! acknowledged is in the database after it, and the trace verifies.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use session::ActId;
use session::keys::KeyDir;
use session::store::read_act;

#[test]
fn every_acknowledged_event_survives_a_sigkill() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let key_dir = KeyDir::new(dir.path().join("keys"));
    key_dir.create(false).unwrap();
    let act = ActId::random();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg_append_loop"))
        .args([
            &db.url,
            &key_dir.path().display().to_string(),
            &act.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    // Wait for a good many acknowledgements, then kill it mid-append.
    while acknowledged.len() < 150 {
        let line = lines.next().expect("the writer died early").unwrap();
        acknowledged.push(line.parse::<u64>().unwrap());
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    // Lines it wrote before dying were acknowledged too.
    for line in lines {
        acknowledged.push(line.unwrap().parse().unwrap());
    }
    let last = *acknowledged.last().unwrap();
    assert_eq!(acknowledged, (1..=last).collect::<Vec<_>>());

    let keys = Keys {
        signer: key_dir.signer().unwrap(),
        data: key_dir.data_key().unwrap(),
        trusted: key_dir.trusted().unwrap(),
    };
    let store = keys.writer(&db.url);
    let records = read_act(&store, act).expect("the chain verifies");
    assert!(records.len() as u64 >= last, "{} < {last}", records.len());
    let report = keys.verify(&store);
    assert!(report.is_intact(), "{:?}", report.problems);
    // And the store goes on after it.
    session::TraceStore::append(&store, act, Some(records.len() as u64), vec![filler(1)]).unwrap();
}
