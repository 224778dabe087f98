//! Appends to one act in a loop and prints each acknowledged seq, one a
//! line, flushed: the writer the crash test kills with SIGKILL.
//!
//! `pg_append_loop URL KEYS_DIR ACT`: keys are read from KEYS_DIR
//! (`session::keys::KeyDir`, created if missing).

use std::io::Write;

use session::keys::KeyDir;
use session::{ActId, TraceStore};
use store_postgres::{PgMode, PgStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, keys, act] = args.as_slice() else {
        return Err("usage: pg_append_loop URL KEYS_DIR ACT".into());
    };
    let keys = KeyDir::new(keys);
    let store = PgStore::open(
        url,
        PgMode::Write {
            signer: Box::new(keys.signer()?),
            data: keys.data_key()?,
        },
    )?;
    let act: ActId = act.parse()?;
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let event = session::Event {
            at: session::Timestamp::from_micros(1_795_000_000_000_000 + i as i64),
            body: session::ActEvent::PhaseEntered {
                phase: session::Phase::Request,
            },
        };
        let appended = store.append(act, None, vec![event])?;
        writeln!(out, "{}", appended.first_seq)?;
        out.flush()?;
    }
    Ok(())
}
