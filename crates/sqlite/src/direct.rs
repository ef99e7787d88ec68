//! The hot paths of a file database: direct SQLite connections (rusqlite), no thread hop per
//! statement.
//!
//! - **One write connection, group commit.** Token endpoint writes (tokens, codes, refresh
//!   rotation, revocation) are queued as jobs. The caller that finds the write connection free
//!   becomes the leader: it takes everything queued (up to [`MAX_BATCH`]), runs each job in its
//!   own savepoint inside one `BEGIN IMMEDIATE … COMMIT`, answers each job's caller, and goes
//!   on while jobs keep arriving; the others just wait for their answer. Alone, a request
//!   writes in place with no thread hop; under load one write lock and one commit serve many
//!   requests. A request is answered only after its rows are committed (durability as
//!   configured: WAL, `synchronous=NORMAL`). A job that fails rolls back to its savepoint
//!   alone; a failed commit fails every job of the batch. Jobs are never half-run: a caller
//!   that goes away leaves its job to the next leader, so no transaction stays open. When
//!   another process holds the database's write lock, the batch moves to a blocking thread
//!   that waits for it (busy timeout), so no async worker sleeps on a lock.
//! - **A few reader connections**, each behind a mutex, answer point lookups by primary key
//!   in the calling task: microseconds on a warm page cache, cheaper than handing the query to
//!   another thread and back.
//! - **The read cache** ([`ReadCache`]): clients, registered scopes and access tokens, kept
//!   correct by the change counters that triggers maintain (migration 0005):
//!   - the writer reads the counters inside each batch, just before `COMMIT`, and hands them
//!     to the cache once the batch committed: a revocation made through this process is seen
//!     by every request that starts after it was answered;
//!   - when the store's own sqlx pool changed a client, a scope or an access token (management
//!     operations, purge), the next request checks the file;
//!   - changes by **other processes** (the management CLI, another server on the same file)
//!     are found by asking SQLite whether anything was committed since the last look
//!     (`PRAGMA data_version`) and, if so, reading the counters. That check costs a read
//!     transaction (file locks on the shared memory, and after any commit a fresh read of
//!     two pages), so it runs at most once per [`RECHECK`]: a request that starts at least
//!     that long after another process committed sees the change. (Checking on every
//!     request cost a quarter of an introspection.)
//!
//! Account reads by id go to the reader connections too (not cached). Everything else
//! (management operations, purge, account changes, sessions, consents) stays on the sqlx pool.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::model::account::Account;
use portcullis_core::model::client::{AccessTokenFormat, AuthMethod, Client};
use portcullis_core::pkce::CodeChallengeMethod;
use portcullis_core::store::cache::{CacheLimits, ReadCache, Ticket, Versions};
use portcullis_core::store::{StoreError, StoreResult};
use portcullis_core::{
    AccessTokenRecord, AuthorizationCode, RefreshTokenRecord, ScopeDef, ScopeSet, SecretHash,
};
use rusqlite::{Connection, OptionalExtension, Row};
use tokio::sync::oneshot;

/// Most jobs committed together.
const MAX_BATCH: usize = 256;
/// Jobs between two requests to the checkpointer thread. Measured (bench/, 2 cores): at 500,
/// each checkpoint's fsync is long enough to stall commits behind it (one connection: p99
/// 10-12 ms instead of 1-1.5 ms) for no throughput gained at 32.
const KICK_JOBS: usize = 50;
/// Least time between two requests to the checkpointer thread. Under load 50 jobs take a
/// couple of milliseconds, and each checkpoint ends with an `fsync` whatever it copies: the
/// checkpointer was 10 % of an issuance at 32 connections. Spaced by time, a checkpoint copies
/// the same appended tail pages once for several batches.
const KICK_INTERVAL: Duration = Duration::from_millis(10);
/// Jobs between two checkpoints by a leader, which let the WAL start over.
const FINISH_JOBS: usize = 1000;
/// Reader connections.
const READERS: usize = 4;
/// How long without a request before the store lets go of the memory it keeps for speed (see
/// [`Direct::trim_when_idle`]).
pub(crate) const IDLE_TRIM: Duration = Duration::from_secs(2);
/// How long a check for other processes' commits stays good (see the module documentation).
pub(crate) const RECHECK: Duration = Duration::from_millis(1);

