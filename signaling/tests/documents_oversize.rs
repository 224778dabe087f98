//! Documents over 50 MiB are refused with 413 and a clear sentence: by
//! their `Content-Length`, before the server reads a byte of the body
//! (over a real socket, the body is never sent), and, without one, as the
//! body streams in past the route's limit. Nothing is stored.

mod common;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use common::expertise::*;
use session::document::MAX_DOCUMENT_BYTES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_fifty_mebibytes_is_refused_declared_or_streamed() {
    let e = Expertise::start().await;
    let id = e.requested("routine").await;

    // Declared too large: answered at once, the body never sent.
    let head = format!(
        "POST /api/acts/{id}/documents?name=scanner.pdf HTTP/1.1\r\nHost: test\r\nCookie: {}\r\nContent-Type: application/pdf\r\nContent-Length: {}\r\nConnection: close",
        e.requester,
        MAX_DOCUMENT_BYTES + 1
    );
    let answer = raw_exchange(e.s.server.addr, &head, b"", false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"upload_too_large\""), "{answer}");
    assert!(answer.contains("larger than 50 MiB"), "{answer}");

    // Streamed without a length, past the limit: 1 MiB chunks of a PDF.
    let chunk = Bytes::from(vec![b' '; 1024 * 1024]);
    let first = Bytes::from(pdf("big"));
    let chunks = std::iter::once(first)
        .chain(std::iter::repeat_n(chunk, 51))
        .map(Ok::<_, std::io::Error>);
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let a = e
        .send(
            Method::POST,
            &format!("/api/acts/{id}/documents?name=grand.pdf"),
            Some(&e.requester),
            None,
            body,
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", a.json());
    assert_eq!(a.code(), "upload_too_large");

    assert!(
        e.s.server
            .state
            .store
            .documents(id)
            .expect("documents")
            .is_empty()
    );
    assert!(!e.kinds(id).contains(&"attachment_added"));
    let refused =
        e.s.entries()
            .iter()
            .filter(|x| x.action == "attach_document" && x.outcome == "refused:upload_too_large")
            .count();
    assert_eq!(refused, 2);
}
