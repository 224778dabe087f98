//! Where the trace lives, as `--store` (environment `TELECONSULT_STORE`,
//! settings key `store`) says, and the one way the server and every
//! command open it.
//!
//! - the embedded default: an SQLite file, the data directory's `trace.db`
//!   unless a path (`PATH`, `sqlite:PATH`) names another one;
//! - a PostgreSQL database (`postgres://USER@HOST/DB`, or `postgresql://`),
//!   for deployments beyond one machine (issue 16).
//!
//! Whatever the store, the keys stay in the data directory. A URL's
//! password is never printed: [`PostgresUrl`]'s `Display` and `Debug`
//! mask it, and a refused value is described, not echoed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use session::access::AccessStore;
use session::keys::{DataKey, HeadSigner, KeyId, TrustedKeys};
use session::store::WriterKeys;
use session::tlog::DEFAULT_ORIGIN;
use session::{DataDir, TraceStore};

use crate::Error;
pub use crate::store_setting::{SchemeName, StoreSettingError};

/// Where the trace lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSetting {
    /// The embedded SQLite store: this file, or the data directory's
    /// `trace.db` when `None`.
    Embedded(Option<PathBuf>),
    /// A PostgreSQL database.
    Postgres(PostgresUrl),
}

impl Default for StoreSetting {
    /// The embedded store in the data directory, as before `--store`.
    fn default() -> StoreSetting {
        StoreSetting::Embedded(None)
    }
}

/// A URL's scheme, if `value` starts with one followed by `:` (RFC 3986:
/// a letter, then letters, digits, `+`, `-`, `.`), lowercased.
fn scheme_of(value: &str) -> Option<(String, &str)> {
    let (scheme, rest) = value.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    // One letter before `:` is a drive (C:\...), not a scheme.
    (first_ok && rest_ok && scheme.len() > 1).then(|| (scheme.to_ascii_lowercase(), rest))
}

impl StoreSetting {
    /// Parses a `--store` value: a file path, `sqlite:` (the data
    /// directory's `trace.db`), `sqlite:PATH`, or a `postgres://` or
    /// `postgresql://` URL. Any other `SCHEME://` is refused, as is a
    /// PostgreSQL URL without a host or a database.
    pub fn parse(value: &str) -> Result<StoreSetting, StoreSettingError> {
        if value.trim().is_empty() {
            return Err(StoreSettingError::Empty);
        }
        match scheme_of(value) {
            Some((scheme, rest)) if scheme == "sqlite" => {
                // `sqlite:PATH`, `sqlite://PATH` (so `sqlite:///abs/path`).
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    Ok(StoreSetting::Embedded(None))
                } else if path.contains('?') || path.contains('#') {
                    Err(StoreSettingError::BadSqlitePath)
                } else {
                    Ok(StoreSetting::Embedded(Some(PathBuf::from(path))))
                }
            }
            Some((scheme, _)) if scheme == "postgres" || scheme == "postgresql" => {
                PostgresUrl::parse(value).map(StoreSetting::Postgres)
            }
            Some((scheme, rest)) if rest.starts_with("//") => {
                Err(StoreSettingError::UnknownScheme(SchemeName::new(&scheme)))
            }
            // `name:with:colons` without `//` is a file name.
            _ => Ok(StoreSetting::Embedded(Some(PathBuf::from(value)))),
        }
    }

    /// The setting in force: the flag or environment variable (clap
    /// gives the flag precedence over the variable), else the settings
    /// file's `store` key, else the embedded default. An error names
    /// where the refused value came from.
    pub fn resolve(given: Option<&str>, file: Option<&str>) -> Result<StoreSetting, Error> {
        let (value, from) = match (given, file) {
            (Some(v), _) => (v, "--store (or TELECONSULT_STORE)"),
            (None, Some(v)) => (v, "the settings file's `store`"),
            (None, None) => return Ok(StoreSetting::default()),
        };
        StoreSetting::parse(value).map_err(|problem| Error::StoreSetting { from, problem })
    }

    /// `data` as the embedded store sees it: its `trace.db`, or the file
    /// this setting names. What the access tables and the key rotation
    /// use besides the trace (they live in the embedded store's file); a
    /// PostgreSQL setting leaves `data` as it is.
    pub fn data_dir(&self, data: &DataDir) -> DataDir {
        match self {
            StoreSetting::Embedded(Some(path)) => data.clone().with_db_path(path.clone()),
            _ => data.clone(),
        }
    }
}

