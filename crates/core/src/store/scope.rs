use super::StoreResult;
use crate::model::scope::ScopeDef;

/// Registered scopes.
#[async_trait::async_trait]
pub trait ScopeStore: Send + Sync {
    /// One scope by name.
    async fn get_scope(&self, name: &str) -> StoreResult<Option<ScopeDef>>;
    /// Every scope, ordered by name.
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>>;
    /// Register a scope; `Conflict` if it exists.
    async fn create_scope(&self, scope: &ScopeDef) -> StoreResult<()>;
    /// Change a scope; `NotFound` if it does not exist.
    async fn update_scope(&self, scope: &ScopeDef) -> StoreResult<()>;
    /// Delete a scope; `false` if it did not exist.
    async fn delete_scope(&self, name: &str) -> StoreResult<bool>;
}
