//! Issue 15's fork: an older copy of the data directory plus different new
//! events, written without the witness until its tree is larger than the
//! witness's, is refused at start as inconsistent, `trace verify
//! --witness` says so, and the witness refuses to cosign its checkpoint
//! (422) even with a consistency proof from the size it holds.

mod common;

use common::witness::*;
use common::{stderr, stdout};
use session::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_store_is_refused_and_the_witness_will_not_cosign() {
    let h = History::make().await;
    let url = h.witness.url.clone();
    let held = h.witness.held();
    put_back(&h.early, h.data.root());

    // Different new events, without the witness, past the witnessed size.
    let server = build_on(&h.data, Vec::new())
        .await
        .expect("without witnesses nothing is checked");
    let mut size = server.record_acts(1);
    while size <= held {
        size = server.record_acts(1);
    }
    server.stop().await;

    let refused = build_on(&h.data, vec![h.witness.config()]).await.err();
    match refused {
        Some(signaling::Error::ForkedStore { url: u, size: s }) => {
            assert_eq!((u.as_str(), s), (url.as_str(), held));
        }
        other => panic!("expected an inconsistent store, got {other:?}"),
    }

    let out = teleconsult_exits(h.data.root(), &["trace", "verify", "--witness", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "inconsistent: witness {url} holds size {held}, whose root differs from this store's at size {held}"
        )),
        "{}",
        stdout(&out)
    );

    // The forked log submits its newest checkpoint with a proof from the
    // size the witness holds: refused as inconsistent, nothing cosigned.
    let (store, _) = h.data.open_writer().expect("open the forked store");
    let checkpoint = store.checkpoint(Timestamp::now()).expect("a checkpoint");
    assert!(checkpoint.size > held);
    let proof = store
        .consistency_proof(held, checkpoint.size)
        .expect("a proof within its own tree");
    let answer = h
        .witness
        .client()
        .submit(held, &proof, &checkpoint.note)
        .await;
    assert!(
        matches!(answer, Err(witness::Error::Status { status: 422, .. })),
        "{answer:?}"
    );
    assert_eq!(h.witness.held(), held, "the witness did not move");
    store.close();
}