/// A PostgreSQL connection URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB
/// [?PARAMS]`), checked for a host (or a `host=` parameter, for a Unix
/// socket) and a database. Displayed with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The URL as given, password included: only for connecting.
    url: String,
    /// The URL with the password replaced by `***`: for messages.
    shown: String,
}

impl PostgresUrl {
    /// Parses and checks `url` (scheme `postgres` or `postgresql`).
    pub fn parse(url: &str) -> Result<PostgresUrl, StoreSettingError> {
        let Some((_, rest)) = scheme_of(url) else {
            return Err(StoreSettingError::Empty);
        };
        let Some(rest) = rest.strip_prefix("//") else {
            return Err(StoreSettingError::NoHost);
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        let param = |name: &str| {
            query.into_iter().flat_map(|q| q.split('&')).find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name && !v.is_empty()).then_some(v)
            })
        };
        // libpq's multi-host form: h1:5432,h2:5433; IPv6 in brackets.
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            let port = match host.rsplit_once(':') {
                Some((h, p)) if !p.contains(']') && (!h.starts_with('[') || h.ends_with(']')) => {
                    Some(p)
                }
                _ => None,
            };
            if let Some(p) = port
                && !p.parse::<u16>().is_ok_and(|p| p > 0)
            {
                return Err(StoreSettingError::BadPort);
            }
        }
        let has_host = hosts
            .split(',')
            .any(|h| !h.is_empty() && !h.starts_with(':'))
            || param("host").is_some();
        if !has_host {
            return Err(StoreSettingError::NoHost);
        }
        let db = path.strip_prefix('/').unwrap_or(path);
        if db.is_empty() && param("dbname").is_none() {
            return Err(StoreSettingError::NoDatabase);
        }
        let shown = match userinfo.and_then(|u| u.split_once(':')) {
            Some((user, _)) => {
                let at = url.len() - rest.len();
                format!("{}{user}:***@{hosts}{tail}", &url[..at])
            }
            None => url.to_owned(),
        };
        // A `password=` parameter is masked too.
        let shown = match param("password") {
            Some(p) => shown.replace(&format!("password={p}"), "password=***"),
            None => shown,
        };
        Ok(PostgresUrl {
            url: url.to_owned(),
            shown,
        })
    }

    /// The URL with its password, to connect with. Never print it.
    pub fn connection_string(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl").field(&self.shown).finish()
    }
}

/// A trace as opened, with where its access store (professional
/// accounts and the signed access log) lives beside it: the same SQLite
/// file, or the same PostgreSQL database on the same connection pool.
/// Keep it (or a clone of [`Opened::trace`]) while the access store is in
/// use: PostgreSQL access tables answer through the trace's pool.
pub struct Opened {
    /// The trace.
    pub trace: Arc<dyn TraceStore>,
    access: AccessPlace,
}

/// Where an [`Opened`] trace's access tables are.
enum AccessPlace {
    /// The embedded store's file.
    Sqlite(PathBuf),
    /// The PostgreSQL store the trace is, whose pool the tables share.
    Postgres(Arc<store_postgres::PgStore>),
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.access {
            AccessPlace::Sqlite(path) => write!(f, "Opened(sqlite:{})", path.display()),
            AccessPlace::Postgres(pg) => write!(f, "Opened(postgres {})", pg.server()),
        }
    }
}

impl Opened {
    /// The access store, to sign entries and manage accounts with
    /// `signer`, reading documents sealed with `keys`. `trusted` verifies
    /// the accounts' signed rows on PostgreSQL; the embedded store reads
    /// them from the key directory beside its file, as before.
    pub fn access(
        &self,
        signer: HeadSigner,
        keys: Vec<DataKey>,
        trusted: TrustedKeys,
    ) -> Result<AccessStore, Error> {
        Ok(match &self.access {
            AccessPlace::Sqlite(db) => AccessStore::open(db, signer, keys)?,
            AccessPlace::Postgres(pg) => {
                AccessStore::with_tables(pg.access_tables(), signer, keys, trusted)?
            }
        })
    }