/// Direct connections to one database file, and the read cache they keep correct.
pub(crate) struct Direct {
    writer: Mutex<Writer>,
    queue: Mutex<Vec<Box<dyn Job>>>,
    busy: Duration,
    checkpoint: SyncSender<()>,
    watch: Mutex<Watch>,
    /// When the last check of the file started: nanoseconds since `born`.
    checked_at: AtomicU64,
    /// How long a check stays good, in nanoseconds ([`RECHECK`] unless set).
    recheck: AtomicU64,
    born: Instant,
    /// Set when the next request must check the file whatever the time: at start, after the
    /// store's sqlx pool changed something the cache holds, after a batch whose counters were
    /// not read.
    check_due: Arc<AtomicBool>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    cache: ReadCache,
    /// Jobs in the last batch.
    last_batch: AtomicUsize,
    /// Batches committed since the store opened (for the idle trim).
    batches: AtomicU64,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("readers", &self.readers.len()).finish_non_exhaustive()
    }
}

/// The write connection and how much it wrote since the last checkpoints.
struct Writer {
    conn: Connection,
    since_kick: usize,
    since_finish: usize,
    last_kick: Instant,
}

/// The connection that tells what changed: one for all requests, so after a commit only the
/// first check reads the counters again.
struct Watch {
    conn: Connection,
    data_version: Option<i64>,
    versions: Versions,
}

