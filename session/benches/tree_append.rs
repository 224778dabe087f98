//! Durable appends per second with the Merkle tree (issue 15) against
//! without it, measured in one run, interleaved round by round: 1 writer
//! and 64 concurrent writers, each appending one event at a time to its
//! own act and waiting for the acknowledgement. "Off" is a writer opened
//! with `SqliteStore::open_without_tree`, whose commits leave the tree out;
//! everything else (sealing, chaining, the signed per-commit checkpoint,
//! fsync) is the same.
//!
//! Run: `cargo bench -p session --bench tree_append`. `BENCH_DIR` puts the
//! files on another disk, `BENCH_SECS` sets each phase's length (default
//! 2) and `BENCH_ROUNDS` the number of rounds (default 3).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use session::act::ActKind;
use session::participant::{Identity, Participant, Role};
use session::store::StoreMode;
use session::{
    Act, ActEvent, ActId, DataDir, Event, ParticipantId, Pii, SqliteStore, Timestamp, TraceStore,
};

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let phase = Duration::from_secs_f64(secs);
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "target/bench-tree-append".into());
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("bench dir");
    let base = Path::new(&base);

    let mut results: [[Vec<f64>; 2]; 2] = Default::default();
    for round in 0..rounds {
        for (w, writers) in [1usize, 64].into_iter().enumerate() {
            // Alternate which side goes first, so neither always meets a
            // warmer disk.
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for tree in order {
                let dir = base.join(format!("r{round}-w{writers}-{}", on_off(tree)));
                let rate = durable_appends(&dir, writers, phase, tree);
                results[w][usize::from(tree)].push(rate);
            }
            let (off, on) = (
                *results[w][0].last().unwrap(),
                *results[w][1].last().unwrap(),
            );
            println!(
                "round {}: {writers:>2} writer(s): tree off {off:.0} events/s, tree on {on:.0} events/s ({:+.1} %)",
                round + 1,
                (on / off - 1.0) * 100.0
            );
        }
    }
    for (w, writers) in [1usize, 64].into_iter().enumerate() {
        let off = median(&mut results[w][0].clone());
        let on = median(&mut results[w][1].clone());
        println!(
            "median, {writers:>2} writer(s): tree off {off:.0} events/s, tree on {on:.0} events/s ({:+.1} %)",
            (on / off - 1.0) * 100.0
        );
    }
    let _ = std::fs::remove_dir_all(base);
}

fn on_off(tree: bool) -> &'static str {
    if tree { "on" } else { "off" }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A realistic event with a sealed identity (so encryption is measured).
fn event(i: u32) -> Event {
    Event {
        at: Timestamp::now(),
        body: ActEvent::ParticipantRegistered(Participant {
            id: ParticipantId(i),
            role: Role::Companion,
            identity: Identity::Companion {
                name: Pii::new(format!("Accompagnant fictif {i}")),
            },
        }),
    }
}

/// Opens a fresh store with the tree on or off.
fn open(dir: &Path, tree: bool) -> SqliteStore {
    let data = DataDir::new(dir);
    let (store, keys) = data.open_writer().expect("store");
    if tree {
        return store;
    }
    store.close();
    drop(store);
    SqliteStore::open_without_tree(
        &data.db_path(),
        StoreMode::Write {
            signer: Box::new(keys.signer),
            data: keys.data,
        },
    )
    .expect("store without tree")
}

/// `writers` threads appending one event at a time; events/s.
fn durable_appends(dir: &Path, writers: usize, phase: Duration, tree: bool) -> f64 {
    let store = Arc::new(open(dir, tree));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let (act, first) = Act::request(
                    ActId::random(),
                    ActKind::Teleconsultation,
                    true,
                    Timestamp::now(),
                );
                store.append(act.id, Some(0), vec![first]).expect("append");
                let mut len = 1;
                while !stop.load(Ordering::Relaxed) {
                    let a = store
                        .append(act.id, Some(len), vec![event(len as u32)])
                        .expect("append");
                    len = a.head.seq;
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Let every writer open its act before measuring.
    std::thread::sleep(Duration::from_millis(200));
    let c0 = count.load(Ordering::Relaxed);
    let start = Instant::now();
    std::thread::sleep(phase);
    let c1 = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("writer");
    }
    if tree {
        // The tree holds every event the writers committed.
        let size = store.tree_size().expect("tree size");
        assert!(size >= c1, "tree has {size} leaves for {c1}+ events");
    }
    (c1 - c0) as f64 / elapsed
}