    /// The access store read-only, for verification.
    pub fn access_reader(&self, trusted: TrustedKeys) -> Result<AccessStore, Error> {
        Ok(match &self.access {
            AccessPlace::Sqlite(db) => AccessStore::open_reader(db)?,
            AccessPlace::Postgres(pg) => {
                AccessStore::reader_with_tables(pg.access_tables(), trusted)
            }
        })
    }

    /// The PostgreSQL store behind [`Opened::trace`], if it is one.
    pub fn postgres_store(&self) -> Option<&Arc<store_postgres::PgStore>> {
        match &self.access {
            AccessPlace::Postgres(pg) => Some(pg),
            AccessPlace::Sqlite(_) => None,
        }
    }
}

/// Opens the trace for writing with its keys (created with the embedded
/// store on first use, as before): what `serve` and the commands that
/// append (`act create`, `act attach`, ...) use. `log_origin` names the
/// trace log in its checkpoints.
pub fn open_writer(
    setting: &StoreSetting,
    data: &DataDir,
    log_origin: &str,
) -> Result<(Arc<dyn TraceStore>, WriterKeys), Error> {
    open_writer_with_access(setting, data, log_origin).map(|(opened, keys)| (opened.trace, keys))
}

/// [`open_writer`], keeping where the access store is: what opens both
/// the trace and the access store (`serve` with sign-in, `act attach`,
/// `professional`, `keys`).
pub fn open_writer_with_access(
    setting: &StoreSetting,
    data: &DataDir,
    log_origin: &str,
) -> Result<(Opened, WriterKeys), Error> {
    match setting {
        StoreSetting::Embedded(_) => {
            let data = setting.data_dir(data);
            let (store, keys) = data.open_writer().map_err(Error::OpenStore)?;
            let store = store.with_log_origin(log_origin, &keys.signer)?;
            let opened = Opened {
                trace: Arc::new(store),
                access: AccessPlace::Sqlite(data.db_path()),
            };
            Ok((opened, keys))
        }
        StoreSetting::Postgres(url) => {
            let keys = data.open_keys().map_err(Error::OpenStore)?;
            let store = postgres::open(url, Some((&keys, log_origin)), data.root())?;
            Ok((Opened::on_postgres(store), keys))
        }
    }
}

/// Opens an existing trace read-only; reads verify acts with the data
/// directory's public keys when present. What `trace show|verify|export`,
/// `act list` and `receipt` use.
pub fn open_reader(setting: &StoreSetting, data: &DataDir) -> Result<Arc<dyn TraceStore>, Error> {
    open_reader_with_access(setting, data).map(|opened| opened.trace)
}

/// [`open_reader`], keeping where the access store is (`trace verify`
/// checks the access log, `trace show` records the read in it).
pub fn open_reader_with_access(setting: &StoreSetting, data: &DataDir) -> Result<Opened, Error> {
    match setting {
        StoreSetting::Embedded(_) => {
            let data = setting.data_dir(data);
            let store = data.open_reader().map_err(Error::OpenStore)?;
            Ok(Opened {
                trace: Arc::new(store),
                access: AccessPlace::Sqlite(data.db_path()),
            })
        }
        StoreSetting::Postgres(url) => {
            Ok(Opened::on_postgres(postgres::open(url, None, data.root())?))
        }
    }
}

/// `keys rotate data` on any store: a new data key in the key directory
/// (the old one retired), recorded in the store as the one documents are
/// sealed with. The store must be opened with the current key first,
/// which checks it is the one the store records. Returns the old and new
/// key ids.
pub fn rotate_data_key(setting: &StoreSetting, data: &DataDir) -> Result<(KeyId, KeyId), Error> {
    match setting {
        StoreSetting::Embedded(_) => setting
            .data_dir(data)
            .rotate_data_key()
            .map_err(Error::OpenStore),
        StoreSetting::Postgres(url) => {
            let keys = data.open_keys().map_err(Error::OpenStore)?;
            let store = postgres::open_pg(url, Some((&keys, DEFAULT_ORIGIN)), data.root())?;
            store.close();
            let key_dir = data.key_dir();
            let (old, new) = key_dir.rotate_data()?;
            store.set_data_key_id(&old, &new)?;
            key_dir.install_data_key(&new)?;
            Ok((old.id(), new.id()))
        }
    }
}

