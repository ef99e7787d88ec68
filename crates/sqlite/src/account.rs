//! User accounts (`portcullis_core::store::AccountStore`).

use portcullis_core::store::{AccountStore, StoreError, StoreResult};
use portcullis_core::Account;
use sqlx::sqlite::SqliteRow;

use crate::{col, conflict_err, db_err, json_col, to_json, SqliteStore};

const USERNAME_TAKEN: &str = "an account with this id or username already exists";

fn account_from_row(row: &SqliteRow) -> StoreResult<Account> {
    Ok(Account {
        id: col(row, "id")?,
        username: col(row, "username")?,
        password_hash: col(row, "password_hash")?,
        claims: json_col(row, "claims")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

#[async_trait::async_trait]
impl AccountStore for SqliteStore {
    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        if let Some(d) = &self.direct {
            return d.get_account(id);
        }
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE username = ?1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, username, password_hash, claims, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&account.id)
        .bind(&account.username)
        .bind(&account.password_hash)
        .bind(to_json(&account.claims)?)
        .bind(account.created_at)
        .bind(account.updated_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_err(USERNAME_TAKEN))?;
        Ok(())
    }

    async fn update_account(&self, account: &Account) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE accounts SET username = ?2, password_hash = ?3, claims = ?4, created_at = ?5, \
             updated_at = ?6 WHERE id = ?1",
        )
        .bind(&account.id)
        .bind(&account.username)
        .bind(&account.password_hash)
        .bind(to_json(&account.claims)?)
        .bind(account.created_at)
        .bind(account.updated_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_err(USERNAME_TAKEN))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_account(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let deleted = sqlx::query("DELETE FROM accounts WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected() == 0 {
            return Ok(false); // dropping `tx` rolls back
        }
        // Tokens are revoked (bearer checks then see `revoked`), unredeemed codes removed.
        for sql in [
            "UPDATE access_tokens SET revoked = 1 WHERE subject = ?1 AND revoked = 0",
            "UPDATE refresh_tokens SET revoked = 1 WHERE subject = ?1 AND revoked = 0",
            "DELETE FROM authorization_codes WHERE subject = ?1",
            "DELETE FROM consents WHERE subject = ?1",
            "DELETE FROM sessions WHERE subject = ?1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.changed();
        Ok(true)
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query("SELECT * FROM accounts ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(account_from_row).collect()
    }
}
