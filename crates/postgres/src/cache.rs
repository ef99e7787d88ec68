//! The read cache of the PostgreSQL store: clients, the registered scopes and access tokens
//! (positive answers only) kept in memory by each node, so that client authentication, scope
//! resolution, introspection and `BearerLayer` cost no round trip to the database.
//!
//! It is a [`ReadCache`] kept correct by the change counters of migration 0002: every change
//! to a client, a scope or an access token (revocation, deletion) bumps its aggregate's
//! counter in the committing transaction and notifies channel [`CHANNEL`], whichever node or
//! process commits it. The rules:
//!
//! - **Trusted only while listening.** A task per store holds a connection that `LISTEN`s on
//!   the channel. It LISTENs first and then reads the counters (on that connection) and
//!   [`ReadCache::observe`]s them: a change committed after the read is notified, one
//!   committed before it is in what was read. Only then is the cache used. On each
//!   notification the task reads the counters again and observes them, which drops whatever
//!   changed: other nodes' changes are seen as soon as their notification arrives
//!   (milliseconds). RFC 7009 §2 allows a revocation to take a while to reach every server
//!   sharing a database, and asks that the delay be kept short: this is that delay.
//! - **Listener lost, cache off.** Notifications sent while the connection is down are lost.
//!   When the task loses its connection (or a read on it fails or hangs), every read goes to
//!   the database until the task is listening again and has read the counters after its
//!   `LISTEN`; the cache is then cleared and starts over. Reconnections back off (immediately
//!   after a connection that lived a while, then 100 ms doubling to 5 s); a quiet connection
//!   is checked every [`HEARTBEAT`], so a silently dead one is noticed.
//! - **Own writes at once.** After this store commits a change to a cached aggregate (client
//!   and scope management, revocations, `revoke_family`, `revoke_tokens`, account deletion,
//!   purge), it reads the counters and observes them before it returns (see
//!   `PostgresStore::changed`). Writes are the rare path; the cost lands on them rather than on
//!   the next read, and the change is out of the cache before the caller hears back. If that
//!   read fails, the next cached read reads the counters first.
//! - **A bound that does not depend on notifications.** A read trusts the cache without
//!   asking the database only if a counter read made for a request or a write of this store
//!   started less than [`RECHECK`] (`OTHER_NODE_DELAY`) ago; otherwise it reads the counters
//!   itself first (one primary-key row). So a request that starts at least that long after
//!   another node's commit sees the change even if the notification is slow; a busy node
//!   pays one counter read per interval, and a node that served nothing for a while (as when
//!   the management CLI runs between two requests) checks before its next answer. The
//!   listener's own reads do not count: they keep the cache fresh, but a quiet node's first
//!   answer should not bet on a notification still on its way.
//! - **Tickets.** A fill takes its ticket before its database read (the last observed
//!   versions, or the counters it just read) and hands it to `put_*`, so a slow reader never
//!   puts back a value that a change observed meanwhile dropped.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_core::model::client::Client;
use portcullis_core::store::cache::{CacheLimits, ReadCache, Ticket, Versions};
use portcullis_core::store::StoreResult;
use portcullis_core::{AccessTokenRecord, ScopeDef};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres};
use tokio::sync::Notify;

use crate::db_err;

/// The channel the triggers of migration 0002 notify.
pub(crate) const CHANNEL: &str = "portcullis_changes";
/// Longest a request trusts the cache on the strength of an earlier counter read (see the
/// module documentation). Under load that is one counter read per node every 10 ms.
pub(crate) const RECHECK: Duration = Duration::from_millis(10);
/// A listener connection that received nothing for this long reads the counters, to find out
/// that it is still alive (a connection lost without a reset would otherwise wait forever).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Longest a read on the listener connection may take before the connection counts as lost.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the listener waits for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before the second reconnection attempt; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection that stayed up this long is reconnected at once when lost (a restart, a
/// reaped connection); one lost sooner waits its backoff, so the task never spins.
const STABLE: Duration = Duration::from_secs(5);
/// The `application_name` of the listener's connection (it shows in `pg_stat_activity`), after
/// the one the URL gives, if any: `myapp (portcullis-listener)`.
const LISTENER_APPLICATION_NAME: &str = "portcullis-listener";

