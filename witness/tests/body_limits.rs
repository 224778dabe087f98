//! HTTP limits and bad input: bodies over 64 KiB get 413, more than 63 proof
//! lines 400, garbage 400, a bad origin hash or an unwitnessed origin 404,
//! the wrong method 405; none change the state.

mod common;

use base64::Engine;
use common::{MemLog, Server, post_raw};
use witness::server::MAX_BODY;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = MemLog::standard();
    let server = Server::start(dir.path(), &[log.config()]).await;
    log.grow(2, "e");

    let mut huge = log.request(0);
    huge.resize(MAX_BODY + 1, b'x');
    assert_eq!(post_raw(&server.url, huge).await.0, 413);

    let line = format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    let body = format!("old 1\n{}\n", line.repeat(64));
    let mut body = body.into_bytes();
    body.extend_from_slice(&log.checkpoint());
    let (status, _, answer) = post_raw(&server.url, body).await;
    assert_eq!(status, 400);
    assert!(answer.starts_with(b"malformed"));

    assert_eq!(
        post_raw(&server.url, b"\x00\xff garbage".to_vec()).await.0,
        400
    );
    assert_eq!(post_raw(&server.url, Vec::new()).await.0, 400);

    let http = reqwest::Client::new();
    for path in [
        "/nothex/checkpoint",
        "/../checkpoint",
        &format!("/{}/checkpoint", "A".repeat(64)),
    ] {
        let status = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    let unwitnessed = witness::store::origin_hash("other.example/log");
    let status = http
        .get(format!("{}/{unwitnessed}/checkpoint", server.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    let status = http
        .get(format!("{}/add-checkpoint", server.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 405);

    assert_eq!(server.state.held_size(&log.origin), 0);
    assert_eq!(post_raw(&server.url, log.request(0)).await.0, 200);
    server.stop().await;
}
