//! The UserInfo endpoint (OIDC Core §5.3): a resource protected by an access token with the
//! `openid` scope, returning the claims that token's scopes allow ([`crate::id_token`]).
//!
//! Errors follow RFC 6750 §3 (OIDC Core §5.3.3): an invalid token is 401 `invalid_token`, a
//! token without `openid` is 403 `insufficient_scope`. A JWT access token issued for another
//! resource (RFC 8707 `aud`) is not accepted here.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, OAuthError};
use crate::id_token::userinfo_claims;
use crate::server::OAuthServer;

impl OAuthServer {
    /// The claims for the bearer `token`.
    pub async fn userinfo(&self, token: &str) -> Result<Map<String, Value>, OAuthError> {
        let info = self.verify_bearer(token).await?;
        let issuer = &self.config().issuer;
        if !info.audience.is_empty() && !info.audience.iter().any(|a| a == issuer) {
            return Err(OAuthError::with(
                ErrorCode::InvalidToken,
                "the access token is for another resource",
            ));
        }
        if !info.scopes.contains("openid") {
            return Err(OAuthError::with(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let invalid = || OAuthError::with(ErrorCode::InvalidToken, "the access token has no user");
        let sub = info.subject.as_deref().ok_or_else(invalid)?;
        let account = self.store().get_account(sub).await?.ok_or_else(invalid)?;
        Ok(userinfo_claims(&account, &info.scopes))
    }
}
