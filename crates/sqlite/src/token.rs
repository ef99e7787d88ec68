//! Access and refresh tokens (`portcullis_core::store::TokenStore`), with refresh rotation and
//! reuse detection (RFC 6749 §6, RFC 9700 §4.14.2) and revocation (RFC 7009).

use portcullis_core::store::{StoreResult, TokenFilter, TokenStore, TokenSummary};
use portcullis_core::{AccessTokenRecord, RefreshTokenRecord, ScopeSet, Take, UnixTime};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};

use crate::{col, conflict_err, db_err, direct, SqliteStore};

const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";

fn access_from_row(row: &SqliteRow) -> StoreResult<AccessTokenRecord> {
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

fn refresh_from_row(row: &SqliteRow) -> StoreResult<RefreshTokenRecord> {
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

/// The `AND …` conditions of a filter and the values to bind to them, in order.
fn filter_sql(filter: &TokenFilter) -> (String, Vec<&str>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(client_id) = &filter.client_id {
        sql.push_str(" AND client_id = ?");
        binds.push(client_id.as_str());
    }
    if let Some(subject) = &filter.subject {
        sql.push_str(" AND subject = ?");
        binds.push(subject.as_str());
    }
    (sql, binds)
}

/// Revoke the live rows of one token table matching a filter; returns how many.
async fn revoke_matching(
    tx: &mut Transaction<'static, Sqlite>,
    table: &str,
    filter: &TokenFilter,
) -> StoreResult<u64> {
    let (conditions, binds) = filter_sql(filter);
    let live = if table == "refresh_tokens" { "revoked = 0 AND consumed_at IS NULL" } else { "revoked = 0" };
    let sql = format!("UPDATE {table} SET revoked = 1 WHERE {live}{conditions}");
    let mut query = sqlx::query(&sql);
    for b in binds {
        query = query.bind(b);
    }
    Ok(query.execute(&mut **tx).await.map_err(db_err)?.rows_affected())
}

fn summary_from_row(row: &SqliteRow, kind: &'static str) -> StoreResult<TokenSummary> {
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

/// Mark a family revoked until its last row expires, so tokens a concurrent redemption saves
/// into it afterwards are stored revoked (see `TokenStore::revoke_family`).
pub(crate) const MARK_REVOKED_FAMILY: &str = "INSERT INTO revoked_families (family, expires_at) \
     SELECT family, until FROM (SELECT ?1 AS family, MAX(e) AS until FROM ( \
       SELECT MAX(expires_at) AS e FROM authorization_codes WHERE family = ?1 \
       UNION ALL SELECT MAX(expires_at) FROM access_tokens WHERE family = ?1 AND family <> hash \
       UNION ALL SELECT expires_at FROM access_tokens WHERE hash = ?1 AND family = hash \
       UNION ALL SELECT MAX(expires_at) FROM refresh_tokens WHERE family = ?1)) \
     WHERE until IS NOT NULL \
     ON CONFLICT (family) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)";

/// Revoke a family's access tokens: those that share it (through the partial family index,
/// migration 0008: hence `family <> hash`) and the one that is a family of its own, by key.
pub(crate) const REVOKE_FAMILY_ACCESS: [&str; 2] = [
    "UPDATE access_tokens SET revoked = 1 WHERE family = ?1 AND family <> hash AND revoked = 0",
    "UPDATE access_tokens SET revoked = 1 WHERE hash = ?1 AND family = hash AND revoked = 0",
];
/// Revoke a family's active refresh tokens. A rotated-out (consumed) refresh token is no longer
/// active; it still answers `Replayed` to a take, so it needs no change.
const REVOKE_FAMILY_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1 AND revoked = 0 AND consumed_at IS NULL";

/// Insert an access token and its refresh token in the caller's write transaction.
async fn insert_tokens(
    tx: &mut Transaction<'static, Sqlite>,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> StoreResult<()> {
    let conflict = conflict_err("a token with this hash already exists");
    sqlx::query(
        "INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, \
         expires_at, revoked, refresh_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
         ?8 OR EXISTS (SELECT 1 FROM revoked_families WHERE family = ?2), ?9)",
    )
    .bind(&access.hash)
    .bind(&access.family)
    .bind(&access.client_id)
    .bind(&access.subject)
    .bind(access.scopes.to_string())
    .bind(access.issued_at)
    .bind(access.expires_at)
    .bind(access.revoked)
    .bind(&access.refresh_hash)
    .execute(&mut **tx)
    .await
    .map_err(&conflict)?;
    if let Some(refresh) = refresh {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, family, client_id, subject, scopes, auth_time, \
             issued_at, expires_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
             EXISTS (SELECT 1 FROM revoked_families WHERE family = ?2))",
        )
        .bind(&refresh.hash)
        .bind(&refresh.family)
        .bind(&refresh.client_id)
        .bind(&refresh.subject)
        .bind(refresh.scopes.to_string())
        .bind(refresh.auth_time)
        .bind(refresh.issued_at)
        .bind(refresh.expires_at)
        .execute(&mut **tx)
        .await
        .map_err(&conflict)?;
    }
    Ok(())
}

