//! # portcullis-postgres
//!
//! The PostgreSQL [`Store`] for Portcullis: several server processes
//! (nodes) behind a load balancer share one database. One file per aggregate, mirroring
//! `portcullis_core::store` and the SQLite crate:
//!
//! | core trait | module |
//! |---|---|
//! | `ClientStore` | `client.rs` |
//! | `ScopeStore` | `scope.rs` |
//! | `AuthorizationStore` | `authorization.rs` |
//! | `TokenStore` | `token.rs` |
//! | `AccountStore` | `account.rs` |
//! | `ConsentStore` | `consent.rs` |
//! | `SessionStore` | `session.rs` |
//! | `KeyStore` | `key.rs` |
//! | `Store` (`ping`, `purge_expired`) | this file |
//!
//! The schema lives in `migrations/` and is embedded in the binary; [`PostgresStore::migrate`]
//! applies it under sqlx's advisory lock, so nodes starting at once do not race. Tokens and
//! codes are kept only as the hex SHA-256 the core hands over; times are BIGINT unix seconds
//! from the core's clock. Concurrency (the default READ COMMITTED isolation):
//!
//! - single-use values are consumed with one `UPDATE … WHERE consumed_at IS NULL RETURNING`:
//!   a concurrent taker blocks on the row lock, re-checks the condition once the winner
//!   commits, and gets nothing back, so exactly one take is `Fresh`;
//! - multi-row writes run in one transaction;
//! - token saves, and redemptions of codes and refresh tokens, that queue while another is on
//!   its way are stored together, one call of `portcullis_save_token_batch` or
//!   `portcullis_redeem_batch` (group commit, `batch.rs`);
//! - `purge_expired` deletes bounded batches picked with `FOR UPDATE SKIP LOCKED`, so nodes
//!   purging at once split the work instead of doing it twice or waiting on each other.
//!
//! ## Read cache
//!
//! Each store keeps clients, the registered scopes and access tokens in memory (`cache.rs`,
//! a [`ReadCache`](portcullis_core::store::cache::ReadCache); positive answers only), so
//! client authentication, scope resolution, introspection and `BearerLayer` checks cost no
//! round trip. Refresh tokens, codes, pending requests, sessions, consents, accounts and keys
//! are read from the database every time. Migration 0002 adds change counters
//! (`change_versions`) and triggers that bump them when a transaction that changed a client,
//! a scope or an access token (revocation, deletion) commits, and `NOTIFY
//! portcullis_changes`. [`PostgresStore::start_read_cache`] ([`PostgresStore::connect`] calls
//! it) starts a task that `LISTEN`s on a connection of its own. The rules:
//!
//! - the cache is used only while that connection is up and has read the counters after its
//!   `LISTEN`; when it is lost (notifications may have been missed) every read goes to the
//!   database until it listens again, reads the counters and starts the cache over; it
//!   reconnects with backoff;
//! - on each notification the task reads the counters and drops what changed: another node's
//!   change is seen as soon as its notification arrives (milliseconds; RFC 7009 §2 allows a
//!   revocation such a delay across servers and asks to keep it short), and by every request
//!   that starts [`OTHER_NODE_DELAY`] after it committed whatever the notification does (a
//!   read trusts the cache only that long after this store last read the counters for a
//!   request or a write);
//! - this store's own writes to clients, scopes and access tokens read the counters after
//!   they commit, before they return: the next read sees them, with no wait;
//! - fills carry the ticket of the versions observed before their database read, so a slow
//!   reader never puts back a value a change just dropped.
//!
//! Queries are built at run time (no `query!` macros), so building needs no database.

mod account;
mod authorization;
mod batch;
mod cache;
mod client;
mod consent;
mod key;
mod scope;
mod session;
mod token;

#[cfg(feature = "test-support")]
pub mod testing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::store::{Store, StoreError, StoreResult};
use portcullis_core::UnixTime;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row, Transaction};

/// How long after another node or process (the management CLI) commits a change to a
/// client, a scope or an access token a request of this store may still be answered from the
/// read cache: at most this long, and usually only until the change's notification has
/// arrived (milliseconds). Changes through this store itself are seen at once. See
/// `cache.rs` and [`PostgresStore::start_read_cache`].
pub const OTHER_NODE_DELAY: Duration = cache::RECHECK;

/// The embedded schema migrations.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a caller waits for a pooled connection before the store answers `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A pooled connection idle for longer than this is pinged before it is used.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Connections per process. Several nodes share the server's `max_connections` (default 100);
/// with the read cache on, each process holds one more (its listener, outside the pool).
const MAX_CONNECTIONS: u32 = 16;
/// The tables `purge_expired` clears, with their keys; each has an indexed `expires_at`.
const EXPIRING_TABLES: [(&str, &str); 7] = [
    ("authorization_codes", "hash"),
    ("access_tokens", "hash"),
    ("refresh_tokens", "hash"),
    ("pending_authorizations", "id_hash"),
    ("sessions", "id_hash"),
    ("revoked_families", "family"),
    ("signing_keys", "kid"),
];

