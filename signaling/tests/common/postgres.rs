//! A fresh, empty PostgreSQL database per test on the server
//! `TELECONSULT_TEST_PG` names (started by `scripts/services.sh up`),
//! dropped at the end of the test, and raw statements on it.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The test server's URL, or a failure telling how to start it.
pub fn server_url() -> String {
    std::env::var("TELECONSULT_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "TELECONSULT_TEST_PG is not set: run `scripts/services.sh up` and \
             `set -a; . target/services.env; set +a`, then run the tests again"
        )
    })
}

/// `url` with its database replaced by `db`.
pub fn url_for(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{db}")
}

/// Runs `sql` (several statements) on `url`, returning each row's first
/// column as text for a query.
pub fn sql(url: &str, sql: &str) -> Vec<String> {
    try_sql(url, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn try_sql(url: &str, sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    // On a thread of its own: callable from inside a test's runtime too.
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || try_sql_here(&url, &sql))
        .join()
        .expect("the SQL thread")
}

fn try_sql_here(url: &str, sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = tokio_postgres::Config::from_str(url)?;
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut out = Vec::new();
        for m in client.simple_query(sql).await? {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                out.push(row.get(0).unwrap_or("").to_string());
            }
        }
        Ok(out)
    })
}

/// A fresh database, dropped (its connections ended) when dropped.
pub struct PgDb {
    pub name: String,
    /// Its URL, password included.
    pub url: String,
}

impl PgDb {
    pub fn new() -> PgDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "tc_sig_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            session::Timestamp::now().as_micros() % 1_000_000
        );
        sql(&server_url(), &format!("CREATE DATABASE {name}"));
        PgDb {
            url: url_for(&server_url(), &name),
            name,
        }
    }

    /// The first column of the rows `query` returns on this database.
    pub fn sql(&self, query: &str) -> Vec<String> {
        sql(&self.url, query)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // A store still closing may hold a connection a moment: retry.
        let deadline = Instant::now() + Duration::from_secs(20);
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        while try_sql(&server_url(), &drop).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
