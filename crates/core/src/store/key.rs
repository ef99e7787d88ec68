use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::key::SigningKeyRecord;

/// Signing keys (see [`crate::signing`]).
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key, expired ones included until purged, ordered by `not_before` then `created_at`.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;

    /// Store `key` only if no key is live (`expires_at` unset or after `now`): the first key,
    /// created once even when several nodes start together. `true` if it was stored.
    async fn create_first_key(&self, key: &SigningKeyRecord, now: UnixTime) -> StoreResult<bool>;

    /// In one transaction: store `key`, and schedule every other key that has no `retire_at`
    /// to stop signing at `key.not_before` and to expire `retention` seconds later.
    async fn rotate_key(&self, key: &SigningKeyRecord, retention: i64) -> StoreResult<()>;

    /// Retire one key: `retire_at` and `expires_at` become the given times unless already
    /// earlier (retiring never extends a key's life). `false` if the key is unknown.
    async fn retire_key(&self, kid: &str, retire_at: UnixTime, expires_at: UnixTime) -> StoreResult<bool>;
}
