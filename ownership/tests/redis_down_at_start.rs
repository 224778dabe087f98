//! A Redis that does not answer at start is a clear error naming Redis and
//! its host:port, returned promptly.

mod common;

use std::time::{Duration, Instant};

use ownership::{Error, Redis};

#[tokio::test]
async fn connecting_to_a_redis_that_is_down_names_it() {
    let port = common::free_port();
    let started = Instant::now();
    let err = Redis::connect(&common::config(&format!("redis://127.0.0.1:{port}"), "x:"))
        .await
        .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("Redis at 127.0.0.1:{port} does not answer")),
        "{message}"
    );
    let bad = Redis::connect(&common::config("http://127.0.0.1:1", "x:")).await;
    assert!(matches!(bad, Err(Error::Url(_))), "{bad:?}");
}
