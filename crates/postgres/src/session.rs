//! Login sessions (`portcullis_core::store::SessionStore`).

use portcullis_core::store::{SessionStore, StoreResult};
use portcullis_core::{Session, UnixTime};
use sqlx::postgres::PgRow;

use crate::{col, conflict_err, db_err, storable, PostgresStore};

fn session_from_row(row: &PgRow) -> StoreResult<Session> {
    Ok(Session {
        id_hash: col(row, "id_hash")?,
        subject: col(row, "subject")?,
        auth_time: col(row, "auth_time")?,
        expires_at: col(row, "expires_at")?,
    })
}

#[async_trait::async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (id_hash, subject, auth_time, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&session.id_hash)
            .bind(&session.subject)
            .bind(session.auth_time)
            .bind(session.expires_at)
            .execute(&self.pool)
            .await
            .map_err(conflict_err("a session with this id already exists"))?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<Session>> {
        if !storable(id_hash) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
