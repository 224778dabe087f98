//! Which PostgreSQL server a store talks to, as errors name it: host,
//! port and database, never the password.

use std::fmt;

use crate::Error;

/// The server and database a store is on.
#[derive(Clone, Debug)]
pub struct Server {
    /// `host:port/database`, for messages.
    name: String,
}

impl Server {
    pub fn of(config: &tokio_postgres::Config) -> Server {
        use tokio_postgres::config::Host;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres");
        Server {
            name: format!("{host}:{port}/{db}"),
        }
    }

    pub fn query(&self, source: tokio_postgres::Error) -> Error {
        Error::Query {
            server: self.name.clone(),
            source,
        }
    }

    pub fn not_a_trace(&self, reason: &'static str) -> Error {
        Error::NotATrace {
            server: self.name.clone(),
            reason,
        }
    }

    /// A pool error: a connection that could not be made names the
    /// server's own refusal.
    pub fn pool(&self, e: deadpool_postgres::PoolError) -> Error {
        match e {
            deadpool_postgres::PoolError::Backend(source) => Error::Connect {
                server: self.name.clone(),
                source,
            },
            other => Error::Pool {
                server: self.name.clone(),
                reason: other.to_string(),
            },
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_name_has_host_port_and_database_never_the_password() {
        let config =
            tokio_postgres::Config::from_str("postgres://tc:s3cret@db.example:6543/trace").unwrap();
        let server = Server::of(&config);
        assert_eq!(server.to_string(), "db.example:6543/trace");
        let e = server.not_a_trace("why").to_string();
        assert!(
            e.contains("db.example:6543/trace") && !e.contains("s3cret"),
            "{e}"
        );
        // Defaults: port 5432, the user's database.
        let config = tokio_postgres::Config::from_str("postgres://tc@localhost").unwrap();
        assert_eq!(Server::of(&config).to_string(), "localhost:5432/tc");
    }
}
