use super::StoreResult;
use crate::model::client::Client;

/// Registered clients.
#[async_trait::async_trait]
pub trait ClientStore: Send + Sync {
    /// The client with this `client_id`.
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// [`ClientStore::get_client`], shared: what the endpoints call on every request. A store
    /// that caches clients hands out its cached value without copying it (a client's
    /// registration is a dozen allocations); the default wraps `get_client`.
    async fn get_client_shared(&self, id: &str) -> StoreResult<Option<std::sync::Arc<Client>>> {
        Ok(self.get_client(id).await?.map(std::sync::Arc::new))
    }
    /// Register a client; `Conflict` if the id is taken.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// Replace a client's registration; `NotFound` if it does not exist.
    async fn update_client(&self, client: &Client) -> StoreResult<()>;
    /// Delete a client and every code, token, consent and pending request of it; `false` if it
    /// did not exist.
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
    /// Every client, ordered by creation time.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
}
