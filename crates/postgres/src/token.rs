//! Access and refresh tokens (`portcullis_core::store::TokenStore`), with refresh rotation and
//! reuse detection (RFC 6749 §6, RFC 9700 §4.14.2) and revocation (RFC 7009).

use portcullis_core::store::{StoreError, StoreResult, TokenFilter, TokenStore, TokenSummary};
use portcullis_core::{AccessTokenRecord, RefreshTokenRecord, ScopeSet, Take, UnixTime};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Transaction};

use crate::{batch, col, conflict_err, db_err, storable, PostgresStore};

const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";

fn access_from_row(row: &PgRow) -> StoreResult<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        hash: col(row, "hash")?,
        family: col(row, "family")?,
        client_id: col(row, "client_id")?,
        subject: col(row, "subject")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        issued_at: col(row, "issued_at")?,
        expires_at: col(row, "expires_at")?,
        revoked: col(row, "revoked")?,
        refresh_hash: col(row, "refresh_hash")?,
    })
}

fn refresh_from_row(row: &PgRow) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: col(row, "hash")?,
        family: col(row, "family")?,
        client_id: col(row, "client_id")?,
        subject: col(row, "subject")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        auth_time: col(row, "auth_time")?,
        issued_at: col(row, "issued_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// The `AND …` conditions of a filter and the values to bind to them, in order; placeholders
/// are numbered from `$first`.
fn filter_sql(filter: &TokenFilter, first: usize) -> (String, Vec<&str>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    for (column, value) in [("client_id", &filter.client_id), ("subject", &filter.subject)] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = ${}", first + binds.len()));
            binds.push(value.as_str());
        }
    }
    (sql, binds)
}

/// Whether a filter can match anything (see [`storable`]).
fn filter_storable(filter: &TokenFilter) -> bool {
    filter.client_id.as_deref().is_none_or(storable) && filter.subject.as_deref().is_none_or(storable)
}

/// Revoke the live rows of one token table matching a filter; returns how many.
async fn revoke_matching(
    tx: &mut Transaction<'static, Postgres>,
    table: &str,
    filter: &TokenFilter,
) -> StoreResult<u64> {
    let (conditions, binds) = filter_sql(filter, 1);
    let live = if table == "refresh_tokens" { "NOT revoked AND consumed_at IS NULL" } else { "NOT revoked" };
    let sql = format!("UPDATE {table} SET revoked = TRUE WHERE {live}{conditions}");
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    Ok(query.execute(&mut **tx).await.map_err(db_err)?.rows_affected())
}

/// The advisory lock class of token families (the second key is the family's hash). Advisory
/// locks with two keys never collide with sqlx's single-key migration lock.
const FAMILY_LOCK_CLASS: i32 = 0x5043_6661; // "PCfa"

