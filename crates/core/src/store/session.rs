use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::session::Session;

/// Login sessions of the interactive pages.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Store a new session.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// An unexpired session by id hash.
    async fn get_session(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<Session>>;
    /// End a session; `false` if unknown.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool>;
}
