//! `/healthz` names the trace store and Redis in its JSON body: 200 while
//! both answer, 503 naming Redis while it is down, 200 again once it is
//! back. Without `--redis` it names no Redis.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::cluster::{OwnRedis, eventually, free_port, node, node_name};
use common::postgres::PgDb;
use common::server::TestServer;
use serde_json::Value;

async fn healthz(server: &TestServer) -> (StatusCode, Value) {
    server
        .rest(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_redis_down_and_back() {
    let port = free_port();
    let mut own = OwnRedis::start(port).await;
    let db = PgDb::new();
    let a = node(&db, &own.url(), &node_name("a"), None).await;

    let (status, body) = healthz(&a).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["redis"], "ok");

    own.kill();
    let body = eventually("healthz to say Redis is down", || async {
        let (status, body) = healthz(&a).await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["redis"], "down");
    assert_eq!(body["store"], "ok", "the store still answers");
    eventually("the Redis gauge to drop", || async {
        (a.state.metrics.redis_up.get() == 0).then_some(())
    })
    .await;

    let _own = OwnRedis::start(port).await;
    let body = eventually("healthz to recover", || async {
        let (status, body) = healthz(&a).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    assert_eq!(body["redis"], "ok");
    eventually("the Redis gauge to rise", || async {
        (a.state.metrics.redis_up.get() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn without_redis_healthz_names_the_store_only() {
    let server = TestServer::start().await;
    let (status, body) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["store"], "ok");
    assert!(body.get("redis").is_none(), "{body}");
}