const VERSIONS: &str = "SELECT clients, scopes, access_tokens FROM change_versions WHERE id = 1";

/// The cache and what decides whether it may be used; shared by a store's clones.
pub(crate) struct Shared {
    entries: ReadCache,
    /// A listener task was started for this cache (before that nothing is cached, and writes
    /// need not read the counters).
    started: AtomicBool,
    /// The listener is connected, LISTENs, and observed the counters read after its LISTEN.
    live: AtomicBool,
    /// The counters must be read before the next cached answer (at start, after a write whose
    /// counter read failed).
    check_due: AtomicBool,
    /// When the last counter read for a request or a write started: nanoseconds since `born`.
    checked_at: AtomicU64,
    /// How long such a read stays good, in nanoseconds ([`RECHECK`] unless set).
    recheck: AtomicU64,
    born: Instant,
    /// The backend pid of the listener's connection, 0 without one (logs, tests).
    listener_pid: AtomicI32,
    /// Set by tests (`PostgresStore::hold_listener`): the listener ignores notifications and
    /// does not reconnect, to show what else keeps the cache right, and to make an outage last.
    held: AtomicBool,
    released: Notify,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("live", &self.live.load(Ordering::Relaxed))
            .field("listener_pid", &self.listener_pid.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            entries: ReadCache::new(CacheLimits::default()),
            started: AtomicBool::new(false),
            live: AtomicBool::new(false),
            check_due: AtomicBool::new(true),
            checked_at: AtomicU64::new(0),
            recheck: AtomicU64::new(nanos(RECHECK)),
            born: Instant::now(),
            listener_pid: AtomicI32::new(0),
            held: AtomicBool::new(false),
            released: Notify::new(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    fn now(&self) -> u64 {
        nanos(self.born.elapsed())
    }

    /// The ticket for a read that may use the cache, or `None` when it must go to the
    /// database and keep nothing (no listener, or the listener is down).
    pub(crate) async fn ticket(&self, pool: &PgPool) -> StoreResult<Option<Ticket>> {
        if !self.live.load(Ordering::Acquire) {
            return Ok(None);
        }
        let start = self.now();
        let recent = start.saturating_sub(self.checked_at.load(Ordering::Acquire))
            < self.recheck.load(Ordering::Relaxed);
        if recent && !self.check_due.load(Ordering::Acquire) {
            if let Some(ticket) = self.entries.ticket() {
                return Ok(Some(ticket));
            }
        }
        // Taken before the read, so a write that fails to read after this one starts is
        // checked for by the next request.
        let due = self.check_due.swap(false, Ordering::AcqRel);
        match read_versions(pool).await {
            Ok(versions) => {
                let ticket = self.entries.observe(versions);
                self.checked_at.fetch_max(start, Ordering::AcqRel);
                Ok(Some(ticket))
            }
            Err(e) => {
                if due {
                    self.check_due.store(true, Ordering::Release);
                }
                Err(db_err(e))
            }
        }
    }

    /// After this store committed (or may have committed) a change to a cached aggregate:
    /// observe the counters before the caller hears back, or have the next read do it.
    pub(crate) async fn changed(&self, pool: &PgPool) {
        if !self.started.load(Ordering::Acquire) {
            return;
        }
        let start = self.now();
        match read_versions(pool).await {
            Ok(versions) => {
                self.entries.observe(versions);
                self.checked_at.fetch_max(start, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the change counters after a write");
                self.check_due.store(true, Ordering::Release);
            }
        }
    }

    pub(crate) fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.entries.client_shared(id)
    }

    pub(crate) fn put_client(&self, ticket: Ticket, client: &Client) {
        self.entries.put_client(ticket, client);
    }

    pub(crate) fn scopes(&self) -> Option<Arc<Vec<ScopeDef>>> {
        self.entries.scopes_shared()
    }

    pub(crate) fn put_scopes(&self, ticket: Ticket, scopes: &[ScopeDef]) {
        self.entries.put_scopes(ticket, scopes);
    }

    pub(crate) fn access(&self, hash: &str) -> Option<AccessTokenRecord> {
        self.entries.access(hash)
    }

    pub(crate) fn put_access(&self, ticket: Ticket, rec: &AccessTokenRecord) {
        self.entries.put_access(ticket, rec);
    }

    pub(crate) fn set_recheck(&self, every: Duration) {
        self.recheck.store(nanos(every), Ordering::Relaxed);
    }

    /// Whether the cache is in use (the listener is up).
    #[cfg(feature = "test-support")]
    pub(crate) fn live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The listener connection's backend pid.
    #[cfg(feature = "test-support")]
    pub(crate) fn listener_pid(&self) -> Option<i32> {
        Some(self.listener_pid.load(Ordering::Acquire)).filter(|&pid| pid != 0)
    }

    /// What the cache holds, for tests: (client, scopes, access token) lookups without rules.
    #[cfg(feature = "test-support")]
    pub(crate) fn entries(&self) -> &ReadCache {
        &self.entries
    }

    #[cfg(feature = "test-support")]
    pub(crate) fn hold(&self, hold: bool) {
        self.held.store(hold, Ordering::Release);
        if !hold {
            self.released.notify_waiters();
        }
    }

    async fn wait_while_held(&self) {
        loop {
            let released = self.released.notified();
            if !self.held.load(Ordering::Acquire) {
                return;
            }
            released.await;
        }
    }

    fn go_down(&self) {
        self.live.store(false, Ordering::Release);
        self.listener_pid.store(0, Ordering::Release);
    }
}

async fn read_versions<'e, E: Executor<'e, Database = Postgres>>(db: E) -> Result<Versions, sqlx::Error> {
    let (clients, scopes, access_tokens): (i64, i64, i64) = sqlx::query_as(VERSIONS).fetch_one(db).await?;
    Ok(Versions { clients, scopes, access_tokens })
}

/// The running listener task; dropping the last store clone that holds it stops the task,
/// and the cache is no longer used.
pub(crate) struct Listener {
    task: tokio::task::AbortHandle,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
        // Clones made before the cache started share it but not this handle: they must not
        // trust a cache nobody keeps current.
        self.shared.go_down();
        self.shared.started.store(false, Ordering::Release);
    }
}

impl Listener {
    /// Start the listener task on the current tokio runtime, connecting like `pool` does;
    /// `None` if one already keeps this cache (started through another clone).
    pub(crate) fn start(shared: &Arc<Shared>, pool: &PgPool) -> Result<Option<Listener>, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the read cache needs a tokio runtime to listen on".to_owned())?;
        if shared.started.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(None);
        }
        // Named so that it can be told apart from the pool's connections in `pg_stat_activity`,
        // keeping the name the URL gave the application, if any.
        let options = (*pool.connect_options()).clone();
        let name = match options.get_application_name() {
            Some(app) => format!("{app} ({LISTENER_APPLICATION_NAME})"),
            None => LISTENER_APPLICATION_NAME.to_owned(),
        };
        let options = options.application_name(&name);
        let task = runtime.spawn(run(Arc::clone(shared), options)).abort_handle();
        Ok(Some(Listener { task, shared: Arc::clone(shared) }))
    }
}

