use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::authorization::{AuthorizationCode, PendingAuthorization};
use crate::model::token::Take;

/// Authorization codes.
#[async_trait::async_trait]
pub trait AuthorizationStore: Send + Sync {
    /// Store a new code (by hash).
    async fn create_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Consume a code atomically: `Fresh` exactly once for an unexpired code, `Replayed` for
    /// every later attempt while the code is unexpired, `Unknown` for an unknown or expired code.
    async fn take_code(&self, hash: &str, now: UnixTime) -> StoreResult<Take<AuthorizationCode>>;
    /// An unconsumed, unexpired code, without consuming it: the token endpoint checks the
    /// request against it, then redeems it with [`crate::Store::redeem_code`] (or burns it
    /// with [`AuthorizationStore::take_code`] when the checks fail).
    async fn get_code(&self, hash: &str, now: UnixTime) -> StoreResult<Option<AuthorizationCode>>;

    /// Store a pending authorization request.
    async fn create_pending(&self, pending: &PendingAuthorization) -> StoreResult<()>;
    /// An unexpired pending request, without consuming it (login and consent read it).
    async fn get_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>>;
    /// Consume a pending request atomically: `Some` exactly once for an unexpired request.
    async fn take_pending(&self, id_hash: &str, now: UnixTime) -> StoreResult<Option<PendingAuthorization>>;
}
