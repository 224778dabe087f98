//! Bad exchange frames: ids and digests that are not hex or not 16 and 32
//! bytes, an unknown share state or media type, a negative size, a field
//! too many, are `malformed`; a file name over 255 bytes is `refused` by the
//! act. Each gets its error frame and nothing is recorded; the session goes
//! on.

mod common;

use common::exchange::*;
use common::server::*;
use common::time;
use serde_json::json;
use signaling::protocol::ErrorCode;

#[tokio::test(start_paused = true)]
async fn bad_exchange_frames_get_an_error_and_record_nothing() {
    let _held = time::hold();
    let server = TestServer::start().await;
    let (act, mut pro, _patient) = server.in_performance().await;
    let before = server.events(act.id()).len();

    let malformed = [
        json!({"type": "chat_digest", "message": "zz".repeat(16), "sender": 1, "digest": digest(1)}),
        json!({"type": "chat_digest", "message": id(1)[..30], "sender": 1, "digest": digest(1)}),
        json!({"type": "chat_digest", "message": id(1), "sender": 1, "digest": digest(1)[..62]}),
        json!({"type": "chat_digest", "message": id(1), "sender": -1, "digest": digest(1)}),
        json!({"type": "chat_digest", "message": id(1), "digest": digest(1)}),
        json!({"type": "share", "share": id(1), "state": "offered", "digest": "g".repeat(64),
               "size": 1, "media_type": null, "name": "a.txt"}),
        json!({"type": "share", "share": id(1), "state": "offered", "digest": digest(1),
               "size": -1, "media_type": null, "name": "a.txt"}),
        json!({"type": "share", "share": id(1), "state": "offered", "digest": digest(1),
               "size": 1, "media_type": "text/html", "name": "a.html"}),
        json!({"type": "share", "share": id(1), "state": "delivered"}),
        json!({"type": "share", "share": id(1), "state": "cancelled", "reason": "x"}),
        json!({"type": "share", "share": "", "state": "cancelled"}),
        json!({"type": "screen_share", "active": 1}),
        json!({"type": "screen_share"}),
    ];
    for frame in malformed {
        pro.send(frame.clone()).await;
        let why = pro.expect_error(ErrorCode::Malformed).await;
        assert!(
            why.contains("not a message of this protocol"),
            "{frame}: {why}"
        );
    }
    pro.send(offered(1, 1, 10, &"n".repeat(256))).await;
    let why = pro.expect_error(ErrorCode::Refused).await;
    assert!(why.contains("255"), "says the limit: {why}");
    assert!(!why.contains("nnnn"), "never echoes the name: {why}");
    pro.send(offered(1, 1, 10, "\u{7}bell.png")).await;
    pro.expect_error(ErrorCode::Refused).await;
    pro.sync().await;
    assert_eq!(server.events(act.id()).len(), before, "nothing recorded");

    // The session goes on: a good offer is recorded.
    pro.send(offered(1, 1, 10, "ok.png")).await;
    expect_recorded(&mut pro, 1).await;
    server.assert_trace_intact();
}
