//! Durable appends per second: one writer, then 64 concurrent writers
//! sharing fsyncs through group commit, beside the raw fdatasync rate of
//! the same disk, all measured in one run. Writers are measured twice: as
//! OS threads calling the blocking `append`, and as tokio tasks calling
//! `append_then`, the way the async server appends.
//!
//! Run: `cargo bench -p session --bench append`. `BENCH_DIR` puts the files
//! on another disk, `BENCH_SECS` sets each phase's length (default 2) and
//! `BENCH_ROUNDS` the number of rounds (default 3).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use session::act::ActKind;
use session::participant::{Identity, Participant, Role};
use session::{Act, ActEvent, ActId, DataDir, Event, ParticipantId, Pii, Timestamp, TraceStore};

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
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "target/bench-append".into());
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("bench dir");
    let base = Path::new(&base);

    // The three measures are interleaved round by round, so that a slow
    // moment of the disk or the machine hits all of them alike.
    let (mut fsync, mut one, mut many, mut ratio) = (vec![], vec![], vec![], vec![]);
    let (mut one_async, mut many_async, mut ratio_async) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let f = raw_fdatasync(base, phase);
        let o = durable_appends(&base.join(format!("one-{round}")), 1, phase);
        let m = durable_appends(&base.join(format!("many-{round}")), 64, phase);
        println!(
            "round {}: fdatasync {f:.0}/s, 1 writer {:.0} events/s, 64 writers {:.0} events/s (mean batch {:.1}), ratio {:.1}x",
            round + 1,
            o.0,
            m.0,
            m.1,
            m.0 / o.0
        );
        let oa = async_appends(&base.join(format!("one-async-{round}")), 1, phase);
        let ma = async_appends(&base.join(format!("many-async-{round}")), 64, phase);
        println!(
            "round {}: async tasks: 1 writer {:.0} events/s, 64 writers {:.0} events/s (mean batch {:.1}), ratio {:.1}x",
            round + 1,
            oa.0,
            ma.0,
            ma.1,
            ma.0 / oa.0
        );
        fsync.push(f);
        one.push(o.0);
        many.push(m.0);
        ratio.push(m.0 / o.0);
        one_async.push(oa.0);
        many_async.push(ma.0);
        ratio_async.push(ma.0 / oa.0);
    }
    println!(
        "median raw fdatasync (4 KiB write + fdatasync): {:.0}/s",
        median(&mut fsync)
    );
    println!(
        "median durable appends, 1 writer:   {:.0} events/s",
        median(&mut one)
    );
    println!(
        "median durable appends, 64 writers: {:.0} events/s",
        median(&mut many)
    );
    println!(
        "median ratio 64 writers / 1 writer (per round): {:.1}x",
        median(&mut ratio)
    );
    println!(
        "median async tasks, 1 writer:   {:.0} events/s",
        median(&mut one_async)
    );
    println!(
        "median async tasks, 64 writers: {:.0} events/s",
        median(&mut many_async)
    );
    println!(
        "median async ratio 64 / 1 (per round): {:.1}x",
        median(&mut ratio_async)
    );
    let _ = std::fs::remove_dir_all(base);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes 4 KiB and calls fdatasync, in a loop.
fn raw_fdatasync(dir: &Path, phase: Duration) -> f64 {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(dir.join("fsync.bin"))
        .expect("open");
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < phase {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
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

/// `writers` threads, each appending one event at a time to its own act and
/// waiting for the acknowledgement. Returns (events/s, mean events per
/// checkpoint, i.e. per commit).
fn durable_appends(dir: &Path, writers: usize, phase: Duration) -> (f64, f64) {
    let data = DataDir::new(dir);
    let (store, _keys) = data.open_writer().expect("store");
    let store = Arc::new(store);
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
    let k0 = store.checkpoints().expect("checkpoints").len();
    let start = Instant::now();
    std::thread::sleep(phase);
    let c1 = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let k1 = store.checkpoints().expect("checkpoints").len();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("writer");
    }
    let events = (c1 - c0) as f64;
    (events / elapsed, events / (k1 - k0).max(1) as f64)
}

/// The same with `writers` tokio tasks on a 2-thread runtime, as the server
/// will append: each submits with `append_then` and awaits a oneshot.
fn async_appends(dir: &Path, writers: usize, phase: Duration) -> (f64, f64) {
    let data = DataDir::new(dir);
    let (store, _keys) = data.open_writer().expect("store");
    let store = Arc::new(store);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            rt.spawn(async move {
                let (act, first) = Act::request(
                    ActId::random(),
                    ActKind::Teleconsultation,
                    true,
                    Timestamp::now(),
                );
                let mut len = 0;
                let mut next = vec![first];
                while !stop.load(Ordering::Relaxed) {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    store.append_then(
                        act.id,
                        Some(len),
                        std::mem::take(&mut next),
                        Box::new(move |r| {
                            let _ = tx.send(r);
                        }),
                    );
                    let a = rx.await.expect("store alive").expect("append");
                    len = a.head.seq;
                    count.fetch_add(1, Ordering::Relaxed);
                    next = vec![event(len as u32)];
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let c0 = count.load(Ordering::Relaxed);
    let k0 = store.checkpoints().expect("checkpoints").len();
    let start = Instant::now();
    std::thread::sleep(phase);
    let c1 = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let k1 = store.checkpoints().expect("checkpoints").len();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            t.await.expect("writer task");
        }
    });
    let events = (c1 - c0) as f64;
    (events / elapsed, events / (k1 - k0).max(1) as f64)
}