/// Opens the PostgreSQL database at `url` for writing with the data
/// directory's keys (created on first use), creating the trace schema in
/// an empty database: what `store migrate` imports into.
pub fn open_postgres_writer(
    url: &PostgresUrl,
    data: &DataDir,
) -> Result<store_postgres::PgStore, Error> {
    let keys = data.open_keys().map_err(Error::OpenStore)?;
    postgres::open_pg(url, Some((&keys, DEFAULT_ORIGIN)), data.root())
}

impl Opened {
    fn on_postgres(store: Arc<store_postgres::PgStore>) -> Opened {
        Opened {
            trace: store.clone(),
            access: AccessPlace::Postgres(store),
        }
    }
}

/// The PostgreSQL store's one opening point.
mod postgres {
    use store_postgres::{PgMode, PgStore};

    use super::*;

    /// Opens the PostgreSQL trace at `url`: for writing with `writer`'s
    /// keys and log origin, else read-only (verifying with the public keys
    /// of `data_root/keys/`, as the embedded reader does).
    ///
    /// A trace written or read by several nodes at once: the database
    /// fences each act's chain (see `store-postgres`), the keys stay in the
    /// data directory, the same on every node.
    pub(super) fn open(
        url: &PostgresUrl,
        writer: Option<(&WriterKeys, &str)>,
        data_root: &Path,
    ) -> Result<Arc<PgStore>, Error> {
        open_pg(url, writer, data_root).map(Arc::new)
    }