fn open(path: &Path, busy: Duration) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_timeout(busy).map_err(sql_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(sql_err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql_err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl Direct {
    /// Open the writer and readers on a database the sqlx pool has already migrated.
    /// The store sets `check_due` after each pool write to a cached table.
    pub(crate) fn open(path: &Path, busy: Duration, check_due: Arc<AtomicBool>) -> StoreResult<Direct> {
        let writer_conn = open(path, busy)?;
        // Checkpoints copy the WAL back into the database file. A thread of its own does the
        // copying while commits go on (PASSIVE, asked every KICK_JOBS jobs, at most once per
        // KICK_INTERVAL); but with commits
        // never pausing it cannot finish, and the WAL would grow without bound. So every
        // FINISH_JOBS jobs a leader, holding the write connection, checkpoints what is left (a
        // few pages), after which the next commit starts the WAL over.
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(sql_err)?;
        writer_conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(sql_err)?;
        let checkpoint_conn = open(path, busy)?;
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("portcullis-sqlite-checkpoint".into())
            .spawn(move || {
                while kicked.recv().is_ok() {
                    if let Err(e) = checkpoint_conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite checkpointer: {e}")))?;
        let reader = || -> StoreResult<Connection> {
            let conn = open(path, busy)?;
            conn.pragma_update(None, "query_only", "ON").map_err(sql_err)?;
            Ok(conn)
        };
        let watch = Mutex::new(Watch { conn: reader()?, data_version: None, versions: Versions::default() });
        let readers = (0..READERS).map(|_| reader().map(Mutex::new)).collect::<StoreResult<Vec<_>>>()?;
        Ok(Direct {
            writer: Mutex::new(Writer {
                conn: writer_conn,
                since_kick: 0,
                since_finish: 0,
                last_kick: Instant::now(),
            }),
            checkpoint: kick,
            queue: Mutex::new(Vec::new()),
            busy,
            watch,
            checked_at: AtomicU64::new(0),
            recheck: AtomicU64::new(u64::try_from(RECHECK.as_nanos()).unwrap_or(u64::MAX)),
            born: Instant::now(),
            check_due,
            readers,
            next: AtomicUsize::new(0),
            cache: ReadCache::new(CacheLimits::default()),
            last_batch: AtomicUsize::new(0),
            batches: AtomicU64::new(0),
        })
    }

    /// Run `f` in the next batch; answers after the batch commits. `f` may run twice, the
    /// first run rolled back (see [`run_batch`]), so it is a `Fn`.
    pub(crate) async fn write<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        lock(&self.queue).push(Box::new(Op { f, out: None, reply: Some(reply) }));
        if self.last_batch.load(Ordering::Relaxed) > 1 {
            // Under concurrent load, let the requests this worker already has in hand queue
            // their writes first: one commit then serves them all (a commit writes the same
            // few index pages for one token or for a hundred). Alone (the last batch had one
            // job) a request commits at once.
            tokio::task::yield_now().await;
        }
        // Lead one batch (with this job in it) if the write connection is free; whatever is
        // queued after it is drained by a task of its own, so this request is answered now.
        self.after_lead(self.lead_once());
        answer.await.map_err(|_| stopped())?
    }

    /// Start what a leader's outcome calls for.
    fn after_lead(self: &Arc<Self>, led: Led) {
        match led {
            Led::Done | Led::Other => {}
            Led::More => {
                tokio::spawn(Arc::clone(self).drain());
            }
            Led::Busy => {
                // Another process holds the write lock: wait for it off the async workers.
                let me = Arc::clone(self);
                let runtime = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || {
                    if me.lead_patiently() {
                        runtime.spawn(me.drain());
                    }
                });
            }
        }
    }

    /// Lead batch after batch while jobs are queued, yielding between batches.
    async fn drain(self: Arc<Self>) {
        loop {
            match self.lead_once() {
                Led::More => tokio::task::yield_now().await,
                other => return self.after_lead(other),
            }
        }
    }

    /// Run the queue on a blocking thread, waiting for the write connection and for other
    /// processes' write locks. Returns whether jobs are left for an async leader.
    fn lead_patiently(&self) -> bool {
        loop {
            match self.lead_with(lock(&self.writer), true) {
                Led::More => {}
                Led::Done | Led::Other => return false,
                Led::Busy => return !lock(&self.queue).is_empty(),
            }
        }
    }

    /// Run one batch if the write connection is free (`Other` if not).
    fn lead_once(&self) -> Led {
        match self.writer.try_lock() {
            Ok(w) => self.lead_with(w, false),
            Err(std::sync::TryLockError::WouldBlock) => Led::Other,
            Err(std::sync::TryLockError::Poisoned(p)) => self.lead_with(p.into_inner(), false),
        }
    }

    /// Run one batch of what is queued on the held write connection, then checkpoint if due.
    /// Impatient, give up with `Busy` if another process holds the database's write lock.
    fn lead_with(&self, mut w: std::sync::MutexGuard<'_, Writer>, patient: bool) -> Led {
        let wait = if patient { self.busy } else { Duration::ZERO };
        if let Err(e) = w.conn.busy_timeout(wait) {
            tracing::warn!(error = %e, "cannot set the SQLite busy timeout");
        }
        let mut batch = {
            let mut q = lock(&self.queue);
            let n = q.len().min(MAX_BATCH);
            q.drain(..n).collect::<Vec<_>>()
        };
        if !batch.is_empty() {
            let mut versions = None;
            let outcome = match run_batch(&w.conn, &mut batch, &mut versions) {
                Err(Failed::Begin(e)) if !patient && matches!(e, StoreError::Unavailable(_)) => {
                    // Nothing ran: give the batch back, in order, for a patient leader.
                    let mut q = lock(&self.queue);
                    let later = std::mem::take(&mut *q);
                    *q = batch;
                    q.extend(later);
                    return Led::Busy;
                }
                Err(Failed::Begin(e) | Failed::Later(e)) => {
                    // Nothing of a failed batch may stay pending on the connection.
                    let _ = w.conn.execute_batch("ROLLBACK");
                    Err(e)
                }
                Ok(()) => Ok(()),
            };
            if outcome.is_ok() {
                match versions {
                    // What this batch changed is in the cache before any of its callers hears back.
                    Some(v) => {
                        self.cache.observe(v);
                    }
                    // Unknown: the next request checks the file.
                    None => self.check_due.store(true, Ordering::Release),
                }
            }
            let n = batch.len();
            self.last_batch.store(n, Ordering::Relaxed);
            self.batches.fetch_add(1, Ordering::Relaxed);
            for job in batch {
                job.finish(&outcome);
            }
            w.since_kick += n;
            w.since_finish += n;
            if w.since_kick >= KICK_JOBS && w.last_kick.elapsed() >= KICK_INTERVAL {
                w.since_kick = 0;
                w.last_kick = Instant::now();
                // A full channel means a checkpoint is already about to run.
                let _ = self.checkpoint.try_send(());
            }
            if w.since_finish >= FINISH_JOBS {
                w.since_finish = 0;
                if let Err(e) = w.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        }
        drop(w);
        // A job queued after the batch was taken, whose caller found the connection held,
        // would wait for nobody: look again after letting go.
        if lock(&self.queue).is_empty() {
            Led::Done
        } else {
            Led::More
        }
    }

    /// Start a thread that, once no request has used the store for `idle`, lets go of what it
    /// keeps for speed: the read cache and the reader connections' page caches (`PRAGMA
    /// shrink_memory`), so a server that is idle after load returns memory (issue #7). The
    /// next requests fill them again (pages from the operating system's file cache: a few
    /// microseconds each). Requests are never waited for: a connection in use is skipped, as
    /// it means the store is not idle. The thread ends within a second of the store.
    pub(crate) fn trim_when_idle(me: &Arc<Self>, idle: Duration) -> StoreResult<()> {
        let weak = Arc::downgrade(me);
        let tick = idle.min(Duration::from_secs(1));
        std::thread::Builder::new()
            .name("portcullis-sqlite-trim".into())
            .spawn(move || {
                let mut seen = None;
                let mut quiet_since = Instant::now();
                let mut trimmed = true;
                loop {
                    std::thread::sleep(tick);
                    let Some(me) = weak.upgrade() else { return };
                    // Requests leave traces: reads move `checked_at` (at most every RECHECK),
                    // writes count batches.
                    let now = (me.checked_at.load(Ordering::Relaxed), me.batches.load(Ordering::Relaxed));
                    if seen != Some(now) {
                        seen = Some(now);
                        quiet_since = Instant::now();
                        trimmed = false;
                    } else if !trimmed && quiet_since.elapsed() >= idle {
                        me.trim();
                        trimmed = true;
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| StoreError::Backend(format!("cannot start the SQLite idle trim: {e}")))
    }

    /// Whether the read cache holds client `id` (tests).
    #[cfg(test)]
    pub(crate) fn caches_client(&self, id: &str) -> bool {
        self.cache.client(id).is_some()
    }

    /// Let go of the read cache and of the readers' page caches.
    fn trim(&self) {
        // Dropping entries is always correct: a fill in flight is refused (its ticket is older
        // than the cleared state) and the next request reads the database.
        self.cache.clear();
        let shrink = |conn: &Connection| {
            if let Err(e) = conn.execute_batch("PRAGMA shrink_memory") {
                tracing::debug!(error = %e, "PRAGMA shrink_memory failed");
            }
        };
        // Not the writer: a request that finds the write connection held leaves its job to
        // the holder, which must be a leader (and the writer's cache holds the few pages
        // commits touch). Readers and the watch are locked by requests that wait.
        if let Ok(w) = self.watch.try_lock() {
            shrink(&w.conn);
        }
        for r in &self.readers {
            if let Ok(r) = r.try_lock() {
                shrink(&r);
            }
        }
        tracing::debug!("idle: released the read cache and the SQLite page caches");
    }

    /// Run a read on one of the reader connections, in the calling task.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let reader = self.readers[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&reader)
    }

    /// The ticket for fills, after learning what changed (see the module documentation): from
    /// the last check of the file if it started less than [`RECHECK`] ago and the sqlx pool was
    /// not used since, else from a check now.
    fn observe(&self) -> StoreResult<Ticket> {
        let start = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = self.checked_at.load(Ordering::Acquire);
        let recheck = self.recheck.load(Ordering::Relaxed);
        if start.saturating_sub(last) < recheck && !self.check_due.load(Ordering::Acquire) {
            if let Some(ticket) = self.cache.ticket() {
                return Ok(ticket);
            }
        }
        // Taken before the check, so a change made during it is looked for by the next request.
        let due = self.check_due.swap(false, Ordering::AcqRel);
        let checked = self.check_file();
        match checked {
            Ok(_) => {
                self.checked_at.fetch_max(start, Ordering::AcqRel);
            }
            Err(_) if due => self.check_due.store(true, Ordering::Release),
            Err(_) => {}
        }
        checked
    }

    /// Change how long a check for other processes' commits stays good.
    pub(crate) fn set_recheck(&self, every: Duration) {
        self.recheck.store(u64::try_from(every.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Ask SQLite whether anything was committed since the last look; if so read the counters.
    fn check_file(&self) -> StoreResult<Ticket> {
        let mut r = self.watch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let dv: i64 = r
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(sql_err)?;
        if r.data_version != Some(dv) {
            r.versions = read_versions(&r.conn)?;
            r.data_version = Some(dv);
        }
        Ok(self.cache.observe(r.versions))
    }

    pub(crate) fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        Ok(self.get_client_shared(id)?.map(|c| Client::clone(&c)))
    }

    pub(crate) fn get_client_shared(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        let ticket = self.observe()?;
        if let Some(c) = self.cache.client_shared(id) {
            return Ok(Some(c));
        }
        self.read(|conn| {
            let found = conn
                .prepare_cached(&format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = ?1"))
                .and_then(|mut s| s.query_row([id], client_row).optional())
                .map_err(sql_err)?
                .transpose()?;
            if let Some(c) = &found {
                self.cache.put_client(ticket, c);
            }
            Ok(found.map(Arc::new))
        })
    }

    pub(crate) fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        Ok(self.list_scopes_shared()?.as_ref().clone())
    }

    pub(crate) fn list_scopes_shared(&self) -> StoreResult<Arc<Vec<ScopeDef>>> {
        let ticket = self.observe()?;
        if let Some(s) = self.cache.scopes_shared() {
            return Ok(s);
        }
        self.read(|conn| {
            let scopes = conn
                .prepare_cached(
                    "SELECT name, description, is_default, translations FROM scopes ORDER BY name",
                )
                .and_then(|mut s| {
                    s.query_map([], |row| {
                        let translations: String = row.get(3)?;
                        Ok((
                            ScopeDef {
                                name: row.get(0)?,
                                description: row.get(1)?,
                                is_default: row.get(2)?,
                                translations: Default::default(),
                            },
                            translations,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sql_err)?
                .into_iter()
                .map(|(mut def, translations)| {
                    def.translations = json(&translations, "translations")?;
                    Ok(def)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            self.cache.put_scopes(ticket, &scopes);
            Ok(Arc::new(scopes))
        })
    }

    pub(crate) fn get_access(&self, hash: &str) -> StoreResult<Option<AccessTokenRecord>> {
        let ticket = self.observe()?;
        if let Some(rec) = self.cache.access(hash) {
            return Ok(Some(rec));
        }
        self.read(|conn| {
            let found = conn
                .prepare_cached(&format!("SELECT {ACCESS_COLUMNS} FROM access_tokens WHERE hash = ?1"))
                .and_then(|mut s| s.query_row([hash], access_row).optional())
                .map_err(sql_err)?;
            if let Some(rec) = &found {
                self.cache.put_access(ticket, rec);
            }
            Ok(found)
        })
    }

    /// An account by id (userinfo, ID token claims, the password grant): a point read on a
    /// reader connection, not cached (accounts have no change counter).
    pub(crate) fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, username, password_hash, claims, created_at, updated_at \
                 FROM accounts WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([id], account_row).optional())
            .map_err(sql_err)?
            .transpose()
        })
    }

    pub(crate) fn get_code(&self, hash: &str, now: i64) -> StoreResult<Option<AuthorizationCode>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {CODE_COLUMNS} FROM authorization_codes \
                     WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2"
            ))
            .and_then(|mut s| s.query_row(rusqlite::params![hash, now], code_row).optional())
            .map_err(sql_err)?
            .transpose()
        })
    }

    pub(crate) fn get_refresh(&self, hash: &str, now: i64) -> StoreResult<Option<RefreshTokenRecord>> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {REFRESH_COLUMNS} FROM refresh_tokens \
                     WHERE hash = ?1 AND consumed_at IS NULL AND revoked = 0 AND expires_at > ?2"
            ))
            .and_then(|mut s| s.query_row(rusqlite::params![hash, now], refresh_row).optional())
            .map_err(sql_err)
        })
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite write was abandoned".into())
}

// ---------------------------------------------------------------------- group commit

/// A queued write: run inside the batch's transaction, then told how the batch ended.
trait Job: Send {
    /// Run in a savepoint; `false` rolls the savepoint back.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answer the caller once the batch committed (or failed).
    fn finish(self: Box<Self>, batch: &StoreResult<()>);
}

struct Op<T, F> {
    f: F,
    out: Option<StoreResult<T>>,
    reply: Option<oneshot::Sender<StoreResult<T>>>,
}

impl<T, F> Job for Op<T, F>
where
    T: Send,
    F: Fn(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let out = (self.f)(conn);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, batch: &StoreResult<()>) {
        let out = match (self.out, batch) {
            // A job that failed was rolled back alone: its own error stands.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Err(StoreError::Backend("a write job did not run".into())),
        };
        if let Some(reply) = self.reply {
            // The caller may have gone away; the rows are committed either way.
            let _ = reply.send(out);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Led {
    /// The queue was empty when this leader let go.
    Done,
    /// Jobs are queued after this leader's batch.
    More,
    /// Another caller holds the write connection; it looks at the queue when it lets go.
    Other,
    /// Another process holds the write lock; the queue needs a patient leader.
    Busy,
}

/// Where a batch failed: before anything ran (it can be retried), or later.
enum Failed {
    Begin(StoreError),
    Later(StoreError),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Run a batch in one transaction; `versions` gets the change counters as committed (read
/// just before `COMMIT`, under the write lock, so nothing can come between).
fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn Job>],
    versions: &mut Option<Versions>,
) -> Result<(), Failed> {
    let run =
        |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(sql_err);
    run("BEGIN IMMEDIATE").map_err(Failed::Begin)?;
    let later = |r: StoreResult<()>| r.map_err(Failed::Later);
    // Every job, one after the other, straight in the transaction: jobs almost never fail (a
    // constraint violation, an I/O error). No savepoint for the lot: with one open, SQLite
    // copies every page a job first changes into its sub-journal (3 % of an issuance in the
    // profile), and two statements per job were visible too.
    if !batch.iter_mut().all(|job| job.run(conn)) {
        // Start over, each job in a savepoint of its own, so a failing one rolls back alone.
        // Jobs are `Fn`, and the rolled-back first run left nothing. Another process may take
        // the write lock between the two transactions: then nothing ran and nothing stays.
        later(run("ROLLBACK"))?;
        if batch.len() == 1 {
            // Alone in its batch, a failed job rolled back with its transaction.
            return Ok(());
        }
        run("BEGIN IMMEDIATE").map_err(Failed::Later)?;
        for job in batch.iter_mut() {
            later(run("SAVEPOINT job"))?;
            if !job.run(conn) {
                later(run("ROLLBACK TO job"))?;
            }
            later(run("RELEASE job"))?;
        }
    }
    *versions = read_versions(conn).ok();
    later(run("COMMIT"))
}

fn read_versions(conn: &Connection) -> StoreResult<Versions> {
    conn.prepare_cached("SELECT clients, scopes, access_tokens FROM change_versions WHERE id = 1")
        .and_then(|mut s| {
            s.query_row([], |row| {
                Ok(Versions { clients: row.get(0)?, scopes: row.get(1)?, access_tokens: row.get(2)? })
            })
        })
        .map_err(sql_err)
}

// ----------------------------------------------------------------------- write operations

pub(crate) fn save_tokens(
    conn: &Connection,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> StoreResult<()> {
    let conflict = |e| conflict_or(e, "a token with this hash already exists");
    // Tokens saved into a family revoked before are stored revoked (the write lock orders
    // this against `revoke_family`; see the TokenStore docs).
    conn.prepare_cached(
        "INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, \
         expires_at, revoked, refresh_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
         ?8 OR EXISTS (SELECT 1 FROM revoked_families WHERE family = ?2), ?9)",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            access.hash,
            access.family,
            access.client_id,
            access.subject,
            access.scopes.to_string(),
            access.issued_at,
            access.expires_at,
            access.revoked,
            access.refresh_hash,
        ])
    })
    .map_err(conflict)?;
    if let Some(r) = refresh {
        conn.prepare_cached(
            "INSERT INTO refresh_tokens (hash, family, client_id, subject, scopes, auth_time, \
             issued_at, expires_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
             EXISTS (SELECT 1 FROM revoked_families WHERE family = ?2))",
        )
        .and_then(|mut s| {
            s.execute(rusqlite::params![
                r.hash,
                r.family,
                r.client_id,
                r.subject,
                r.scopes.to_string(),
                r.auth_time,
                r.issued_at,
                r.expires_at,
            ])
        })
        .map_err(conflict)?;
    }
    Ok(())
}

