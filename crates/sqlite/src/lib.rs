//! # portcullis-sqlite
//!
//! The SQLite [`Store`](portcullis_core::Store) for Portcullis, the embedded default. One file
//! per aggregate, mirroring `portcullis_core::store`:
//!
//! | core trait | module |
//! |---|---|
//! | `ClientStore` | `client.rs` |
//! | `ScopeStore` | `scope.rs` |
//! | `AuthorizationStore` | `authorization.rs` |
//! | `TokenStore` | `token.rs` |
//! | `AccountStore` | `account.rs` |
//! | `KeyStore` | `key.rs` |
//! | `Store` (`ping`, `purge_expired`) | this file |
//!
//! The schema lives in `migrations/` and is embedded in the binary. Tokens and codes are kept
//! only as the hex SHA-256 the core hands over; times are INTEGER unix seconds. Single-use
//! values are consumed with one `UPDATE … RETURNING`, so two concurrent redemptions give
//! exactly one `Fresh`. Multi-statement operations run in `BEGIN IMMEDIATE` transactions, so
//! they take the write lock up front and wait (`busy_timeout`) instead of failing.

mod account;
mod authorization;
mod client;
mod consent;
mod direct;
mod key;
mod scope;
mod session;
mod token;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::store::{Store, StoreError, StoreResult};
use portcullis_core::UnixTime;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

/// How long after another process (the management CLI, another server on the same file)
/// commits a change to a client, a scope or an access token a request of this store may still
/// be answered from the read cache: at most this long. Changes through this store itself are
/// seen at once. See `direct.rs`.
pub const OTHER_PROCESS_DELAY: Duration = direct::RECHECK;

/// How long a connection waits for another writer before giving up (`busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection before the store answers `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections for a file database: readers run in parallel under WAL, writers queue.
const MAX_CONNECTIONS: u32 = 8;

/// A [`Store`] backed by one SQLite database (a file in WAL mode, or memory for tests).
///
/// Cheap to clone: clones share one connection pool, and for a file database opened with
/// [`SqliteStore::connect`] one writer thread, a few reader connections and the read cache
/// (`direct.rs`: batched writes, cached clients, scopes and access tokens, kept correct
/// across processes by change counters).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    direct: Option<Arc<direct::Direct>>,
    /// The database file (`None` in memory), for [`SqliteStore::start_fast_paths`].
    path: Option<std::path::PathBuf>,
    /// Set by [`SqliteStore::changed`]: the read cache checks the file before its next answer.
    check_due: Arc<AtomicBool>,
}

fn options_path(url: &str) -> Result<std::path::PathBuf, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?;
    Ok(options.get_filename().to_path_buf())
}

impl SqliteStore {
    /// Open (creating it if missing) the database at `url` and bring its schema up to date.
    ///
    /// `url` is `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or
    /// `sqlite::memory:`. The connection uses WAL journaling, `synchronous=NORMAL`, foreign
    /// keys on and a 5 s busy timeout.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let store = Self::connect_without_migrations(url).await?;
        store.migrate().await?;
        store.start_fast_paths()
    }

    /// Turn on the request hot paths of a file database whose schema is current: the batched
    /// writer, the reader connections and the read cache (`direct.rs`). [`SqliteStore::connect`]
    /// does it; a caller that opened with [`SqliteStore::connect_without_migrations`] calls it
    /// once the schema is known to be up to date (it needs migration 0005's change counters).
    /// In memory, or when already on, it changes nothing.
    pub fn start_fast_paths(mut self) -> Result<SqliteStore, StoreError> {
        if self.direct.is_none() {
            if let Some(path) = &self.path {
                let direct = Arc::new(direct::Direct::open(path, BUSY_TIMEOUT, Arc::clone(&self.check_due))?);
                direct::Direct::trim_when_idle(&direct, direct::IDLE_TRIM)?;
                self.direct = Some(direct);
            }
        }
        Ok(self)
    }

    /// Like [`SqliteStore::connect`], but leaves the schema as it is (for tools that migrate
    /// separately, or check first). Such a store uses only the connection pool: no writer
    /// thread, no read cache.
    pub async fn connect_without_migrations(url: &str) -> Result<SqliteStore, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Backend(
                "not a SQLite URL: expected sqlite://path or sqlite::memory:".into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // Due at first: nothing has been read yet.
        let check_due = Arc::new(AtomicBool::new(true));
        let pool = if is_memory(url) {
            // An in-memory database lives as long as one connection to it: keep exactly one,
            // forever, so the data survives and writers never contend.
            pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
        } else {
            pool_options()
                .max_connections(MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                .await
        }
        .map_err(db_err)?;
        let path = (!is_memory(url)).then(|| options_path(url)).transpose()?;
        Ok(SqliteStore { pool, direct: None, path, check_due })
    }

    /// Apply the embedded migrations that have not run yet. Idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations").run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => StoreError::Backend(format!("migration failed: {other}")),
        })
    }

    /// The versions of the embedded migrations not applied to this database yet (all of them
    /// on an empty database). A database migrated by a newer release may also hold versions
    /// this build does not know; they are not reported.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let applied: Vec<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
        } else {
            Vec::new()
        };
        Ok(sqlx::migrate!("./migrations")
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| m.version)
            .collect())
    }

    /// Tell the read cache of the hot paths that this process just committed through the pool
    /// a change to what it caches (clients, scopes, access tokens): the next request checks the
    /// file. Every pool write to those tables calls it when the write returned, before its
    /// caller hears back. (Sessions, consents, accounts and keys are not cached; reads never
    /// call it, so a user's introspection, which reads the account, costs no file check.)
    pub(crate) fn changed(&self) {
        self.check_due.store(true, Ordering::Release);
    }

    /// Change how long another process's change may go unseen by this store's read cache
    /// ([`OTHER_PROCESS_DELAY`] by default). Longer saves file checks; tests use a long one to
    /// show that this store's own changes never depend on it.
    pub fn set_other_process_delay(&self, delay: Duration) {
        if let Some(d) = &self.direct {
            d.set_recheck(delay);
        }
    }

    /// Start a write transaction that holds the write lock from its first statement.
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }
}

