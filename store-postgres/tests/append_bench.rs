//! The append benchmark (`examples/append_bench.rs`) runs: one short
//! round on both stores, every cell acknowledging appends and committing
//! them, and its summary naming every cell.

mod common;

#[allow(dead_code)]
#[path = "../examples/append_bench.rs"]
mod append_bench;

use std::time::Duration;

use append_bench::{Config, Engine};

#[test]
fn one_short_round_measures_every_cell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        url: common::server_url(),
        dir: dir.path().join("bench"),
        rounds: 1,
        window: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        writers: vec![1, 4],
    };
    let mut seen = 0;
    let report = append_bench::run(&config, |_| seen += 1).expect("the benchmark runs");
    assert_eq!(seen, 4);
    for writers in [1, 4] {
        for engine in [Engine::Sqlite, Engine::Postgres] {
            let cells = report.cells_of(engine, writers);
            assert_eq!(cells.len(), 1, "{engine:?} {writers}");
            let cell = cells[0];
            assert!(
                cell.appends > 0,
                "{engine:?} {writers}: no append acknowledged"
            );
            assert_eq!(cell.latencies_us.len() as u64, cell.appends);
            assert!(cell.commits > 0, "{engine:?} {writers}: no commit counted");
            // A commit answers one append or more; one more may straddle
            // the window's ends.
            assert!(cell.commits <= cell.appends + 1, "{cell:?}");
            assert!(cell.elapsed >= config.window);
            match engine {
                Engine::Postgres => assert!(cell.wal_bytes.is_some_and(|b| b > 0), "{cell:?}"),
                Engine::Sqlite => assert_eq!(cell.wal_bytes, None),
            }
        }
    }
    let rows = report.cells_of(Engine::Postgres, 1)[0]
        .row_bytes
        .expect("PostgreSQL's rows measured");
    // An incident or a chat digest: a few hundred bytes of JSON.
    assert!((100.0..2000.0).contains(&rows), "{rows} bytes a row");
    let table = report.table(&config.writers);
    for needle in [
        "| SQLite | 1 |",
        "| PostgreSQL | 1 |",
        "| SQLite | 4 |",
        "| PostgreSQL | 4 |",
        "| 4 | ",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    assert!(!config.dir.exists(), "the SQLite stores are removed");
}