/// Consumes an unexpired, unconsumed code (?1 hash, ?2 now).
pub(crate) const CONSUME_CODE: &str = "UPDATE authorization_codes SET consumed_at = ?2 \
     WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2";
/// The family of a code that was consumed already and is unexpired: a replay (RFC 6749 §4.1.2).
pub(crate) const CODE_REPLAY: &str = "SELECT family FROM authorization_codes \
     WHERE hash = ?1 AND expires_at > ?2 AND consumed_at IS NOT NULL";
/// Consumes an active refresh token (?1 hash, ?2 now).
pub(crate) const CONSUME_REFRESH: &str = "UPDATE refresh_tokens SET consumed_at = ?2 \
     WHERE hash = ?1 AND consumed_at IS NULL AND revoked = 0 AND expires_at > ?2";
/// The family of an unexpired refresh token rotated out or revoked: a replay (RFC 9700 §4.14.2).
pub(crate) const REFRESH_REPLAY: &str = "SELECT family FROM refresh_tokens \
     WHERE hash = ?1 AND expires_at > ?2 AND (consumed_at IS NOT NULL OR revoked <> 0)";

/// Consume a code or refresh token (`consume`, `replay`: the statements above) and store the
/// tokens issued for it, in the caller's transaction: nothing is written unless the take is
/// `Fresh`. When the save fails the job fails, and its savepoint takes the consumption back.
pub(crate) fn redeem(
    conn: &Connection,
    consume: &str,
    replay: &str,
    hash: &str,
    now: i64,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> StoreResult<portcullis_core::Take<()>> {
    use portcullis_core::Take;
    if execute(conn, consume, rusqlite::params![hash, now])? == 0 {
        return Ok(match replay_family(conn, replay, hash, now)? {
            Some(family) => Take::Replayed { family },
            None => Take::Unknown,
        });
    }
    save_tokens(conn, access, refresh)?;
    Ok(Take::Fresh(()))
}

fn replay_family(conn: &Connection, replay: &str, hash: &str, now: i64) -> StoreResult<Option<String>> {
    conn.prepare_cached(replay)
        .and_then(|mut s| s.query_row(rusqlite::params![hash, now], |row| row.get(0)).optional())
        .map_err(sql_err)
}

/// The consuming update, then (when nothing was consumed) whether it was a replay.
pub(crate) fn take<T>(
    conn: &Connection,
    take_sql: &str,
    replay_sql: &str,
    hash: &str,
    now: i64,
    map: fn(&Row<'_>) -> rusqlite::Result<StoreResult<T>>,
) -> StoreResult<portcullis_core::Take<T>> {
    use portcullis_core::Take;
    let taken = conn
        .prepare_cached(take_sql)
        .and_then(|mut s| s.query_row(rusqlite::params![hash, now], map).optional())
        .map_err(sql_err)?;
    if let Some(rec) = taken {
        return Ok(Take::Fresh(rec?));
    }
    Ok(match replay_family(conn, replay_sql, hash, now)? {
        Some(family) => Take::Replayed { family },
        None => Take::Unknown,
    })
}

pub(crate) fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<u64> {
    let n = conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(sql_err)?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

pub(crate) fn create_code(conn: &Connection, code: &AuthorizationCode) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO authorization_codes (hash, family, client_id, subject, redirect_uri, \
         redirect_uri_given, scopes, code_challenge, code_challenge_method, nonce, auth_time, \
         issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut s| {
        s.execute(rusqlite::params![
            code.hash,
            code.family,
            code.client_id,
            code.subject,
            code.redirect_uri,
            code.redirect_uri_given,
            code.scopes.to_string(),
            code.code_challenge,
            code.code_challenge_method.map(CodeChallengeMethod::as_str),
            code.nonce,
            code.auth_time,
            code.issued_at,
            code.expires_at,
        ])
    })
    .map_err(|e| conflict_or(e, "an authorization code with this hash already exists"))?;
    Ok(())
}

// ------------------------------------------------------------------------------ rows

const CLIENT_COLUMNS: &str = "id, name, secret, redirect_uris, grant_types, scopes, auth_method, trusted, \
     access_token_lifetime, refresh_token_lifetime, authorization_code_lifetime, created_at, updated_at, \
     access_token_format";
pub(crate) const ACCESS_COLUMNS: &str =
    "hash, family, client_id, subject, scopes, issued_at, expires_at, revoked, refresh_hash";
pub(crate) const REFRESH_COLUMNS: &str =
    "hash, family, client_id, subject, scopes, auth_time, issued_at, expires_at";
pub(crate) const CODE_COLUMNS: &str = "hash, family, client_id, subject, redirect_uri, redirect_uri_given, \
     scopes, code_challenge, code_challenge_method, nonce, auth_time, issued_at, expires_at";

fn client_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<Client>> {
    let secret: Option<String> = row.get(2)?;
    let redirect_uris: String = row.get(3)?;
    let grant_types: String = row.get(4)?;
    let scopes: String = row.get(5)?;
    let method: String = row.get(6)?;
    let (id, name): (String, String) = (row.get(0)?, row.get(1)?);
    let (trusted, at, rt, ac): (bool, Option<i64>, Option<i64>, Option<i64>) =
        (row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?);
    let (created_at, updated_at): (i64, i64) = (row.get(11)?, row.get(12)?);
    let format: String = row.get(13)?;
    Ok((|| {
        let secret =
            match secret {
                None => None,
                // Never echo the stored value: it is a secret hash.
                Some(s) => Some(SecretHash::from_stored(&s).ok_or_else(|| {
                    StoreError::Backend("stored client secret has an unknown format".into())
                })?),
            };
        let auth_method = AuthMethod::parse(&method)
            .ok_or_else(|| StoreError::Backend(format!("unknown token_endpoint_auth_method {method:?}")))?;
        let access_token_format = AccessTokenFormat::parse(&format)
            .ok_or_else(|| StoreError::Backend(format!("unknown access_token_format {format:?}")))?;
        Ok(Client {
            id,
            name,
            secret,
            redirect_uris: json(&redirect_uris, "redirect_uris")?,
            grant_types: json(&grant_types, "grant_types")?,
            scopes: ScopeSet::from_stored(&scopes),
            auth_method,
            trusted,
            access_token_lifetime: at,
            refresh_token_lifetime: rt,
            authorization_code_lifetime: ac,
            access_token_format,
            created_at,
            updated_at,
        })
    })())
}

fn account_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<Account>> {
    let claims: String = row.get(3)?;
    Ok(Ok(Account {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        claims: match json(&claims, "claims") {
            Ok(claims) => claims,
            Err(e) => return Ok(Err(e)),
        },
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    }))
}

fn json<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("column {name} is not valid JSON: {e}")))
}

