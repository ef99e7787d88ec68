//! Test support (feature `test-support`): a fresh, uniquely named database per test, created
//! from an admin URL and dropped when the guard goes out of scope.
//!
//! The admin URL comes from `PORTCULLIS_TEST_POSTGRES_URL`, e.g.
//! `postgres://portcullis:portcullis@127.0.0.1:55432/portcullis` (a role with `CREATEDB`).
//! `PORTCULLIS_TEST_BACKEND=postgres` says the PostgreSQL tests must run: without a URL they
//! then fail instead of being skipped.

// Test support fails loudly, like the tests that use it.
#![allow(clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::PostgresStore;

/// The statement `revoke_refresh` runs on the access tokens, for the index test.
pub use crate::token::{MARK_REVOKED_FAMILY, REVOKE_FAMILY_ACCESS, REVOKE_ISSUED_WITH_REFRESH};

/// The environment variable holding the admin URL.
pub const URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";
/// The environment variable choosing the end-to-end backend (`sqlite`, the default, or
/// `postgres`).
pub const BACKEND_VAR: &str = "PORTCULLIS_TEST_BACKEND";

/// Whether the tests were asked to run on PostgreSQL (`PORTCULLIS_TEST_BACKEND=postgres`).
pub fn backend_is_postgres() -> bool {
    std::env::var(BACKEND_VAR).is_ok_and(|b| b.eq_ignore_ascii_case("postgres"))
}

/// The admin URL, or `None` (with a note on stderr) when PostgreSQL tests are not configured.
/// Panics when `PORTCULLIS_TEST_BACKEND=postgres` but the URL is missing.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if backend_is_postgres() => {
            panic!("{BACKEND_VAR}=postgres but {URL_VAR} is not set (see .ci/postgres)")
        }
        _ => {
            eprintln!("note: {test} skipped: set {URL_VAR} to run it against PostgreSQL");
            None
        }
    }
}

/// A database that exists for one test. Dropping it drops the database (terminating any
/// connection still open to it).
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Create a fresh, empty database next to the one `admin_url` names.
    pub async fn create(admin_url: &str) -> TestDatabase {
        let name = format!("portcullis_test_{}_{:016x}", std::process::id(), rand::random::<u64>());
        let mut admin = admin_connect(admin_url).await;
        admin.execute(format!("CREATE DATABASE \"{name}\"").as_str()).await.unwrap_or_else(|e| {
            panic!("cannot create test database {name}: {e}");
        });
        let _ = admin.close().await;
        let url = with_database(admin_url, &name);
        TestDatabase { admin_url: admin_url.to_owned(), name, url }
    }

    /// [`TestDatabase::create`] from synchronous code (or from inside another runtime): runs
    /// on a thread of its own.
    pub fn create_blocking(admin_url: &str) -> TestDatabase {
        let admin_url = admin_url.to_owned();
        on_own_runtime(move || async move { TestDatabase::create(&admin_url).await })
    }

    /// The URL of this database (same credentials as the admin URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Arc<PostgresStore> {
        Arc::new(PostgresStore::connect(&self.url).await.expect("connect to the test database"))
    }

    /// Every row of every table in the `public` schema, as text: to check that a secret
    /// appears nowhere in the database (the SQLite tests read the file's bytes instead).
    pub fn dump_text_blocking(&self) -> String {
        let url = self.url.clone();
        on_own_runtime(move || async move {
            let mut conn = admin_connect(&url).await;
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(table_name) FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .expect("list tables");
            let mut out = String::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
                    .fetch_all(&mut conn)
                    .await
                    .expect("dump a table");
                for row in rows {
                    out.push_str(&table);
                    out.push(' ');
                    out.push_str(&row);
                    out.push('\n');
                }
            }
            let _ = conn.close().await;
            out
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Best effort: a database left behind only costs disk in a throwaway cluster.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                let Ok(options) = PgConnectOptions::from_str(&admin_url) else { return };
                if let Ok(mut conn) = options.connect().await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute(drop.as_str()).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

async fn admin_connect(url: &str) -> sqlx::PgConnection {
    PgConnectOptions::from_str(url)
        .expect("a valid PostgreSQL URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server ({URL_VAR}): {e}"))
}

/// Run an async job to completion on a fresh current-thread runtime in a thread of its own.
fn on_own_runtime<T, F, Fut>(job: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(job())
    })
    .join()
    .unwrap_or_else(|_| panic!("test database setup panicked"))
}

/// What the read cache's tests look at and do (`tests/cache.rs`): the cache's content without
/// its rules, whether it is in use, and the listener's connection. Not for anything else.
impl PostgresStore {
    /// The client the read cache holds under `id`, whether or not reads may use it.
    #[doc(hidden)]
    pub fn cached_client(&self, id: &str) -> Option<portcullis_core::Client> {
        self.cache.entries().client(id)
    }

    /// The scope list the read cache holds, whether or not reads may use it.
    #[doc(hidden)]
    pub fn cached_scopes(&self) -> Option<Vec<portcullis_core::ScopeDef>> {
        self.cache.entries().scopes()
    }

    /// The access token the read cache holds under `hash`, whether or not reads may use it.
    #[doc(hidden)]
    pub fn cached_access(&self, hash: &str) -> Option<portcullis_core::AccessTokenRecord> {
        self.cache.entries().access(hash)
    }

    /// Whether reads may use the read cache (the listener is up and read the counters).
    #[doc(hidden)]
    pub fn read_cache_live(&self) -> bool {
        self.cache.live()
    }

    /// The backend pid of the listener's connection, while it has one: to kill it.
    #[doc(hidden)]
    pub fn listener_pid(&self) -> Option<i32> {
        self.cache.listener_pid()
    }

    /// Hold the listener (`true`): it ignores notifications (reads no counters) and, once its
    /// connection is lost, does not connect again; `false` lets it go on (and reconnect at
    /// once). To show what keeps the cache right without notifications, and to make an
    /// outage last.
    #[doc(hidden)]
    pub fn hold_listener(&self, hold: bool) {
        self.cache.hold(hold);
    }
}

/// `url` with its database (the path) replaced by `name`, keeping credentials and parameters.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_the_url() {
        assert_eq!(with_database("postgres://u:p@h:5/db", "t1"), "postgres://u:p@h:5/t1");
        assert_eq!(with_database("postgres://u:p@h:5", "t1"), "postgres://u:p@h:5/t1");
        assert_eq!(
            with_database("postgresql://h/db?sslmode=disable", "t1"),
            "postgresql://h/t1?sslmode=disable"
        );
    }
}
