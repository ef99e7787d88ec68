//! Registered clients (`portcullis_core::store::ClientStore`).

use std::sync::Arc;

use portcullis_core::model::client::{AccessTokenFormat, AuthMethod, Client};
use portcullis_core::store::{ClientStore, StoreError, StoreResult};
use portcullis_core::{ScopeSet, SecretHash};
use sqlx::postgres::PgRow;

use crate::{col, conflict_err, db_err, json_col, storable, to_json, PostgresStore};

fn client_from_row(row: &PgRow) -> StoreResult<Client> {
    let secret = match col::<Option<String>>(row, "secret")? {
        None => None,
        // Never echo the stored value: it is a secret hash.
        Some(s) => Some(
            SecretHash::from_stored(&s)
                .ok_or_else(|| StoreError::Backend("stored client secret has an unknown format".into()))?,
        ),
    };
    let method: String = col(row, "auth_method")?;
    let auth_method = AuthMethod::parse(&method)
        .ok_or_else(|| StoreError::Backend(format!("unknown token_endpoint_auth_method {method:?}")))?;
    let format: String = col(row, "access_token_format")?;
    let access_token_format = AccessTokenFormat::parse(&format)
        .ok_or_else(|| StoreError::Backend(format!("unknown access_token_format {format:?}")))?;
    Ok(Client {
        id: col(row, "id")?,
        name: col(row, "name")?,
        secret,
        redirect_uris: json_col(row, "redirect_uris")?,
        grant_types: json_col(row, "grant_types")?,
        scopes: ScopeSet::from_stored(&col::<String>(row, "scopes")?),
        auth_method,
        trusted: col(row, "trusted")?,
        access_token_lifetime: col(row, "access_token_lifetime")?,
        refresh_token_lifetime: col(row, "refresh_token_lifetime")?,
        authorization_code_lifetime: col(row, "authorization_code_lifetime")?,
        access_token_format,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

impl PostgresStore {
    async fn read_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query("SELECT * FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(client_from_row).transpose()
    }
}

#[async_trait::async_trait]
impl ClientStore for PostgresStore {
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        Ok(self.get_client_shared(id).await?.map(|c| Client::clone(&c)))
    }

    /// From the read cache when it may be used (`cache.rs`); only clients that exist are
    /// kept.
    async fn get_client_shared(&self, id: &str) -> StoreResult<Option<Arc<Client>>> {
        if !storable(id) {
            return Ok(None);
        }
        // The ticket comes before the read, so a change observed meanwhile refuses the fill.
        let ticket = self.cache.ticket(&self.pool).await?;
        if ticket.is_some() {
            if let Some(c) = self.cache.client(id) {
                return Ok(Some(c));
            }
        }
        let found = self.read_client(id).await?;
        if let (Some(ticket), Some(c)) = (ticket, &found) {
            self.cache.put_client(ticket, c);
        }
        Ok(found.map(Arc::new))
    }

    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO clients (id, name, secret, redirect_uris, grant_types, scopes, auth_method, \
             trusted, access_token_lifetime, refresh_token_lifetime, authorization_code_lifetime, \
             created_at, updated_at, access_token_format) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.secret.as_ref().map(SecretHash::to_stored))
        .bind(to_json(&client.redirect_uris)?)
        .bind(to_json(&client.grant_types)?)
        .bind(client.scopes.to_string())
        .bind(client.auth_method.as_str())
        .bind(client.trusted)
        .bind(client.access_token_lifetime)
        .bind(client.refresh_token_lifetime)
        .bind(client.authorization_code_lifetime)
        .bind(client.created_at)
        .bind(client.updated_at)
        .bind(client.access_token_format.as_str())
        .execute(&self.pool)
        .await;
        self.changed().await;
        done.map_err(conflict_err("a client with this client_id already exists"))?;
        Ok(())
    }

    async fn update_client(&self, client: &Client) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE clients SET name = $2, secret = $3, redirect_uris = $4, grant_types = $5, \
             scopes = $6, auth_method = $7, trusted = $8, access_token_lifetime = $9, \
             refresh_token_lifetime = $10, authorization_code_lifetime = $11, created_at = $12, \
             updated_at = $13, access_token_format = $14 WHERE id = $1",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.secret.as_ref().map(SecretHash::to_stored))
        .bind(to_json(&client.redirect_uris)?)
        .bind(to_json(&client.grant_types)?)
        .bind(client.scopes.to_string())
        .bind(client.auth_method.as_str())
        .bind(client.trusted)
        .bind(client.access_token_lifetime)
        .bind(client.refresh_token_lifetime)
        .bind(client.authorization_code_lifetime)
        .bind(client.created_at)
        .bind(client.updated_at)
        .bind(client.access_token_format.as_str())
        .execute(&self.pool)
        .await;
        self.changed().await;
        let done = done.map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        if !storable(id) {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected() == 0 {
            return Ok(false); // dropping `tx` rolls back
        }
        for sql in [
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM access_tokens WHERE client_id = $1",
            "DELETE FROM refresh_tokens WHERE client_id = $1",
            "DELETE FROM consents WHERE client_id = $1",
            "DELETE FROM pending_authorizations WHERE client_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(db_err)?;
        }
        let committed = tx.commit().await;
        self.changed().await;
        committed.map_err(db_err)?;
        Ok(true)
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows = sqlx::query("SELECT * FROM clients ORDER BY created_at, seq")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(client_from_row).collect()
    }
}