fn access_row(row: &Row<'_>) -> rusqlite::Result<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        hash: row.get(0)?,
        family: row.get(1)?,
        client_id: row.get(2)?,
        subject: row.get(3)?,
        scopes: ScopeSet::from_stored(&row.get::<_, String>(4)?),
        issued_at: row.get(5)?,
        expires_at: row.get(6)?,
        revoked: row.get(7)?,
        refresh_hash: row.get(8)?,
    })
}

pub(crate) fn refresh_row(row: &Row<'_>) -> rusqlite::Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: row.get(0)?,
        family: row.get(1)?,
        client_id: row.get(2)?,
        subject: row.get(3)?,
        scopes: ScopeSet::from_stored(&row.get::<_, String>(4)?),
        auth_time: row.get(5)?,
        issued_at: row.get(6)?,
        expires_at: row.get(7)?,
    })
}

pub(crate) fn refresh_row_ok(row: &Row<'_>) -> rusqlite::Result<StoreResult<RefreshTokenRecord>> {
    refresh_row(row).map(Ok)
}

pub(crate) fn code_row(row: &Row<'_>) -> rusqlite::Result<StoreResult<AuthorizationCode>> {
    let method: Option<String> = row.get(8)?;
    let code_challenge_method = match method {
        None => None,
        Some(m) => match CodeChallengeMethod::parse(&m) {
            Some(m) => Some(m),
            None => return Ok(Err(StoreError::Backend(format!("unknown code_challenge_method {m:?}")))),
        },
    };
    Ok(Ok(AuthorizationCode {
        hash: row.get(0)?,
        family: row.get(1)?,
        client_id: row.get(2)?,
        subject: row.get(3)?,
        redirect_uri: row.get(4)?,
        redirect_uri_given: row.get(5)?,
        scopes: ScopeSet::from_stored(&row.get::<_, String>(6)?),
        code_challenge: row.get(7)?,
        code_challenge_method,
        nonce: row.get(9)?,
        auth_time: row.get(10)?,
        issued_at: row.get(11)?,
        expires_at: row.get(12)?,
    }))
}

