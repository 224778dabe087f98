//! The HTTP limits, through a real socket: one client address over its
//! budget is answered `429` with `Retry-After`, on the join-link routes
//! sooner than elsewhere, and the refusal carries the security headers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::server::TestServer;
use signaling::throttle::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends one HTTP/1.1 request on its own connection; returns the status and
/// the head of the answer.
async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text.to_ascii_lowercase())
}

#[tokio::test]
async fn a_flood_of_invitation_checks_from_one_address_is_held_back() {
    let server = TestServer::start_with(|c| {
        c.http = HttpLimits {
            join_per_second: 1,
            join_burst: 3,
            ..HttpLimits::default()
        };
    })
    .await;
    let act = server.create_act();
    let body = format!(r#"{{"token":"{}"}}"#, act.token("patient"));
    for _ in 0..3 {
        let (status, _) = call(server.addr, "POST", "/api/invitations/check", &body).await;
        assert_eq!(status, 200, "a real link is checked");
    }
    let (status, head) = call(server.addr, "POST", "/api/invitations/check", &body).await;
    assert_eq!(status, 429, "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("content-security-policy"), "{head}");
    assert!(head.contains("too many attempts"), "{head}");
    // The connection test shares that budget; other routes keep theirs.
    let (status, _) = call(server.addr, "POST", "/api/precall/start", &body).await;
    assert_eq!(status, 429);
    let (status, _) = call(server.addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    // Once the budget refills, the link works again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = call(server.addr, "POST", "/api/invitations/check", &body).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_route_and_the_websocket_upgrade_are_limited_per_address() {
    let server = TestServer::start_with(|c| {
        c.http = HttpLimits {
            per_client_per_second: 1,
            per_client_burst: 4,
            ..HttpLimits::default()
        };
    })
    .await;
    for _ in 0..4 {
        assert_eq!(call(server.addr, "GET", "/healthz", "").await.0, 200);
    }
    assert_eq!(call(server.addr, "GET", "/", "").await.0, 429);
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 429)
        }
        other => panic!("the upgrade should be refused with 429: {other:?}"),
    }
}
