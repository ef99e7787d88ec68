//! Persistence traits, one file per aggregate. The SQL crates mirror this layout.
//!
//! One method is one atomic business operation. Single-use things are taken, not read
//! (`take_code`, `take_refresh`), so two concurrent redemptions give exactly one `Fresh`; a
//! redemption that issues tokens takes and stores them in one transaction (`redeem_code`,
//! `rotate_refresh`).

mod account;
mod authorization;
pub mod cache;
mod client;
mod consent;
mod key;
mod scope;
mod session;
mod token;

pub use account::AccountStore;
pub use authorization::AuthorizationStore;
pub use client::ClientStore;
pub use consent::ConsentStore;
pub use key::KeyStore;
pub use scope::ScopeStore;
pub use session::SessionStore;
pub use token::{TokenFilter, TokenStore, TokenSummary};

/// A storage failure.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A row with the same key already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend cannot be reached right now (answered as 503 `temporarily_unavailable`).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists.
#[async_trait::async_trait]
pub trait Store:
    ClientStore
    + ScopeStore
    + AuthorizationStore
    + TokenStore
    + AccountStore
    + ConsentStore
    + SessionStore
    + KeyStore
    + Send
    + Sync
    + 'static
{
    /// Whether the backend answers (for `/health/ready`).
    async fn ping(&self) -> StoreResult<()>;

    /// Redeem an authorization code: consume it as [`AuthorizationStore::take_code`] does and,
    /// only when that take is `Fresh`, store the tokens issued for it as
    /// [`TokenStore::save_tokens`] does, all in one transaction. Nothing is written unless the
    /// take is `Fresh`; when storing the tokens fails the code is not consumed either.
    ///
    /// The default implementation takes, then saves, in two transactions (a failure between
    /// them leaves the code consumed and no tokens); the crate's stores override it.
    async fn redeem_code(
        &self,
        hash: &str,
        now: crate::UnixTime,
        access: &crate::AccessTokenRecord,
        refresh: Option<&crate::RefreshTokenRecord>,
    ) -> StoreResult<crate::Take<()>> {
        let taken = self.take_code(hash, now).await?.map(|_| ());
        if taken == crate::Take::Fresh(()) {
            self.save_tokens(access, refresh).await?;
        }
        Ok(taken)
    }

    /// Delete expired codes, tokens, pending requests, sessions, signing keys
    /// (`expires_at <= now`) and the marks of revoked families that expired with them, at most
    /// `limit` rows per table; returns rows deleted.
    async fn purge_expired(&self, now: crate::UnixTime, limit: u32) -> StoreResult<u64>;
}
