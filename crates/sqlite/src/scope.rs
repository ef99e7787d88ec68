//! Registered scopes (`portcullis_core::store::ScopeStore`).

use portcullis_core::store::{ScopeStore, StoreError, StoreResult};
use portcullis_core::ScopeDef;
use sqlx::sqlite::SqliteRow;

use crate::{col, conflict_err, db_err, json_col, to_json, SqliteStore};

fn scope_from_row(row: &SqliteRow) -> StoreResult<ScopeDef> {
    Ok(ScopeDef {
        name: col(row, "name")?,
        description: col(row, "description")?,
        is_default: col(row, "is_default")?,
        translations: json_col(row, "translations")?,
    })
}

#[async_trait::async_trait]
impl ScopeStore for SqliteStore {
    async fn get_scope(&self, name: &str) -> StoreResult<Option<ScopeDef>> {
        let row = sqlx::query("SELECT * FROM scopes WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(scope_from_row).transpose()
    }

    async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>> {
        if let Some(d) = &self.direct {
            return d.list_scopes();
        }
        let rows =
            sqlx::query("SELECT * FROM scopes ORDER BY name").fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(scope_from_row).collect()
    }

    async fn list_scopes_shared(&self) -> StoreResult<std::sync::Arc<Vec<ScopeDef>>> {
        if let Some(d) = &self.direct {
            return d.list_scopes_shared();
        }
        Ok(std::sync::Arc::new(self.list_scopes().await?))
    }

    async fn create_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO scopes (name, description, is_default, translations) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&scope.name)
        .bind(&scope.description)
        .bind(scope.is_default)
        .bind(to_json(&scope.translations)?)
        .execute(&self.pool)
        .await;
        self.changed();
        done.map_err(conflict_err("a scope with this name already exists"))?;
        Ok(())
    }

    async fn update_scope(&self, scope: &ScopeDef) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE scopes SET description = ?2, is_default = ?3, translations = ?4 WHERE name = ?1",
        )
        .bind(&scope.name)
        .bind(&scope.description)
        .bind(scope.is_default)
        .bind(to_json(&scope.translations)?)
        .execute(&self.pool)
        .await;
        self.changed();
        let done = done.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_scope(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM scopes WHERE name = ?1").bind(name).execute(&self.pool).await;
        self.changed();
        Ok(done.map_err(db_err)?.rows_affected() > 0)
    }
}
