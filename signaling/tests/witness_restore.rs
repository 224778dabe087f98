//! Issue 15's rollback: an older copy of the whole data directory (store
//! and keys), put back after more acts were witnessed, is refused at start
//! with an error naming the witness and both sizes (by `server::build` and
//! by `teleconsult serve`, which exits non-zero), and `teleconsult trace
//! verify --witness` reports it.

mod common;

use common::witness::*;
use common::{stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_older_copy_is_refused_and_reported() {
    let h = History::make().await;
    let url = h.witness.url.clone();
    let held = h.witness.held();

    // Before the restore, the live store is what the witness holds.
    let out = teleconsult_exits(h.data.root(), &["trace", "verify", "--witness", &url]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "witnessed: witness {url} holds size {held}, this store has {}",
            h.late_size
        )),
        "{}",
        stdout(&out)
    );

    put_back(&h.early, h.data.root());

    // The server refuses to start, naming the witness and both sizes.
    let refused = build_on(&h.data, vec![h.witness.config()]).await.err();
    match refused {
        Some(signaling::Error::Rollback {
            url: u,
            held: n,
            local,
        }) => {
            assert_eq!((u.as_str(), n, local), (url.as_str(), held, h.early_size));
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    let rollback = format!(
        "rollback: witness {url} holds size {held}, this store has {}",
        h.early_size
    );
    let out = teleconsult_exits(
        h.data.root(),
        &[
            "serve",
            "--insecure-http",
            "--no-relay",
            "--listen",
            "127.0.0.1:0",
            "--witness",
            &url,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&rollback), "{}", stderr(&out));

    // trace verify: the store itself verifies, the witness says otherwise.
    let out = teleconsult_exits(
        h.data.root(),
        &[
            "trace",
            "verify",
            "--witness",
            &url,
            "--witness-key",
            &h.witness.vkey,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("trace intact"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&rollback), "{}", stdout(&out));

    // The witness was not moved by any of it.
    assert_eq!(h.witness.held(), held);
}
