//! A writer process SIGKILLed in the middle of a stream of appends loses
//! no event it had acknowledged, and the trace still verifies.
//!
//! The test re-runs its own binary as the child (`TRACE_CRASH_CHILD` set):
//! the child appends from several threads and prints each acknowledged
//! `(act, seq)` to stdout after `append` returned. The parent kills it with
//! SIGKILL once enough acknowledgements arrived, then checks the store.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::store::verify_dir;
use session::act::{Act, ActKind};
use session::{ActId, DataDir, Phase, Timestamp, TraceStore};

const CHILD_ENV: &str = "TRACE_CRASH_CHILD";
const WRITERS: usize = 8;

/// The child: appends forever from `WRITERS` threads, one act each.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only does something when the crash test runs it.
    };
    let (store, _keys) = DataDir::new(dir).open_writer().expect("open");
    let store = std::sync::Arc::new(store);
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                let now = Timestamp::now();
                let (act, first) =
                    Act::request(ActId::random(), ActKind::Teleconsultation, true, now);
                store.append(act.id, Some(0), vec![first]).expect("append");
                let mut len = 1u64;
                loop {
                    // The store does not apply the act's rules, so any
                    // well-formed event will do for a stream of appends.
                    let e = session::Event {
                        at: Timestamp::now(),
                        body: session::ActEvent::PhaseEntered {
                            phase: Phase::Preparation,
                        },
                    };
                    let a = store.append(act.id, Some(len), vec![e]).expect("append");
                    len = a.head.seq;
                    let mut o = out.lock().expect("stdout");
                    writeln!(o, "{} {}", act.id, a.head.seq).expect("write");
                    o.flush().expect("flush");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_event() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("data");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &data_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: BTreeMap<ActId, u64> = BTreeMap::new();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = 0;
    while count < 2000 && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        // The test harness prints its own lines too; keep ours.
        let mut parts = line.split_whitespace();
        let (Some(id), Some(seq)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(id), Ok(seq)) = (id.parse::<ActId>(), seq.parse::<u64>()) else {
            continue;
        };
        let e = acked.entry(id).or_default();
        *e = (*e).max(seq);
        count += 1;
    }
    // Kill it mid-stream: it is still appending right now.
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
    // Read whatever acknowledgements were already in the pipe.
    for line in lines.map_while(Result::ok) {
        let mut parts = line.split_whitespace();
        if let (Some(Ok(id)), Some(Ok(seq))) = (
            parts.next().map(str::parse::<ActId>),
            parts.next().map(str::parse::<u64>),
        ) {
            let e = acked.entry(id).or_default();
            *e = (*e).max(seq);
        }
    }
    assert!(count >= 2000, "the child acknowledged only {count} appends");
    assert_eq!(acked.len(), WRITERS);

    let data = DataDir::new(&data_path);
    let store = data.open_reader().unwrap();
    let acts: HashSet<ActId> = store.act_ids().unwrap().into_iter().collect();
    for (act, seq) in &acked {
        assert!(acts.contains(act), "act {act} lost");
        let records = store.records(*act).unwrap();
        let stored = records.last().map(|r| r.seq).unwrap_or(0);
        assert!(
            stored >= *seq,
            "act {act}: acknowledged #{seq}, stored only #{stored}"
        );
    }
    drop(store);
    let report = verify_dir(&data);
    assert!(report.is_intact(), "{:?}", report.problems);
    // And the store still takes appends after the crash.
    let (store, _) = data.open_writer().unwrap();
    let (act, first) = Act::request(
        ActId::random(),
        ActKind::Teleexpertise,
        false,
        Timestamp::now(),
    );
    store.append(act.id, Some(0), vec![first]).unwrap();
}
