use super::StoreResult;
use crate::model::scope::ScopeDef;

/// Registered scopes.
#[async_trait::async_trait]
pub trait ScopeStore: Send + Sync {
    /// One scope by name.
    async fn get_scope(&self, name: &str) -> StoreResult<Option<ScopeDef>>;
    /// Every scope, ordered by name.
    async fn list_scopes(&self) -> StoreResult<Vec<ScopeDef>>;
    /// [`ScopeStore::list_scopes`], shared: what scope resolution calls on every token
    /// request. A store that caches the scopes hands out its cached list without copying it
    /// (every scope's name, description and translations); the default wraps `list_scopes`.
    async fn list_scopes_shared(&self) -> StoreResult<std::sync::Arc<Vec<ScopeDef>>> {
        Ok(std::sync::Arc::new(self.list_scopes().await?))
    }
    /// Register a scope; `Conflict` if it exists.
    async fn create_scope(&self, scope: &ScopeDef) -> StoreResult<()>;
    /// Change a scope; `NotFound` if it does not exist.
    async fn update_scope(&self, scope: &ScopeDef) -> StoreResult<()>;
    /// Delete a scope; `false` if it did not exist.
    async fn delete_scope(&self, name: &str) -> StoreResult<bool>;
}