// ---------------------------------------------------------------------------- errors

/// Map a rusqlite error onto the store's vocabulary (messages name tables and columns, never
/// bound values).
pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode as C;
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                C::ConstraintViolation if matches!(f.extended_code, 1555 | 2067) => {
                    StoreError::Conflict(text)
                }
                C::DatabaseBusy | C::DatabaseLocked | C::SystemIoFailure | C::DiskFull | C::CannotOpen => {
                    StoreError::Unavailable(text)
                }
                _ => StoreError::Backend(text),
            }
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn conflict_or(e: rusqlite::Error, what: &str) -> StoreError {
    match sql_err(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.to_owned()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn job(sql: &'static str) -> (Box<dyn Job>, oneshot::Receiver<StoreResult<u64>>) {
        let (reply, answer) = oneshot::channel();
        let f = move |conn: &Connection| execute(conn, sql, []);
        (Box::new(Op { f, out: None, reply: Some(reply) }), answer)
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY);
             CREATE TABLE change_versions (id INTEGER PRIMARY KEY, clients INTEGER, scopes INTEGER,
                 access_tokens INTEGER);
             INSERT INTO change_versions VALUES (1, 7, 8, 9);
             INSERT INTO t VALUES ('taken');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_failing_job_rolls_back_alone_and_the_others_commit_once() {
        let conn = db();
        let (a, ra) = job("INSERT INTO t VALUES ('a')");
        let (dup, rdup) = job("INSERT INTO t VALUES ('taken')");
        let (b, rb) = job("INSERT INTO t VALUES ('b')");
        let mut batch = vec![a, dup, b];
        let mut versions = None;
        let outcome = run_batch(&conn, &mut batch, &mut versions).map_err(|_| ());
        assert!(outcome.is_ok());
        assert_eq!(versions, Some(Versions { clients: 7, scopes: 8, access_tokens: 9 }));
        for j in batch {
            j.finish(&Ok(()));
        }
        assert_eq!(ra.blocking_recv().unwrap().unwrap(), 1);
        assert!(matches!(rdup.blocking_recv().unwrap(), Err(StoreError::Conflict(_))));
        assert_eq!(rb.blocking_recv().unwrap().unwrap(), 1);
        let rows: Vec<String> = conn
            .prepare("SELECT k FROM t ORDER BY k")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, ["a", "b", "taken"], "each job ran exactly once in what was committed");
        assert!(conn.is_autocommit(), "no transaction is left open");
    }

    #[test]
    fn a_failing_job_alone_rolls_back_its_transaction() {
        let conn = db();
        let (dup, rdup) = job("INSERT INTO t VALUES ('taken')");
        let mut batch = vec![dup];
        let mut versions = None;
        assert!(run_batch(&conn, &mut batch, &mut versions).is_ok());
        for j in batch {
            j.finish(&Ok(()));
        }
        assert!(matches!(rdup.blocking_recv().unwrap(), Err(StoreError::Conflict(_))));
        assert!(conn.is_autocommit());
    }
}