/// Serialise `save_tokens` and `revoke_family` on one family until the transaction ends.
/// Without it, under READ COMMITTED a revocation could miss tokens a concurrent save has not
/// committed yet, and the save could miss the revocation's mark. Families whose hashes
/// collide merely wait for each other.
async fn lock_family(tx: &mut Transaction<'static, Postgres>, family: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(FAMILY_LOCK_CLASS)
        .bind(family)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn summary_from_row(row: &PgRow, kind: &'static str) -> StoreResult<TokenSummary> {
    let hash: String = col(row, "hash")?;
    Ok(TokenSummary {
        kind,
        hash_prefix: hash.chars().take(12).collect(),
        family: col(row, "family")?,
        client_id: col(row, "client_id")?,
        subject: col(row, "subject")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        issued_at: col(row, "issued_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// Insert an access token and its refresh token: one call of `portcullis_save_tokens`
/// (migration 0003), which takes the family lock and inserts both rows, a transaction of its
/// own in one round trip.
async fn insert_tokens(
    pool: &PgPool,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> StoreResult<()> {
    // Ordered against `revoke_family` by the family lock (see `lock_family`): tokens of a
    // family revoked before are stored revoked; a revocation after sees these rows.
    let query = sqlx::query(
        "SELECT portcullis_save_tokens($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18)",
    );
    bind_tokens(query, access, refresh).execute(pool).await.map_err(conflict_err(TOKEN_CLASH))?;
    Ok(())
}

const TOKEN_CLASH: &str = "a token with this hash already exists";

/// A `save_tokens` request, stored with those queued alongside it (group commit,
/// `batch.rs`) by one call of `portcullis_save_token_batch` (migration 0005).
#[derive(Debug)]
pub(crate) struct Save {
    access: AccessTokenRecord,
    refresh: Option<RefreshTokenRecord>,
}

impl batch::Job for Save {
    type Answer = ();

    async fn store_batch(pool: &PgPool, jobs: &[Save]) -> Result<Vec<StoreResult<()>>, sqlx::Error> {
        let query = sqlx::query(
            "SELECT portcullis_save_token_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18)",
        )
        .bind(FAMILY_LOCK_CLASS);
        bind_token_arrays(query, jobs.iter().map(|j| (&j.access, j.refresh.as_ref()))).execute(pool).await?;
        Ok(jobs.iter().map(|_| Ok(())).collect())
    }

    async fn store_one(pool: &PgPool, job: &Save) -> StoreResult<()> {
        insert_tokens(pool, &job.access, job.refresh.as_ref()).await
    }
}

/// Bind the columns of access tokens and their refresh tokens as arrays, one element per
/// token (the refresh token's columns NULL without one): the trailing parameters of
/// `portcullis_save_token_batch` and `portcullis_redeem_batch`, in their order.
fn bind_token_arrays<'q, 'r>(
    query: Query<'q, Postgres, PgArguments>,
    tokens: impl Iterator<Item = (&'r AccessTokenRecord, Option<&'r RefreshTokenRecord>)> + Clone,
) -> Query<'q, Postgres, PgArguments> {
    let access = || tokens.clone().map(|(a, _)| a);
    let refresh = || tokens.clone().map(|(_, r)| r);
    query
        .bind(access().map(|a| a.hash.clone()).collect::<Vec<_>>())
        .bind(access().map(|a| a.family.clone()).collect::<Vec<_>>())
        .bind(access().map(|a| a.client_id.clone()).collect::<Vec<_>>())
        .bind(access().map(|a| a.subject.clone()).collect::<Vec<_>>())
        .bind(access().map(|a| a.scopes.to_string()).collect::<Vec<_>>())
        .bind(access().map(|a| a.issued_at).collect::<Vec<_>>())
        .bind(access().map(|a| a.expires_at).collect::<Vec<_>>())
        .bind(access().map(|a| a.revoked).collect::<Vec<_>>())
        .bind(access().map(|a| a.refresh_hash.clone()).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.hash.clone())).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.family.clone())).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.client_id.clone())).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.and_then(|r| r.subject.clone())).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.scopes.to_string())).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.and_then(|r| r.auth_time)).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.issued_at)).collect::<Vec<_>>())
        .bind(refresh().map(|r| r.map(|r| r.expires_at)).collect::<Vec<_>>())
}

/// Bind the family lock's class, then the access token's and the refresh token's columns (all
/// NULL without one): the trailing parameters of `portcullis_save_tokens` and
/// `portcullis_redeem`, in their order.
fn bind_tokens<'q>(
    query: Query<'q, Postgres, PgArguments>,
    access: &'q AccessTokenRecord,
    refresh: Option<&'q RefreshTokenRecord>,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(FAMILY_LOCK_CLASS)
        .bind(&access.hash)
        .bind(&access.family)
        .bind(&access.client_id)
        .bind(&access.subject)
        .bind(access.scopes.to_string())
        .bind(access.issued_at)
        .bind(access.expires_at)
        .bind(access.revoked)
        .bind(&access.refresh_hash)
        .bind(refresh.map(|r| &r.hash))
        .bind(refresh.map(|r| &r.family))
        .bind(refresh.map(|r| &r.client_id))
        .bind(refresh.and_then(|r| r.subject.as_ref()))
        .bind(refresh.map(|r| r.scopes.to_string()))
        .bind(refresh.and_then(|r| r.auth_time))
        .bind(refresh.map(|r| r.issued_at))
        .bind(refresh.map(|r| r.expires_at))
}

/// Revoke the access tokens issued with refresh token `$1` (`revoke_refresh`). They are in
/// its family, whose index finds them: `refresh_hash` has none (migration 0007).
pub const REVOKE_ISSUED_WITH_REFRESH: &str = "UPDATE access_tokens SET revoked = TRUE \
     WHERE family = (SELECT family FROM refresh_tokens WHERE hash = $1) AND family <> hash \
     AND refresh_hash = $1";

/// Mark a family revoked until its last row expires, so tokens a concurrent redemption saves
/// into it afterwards are stored revoked (see `TokenStore::revoke_family`). Access tokens are
/// found as in [`REVOKE_FAMILY_ACCESS`].
pub const MARK_REVOKED_FAMILY: &str = "INSERT INTO revoked_families (family, expires_at) \
     SELECT $1, until FROM (SELECT MAX(e) AS until FROM ( \
       SELECT MAX(expires_at) AS e FROM authorization_codes WHERE family = $1 \
       UNION ALL SELECT MAX(expires_at) FROM access_tokens WHERE family = $1 AND family <> hash \
       UNION ALL SELECT expires_at FROM access_tokens WHERE hash = $1 AND family = hash \
       UNION ALL SELECT MAX(expires_at) FROM refresh_tokens WHERE family = $1) rows) m \
     WHERE until IS NOT NULL \
     ON CONFLICT (family) DO UPDATE \
     SET expires_at = GREATEST(revoked_families.expires_at, EXCLUDED.expires_at)";