/// `redeem_code` and `rotate_refresh`: consume (`consume`, `replay`: the statements of
/// `direct`) and store the new tokens in one transaction: a job of the batched writer, or on
/// the pool one write transaction, which an error drops, so nothing of it stays.
pub(crate) async fn redeem(
    store: &SqliteStore,
    consume: &'static str,
    replay: &'static str,
    hash: &str,
    now: UnixTime,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> StoreResult<Take<()>> {
    if let Some(d) = &store.direct {
        let (hash, access, refresh) = (hash.to_owned(), access.clone(), refresh.cloned());
        return d
            .write(move |conn| direct::redeem(conn, consume, replay, &hash, now, &access, refresh.as_ref()))
            .await;
    }
    let mut tx = store.write_tx().await?;
    let consumed = sqlx::query(consume).bind(hash).bind(now).execute(&mut *tx).await.map_err(db_err)?;
    if consumed.rows_affected() == 0 {
        let prior =
            sqlx::query(replay).bind(hash).bind(now).fetch_optional(&mut *tx).await.map_err(db_err)?;
        return Ok(match prior {
            Some(row) => Take::Replayed { family: col(&row, "family")? },
            None => Take::Unknown,
        });
    }
    insert_tokens(&mut tx, access, refresh).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(Take::Fresh(()))
}

/// Revokes the access tokens issued with the refresh token ?1 (RFC 7009 §2.1). They are in its
/// family, so the `family` index finds them; `refresh_hash` has no index of its own (migration
/// 0007), which would cost every token issued with a refresh token one more b-tree.
pub(crate) const REVOKE_ISSUED_WITH_REFRESH: &str = "UPDATE access_tokens SET revoked = 1 \
     WHERE family = (SELECT family FROM refresh_tokens WHERE hash = ?1) AND family <> hash \
     AND refresh_hash = ?1";

#[async_trait::async_trait]
impl TokenStore for SqliteStore {
    async fn save_tokens(
        &self,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<()> {
        if let Some(d) = &self.direct {
            let (access, refresh) = (access.clone(), refresh.cloned());
            return d.write(move |conn| direct::save_tokens(conn, &access, refresh.as_ref())).await;
        }
        // The write lock (BEGIN IMMEDIATE) orders this against `revoke_family`: tokens of a
        // family revoked before are stored revoked.
        let mut tx = self.write_tx().await?;
        insert_tokens(&mut tx, access, refresh).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_access(&self, hash: &str) -> StoreResult<Option<AccessTokenRecord>> {
        if let Some(d) = &self.direct {
            return d.get_access(hash);
        }
        let row = sqlx::query("SELECT * FROM access_tokens WHERE hash = ?1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(access_from_row).transpose()
    }

    async fn get_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>> {
        if let Some(d) = &self.direct {
            return d.get_refresh(hash, now);
        }
        let row = sqlx::query(
            "SELECT * FROM refresh_tokens \
             WHERE hash = ?1 AND consumed_at IS NULL AND revoked = 0 AND expires_at > ?2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(refresh_from_row).transpose()
    }

    async fn take_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Take<RefreshTokenRecord>> {
        if let Some(d) = &self.direct {
            let hash = hash.to_owned();
            return d
                .write(move |conn| {
                    direct::take(
                        conn,
                        &format!(
                            "UPDATE refresh_tokens SET consumed_at = ?2 WHERE hash = ?1 AND consumed_at IS NULL \
                             AND revoked = 0 AND expires_at > ?2 RETURNING {}",
                            direct::REFRESH_COLUMNS
                        ),
                        direct::REFRESH_REPLAY,
                        &hash,
                        now,
                        direct::refresh_row_ok,
                    )
                })
                .await;
        }
        // One statement consumes the token, so concurrent rotations yield exactly one `Fresh`.
        let rows = sqlx::query(
            "UPDATE refresh_tokens SET consumed_at = ?2 \
             WHERE hash = ?1 AND consumed_at IS NULL AND revoked = 0 AND expires_at > ?2 RETURNING *",
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
        let prior = sqlx::query(direct::REFRESH_REPLAY)
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
        redeem(self, direct::CONSUME_REFRESH, direct::REFRESH_REPLAY, hash, now, access, refresh).await
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        if let Some(d) = &self.direct {
            let family = family.to_owned();
            return d
                .write(move |conn| {
                    // Mark the family first (same statements as below): tokens a concurrent
                    // redemption saves into it later are stored revoked.
                    direct::execute(conn, MARK_REVOKED_FAMILY, [&family])?;
                    let mut revoked = 0;
                    for sql in REVOKE_FAMILY_ACCESS.into_iter().chain([REVOKE_FAMILY_REFRESH]) {
                        revoked += direct::execute(conn, sql, [&family])?;
                    }
                    Ok(revoked)
                })
                .await;
        }
        let mut tx = self.write_tx().await?;
        // Mark the family, so tokens a concurrent redemption saves into it later are stored
        // revoked; the mark lasts as long as the family's rows do now.
        sqlx::query(MARK_REVOKED_FAMILY).bind(family).execute(&mut *tx).await.map_err(db_err)?;
        let mut revoked = 0;
        for sql in REVOKE_FAMILY_ACCESS.into_iter().chain([REVOKE_FAMILY_REFRESH]) {
            revoked += sqlx::query(sql).bind(family).execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        tx.commit().await.map_err(db_err)?;
        Ok(revoked)
    }

    async fn revoke_access(&self, hash: &str) -> StoreResult<bool> {
        if let Some(d) = &self.direct {
            let hash = hash.to_owned();
            return d
                .write(move |conn| {
                    Ok(direct::execute(
                        conn,
                        "UPDATE access_tokens SET revoked = 1 WHERE hash = ?1",
                        [&hash],
                    )? > 0)
                })
                .await;
        }
        let done = sqlx::query("UPDATE access_tokens SET revoked = 1 WHERE hash = ?1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_refresh(&self, hash: &str) -> StoreResult<bool> {
        if let Some(d) = &self.direct {
            let hash = hash.to_owned();
            return d
                .write(move |conn| {
                    if direct::execute(
                        conn,
                        "UPDATE refresh_tokens SET revoked = 1 WHERE hash = ?1",
                        [&hash],
                    )? == 0
                    {
                        return Ok(false);
                    }
                    // RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens
                    // issued with it.
                    direct::execute(conn, REVOKE_ISSUED_WITH_REFRESH, [&hash])?;
                    Ok(true)
                })
                .await;
        }
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE hash = ?1")
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
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn list_tokens(&self, filter: &TokenFilter, now: UnixTime) -> StoreResult<Vec<TokenSummary>> {
        let (conditions, binds) = filter_sql(filter);
        let mut out = Vec::new();
        for (table, kind, live) in [
            ("access_tokens", ACCESS, "revoked = 0"),
            ("refresh_tokens", REFRESH, "revoked = 0 AND consumed_at IS NULL"),
        ] {
            let sql = format!(
                "SELECT hash, family, client_id, subject, scopes, issued_at, expires_at FROM {table} \
                 WHERE {live} AND expires_at > ?{conditions}"
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
        let mut tx = self.write_tx().await?;
        let access = revoke_matching(&mut tx, "access_tokens", filter).await?;
        let refresh = revoke_matching(&mut tx, "refresh_tokens", filter).await?;
        tx.commit().await.map_err(db_err)?;
        self.changed();
        Ok(access + refresh)
    }
}
