//! Several nodes on loopback sharing one trace on PostgreSQL (a fresh
//! database on the server `TELECONSULT_TEST_PG` names) and one Redis (the
//! test script's, `TELECONSULT_TEST_REDIS`, or a `redis-server` of the
//! test's own, to kill and restart), as `teleconsult serve --store
//! postgres://… --redis redis://… --node-id NAME` runs them.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ownership::{Redis, RedisConfig};
use session::DataDir;
use signaling::node::{NodeId, RedisUrl};
use signaling::store::StoreSetting;

use super::postgres::PgDb;
use super::server::{TIMEOUT, TestServer};

/// The Redis the test script started.
pub fn test_redis() -> String {
    std::env::var("TELECONSULT_TEST_REDIS").unwrap_or_else(|_| {
        panic!(
            "TELECONSULT_TEST_REDIS is not set: run `scripts/services.sh up` and \
             `set -a; . target/services.env; set +a`"
        )
    })
}

/// A node id no other test (or run) uses: the node list is shared.
pub fn node_name(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("t-{tag}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// A node: a test server with `--store` on `db`, `--redis redis`,
/// `--node-id node`, on the data directory `data` when given (another
/// node's: the same keys), else a fresh one.
pub async fn node(db: &PgDb, redis: &str, node: &str, data: Option<&DataDir>) -> TestServer {
    let configure = |s: &mut signaling::server::Settings| {
        s.store = StoreSetting::parse(&db.url).expect("a postgres:// store setting");
        s.redis = Some(RedisUrl::parse(redis).expect("a redis:// URL"));
        s.node_id = NodeId::new(node).expect("a node id");
    };
    let server = match data {
        Some(data) => TestServer::start_on(data.clone(), configure).await,
        None => TestServer::start_with(configure).await,
    };
    wait_warm(redis).await;
    server
}

/// Waits until Redis at `url` takes claims: its restart guard (the
/// production key prefix's `since`, set by the first heartbeat or claim)
/// holds every claim for one lease TTL (5 s) after a fresh start, during
/// which joins are told to retry. Tests that join at once wait it out.
pub async fn wait_warm(url: &str) {
    let client = redis::Client::open(url).expect("a Redis URL");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the Redis answers");
    wait_for(
        "Redis's restart guard to pass",
        TIMEOUT + Duration::from_secs(6),
        || {
            let mut conn = conn.clone();
            async move {
                let since: Option<String> = redis::cmd("GET")
                    .arg("teleconsult:since")
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                let (secs, micros): (String, String) =
                    redis::cmd("TIME").query_async(&mut conn).await.ok()?;
                let now_us = secs.parse::<u64>().ok()? * 1_000_000 + micros.parse::<u64>().ok()?;
                let since_us = since?.parse::<u64>().ok()?;
                // The guard's TTL, with a margin for the claim's own clock read.
                (now_us.saturating_sub(since_us) > 5_200_000).then_some(())
            }
        },
    )
    .await;
}

/// A driver on `url` with the production key prefix, to read what the
/// nodes wrote.
pub async fn redis(url: &str) -> Redis {
    Redis::connect(&RedisConfig::new(url))
        .await
        .expect("the Redis answers")
}

/// The raw value of `key` (GET), through a plain client.
pub async fn get(url: &str, key: &str) -> Option<String> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the Redis answers");
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("GET answers")
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind loopback")
        .local_addr()
        .expect("local address")
        .port()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after
/// `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`wait_for`] bounded by the fixtures' [`TIMEOUT`] plus a lease TTL.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for(what, TIMEOUT + Duration::from_secs(5), check).await
}

/// A `redis-server` of the test's own, without persistence, on `port`.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let own = OwnRedis {
            port,
            child: Some(child),
        };
        let url = own.url();
        wait_for("the test's own Redis to answer", TIMEOUT, || {
            let url = url.clone();
            async move {
                let client = redis::Client::open(url.as_str()).ok()?;
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
            }
        })
        .await;
        own
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