/// Why a listening session ended.
enum Ended {
    /// The connection was lost (the server closed it, a reset).
    Lost,
    /// A statement or the connection failed.
    Failed(sqlx::Error),
    /// A read on the connection (or connecting) took longer than allowed.
    TimedOut,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Lost => f.write_str("connection lost"),
            Ended::Failed(e) => write!(f, "{e}"),
            Ended::TimedOut => f.write_str("no answer in time"),
        }
    }
}

/// The listener task: listen, and after each loss back off and listen again. Ends only when
/// aborted (the store is gone).
async fn run(shared: Arc<Shared>, options: PgConnectOptions) {
    // However the task ends (aborted with the store, or dropped with its runtime), nobody
    // keeps the cache current any more.
    let _down = GoDownOnDrop(Arc::clone(&shared));
    let mut backoff = Duration::ZERO;
    loop {
        shared.wait_while_held().await;
        if !backoff.is_zero() {
            // Somewhere in the second half of the backoff: nodes that lost the database together
            // (a restart) do not all try again at the same instants.
            let jittered = backoff.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0));
            tokio::time::sleep(jittered).await;
        }
        let mut live_since = None;
        let ended = session(&shared, &options, &mut live_since).await;
        shared.go_down();
        backoff = match live_since {
            Some(since) if since.elapsed() >= STABLE => Duration::ZERO,
            _ => (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF),
        };
        let retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
        match live_since {
            Some(_) => tracing::warn!(
                reason = %ended,
                retry_in_ms,
                "PostgreSQL change listener lost; the read cache is off until it listens again"
            ),
            None => tracing::warn!(
                reason = %ended,
                retry_in_ms,
                "PostgreSQL change listener cannot listen; the read cache is off"
            ),
        }
    }
}

