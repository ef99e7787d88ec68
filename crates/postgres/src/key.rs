//! Signing keys (`portcullis_core::store::KeyStore`).

use portcullis_core::store::{KeyStore, StoreError, StoreResult};
use portcullis_core::{SecretString, SigningAlg, SigningKeyRecord, UnixTime};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use crate::{col, conflict_err, db_err, json_col, storable, to_json, PostgresStore};

fn key_from_row(row: &PgRow) -> StoreResult<SigningKeyRecord> {
    let alg: String = col(row, "alg")?;
    Ok(SigningKeyRecord {
        kid: col(row, "kid")?,
        alg: SigningAlg::parse(&alg)
            .ok_or_else(|| StoreError::Backend(format!("unknown key alg {alg:?}")))?,
        private_key: SecretString::new(col::<String>(row, "private_key")?),
        public_jwk: json_col(row, "public_jwk")?,
        created_at: col(row, "created_at")?,
        not_before: col(row, "not_before")?,
        retire_at: col(row, "retire_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// The advisory lock class of the key set (see [`lock_keys`]).
const KEY_LOCK_CLASS: i32 = 0x5043_6b79; // "PCky"

/// Serialise every change to the key set until the transaction ends. Under READ COMMITTED two
/// nodes could otherwise both find no live key and both create a "first" key, or rotate at
/// once and each miss the other's new key, leaving two keys without a successor.
async fn lock_keys(tx: &mut Transaction<'static, Postgres>) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(KEY_LOCK_CLASS)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

const INSERT: &str = "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, not_before, \
                      retire_at, expires_at) ";

#[async_trait::async_trait]
impl KeyStore for PostgresStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY not_before, created_at, seq")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn create_first_key(&self, key: &SigningKeyRecord, now: UnixTime) -> StoreResult<bool> {
        // Under the key lock, so the existence check and the insert cannot interleave with
        // another node's.
        let mut tx = self.begin().await?;
        lock_keys(&mut tx).await?;
        let sql = format!(
            "{INSERT} SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS \
             (SELECT 1 FROM signing_keys WHERE expires_at IS NULL OR expires_at > $9)"
        );
        let done = sqlx::query(&sql)
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(key.private_key.expose())
            .bind(to_json(&key.public_jwk)?)
            .bind(key.created_at)
            .bind(key.not_before)
            .bind(key.retire_at)
            .bind(key.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_err("a signing key with this kid already exists"))?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_key(&self, key: &SigningKeyRecord, retention: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock_keys(&mut tx).await?;
        let end = key.not_before + retention;
        sqlx::query(
            "UPDATE signing_keys SET retire_at = $1, \
             expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END \
             WHERE retire_at IS NULL",
        )
        .bind(key.not_before)
        .bind(end)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(&format!("{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(key.private_key.expose())
            .bind(to_json(&key.public_jwk)?)
            .bind(key.created_at)
            .bind(key.not_before)
            .bind(key.retire_at)
            .bind(key.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_err("a signing key with this kid already exists"))?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn retire_key(&self, kid: &str, retire_at: UnixTime, expires_at: UnixTime) -> StoreResult<bool> {
        if !storable(kid) {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        lock_keys(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE signing_keys SET \
             retire_at = CASE WHEN retire_at IS NULL OR retire_at > $2 THEN $2 ELSE retire_at END, \
             expires_at = CASE WHEN expires_at IS NULL OR expires_at > $3 THEN $3 ELSE expires_at END \
             WHERE kid = $1",
        )
        .bind(kid)
        .bind(retire_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }
}
