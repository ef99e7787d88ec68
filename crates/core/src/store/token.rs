use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::scope::ScopeSet;
use crate::model::token::{AccessTokenRecord, RefreshTokenRecord, Take};

/// Access and refresh tokens.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// Store an access token and, when given, the refresh token issued with it (same family;
    /// the access token's `refresh_hash` names it), in one transaction. Into a family already
    /// revoked by [`TokenStore::revoke_family`] they are stored revoked.
    async fn save_tokens(
        &self,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<()>;

    /// An access token by hash, revoked or not, expired or not (the caller decides).
    async fn get_access(&self, hash: &str) -> StoreResult<Option<AccessTokenRecord>>;

    /// An active (not consumed, not revoked, unexpired) refresh token, without consuming it.
    async fn get_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Option<RefreshTokenRecord>>;

    /// Consume a refresh token for rotation: `Fresh` exactly once; `Replayed` when it was
    /// already rotated out or revoked; `Unknown` when unknown or expired.
    async fn take_refresh(&self, hash: &str, now: UnixTime) -> StoreResult<Take<RefreshTokenRecord>>;

    /// Rotate a refresh token: consume it as [`TokenStore::take_refresh`] does and, only when
    /// that take is `Fresh`, store the tokens that replace it as [`TokenStore::save_tokens`]
    /// does, all in one transaction. Nothing is written unless the take is `Fresh`, and when
    /// storing the new tokens fails the old refresh token is not consumed either: a failed
    /// rotation never costs the client its grant.
    ///
    /// The default implementation takes, then saves, in two transactions (a failure between
    /// them leaves the old token consumed); the crate's stores override it.
    async fn rotate_refresh(
        &self,
        hash: &str,
        now: UnixTime,
        access: &AccessTokenRecord,
        refresh: Option<&RefreshTokenRecord>,
    ) -> StoreResult<Take<()>> {
        let taken = self.take_refresh(hash, now).await?.map(|_| ());
        if taken == Take::Fresh(()) {
            self.save_tokens(access, refresh).await?;
        }
        Ok(taken)
    }

    /// Revoke every access and refresh token of a family; returns how many were active.
    ///
    /// The revocation sticks: tokens saved into the family afterwards are stored revoked. A
    /// replay is detected by a take that lost to another (`Take::Replayed`), and the winner may
    /// not have saved its tokens yet (another request, another node): whatever the order, what
    /// the family issued ends up revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2). The mark lasts
    /// as long as the family's rows at the time of the revocation (their latest `expires_at`)
    /// and is then purged with them; a family with no rows leaves no mark.
    async fn revoke_family(&self, family: &str) -> StoreResult<u64>;

    /// Revoke one access token; `false` if unknown.
    async fn revoke_access(&self, hash: &str) -> StoreResult<bool>;

    /// Revoke one refresh token and the access tokens issued with it (RFC 7009 §2.1: those
    /// whose `refresh_hash` is its hash, all in its family); `false` if unknown.
    async fn revoke_refresh(&self, hash: &str) -> StoreResult<bool>;

    /// Live (unexpired, unrevoked) tokens matching a filter, newest first, for operators.
    async fn list_tokens(&self, filter: &TokenFilter, now: UnixTime) -> StoreResult<Vec<TokenSummary>>;

    /// Revoke every live token matching a filter; returns how many.
    async fn revoke_tokens(&self, filter: &TokenFilter) -> StoreResult<u64>;
}

/// Which tokens an operator means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    /// Only tokens issued to this client.
    pub client_id: Option<String>,
    /// Only tokens of this subject.
    pub subject: Option<String>,
}

/// A token as operators see it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// `access_token` or `refresh_token`.
    pub kind: &'static str,
    /// The first 12 hex characters of the hash: enough to tell tokens apart.
    pub hash_prefix: String,
    /// The family.
    pub family: String,
    /// The client.
    pub client_id: String,
    /// The subject.
    pub subject: Option<String>,
    /// The scopes.
    pub scopes: ScopeSet,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
}