struct GoDownOnDrop(Arc<Shared>);

impl Drop for GoDownOnDrop {
    fn drop(&mut self) {
        self.0.go_down();
    }
}

/// One connection's life: LISTEN, read the counters, then follow notifications until the
/// connection is lost or a read on it fails. `live_since` is set once the cache is in use.
async fn session(shared: &Shared, options: &PgConnectOptions, live_since: &mut Option<Instant>) -> Ended {
    use tokio::time::timeout;
    // A pool of its own per session, of one connection: `PgListener` connects through a pool,
    // and a connection that hung (a silent network loss) must not be handed to the next one.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options.clone());
    let mut listener = match timeout(CONNECT_TIMEOUT, PgListener::connect_with(&pool)).await {
        Ok(Ok(listener)) => listener,
        Ok(Err(e)) => return Ended::Failed(e),
        Err(_) => return Ended::TimedOut,
    };
    // A lost connection ends the session (`try_recv` answers `None`) instead of being
    // replaced inside `try_recv`: the next session connects after its backoff, and reads the
    // counters before the cache is used again.
    listener.eager_reconnect(false);
    match timeout(READ_TIMEOUT, listener.listen(CHANNEL)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Ended::Failed(e),
        Err(_) => return Ended::TimedOut,
    }
    // After the LISTEN, on the same connection: nothing committed after this read can go
    // unnotified.
    let first = timeout(
        READ_TIMEOUT,
        sqlx::query_as::<_, (i32, i64, i64, i64)>(
            "SELECT pg_backend_pid(), clients, scopes, access_tokens FROM change_versions WHERE id = 1",
        )
        .fetch_one(&mut listener),
    )
    .await;
    let (pid, versions) = match first {
        Ok(Ok((pid, clients, scopes, access_tokens))) => (pid, Versions { clients, scopes, access_tokens }),
        Ok(Err(e)) => return Ended::Failed(e),
        Err(_) => return Ended::TimedOut,
    };
    // Whatever changed while nobody listened is unknown: start over. (Fills begun before
    // carry older tickets and are refused.)
    shared.entries.clear();
    shared.entries.observe(versions);
    shared.listener_pid.store(pid, Ordering::Release);
    shared.live.store(true, Ordering::Release);
    *live_since = Some(Instant::now());
    tracing::info!(pid, "PostgreSQL change listener listening; read cache on");
    loop {
        match timeout(HEARTBEAT, listener.try_recv()).await {
            Ok(Ok(Some(_))) => {
                // Notifications that came in with this one are answered by the same read.
                while listener.next_buffered().is_some() {}
            }
            Ok(Ok(None)) => return Ended::Lost,
            Ok(Err(e)) => return Ended::Failed(e),
            // Quiet for a while: the read below tells whether the connection still answers.
            // (`try_recv` is cancel-safe while it waits for a message.)
            Err(_) => {}
        }
        if shared.held.load(Ordering::Acquire) {
            // Held by a test: deaf to what was notified.
            continue;
        }
        match timeout(READ_TIMEOUT, read_versions(&mut listener)).await {
            Ok(Ok(versions)) => {
                shared.entries.observe(versions);
            }
            Ok(Err(e)) => return Ended::Failed(e),
            Err(_) => return Ended::TimedOut,
        }
    }
}
