use super::StoreResult;
use crate::model::account::Account;

/// User accounts.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// One account by id (`sub`).
    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>>;
    /// One account by username.
    async fn find_account_by_username(&self, username: &str) -> StoreResult<Option<Account>>;
    /// Create an account; `Conflict` if the id or username is taken.
    async fn create_account(&self, account: &Account) -> StoreResult<()>;
    /// Replace an account; `NotFound` if it does not exist; `Conflict` on a taken username.
    async fn update_account(&self, account: &Account) -> StoreResult<()>;
    /// Delete an account, revoke every token issued for it, and drop its consents and
    /// sessions; `false` if it did not exist.
    async fn delete_account(&self, id: &str) -> StoreResult<bool>;
    /// Every account, ordered by username.
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
}