    /// [`open`], unshared.
    pub(super) fn open_pg(
        url: &PostgresUrl,
        writer: Option<(&WriterKeys, &str)>,
        data_root: &Path,
    ) -> Result<PgStore, Error> {
        Ok(match writer {
            Some((keys, origin)) => PgStore::open(
                url.connection_string(),
                PgMode::Write {
                    signer: Box::new(keys.signer.clone()),
                    data: keys.data.clone(),
                },
            )
            .map_err(Error::OpenStore)?
            .with_trusted(keys.trusted.clone())
            .with_log_origin(origin, &keys.signer)
            .map_err(Error::OpenStore)?,
            None => {
                let store = PgStore::open(url.connection_string(), PgMode::Read)
                    .map_err(Error::OpenStore)?;
                match DataDir::new(data_root).key_dir().trusted() {
                    Ok(trusted) => store.with_trusted(trusted),
                    Err(_) => store,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> PostgresUrl {
        match StoreSetting::parse(url) {
            Ok(StoreSetting::Postgres(u)) => u,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn paths_and_sqlite_are_the_embedded_store() {
        let cases = [
            ("sqlite:", None),
            ("sqlite://", None),
            ("/var/lib/tc/trace.db", Some("/var/lib/tc/trace.db")),
            ("trace.db", Some("trace.db")),
            ("sqlite:/srv/trace.db", Some("/srv/trace.db")),
            ("sqlite:///srv/trace.db", Some("/srv/trace.db")),
            ("sqlite:rel/trace.db", Some("rel/trace.db")),
            ("odd:name.db", Some("odd:name.db")),
            ("C:/data/trace.db", Some("C:/data/trace.db")),
        ];
        for (value, path) in cases {
            assert_eq!(
                StoreSetting::parse(value),
                Ok(StoreSetting::Embedded(path.map(PathBuf::from))),
                "{value}"
            );
        }
    }

    #[test]
    fn postgres_urls_are_checked() {
        for ok in [
            "postgres://tc@db.example.org/trace",
            "postgresql://tc@127.0.0.1:5432/trace",
            "POSTGRES://tc@[::1]:5433/trace",
            "postgres://tc@h1:5432,h2:5433/trace",
            "postgres:///trace?host=/var/run/postgresql",
            "postgres://tc@localhost?dbname=trace",
        ] {
            assert_eq!(pg(ok).connection_string(), ok);
        }
        let refused = [
            ("postgres://", StoreSettingError::NoHost),
            ("postgres:///trace", StoreSettingError::NoHost),
            ("postgres://tc:pw@/trace", StoreSettingError::NoHost),
            ("postgresql:trace", StoreSettingError::NoHost),
            ("postgres://tc@db", StoreSettingError::NoDatabase),
            ("postgres://tc@db/", StoreSettingError::NoDatabase),
            ("postgres://tc@db:0/trace", StoreSettingError::BadPort),
            ("postgres://tc@db:99999/trace", StoreSettingError::BadPort),
            ("postgres://tc@db:five/trace", StoreSettingError::BadPort),
            ("", StoreSettingError::Empty),
            ("  ", StoreSettingError::Empty),
            ("sqlite:x.db?mode=ro", StoreSettingError::BadSqlitePath),
        ];
        for (value, problem) in refused {
            assert_eq!(StoreSetting::parse(value), Err(problem), "{value}");
        }
    }

    #[test]
    fn other_schemes_are_refused_by_name_without_the_rest() {
        let e = StoreSetting::parse("mysql://root:hunter2@db/trace").unwrap_err();
        assert_eq!(
            e,
            StoreSettingError::UnknownScheme(SchemeName::new("mysql"))
        );
        let text = e.to_string();
        assert_eq!(text, "unknown scheme \"mysql\"");
        let e = StoreSetting::resolve(Some("redis://:hunter2@cache:6379"), None).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("\"redis\"") && text.contains("--store"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let url = pg("postgres://tc:s3cr%40t@db.example.org:5432/trace?sslmode=require");
        assert_eq!(
            url.to_string(),
            "postgres://tc:***@db.example.org:5432/trace?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cr"));
        assert!(url.connection_string().contains("s3cr%40t"));
        // A password holding '@' (libpq splits at the last one).
        let url = pg("postgres://tc:a@b@db/trace");
        assert_eq!(url.to_string(), "postgres://tc:***@db/trace");
        // As a parameter.
        let url = pg("postgres://tc@db/trace?password=hunter2&sslmode=verify-full");
        assert_eq!(
            url.to_string(),
            "postgres://tc@db/trace?password=***&sslmode=verify-full"
        );
        // Without one, shown as given.
        let url = pg("postgresql://tc@db/trace");
        assert_eq!(url.to_string(), "postgresql://tc@db/trace");
        let setting = StoreSetting::Postgres(pg("postgres://tc:pw@db/trace"));
        assert!(!format!("{setting:?}").contains(":pw@"));
    }

    #[test]
    fn the_flag_or_variable_wins_over_the_file_over_the_default() {
        let flag = "/flag/trace.db";
        let file = "postgres://tc@db/trace";
        assert_eq!(
            StoreSetting::resolve(Some(flag), Some(file)).unwrap(),
            StoreSetting::Embedded(Some(flag.into()))
        );
        assert_eq!(
            StoreSetting::resolve(None, Some(file)).unwrap(),
            StoreSetting::Postgres(pg(file))
        );
        assert_eq!(
            StoreSetting::resolve(None, None).unwrap(),
            StoreSetting::Embedded(None)
        );
        // A bad file value is refused even when... it is the one in force.
        let e = StoreSetting::resolve(None, Some("mysql://x")).unwrap_err();
        assert!(e.to_string().contains("settings file"), "{e}");
        // ...and ignored when the flag overrides it.
        assert!(StoreSetting::resolve(Some(flag), Some("mysql://x")).is_ok());
    }

    #[test]
    fn the_embedded_store_follows_the_path() {
        let data = DataDir::new("/data");
        assert_eq!(
            StoreSetting::default().data_dir(&data).db_path(),
            Path::new("/data/trace.db")
        );
        let named = StoreSetting::Embedded(Some("/elsewhere/t.db".into()));
        assert_eq!(
            named.data_dir(&data).db_path(),
            Path::new("/elsewhere/t.db")
        );
        assert_eq!(
            named.data_dir(&data).key_dir().path(),
            Path::new("/data/keys")
        );
    }

    #[test]
    fn an_unreachable_postgres_is_named_without_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("data"));
        let setting = StoreSetting::Postgres(pg("postgres://tc:pw@127.0.0.1:1/trace"));
        let Err(e) = open_reader(&setting, &data) else {
            panic!("opened");
        };
        assert!(matches!(e, Error::OpenStore(_)), "{e}");
        assert!(e.to_string().contains("PostgreSQL at 127.0.0.1:1"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }
}