/// Revoke a family's access tokens: those that share it (through the partial family index,
/// migration 0008: hence `family <> hash`) and the one that is a family of its own, by key.
pub const REVOKE_FAMILY_ACCESS: [&str; 2] = [
    "UPDATE access_tokens SET revoked = TRUE WHERE family = $1 AND family <> hash AND NOT revoked",
    "UPDATE access_tokens SET revoked = TRUE WHERE hash = $1 AND family = hash AND NOT revoked",
];

/// The family of a consumed, unexpired code: a replay (RFC 6749 §4.1.2).
pub(crate) const CODE_REPLAY: &str = "SELECT family FROM authorization_codes \
     WHERE hash = $1 AND expires_at > $2 AND consumed_at IS NOT NULL";
/// The family of an unexpired refresh token rotated out or revoked: a replay (RFC 9700 §4.14.2).
const REFRESH_REPLAY: &str = "SELECT family FROM refresh_tokens \
     WHERE hash = $1 AND expires_at > $2 AND (consumed_at IS NOT NULL OR revoked)";

/// A redemption, `redeem_code` (`is_code`) or `rotate_refresh`: consume a code or refresh
/// token and store the tokens issued for it in one transaction; if it fails, nothing of it
/// stays. Alone, one call of `portcullis_redeem` (migration 0004, which documents the
/// locking); with those queued alongside it (group commit, `batch.rs`), one call of
/// `portcullis_redeem_batch` (migration 0006).
#[derive(Debug)]
pub(crate) struct Redeem {
    is_code: bool,
    credential: String,
    now: UnixTime,
    access: AccessTokenRecord,
    refresh: Option<RefreshTokenRecord>,
}

impl batch::Job for Redeem {
    type Answer = Take<()>;

    async fn store_batch(pool: &PgPool, jobs: &[Redeem]) -> Result<Vec<StoreResult<Take<()>>>, sqlx::Error> {
        let query = sqlx::query(
            "SELECT job, outcome, replay_family FROM portcullis_redeem_batch($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) ORDER BY job",
        )
        .bind(FAMILY_LOCK_CLASS)
        .bind(jobs.iter().map(|j| j.is_code).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.credential.clone()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.now).collect::<Vec<_>>());
        let rows = bind_token_arrays(query, jobs.iter().map(|j| (&j.access, j.refresh.as_ref())))
            .fetch_all(pool)
            .await?;
        Ok(rows.iter().map(redeemed).collect())
    }

    async fn store_one(pool: &PgPool, job: &Redeem) -> StoreResult<Take<()>> {
        let query = sqlx::query(
            "SELECT outcome, replay_family FROM portcullis_redeem($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        )
        .bind(job.is_code)
        .bind(&job.credential)
        .bind(job.now);
        let row = bind_tokens(query, &job.access, job.refresh.as_ref())
            .fetch_one(pool)
            .await
            .map_err(conflict_err(TOKEN_CLASH))?;
        redeemed(&row)
    }
}

/// A redemption's answer from its `outcome` and `replay_family` (migration 0004).
fn redeemed(row: &PgRow) -> StoreResult<Take<()>> {
    match col::<String>(row, "outcome")?.as_str() {
        "fresh" => Ok(Take::Fresh(())),
        "replayed" => Ok(Take::Replayed { family: col(row, "replay_family")? }),
        "unknown" => Ok(Take::Unknown),
        other => Err(StoreError::Backend(format!("portcullis_redeem answered {other:?}"))),
    }
}

impl PostgresStore {
    /// `redeem_code` (`is_code`) and `rotate_refresh`, through the group commit.
    pub(crate) async fn redeem(
        &self,
        is_code: bool,
        hash: &str,
        now: UnixTime,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        let job = Redeem {
            is_code,
            credential: hash.to_owned(),
            now,
            access: access.clone(),
            refresh: refresh.cloned(),
        };
        self.redemptions.submit(&self.pool, job).await
    }
}