/// Pool options shared by file and memory databases.
///
/// A connection must never go back to the pool inside a transaction. sqlx 0.8's
/// `begin_with("BEGIN IMMEDIATE")` can leave one behind: when the caller's future is dropped
/// (a client hung up) after `BEGIN IMMEDIATE` ran but before the `Transaction` exists, nothing
/// rolls it back, and the pooled connection keeps the write lock, so every later write waits
/// out the busy timeout and then fails. Such a connection is closed on release instead, which
/// rolls the transaction back and frees the lock.
/// Deletes at most ?2 rows of `table` expired at ?1, through its `expires_at` index.
fn purge_sql(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE rowid IN \
         (SELECT rowid FROM {table} WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)"
    )
}

/// The same for the token tables, whose only expiry index is `(client_id, expires_at)`
/// (migration 0006): the recursive part walks the distinct client ids of the table through
/// that index, one seek each (clients whose tokens outlived their registration included), and
/// for each the join reads the range of its expired rows. `CROSS JOIN` keeps that loop order.
fn purge_by_client_sql(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE rowid IN ( \
           WITH RECURSIVE ids(id) AS ( \
             SELECT (SELECT min(client_id) FROM {table}) \
             UNION ALL \
             SELECT (SELECT min(client_id) FROM {table} WHERE client_id > ids.id) FROM ids \
             WHERE ids.id IS NOT NULL) \
           SELECT t.rowid FROM ids CROSS JOIN {table} AS t \
           WHERE t.client_id = ids.id AND t.expires_at <= ?1 LIMIT ?2)"
    )
}

fn pool_options() -> SqlitePoolOptions {
    use sqlx::Connection;
    // No ping before a connection is handed out (sqlx's default): it would be one more trip
    // through the connection's worker thread per query, and a SQLite connection is a file
    // handle that nobody else can drop. A worker that crashed fails its query (`Unavailable`)
    // and sqlx's ping when the connection comes back discards it.
    SqlitePoolOptions::new().test_before_acquire(false).after_release(|conn, _| {
        Box::pin(async move {
            if conn.is_in_transaction() {
                // A dropped `Transaction` queues its rollback without waiting for it: let the
                // connection's worker (which runs commands in order) catch up first.
                conn.ping().await?;
            }
            Ok(!conn.is_in_transaction())
        })
    })
}

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Map a sqlx error onto the store's vocabulary. sqlx errors carry SQLite's message (table and
/// column names), never bound values, so no secret can leak through them.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) => {
            // The extended result code; the primary code is its low byte.
            let primary = db.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff);
            match primary {
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
                Some(5 | 6 | 10 | 13 | 14) => StoreError::Unavailable(db.message().to_owned()),
                _ => StoreError::Backend(db.message().to_owned()),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Like [`db_err`], but names what already exists on a unique violation.
pub(crate) fn conflict_err(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// Read one column, reporting a decoding failure as a backend error.
pub(crate) fn col<'r, T>(row: &'r SqliteRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name).map_err(db_err)
}

