//! Remembered consents (`portcullis_core::store::ConsentStore`).

use portcullis_core::store::{ConsentStore, StoreResult};
use portcullis_core::{Consent, ScopeSet};
use sqlx::sqlite::SqliteRow;

use crate::{col, db_err, SqliteStore};

fn consent_from_row(row: &SqliteRow) -> StoreResult<Consent> {
    Ok(Consent {
        subject: col(row, "subject")?,
        client_id: col(row, "client_id")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        granted_at: col(row, "granted_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl ConsentStore for SqliteStore {
    async fn get_consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        let row = sqlx::query("SELECT * FROM consents WHERE subject = ?1 AND client_id = ?2")
            .bind(subject)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn save_consent(&self, consent: &Consent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (subject, client_id, scopes, granted_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
        )
        .bind(&consent.subject)
        .bind(&consent.client_id)
        .bind(consent.scopes.to_string())
        .bind(consent.granted_at)
        .bind(consent.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_consents(
        &self,
        subject: Option<&str>,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<Consent>> {
        let rows = sqlx::query(
            "SELECT * FROM consents WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR client_id = ?2) \
             ORDER BY updated_at DESC, subject, client_id",
        )
        .bind(subject)
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn revoke_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM consents WHERE subject = ?1 AND client_id = ?2")
            .bind(subject)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
}
