//! Opening the store named by `database_url`, chosen by scheme: `sqlite:` opens (creating it
//! if missing) a SQLite file, `postgres://` or `postgresql://` connects to PostgreSQL (the
//! database must exist).

use std::sync::Arc;

use portcullis_core::store::StoreError;
use portcullis_core::Store;
use portcullis_postgres::PostgresStore;
use portcullis_sqlite::SqliteStore;

/// A store of either backend, before it is handed over as `dyn Store`.
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Backend {
    async fn connect(database_url: &str) -> Result<Backend, String> {
        let opened = if database_url.starts_with("sqlite:") {
            SqliteStore::connect_without_migrations(database_url).await.map(Backend::Sqlite)
        } else if portcullis_postgres::is_postgres_url(database_url) {
            PostgresStore::connect_without_migrations(database_url).await.map(Backend::Postgres)
        } else {
            let scheme = database_url.split(':').next().unwrap_or("");
            return Err(format!(
                "unsupported database_url scheme {scheme:?}: use sqlite://FILE or postgres://USER:PASSWORD@HOST/DATABASE"
            ));
        };
        opened.map_err(|e| failed("cannot open", database_url, &e))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite(s) => s.migrate().await,
            Backend::Postgres(s) => s.migrate().await,
        }
    }

    async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        match self {
            Backend::Sqlite(s) => s.pending_migrations().await,
            Backend::Postgres(s) => s.pending_migrations().await,
        }
    }

    /// The store, the schema being current by now. For serving, with the SQLite hot paths
    /// (batched writer, reader connections, read cache) or the PostgreSQL read cache (and its
    /// LISTEN connection) on; for a management command, which makes a few calls and exits,
    /// without them: no threads, no listener connection, nothing cached (every store call
    /// goes through the connection pool, as for a store opened without migrations).
    fn into_store(self, use_: Use) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match (self, use_) {
            (Backend::Sqlite(s), Use::Serve) => Arc::new(s.start_fast_paths()?),
            (Backend::Postgres(s), Use::Serve) => Arc::new(s.start_read_cache()?),
            (Backend::Sqlite(s), Use::Command) => Arc::new(s),
            (Backend::Postgres(s), Use::Command) => Arc::new(s),
        })
    }
}

/// What the store is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `portcullis serve`.
    Serve,
    /// A management command (`client create`, `token revoke`, …).
    Command,
}

/// Open the store for a database URL. With `auto_migrate` (the `auto_migrate` setting, on by
/// default) pending migrations are applied first: safe when several nodes start at once
/// (PostgreSQL: sqlx's advisory lock makes them wait for each other). Without it the schema
/// must already be current (`portcullis migrate`), else this fails naming the command.
pub async fn open(database_url: &str, auto_migrate: bool, use_: Use) -> Result<Arc<dyn Store>, String> {
    let backend = Backend::connect(database_url).await?;
    if auto_migrate {
        backend.migrate().await.map_err(|e| failed("cannot migrate", database_url, &e))?;
    } else {
        let pending =
            backend.pending_migrations().await.map_err(|e| failed("cannot read", database_url, &e))?;
        if !pending.is_empty() {
            return Err(format!(
                "the schema of {} is not up to date (migrations {pending:?} pending) and \
                 auto_migrate is off: run `portcullis migrate` first",
                redact_url(database_url)
            ));
        }
    }
    backend.into_store(use_).map_err(|e| failed("cannot open", database_url, &e))
}

/// Apply pending migrations (`portcullis migrate`).
pub async fn migrate(database_url: &str) -> Result<(), String> {
    let backend = Backend::connect(database_url).await?;
    backend.migrate().await.map_err(|e| failed("cannot migrate", database_url, &e))
}

fn failed(what: &str, database_url: &str, e: &StoreError) -> String {
    format!("{what} {}: {e}", redact_url(database_url))
}

/// A database URL without its password, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{}{masked}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgresql://u:p@ss@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(redact_url("sqlite://p.db"), "sqlite://p.db");
    }

    #[tokio::test]
    async fn unknown_scheme_is_refused() {
        let err = open("mysql://u:pw@h/db", true, Use::Serve).await.err().unwrap();
        assert!(err.contains("unsupported") && !err.contains("pw"), "{err}");
    }

    #[tokio::test]
    async fn without_auto_migrate_a_stale_schema_is_refused_then_migrate_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let err = open(&url, false, Use::Serve).await.err().unwrap();
        assert!(err.contains("portcullis migrate"), "{err}");
        migrate(&url).await.unwrap();
        open(&url, false, Use::Serve).await.unwrap().ping().await.unwrap();
    }

    #[tokio::test]
    async fn failing_postgres_fails_without_the_password() {
        // Not PostgreSQL: accepts and hangs up at once. (A refused connection would be retried
        // for the pool's acquire timeout, as when the database is still starting.)
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        let err =
            open(&format!("postgres://u:hunter2@127.0.0.1:{port}/db"), true, Use::Serve).await.err().unwrap();
        assert!(err.contains(&format!("cannot open postgres://u:***@127.0.0.1:{port}/db")), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    /// A management command makes a few calls and exits: on PostgreSQL it opens no `LISTEN`
    /// connection for a read cache it would never use; `serve` does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_serving_listens_for_changes_on_postgres() {
        use portcullis_postgres::testing::{admin_url, TestDatabase};
        let Some(admin) = admin_url("the read cache's listener per use") else { return };
        let db = TestDatabase::create(&admin).await;
        let listeners = || async {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db.url()).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'portcullis-listener'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            n
        };
        let command = open(db.url(), true, Use::Command).await.unwrap();
        command.ping().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(listeners().await, 0, "a management command listens for nothing");
        let serving = open(db.url(), true, Use::Serve).await.unwrap();
        serving.ping().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while listeners().await != 1 {
            assert!(std::time::Instant::now() < deadline, "serve listens for changes");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        drop((command, serving));
    }
}