/// Parse a JSON text column.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &SqliteRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Backend(format!("column {name} is not valid JSON: {e}")))
}

/// Render a value as JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode JSON: {e}")))
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        hash: &str,
        now: UnixTime,
        access: &portcullis_core::AccessTokenRecord,
        refresh: Option<&portcullis_core::RefreshTokenRecord>,
    ) -> StoreResult<portcullis_core::Take<()>> {
        token::redeem(self, direct::CONSUME_CODE, direct::CODE_REPLAY, hash, now, access, refresh).await
    }

    async fn purge_expired(&self, now: UnixTime, limit: u32) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let mut deleted = 0;
        for (table, by_client) in [
            ("authorization_codes", true),
            ("access_tokens", true),
            ("refresh_tokens", true),
            ("pending_authorizations", false),
            ("sessions", false),
            ("revoked_families", false),
            ("signing_keys", false),
        ] {
            // Expired means `expires_at <= now`: the takes accept only `expires_at > now`.
            let sql = if by_client { purge_by_client_sql(table) } else { purge_sql(table) };
            deleted += sqlx::query(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        self.changed();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for a statement: the `detail` column of `EXPLAIN QUERY PLAN`.
    async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&store.pool).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>("detail")).collect()
    }

    /// The token tables lost their `expires_at` and `client_id` indexes to `(client_id,
    /// expires_at)` (migration 0006): the purge, a client's deletion and the listing by client
    /// still read through an index, never a scan of the table.
    #[tokio::test]
    async fn token_tables_are_purged_and_read_by_client_through_an_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        for table in ["access_tokens", "refresh_tokens", "authorization_codes"] {
            let index = format!("{table}_client_expiry");
            let purge = plan(&store, &purge_by_client_sql(table)).await;
            let by_client = plan(&store, &format!("DELETE FROM {table} WHERE client_id = 'c'")).await;
            let live =
                plan(&store, &format!("SELECT * FROM {table} WHERE expires_at > 5 AND client_id = 'c'"))
                    .await;
            for (what, plan) in
                [("purge", &purge), ("delete by client", &by_client), ("list by client", &live)]
            {
                assert!(
                    plan.iter().all(|d| !d.starts_with(&format!("SCAN {table}")))
                        && !plan.iter().any(|d| d == "SCAN t"),
                    "{table} {what} scans the table: {plan:?}"
                );
                assert!(plan.iter().any(|d| d.contains(&index)), "{table} {what} uses {index}: {plan:?}");
            }
            assert!(
                purge.iter().any(|d| d.contains(&format!("{index} (client_id=? AND expires_at<?)"))),
                "{table}: each client's expired range is one index range: {purge:?}"
            );
        }
    }

    /// `refresh_hash` lost its index (migration 0007): the access tokens issued with a refresh
    /// token are found through its family.
    #[tokio::test]
    async fn access_tokens_of_a_refresh_token_are_found_through_the_family_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let plan = plan(&store, crate::token::REVOKE_ISSUED_WITH_REFRESH).await;
        assert!(!plan.iter().any(|d| d.starts_with("SCAN")), "no table scan: {plan:?}");
        assert!(plan.iter().any(|d| d.contains("access_tokens_family (family=?)")), "{plan:?}");
    }

    /// Access tokens issued alone are left out of the family index (migration 0008): every
    /// statement that finds access tokens by family still reads through an index, the partial
    /// family index or the primary key, never a scan of the table.
    #[tokio::test]
    async fn family_revocation_reads_access_tokens_through_an_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let [shared, lone] = crate::token::REVOKE_FAMILY_ACCESS;
        let shared = plan(&store, shared).await;
        assert!(shared.iter().any(|d| d.contains("access_tokens_family (family=?)")), "{shared:?}");
        let lone = plan(&store, lone).await;
        assert!(lone.iter().any(|d| d.contains("sqlite_autoindex_access_tokens_1 (hash=?)")), "{lone:?}");
        let mark = plan(&store, crate::token::MARK_REVOKED_FAMILY).await;
        assert!(mark.iter().any(|d| d.contains("access_tokens_family (family=?)")), "{mark:?}");
        assert!(mark.iter().any(|d| d.contains("sqlite_autoindex_access_tokens_1 (hash=?)")), "{mark:?}");
        for plan in [shared, lone, mark] {
            // `SCAN (subquery-N)` reads a subquery's one-row result, not a table.
            assert!(!plan.iter().any(|d| d.starts_with("SCAN") && !d.starts_with("SCAN (")), "{plan:?}");
        }
    }

    #[tokio::test]
    async fn migrate_is_idempotent_and_memory_store_pings() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn file_store_uses_wal_and_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&store.pool).await.unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&store.pool).await.unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap();
        assert_eq!(sync, 1, "synchronous=NORMAL");
        // A second connect to the same file finds the schema applied and changes nothing.
        let again = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        again.ping().await.unwrap();
    }

    #[tokio::test]
    async fn fast_paths_start_after_a_separate_migration() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = SqliteStore::connect_without_migrations(&url).await.unwrap();
        assert!(store.direct.is_none(), "no hot paths before the schema is known to be current");
        store.migrate().await.unwrap();
        let store = store.start_fast_paths().unwrap();
        assert!(store.direct.is_some(), "a served file store runs on the batched writer and read cache");
        let memory = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert!(memory.direct.is_none());
    }

    #[tokio::test]
    async fn an_idle_store_lets_go_of_its_caches_and_fills_them_again() {
        use portcullis_core::model::client::{AccessTokenFormat, AuthMethod, Client};
        use portcullis_core::store::ClientStore;
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::connect(&format!("sqlite://{}", dir.path().join("p.db").display())).await.unwrap();
        let client = Client {
            id: "c1".into(),
            name: "C".into(),
            secret: None,
            redirect_uris: vec![],
            grant_types: vec!["client_credentials".into()],
            scopes: portcullis_core::ScopeSet::empty(),
            auth_method: AuthMethod::None,
            trusted: false,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            authorization_code_lifetime: None,
            access_token_format: AccessTokenFormat::default(),
            created_at: 0,
            updated_at: 0,
        };
        store.create_client(&client).await.unwrap();
        let direct = store.direct.clone().unwrap();
        // A second trimmer with a short idle time (the store's own waits IDLE_TRIM).
        direct::Direct::trim_when_idle(&direct, std::time::Duration::from_millis(100)).unwrap();
        assert_eq!(store.get_client("c1").await.unwrap().map(|c| c.name), Some("C".to_owned()));
        assert!(direct.caches_client("c1"), "a read fills the cache");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while direct.caches_client("c1") && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!direct.caches_client("c1"), "idle, the store dropped its cache");
        assert_eq!(store.get_client("c1").await.unwrap().map(|c| c.name), Some("C".to_owned()));
        assert!(direct.caches_client("c1"), "the next read fills it again");
    }

    #[tokio::test]
    async fn without_migrations_leaves_schema_alone() {
        let store = SqliteStore::connect_without_migrations("sqlite::memory:").await.unwrap();
        assert_eq!(store.pending_migrations().await.unwrap(), [1, 2, 3, 4, 5, 6, 7, 8]);
        let err = store.get_scope_count().await;
        assert!(err.is_err());
        store.migrate().await.unwrap();
        assert_eq!(store.get_scope_count().await.unwrap(), 0);
        assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    }

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("leak.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        // What a cancelled `begin_with` leaves behind: a pooled connection whose transaction
        // (holding the write lock) nobody will commit or roll back.
        let mut conn = store.pool.acquire().await.unwrap();
        let tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.unwrap();
        std::mem::forget(tx);
        drop(conn);
        let started = std::time::Instant::now();
        for _ in 0..(MAX_CONNECTIONS * 2) {
            let tx = store.write_tx().await.unwrap();
            tx.commit().await.unwrap();
        }
        assert!(started.elapsed() < BUSY_TIMEOUT, "a write waited for the leaked lock");
    }

    #[tokio::test]
    async fn bad_url_is_a_backend_error() {
        let err = SqliteStore::connect("postgres://nope").await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    }

    #[tokio::test]
    async fn closed_pool_is_unavailable() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.pool.close().await;
        let err = store.ping().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    impl SqliteStore {
        async fn get_scope_count(&self) -> StoreResult<i64> {
            sqlx::query_scalar("SELECT COUNT(*) FROM scopes").fetch_one(&self.pool).await.map_err(db_err)
        }
    }
}
