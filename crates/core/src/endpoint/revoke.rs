//! Token revocation (RFC 7009).
//!
//! The client authenticates as at the token endpoint (public clients identify themselves with
//! `client_id`). A token that is unknown, already invalid, or issued to another client is
//! answered with 200 and nothing changes (§2.2: "invalid tokens do not cause an error
//! response"; the token of another client is treated the same so the endpoint reveals
//! nothing). Revoking a refresh token also invalidates every access token of the same
//! authorization grant (§2.1 SHOULD), i.e. its family.

use crate::client_auth;
use crate::clock::UnixTime;
use crate::endpoint::reply::Reply;
use crate::endpoint::token::TokenRequest;
use crate::error::OAuthError;
use crate::model::client::Client;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::server::OAuthServer;
use crate::signing::looks_like_jwt;

/// A successful revocation: 200 with an empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked;

impl OAuthServer {
    /// Handle a revocation request.
    pub async fn revoke(&self, req: TokenRequest) -> Reply<Revoked> {
        let now = self.now();
        let mut client_id = None;
        let result = self.revoke_at(&req, now, &mut client_id).await;
        Reply::finish(client_id, result, "revocation")
    }

    async fn revoke_at(
        &self,
        req: &TokenRequest,
        now: UnixTime,
        client_id: &mut Option<String>,
    ) -> Result<Revoked, OAuthError> {
        let creds = client_auth::extract(&req.params, req.authorization.as_deref())?;
        let authed = self.authenticate_client(&creds, true).await?;
        *client_id = Some(authed.client.id.clone());
        let token = req.params.require("token")?;
        if looks_like_jwt(token) {
            // A JWT access token: only one we signed names a record (by its `jti`). An
            // invalid or expired one has nothing left to revoke.
            if let Ok(claims) = self.verify_own_jwt_at(token, "at+jwt", None, now).await {
                if let Some(jti) = claims.get("jti").and_then(|v| v.as_str()) {
                    self.revoke_kind(TokenKind::AccessToken, &hash_token(jti), &authed.client, now).await?;
                }
            }
            return Ok(Revoked);
        }
        // The hint only orders the lookups; the token's own form decides (§2.1: the server
        // "MUST extend its search across all of its supported token types").
        let kinds = match req.params.get("token_type_hint") {
            Some("refresh_token") => [TokenKind::RefreshToken, TokenKind::AccessToken],
            _ => [TokenKind::AccessToken, TokenKind::RefreshToken],
        };
        for kind in kinds {
            if is_well_formed(kind, token) {
                self.revoke_kind(kind, &hash_token(token), &authed.client, now).await?;
                break;
            }
        }
        Ok(Revoked)
    }

    async fn revoke_kind(
        &self,
        kind: TokenKind,
        hash: &str,
        caller: &Client,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        let store = self.store();
        if kind == TokenKind::AccessToken {
            let owned = store.get_access(hash).await?.is_some_and(|r| r.client_id == caller.id);
            if owned {
                store.revoke_access(hash).await?;
            }
        } else if kind == TokenKind::RefreshToken {
            let owned = store.get_refresh(hash, now).await?.filter(|r| r.client_id == caller.id);
            if let Some(r) = owned {
                store.revoke_family(&r.family).await?;
            }
        }
        Ok(())
    }
}