/// A [`Store`] backed by a PostgreSQL database.
///
/// Cheap to clone: clones share one connection pool and, once started
/// ([`PostgresStore::start_read_cache`]), one read cache and its listener.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cache: Arc<cache::Shared>,
    /// Token saves and redemptions waiting to be stored together (group commit, `batch.rs`).
    saves: Arc<batch::Queue<token::Save>>,
    redemptions: Arc<batch::Queue<token::Redeem>>,
    /// The task that keeps `cache` current; the last clone holding it stops it.
    listener: Option<Arc<cache::Listener>>,
}

impl PostgresStore {
    /// Connect to the database at `url`, bring its schema up to date and start the read
    /// cache ([`PostgresStore::start_read_cache`]).
    ///
    /// `url` is `postgres://user:password@host:port/database` (or `postgresql://…`), with
    /// the usual libpq query parameters (`sslmode`, `application_name`, …). The database must
    /// exist; the schema is created on first use.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let store = Self::connect_without_migrations(url).await?;
        store.migrate().await?;
        store.start_read_cache()
    }

    /// Like [`PostgresStore::connect`], but leaves the schema as it is (for nodes started
    /// with `auto_migrate = false`, and tools that migrate separately), and the read cache
    /// off: call [`PostgresStore::start_read_cache`] once the schema is known to be current.
    pub async fn connect_without_migrations(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_inner(url, ACQUIRE_TIMEOUT).await
    }

    async fn connect_inner(url: &str, acquire_timeout: Duration) -> Result<PostgresStore, StoreError> {
        if !is_postgres_url(url) {
            return Err(StoreError::Backend(
                "not a PostgreSQL URL: expected postgres://user:password@host/database".into(),
            ));
        }
        // The error names the part that is wrong, never the URL (it may hold a password).
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(acquire_timeout)
            // sqlx pings every connection it hands out (one more round trip per query, on
            // top of the ping it sends when the connection comes back); ping only those that
            // sat idle for a while, which are the ones a restart or a network loss may have
            // broken. A connection that broke under load fails its query, which answers
            // `Unavailable` (the client may retry), and is closed rather than pooled again.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IDLE_AFTER {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(Self::from_pool(pool))
    }

    /// A store over a pool the caller built (to choose its size and timeouts). The schema is
    /// left as it is and the read cache off: call [`PostgresStore::migrate`], then
    /// [`PostgresStore::start_read_cache`].
    pub fn from_pool(pool: PgPool) -> PostgresStore {
        PostgresStore {
            pool,
            cache: Arc::default(),
            saves: Arc::default(),
            redemptions: Arc::default(),
            listener: None,
        }
    }

    /// Turn on the read cache of clients, registered scopes and access tokens (`cache.rs`):
    /// starts, on the current tokio runtime, a task that holds one more connection (with
    /// `application_name` `portcullis-listener`, or `myapp (portcullis-listener)` when the URL
    /// names the application `myapp`; outside the pool) and `LISTEN`s for the
    /// change notifications of migration 0002, which the schema must have (this is why
    /// [`PostgresStore::connect`] starts it and the other constructors leave it to the caller).
    ///
    /// The cache is used only while that connection is up and has read the change counters
    /// after its `LISTEN`; until then, and whenever the connection is lost, every read goes
    /// to the database, and the task reconnects with backoff. Changes through this store are
    /// seen at once; changes by other nodes and processes as soon as their notification
    /// arrives, and by every request that starts [`OTHER_NODE_DELAY`] after they committed in
    /// any case. When already on, this changes nothing. Fails only outside a tokio runtime.
    pub fn start_read_cache(mut self) -> Result<PostgresStore, StoreError> {
        if self.listener.is_none() {
            self.listener =
                cache::Listener::start(&self.cache, &self.pool).map_err(StoreError::Backend)?.map(Arc::new);
        }
        Ok(self)
    }

    /// Change how long another node's change may go unseen by this store's read cache when
    /// its notification is late ([`OTHER_NODE_DELAY`] by default). Longer saves counter
    /// reads; tests use a long one to show what notifications alone achieve.
    pub fn set_other_node_delay(&self, delay: Duration) {
        self.cache.set_recheck(delay);
    }

    /// Tell the read cache that this store just committed (or may have committed: the write
    /// failed) a change to what it caches. Every write to clients, scopes or access tokens
    /// (other than inserting tokens, which were never cached) calls it before it returns.
    pub(crate) async fn changed(&self) {
        self.cache.changed(&self.pool).await;
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply the embedded migrations that have not run yet. Idempotent, and safe to call from
    /// several processes at once: sqlx's migrator holds a session advisory lock on the
    /// database (`pg_advisory_lock`) while it checks and applies migrations, so a second
    /// migrator waits, then finds nothing left to do. Each migration runs in a transaction.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        // `run_direct` is `run` on a connection we hold (sqlx offers it because `run`'s future
        // is not `Send` for a borrowed connection).
        let result = MIGRATOR.run_direct(&mut *conn).await;
        if result.is_err() {
            // A failed run may leave the session holding the advisory lock: close this
            // connection instead of handing it back to the pool.
            let _ = sqlx::Connection::close(conn.detach()).await;
        }
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => StoreError::Backend(format!("migration failed: {other}")),
        })
    }

    /// The versions of the embedded migrations not applied to this database yet (all of them
    /// on an empty database). A database migrated by a newer release may also hold versions
    /// this build does not know; they are not reported.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
        Ok(MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .map(|m| m.version)
            .collect())
    }

    /// Start a transaction (READ COMMITTED).
    pub(crate) async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_err)
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Map a sqlx error onto the store's vocabulary. PostgreSQL's primary message names
/// constraints and columns, never bound values (those are in its DETAIL field, which is not
/// used), so no secret can leak through it.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) => {
            let code = db.code();
            if code.as_deref().is_some_and(is_transient_sqlstate) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Backend(db.message().to_owned())
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// SQLSTATEs that mean "not now" rather than "never": the request may succeed on retry, so
/// it is answered 503 `temporarily_unavailable`.
fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, disk full)
        || matches!(
            code,
            "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now (starting up, in recovery)
                | "57014" // query_canceled (statement_timeout)
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "55P03" // lock_not_available
        )
}

