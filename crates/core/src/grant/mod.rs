//! Grant types behind the [`TokenGrant`] trait, looked up by exact `grant_type` (RFC 6749
//! §4.5: extension grants are absolute URIs).

pub mod authorization_code;
pub mod client_credentials;
pub mod password;
pub mod refresh_token;

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::model::client::Client;
use crate::model::scope::ScopeSet;
use crate::params::Params;
use crate::server::OAuthServer;

/// What a grant sees of the request.
pub struct GrantContext<'a> {
    /// The server (store, configuration, scope rules).
    pub server: &'a OAuthServer,
    /// The client making the request.
    pub client: &'a Client,
    /// Whether the client proved possession of its secret.
    pub authenticated: bool,
    /// The request parameters.
    pub params: &'a Params,
    /// The request's time, read once.
    pub now: UnixTime,
}

/// What a grant decides to issue; the server mints and stores the tokens.
#[derive(Debug, Clone, Default)]
pub struct Issue {
    /// The resource owner, `None` when the client acts for itself.
    pub subject: Option<String>,
    /// Scopes of the access token.
    pub scopes: ScopeSet,
    /// Whether to issue a refresh token.
    pub refresh_token: bool,
    /// Scopes of the refresh token when they differ from the access token's (a narrowed
    /// refresh keeps the original grant, RFC 6749 §6).
    pub refresh_scopes: Option<ScopeSet>,
    /// The family the tokens join; a new one is started when `None` (named by the access
    /// token's own store key when no refresh token is issued: `AccessTokenRecord::is_lone`).
    pub family: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<UnixTime>,
    /// Issue an ID token too (OIDC Core §3.1.3.3); only when there is a subject.
    pub id_token: bool,
    /// The `nonce` to echo in the ID token (OIDC Core §3.1.3.6).
    pub nonce: Option<String>,
    /// Extra response fields; sent only when `allow_extended_token_attributes` is on.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The single-use credential these tokens are issued for, consumed in the same transaction
    /// that stores them ([`crate::Store::redeem_code`], [`crate::store::TokenStore::rotate_refresh`]):
    /// if it was consumed meanwhile (a concurrent redemption), nothing is stored and the
    /// request fails as a replay.
    pub redeems: Option<Redeem>,
}

/// A single-use credential a grant redeems, by the hash the store keys it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    /// An authorization code (RFC 6749 §4.1.3).
    Code(String),
    /// A refresh token rotated out (RFC 6749 §6, RFC 9700 §4.14.2).
    Refresh(String),
}

impl Redeem {
    /// The answer to a redemption whose credential was not there to consume: already consumed
    /// or revoked (`family` is then the family it belongs to), or unknown or expired (`None`).
    /// A replay first revokes everything the family issued: RFC 6749 §4.1.2 for codes ("If an
    /// authorization code is used more than once, the authorization server MUST deny the
    /// request and SHOULD revoke (when possible) all tokens previously issued based on that
    /// authorization code"), RFC 9700 §4.14.2 for rotated refresh tokens.
    pub(crate) async fn refused(
        &self,
        store: &dyn crate::store::Store,
        client_id: &str,
        family: Option<&str>,
    ) -> Result<OAuthError, OAuthError> {
        if let Some(family) = family {
            let revoked = store.revoke_family(family).await?;
            match self {
                Redeem::Code(_) => {
                    tracing::warn!(client_id, revoked, "authorization code replayed; family revoked")
                }
                Redeem::Refresh(_) => {
                    tracing::warn!(client_id, revoked, "refresh token reused; family revoked")
                }
            }
        }
        Ok(match (self, family) {
            (Redeem::Code(_), Some(_)) => {
                OAuthError::invalid_grant("the authorization code has already been used")
            }
            (Redeem::Code(_), None) => {
                OAuthError::invalid_grant("the authorization code is invalid or expired")
            }
            (Redeem::Refresh(_), _) => refresh_token::invalid_refresh_token(),
        })
    }
}

/// A grant type. Implement it to add an extension grant (RFC 6749 §4.5) and register it with
/// [`crate::Builder::grant`].
#[async_trait::async_trait]
pub trait TokenGrant: Send + Sync + 'static {
    /// The exact `grant_type` value.
    fn grant_type(&self) -> &str;

    /// Whether a confidential client must present its secret for this grant (default true).
    /// The server-wide `require_client_authentication` setting overrides it.
    fn requires_client_authentication(&self) -> bool {
        true
    }

    /// Validate the request and decide what to issue.
    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError>;
}

/// OIDC Core §11: with `openid`, a refresh token is issued only when `offline_access` was
/// granted; requests without `openid` keep plain OAuth behaviour (the client's grant types
/// decide).
pub(crate) fn issues_refresh_token(ctx: &GrantContext<'_>, scopes: &ScopeSet) -> bool {
    ctx.client.allows_grant("refresh_token")
        && (!scopes.contains("openid") || scopes.contains("offline_access"))
}

/// Registered grants by exact `grant_type`.
#[derive(Clone, Default)]
pub(crate) struct GrantRegistry {
    grants: HashMap<String, Arc<dyn TokenGrant>>,
}

impl GrantRegistry {
    pub(crate) fn insert(&mut self, grant: Arc<dyn TokenGrant>) {
        self.grants.insert(grant.grant_type().to_owned(), grant);
    }

    pub(crate) fn get(&self, grant_type: &str) -> Option<&Arc<dyn TokenGrant>> {
        self.grants.get(grant_type)
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.grants.keys().cloned().collect();
        v.sort();
        v
    }
}
