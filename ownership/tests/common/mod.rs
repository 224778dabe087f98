//! Shared by the Redis scenarios: the test Redis's URL, a key prefix of
//! each test's own, a Redis server of the test's own (to stop and restart),
//! and waiting for a state.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ownership::{Redis, RedisConfig};

/// The Redis the test script started (`TELECONSULT_TEST_REDIS`).
pub fn redis_url() -> String {
    std::env::var("TELECONSULT_TEST_REDIS").unwrap_or_else(|_| {
        panic!(
            "TELECONSULT_TEST_REDIS is not set: run `scripts/services.sh up` and \
             `source target/services.env` (or export TELECONSULT_TEST_REDIS=redis://HOST:PORT)"
        )
    })
}

/// A key prefix no other test (or run) uses.
pub fn prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:{test}:{}:{nanos}:", std::process::id())
}

pub fn config(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        command_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(200),
    }
}

/// A driver on the test Redis under `prefix`.
pub async fn connect(prefix: &str) -> Redis {
    Redis::connect(&config(&redis_url(), prefix))
        .await
        .expect("the test Redis answers")
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 10 ms until it returns `Some`, or panics after `within`.
pub async fn wait_until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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
        wait_until(
            "the test's own Redis to answer",
            Duration::from_secs(10),
            || {
                let url = url.clone();
                async move {
                    let client = redis::Client::open(url.as_str()).ok()?;
                    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                    redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .ok()
                }
            },
        )
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
