//! Authorization codes (`portcullis_core::store::AuthorizationStore`), RFC 6749 §4.1.2.

use portcullis_core::pkce::CodeChallengeMethod;
use portcullis_core::store::{AuthorizationStore, StoreError, StoreResult};
use portcullis_core::{AuthorizationCode, PendingAuthorization, ScopeSet, Take, UnixTime};
use sqlx::sqlite::SqliteRow;

use crate::{col, conflict_err, db_err, direct, SqliteStore};

fn pending_from_row(row: &SqliteRow) -> StoreResult<PendingAuthorization> {
    crate::json_col(row, "request")
}

fn code_from_row(row: &SqliteRow) -> StoreResult<AuthorizationCode> {
    let code_challenge_method = match col::<Option<String>>(row, "code_challenge_method")? {
        None => None,
        Some(m) => Some(
            CodeChallengeMethod::parse(&m)
                .ok_or_else(|| StoreError::Backend(format!("unknown code_challenge_method {m:?}")))?,
        ),
    };
    Ok(AuthorizationCode {
        hash: col(row, "hash")?,
        family: col(row, "family")?,
        client_id: col(row, "client_id")?,
        subject: col(row, "subject")?,
        redirect_uri: col(row, "redirect_uri")?,
        redirect_uri_given: col(row, "redirect_uri_given")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        code_challenge: col(row, "code_challenge")?,
        code_challenge_method,
        nonce: col(row, "nonce")?,
        auth_time: col(row, "auth_time")?,
        issued_at: col(row, "issued_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

#[async_trait::async_trait]
impl AuthorizationStore for SqliteStore {
    async fn create_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        if let Some(d) = &self.direct {
            let code = code.clone();
            return d.write(move |conn| direct::create_code(conn, &code)).await;
        }
        sqlx::query(
            "INSERT INTO authorization_codes (hash, family, client_id, subject, redirect_uri, \
             redirect_uri_given, scopes, code_challenge, code_challenge_method, nonce, auth_time, \
             issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(&code.hash)
        .bind(&code.family)
        .bind(&code.client_id)
        .bind(&code.subject)
        .bind(&code.redirect_uri)
        .bind(code.redirect_uri_given)
        .bind(code.scopes.to_string())
        .bind(&code.code_challenge)
        .bind(code.code_challenge_method.map(CodeChallengeMethod::as_str))
        .bind(&code.nonce)
        .bind(code.auth_time)
        .bind(code.issued_at)
        .bind(code.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_err("an authorization code with this hash already exists"))?;
        Ok(())
    }

    async fn take_code(&self, hash: &str, now: UnixTime) -> StoreResult<Take<AuthorizationCode>> {
        if let Some(d) = &self.direct {
            let hash = hash.to_owned();
            return d
                .write(move |conn| {
                    direct::take(
                        conn,
                        &format!(
                            "UPDATE authorization_codes SET consumed_at = ?2 \
                             WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2 RETURNING {}",
                            direct::CODE_COLUMNS
                        ),
                        direct::CODE_REPLAY,
                        &hash,
                        now,
                        direct::code_row,
                    )
                })
                .await;
        }
        // One statement consumes the code: SQLite serialises writers, so of two concurrent
        // takes exactly one sees `consumed_at IS NULL` and gets the row back.
        let rows = sqlx::query(
            "UPDATE authorization_codes SET consumed_at = ?2 \
             WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2 RETURNING *",
        )
        .bind(hash)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(row) = rows.first() {
            return Ok(Take::Fresh(code_from_row(row)?));
        }
        // Not taken: an unexpired, consumed code is a replay (RFC 6749 §4.1.2: the caller
        // revokes what it issued); a missing or expired one is unknown.
        let prior = sqlx::query(direct::CODE_REPLAY)
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

    async fn get_code(&self, hash: &str, now: UnixTime) -> StoreResult<Option<AuthorizationCode>> {
        if let Some(d) = &self.direct {
            return d.get_code(hash, now);
        }
        let row = sqlx::query(
            "SELECT * FROM authorization_codes WHERE hash = ?1 AND consumed_at IS NULL AND expires_at > ?2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(code_from_row).transpose()
    }

    async fn create_pending(&self, pending: &PendingAuthorization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_authorizations (id_hash, client_id, request, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&pending.id_hash)
        .bind(&pending.client_id)
        .bind(crate::to_json(pending)?)
        .bind(pending.created_at)
        .bind(pending.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_err("a pending authorization with this id already exists"))?;
        Ok(())
    }

    async fn get_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>> {
        let row =
            sqlx::query("SELECT request FROM pending_authorizations WHERE id_hash = ?1 AND expires_at > ?2")
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.as_ref().map(pending_from_row).transpose()
    }

    async fn take_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>> {
        // One DELETE … RETURNING: of two concurrent takes exactly one gets the row.
        let rows = sqlx::query(
            "DELETE FROM pending_authorizations WHERE id_hash = ?1 AND expires_at > ?2 RETURNING request",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.first().map(pending_from_row).transpose()
    }
}
