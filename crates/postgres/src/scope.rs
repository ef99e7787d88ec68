//! Registered scopes (`portcullis_core::store::ScopeStore`).

use std::sync::Arc;

use portcullis_core::store::{ScopeStore, StoreError, StoreResult};
use portcullis_core::ScopeDef;
use sqlx::postgres::PgRow;

use crate::{col, conflict_err, db_err, json_col, storable, to_json, PostgresStore};

fn scope_from_row(row: &PgRow) -> StoreResult<ScopeDef> {
    Ok(ScopeDef {
        name: col(row, "name")?,
        description: col(row, "description")?,
        is_default: col(row, "is_default")?,
        translations: json_col(row, "translations")?,
    })
}

#[async_trait::async_trait]
impl ScopeStore for PostgresStore {
    async fn get_scope(&self, name: &str) -> StoreResult<Option<ScopeDef>> {
        if !storable(name) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT * FROM scopes WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(scope_from_row).transpose()
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        Ok(self.list_scopes_shared().await?.as_ref().clone())
    }

    /// From the read cache when it may be used (`cache.rs`).
    async fn list_scopes_shared(&self) -> StoreResult<Arc<Vec<ScopeDef>>> {
        // The ticket comes before the read, so a change observed meanwhile refuses the fill.
        let ticket = self.cache.ticket(&self.pool).await?;
        if ticket.is_some() {
            if let Some(scopes) = self.cache.scopes() {
                return Ok(scopes);
            }
        }
        let rows = sqlx::query("SELECT * FROM scopes ORDER BY name COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let scopes = rows.iter().map(scope_from_row).collect::<StoreResult<Vec<_>>>()?;
        if let Some(ticket) = ticket {
            self.cache.put_scopes(ticket, &scopes);
        }
        Ok(Arc::new(scopes))
    }

    async fn create_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO scopes (name, description, is_default, translations) VALUES ($1, $2, $3, $4)",
        )
        .bind(&scope.name)
        .bind(&scope.description)
        .bind(scope.is_default)
        .bind(to_json(&scope.translations)?)
        .execute(&self.pool)
        .await;
        self.changed().await;
        done.map_err(conflict_err("a scope with this name already exists"))?;
        Ok(())
    }

    async fn update_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE scopes SET description = $2, is_default = $3, translations = $4 WHERE name = $1",
        )
        .bind(&scope.name)
        .bind(&scope.description)
        .bind(scope.is_default)
        .bind(to_json(&scope.translations)?)
        .execute(&self.pool)
        .await;
        self.changed().await;
        let done = done.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        if !storable(name) {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM scopes WHERE name = $1").bind(name).execute(&self.pool).await;
        self.changed().await;
        Ok(done.map_err(db_err)?.rows_affected() > 0)
    }
}