/// Like [`db_err`], but names what already exists on a unique violation.
pub(crate) fn conflict_err(what: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match db_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

/// Read one column, reporting a decoding failure as a backend error.
pub(crate) fn col<'r, T>(row: &'r PgRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name).map_err(db_err)
}

/// Parse a JSON text column. JSON is kept as TEXT, not JSONB: JSONB refuses `\u0000`, which
/// a request value (`state`) may carry, and nothing queries inside these documents.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &PgRow, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Backend(format!("column {name} is not valid JSON: {e}")))
}

/// Render a value as JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode JSON: {e}")))
}

/// Whether a key can be stored at all. PostgreSQL text cannot hold NUL, so no stored row has
/// one; a lookup by such a value (a client_id or username from a request) finds nothing,
/// as on SQLite, instead of failing with an encoding error.
pub(crate) fn storable(key: &str) -> bool {
    !key.contains('\0')
}

#[async_trait::async_trait]
impl Store for PostgresStore {
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
        self.redeem(true, hash, now, access, refresh).await
    }

    async fn purge_expired(&self, now: UnixTime, limit: u32) -> StoreResult<u64> {
        let purged = self.purge_tables(now, limit).await;
        // Access tokens may be among what was deleted, even when a later table failed.
        self.changed().await;
        purged
    }
}

impl PostgresStore {
    async fn purge_tables(&self, now: UnixTime, limit: u32) -> StoreResult<u64> {
        let mut deleted = 0;
        for (table, key) in EXPIRING_TABLES {
            // Expired means `expires_at <= now`: the takes accept only `expires_at > now`.
            // SKIP LOCKED: rows another node is purging (or a take is consuming) right now are
            // left to it, so two nodes never delete the same rows or queue behind each other.
            // Each table is its own short statement, so locks are held only while it runs.
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN \
                 (SELECT {key} FROM {table} WHERE expires_at <= $1 \
                  ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            );
            deleted += sqlx::query(&sql)
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_postgres_urls_are_accepted() {
        assert!(is_postgres_url("postgres://u:p@h/db"));
        assert!(is_postgres_url("postgresql://h/db"));
        assert!(!is_postgres_url("sqlite://p.db"));
        assert!(!is_postgres_url("postgres:/h"));
    }

    #[tokio::test]
    async fn bad_url_is_a_backend_error() {
        let err = PostgresStore::connect("sqlite://nope").await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let err = PostgresStore::connect("postgres://u:secret-pw@h:notaport/db").await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert!(!err.to_string().contains("secret-pw"), "{err}");
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable() {
        // Port 1 on loopback: nothing listens there; the pool retries until its timeout.
        let url = "postgres://u:secret-pw@127.0.0.1:1/db";
        let err = PostgresStore::connect_inner(url, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("secret-pw"), "{err}");
    }

    #[test]
    fn every_migration_is_an_up_migration() {
        assert!(MIGRATOR.iter().all(|m| m.migration_type.is_up_migration()));
    }

    #[test]
    fn transient_sqlstates() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "40001", "40P01"] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "XX000"] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }
}
