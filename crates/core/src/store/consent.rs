use super::StoreResult;
use crate::model::consent::Consent;

/// Remembered consents.
#[async_trait::async_trait]
pub trait ConsentStore: Send + Sync {
    /// The consent of `subject` for `client_id`.
    async fn get_consent(&self, subject: &str, client_id: &str) -> StoreResult<Option<Consent>>;
    /// Insert or replace the consent of (`subject`, `client_id`).
    async fn save_consent(&self, consent: &Consent) -> StoreResult<()>;
    /// Consents, optionally only of one subject and/or one client, newest first.
    async fn list_consents(
        &self,
        subject: Option<&str>,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<Consent>>;
    /// Forget a consent; `false` if there was none.
    async fn revoke_consent(&self, subject: &str, client_id: &str) -> StoreResult<bool>;
}
