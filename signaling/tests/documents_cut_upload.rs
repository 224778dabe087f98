//! An upload cut in the middle (a client sending half of the
//! `Content-Length` it declared, then closing) stores nothing: no
//! document, no `attachment_added` event; the refusal is in the access log
//! (`refused:upload_incomplete`), and the same file sent whole afterwards
//! is taken.

mod common;

use axum::http::StatusCode;
use common::expertise::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_body_then_closing_stores_nothing() {
    let e = Expertise::start().await;
    let id = e.requested("routine").await;
    let mut file = pdf("coupe");
    file.resize(256 * 1024, b' ');
    let head = format!(
        "POST /api/acts/{id}/documents?name=coupe.pdf HTTP/1.1\r\nHost: test\r\nCookie: {}\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\nConnection: close",
        e.requester,
        file.len()
    );
    let answer = raw_exchange(e.s.server.addr, &head, &file[..file.len() / 2], true).await;
    // Whether the answer reaches a client that went away is up to the
    // network; if it does, it says why.
    if !answer.is_empty() {
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("upload_incomplete"), "{answer}");
    }
    // The server is done with it once the refusal is in the access log.
    let access = e.s.access.clone();
    wait_until("the cut upload is refused", || {
        access
            .entries()
            .expect("access log")
            .iter()
            .any(|x| x.action == "attach_document" && x.outcome == "refused:upload_incomplete")
    })
    .await;
    assert!(
        e.s.server
            .state
            .store
            .documents(id)
            .expect("documents")
            .is_empty()
    );
    assert!(!e.kinds(id).contains(&"attachment_added"));
    let d = e.get(&format!("/api/acts/{id}"), &e.requester).await.json();
    assert_eq!(d["documents"], serde_json::json!([]));

    // Sent whole, it is taken.
    let a = e.upload(id, &e.requester, "coupe.pdf", file).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
    e.s.server.assert_trace_intact();
}
