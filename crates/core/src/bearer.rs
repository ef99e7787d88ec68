//! Bearer token verification for resource servers (RFC 6750), for opaque tokens (looked up
//! by hash) and JWT access tokens (RFC 9068 §4: signature with a published key, `typ`
//! `at+jwt`, `iss`, `exp`; then the record kept under the hash of the `jti`, so a revoked
//! JWT is refused too).

use crate::clock::UnixTime;
use crate::error::{ErrorCode, OAuthError};
use crate::model::scope::ScopeSet;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::server::OAuthServer;
use crate::signing::{audiences, looks_like_jwt};

/// What a valid access token grants: the resource server's view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The resource owner; `None` for a client acting for itself.
    pub subject: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
    /// A stable identifier of the token (not the token): the `jti` of a JWT.
    pub jti: String,
    /// The audiences of a JWT access token (`aud`); empty for opaque tokens.
    pub audience: Vec<String>,
}

impl TokenInfo {
    /// Whether the token carries every scope in `required`.
    pub fn has_scopes(&self, required: &ScopeSet) -> bool {
        required.is_subset(&self.scopes)
    }
}

/// The identifier of a token derived from its hash: stable, public, not the token.
pub(crate) fn jti_from_hash(hash: &str) -> String {
    // Hashes are ASCII (time digits and hex).
    hash.get(..32).unwrap_or(hash).to_owned()
}

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidToken, description)
}

impl OAuthServer {
    /// Verify an access token presented as a bearer token. Unknown, malformed, expired and
    /// revoked tokens are all `invalid_token` (RFC 6750 §3.1).
    pub async fn verify_bearer(&self, token: &str) -> Result<TokenInfo, OAuthError> {
        let now = self.now();
        if looks_like_jwt(token) {
            return self.verify_jwt_access_token(token, now).await;
        }
        if !is_well_formed(TokenKind::AccessToken, token) {
            return Err(invalid_token("the access token is malformed or unknown"));
        }
        let hash = hash_token(token);
        let rec = self
            .store()
            .get_access(&hash)
            .await?
            .ok_or_else(|| invalid_token("the access token is malformed or unknown"))?;
        if rec.revoked {
            return Err(invalid_token("the access token was revoked"));
        }
        if rec.expires_at <= now {
            return Err(invalid_token("the access token expired"));
        }
        Ok(TokenInfo {
            subject: rec.subject,
            client_id: rec.client_id,
            scopes: rec.scopes,
            issued_at: rec.issued_at,
            expires_at: rec.expires_at,
            jti: jti_from_hash(&hash),
            audience: Vec::new(),
        })
    }

    /// Verify a JWT access token this server issued: its signature and claims, then its
    /// record (so revocation by `jti` works).
    pub(crate) async fn verify_jwt_access_token(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<TokenInfo, OAuthError> {
        let claims = self.verify_own_jwt_at(token, "at+jwt", None, now).await?;
        let bad = || invalid_token("the access token is malformed or unknown");
        let jti = claims
            .get("jti")
            .and_then(|v| v.as_str())
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(bad)?;
        let audience = audiences(&claims).map_err(crate::signing::JwtError::into_oauth)?;
        let rec = self.store().get_access(&hash_token(jti)).await?.ok_or_else(bad)?;
        if claims.get("client_id").and_then(|v| v.as_str()) != Some(rec.client_id.as_str()) {
            return Err(bad());
        }
        if rec.revoked {
            return Err(invalid_token("the access token was revoked"));
        }
        if rec.expires_at <= now {
            return Err(invalid_token("the access token expired"));
        }
        Ok(TokenInfo {
            subject: rec.subject,
            client_id: rec.client_id,
            scopes: rec.scopes,
            issued_at: rec.issued_at,
            expires_at: rec.expires_at,
            jti: jti.to_owned(),
            audience,
        })
    }
}