#[async_trait::async_trait]
impl TokenStore for PostgresStore {
    async fn save_tokens(
        &self,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<()> {
        self.saves.submit(&self.pool, Save { access: access.clone(), refresh: refresh.cloned() }).await
    }

    /// From the read cache when it may be used (`cache.rs`): introspection and bearer checks
    /// look tokens up here. Only tokens that exist are kept; a revocation or deletion
    /// anywhere drops them (RFC 7009 §2: other nodes within the notification's delay).
    async fn get_access(&self, hash: &str) -> StoreResult<Option<AccessTokenRecord>> {
        // The ticket comes before the read, so a change observed meanwhile refuses the fill.
        let ticket = self.cache.ticket(&self.pool).await?;
        if ticket.is_some() {
            if let Some(rec) = self.cache.access(hash) {
                return Ok(Some(rec));
            }
        }
        let row = sqlx::query("SELECT * FROM access_tokens WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let found = row.as_ref().map(access_from_row).transpose()?;
        if let (Some(ticket), Some(rec)) = (ticket, &found) {
            self.cache.put_access(ticket, rec);
        }
        Ok(found)
    }

    async fn get_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query(
            "SELECT * FROM refresh_tokens \
             WHERE hash = $1 AND consumed_at IS NULL AND NOT revoked AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    async fn take_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Take<RefreshTokenRecord>> {
        // One statement consumes the token, so concurrent rotations yield exactly one `Fresh`:
        // the others wait on the row lock, then find `consumed_at` set (see `take_code`).
        let rows = sqlx::query(
            "UPDATE refresh_tokens SET consumed_at = $2 \
             WHERE hash = $1 AND consumed_at IS NULL AND NOT revoked AND expires_at > $2 RETURNING *",
        )
        .bind(hash)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(row) = rows.first() {
            return Ok(Take::Fresh(refresh_from_row(row)?));
        }
        // RFC 9700 §4.14.2: an unexpired token presented again after rotation or revocation is a
        // replay; a missing or expired one is unknown.
        let prior = sqlx::query(REFRESH_REPLAY)
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match prior {
            Some(row) => Ok(Take::Replayed { family: col(&row, "family")? }),
            None => Ok(Take::Unknown),
        }
    }

    async fn rotate_refresh(
        &self,
        hash: &str,
        now: UnixTime,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        self.redeem(false, hash, now, access, refresh).await
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        lock_family(&mut tx, family).await?;
        // Mark the family, so tokens a concurrent redemption saves into it later are stored
        // revoked; the mark lasts as long as the family's rows do now.
        sqlx::query(MARK_REVOKED_FAMILY).bind(family).execute(&mut *tx).await.map_err(db_err)?;
        let mut access = 0;
        for sql in REVOKE_FAMILY_ACCESS {
            access += sqlx::query(sql).bind(family).execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        // A rotated-out (consumed) refresh token is no longer active; it still answers
        // `Replayed` to a take, so it needs no change.
        let refresh = sqlx::query(
            "UPDATE refresh_tokens SET revoked = TRUE WHERE family = $1 AND NOT revoked AND consumed_at IS NULL",
        )
        .bind(family)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let committed = tx.commit().await;
        self.changed().await;
        committed.map_err(db_err)?;
        Ok(access + refresh)
    }

    async fn revoke_access(&self, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE access_tokens SET revoked = TRUE WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await;
        self.changed().await;
        Ok(done.map_err(db_err)?.rows_affected() > 0)
    }

    async fn revoke_refresh(&self, hash: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Ok(false); // dropping `tx` rolls back
        }
        // RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens issued
        // with it.
        sqlx::query(REVOKE_ISSUED_WITH_REFRESH).bind(hash).execute(&mut *tx).await.map_err(db_err)?;
        let committed = tx.commit().await;
        self.changed().await;
        committed.map_err(db_err)?;
        Ok(true)
    }

    async fn list_tokens(&self, filter: &TokenFilter, now: UnixTime) -> StoreResult<Vec<TokenSummary>> {
        if !filter_storable(filter) {
            return Ok(Vec::new());
        }
        let (conditions, binds) = filter_sql(filter, 2);
        let mut out = Vec::new();
        for (table, kind, live) in [
            ("access_tokens", ACCESS, "NOT revoked"),
            ("refresh_tokens", REFRESH, "NOT revoked AND consumed_at IS NULL"),
        ] {
            let sql = format!(
                "SELECT hash, family, client_id, subject, scopes, issued_at, expires_at FROM {table} \
                 WHERE {live} AND expires_at > $1{conditions}"
            );
            let mut query = sqlx::query(&sql).bind(now);
            for b in &binds {
                query = query.bind(*b);
            }
            for row in query.fetch_all(&self.pool).await.map_err(db_err)? {
                out.push(summary_from_row(&row, kind)?);
            }
        }
        // Newest first; ties in a stable order.
        out.sort_by(|a, b| {
            b.issued_at.cmp(&a.issued_at).then(a.kind.cmp(b.kind)).then(a.hash_prefix.cmp(&b.hash_prefix))
        });
        Ok(out)
    }

    async fn revoke_tokens(&self, filter: &TokenFilter) -> StoreResult<u64> {
        if !filter_storable(filter) {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let access = revoke_matching(&mut tx, "access_tokens", filter).await?;
        let refresh = revoke_matching(&mut tx, "refresh_tokens", filter).await?;
        let committed = tx.commit().await;
        self.changed().await;
        committed.map_err(db_err)?;
        Ok(access + refresh)
    }
}
