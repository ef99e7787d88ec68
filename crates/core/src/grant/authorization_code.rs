//! Authorization code grant, token half (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.5–4.6).

use super::{GrantContext, Issue, TokenGrant};
use crate::error::OAuthError;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::model::token::Take;
use crate::pkce;

/// `grant_type=authorization_code`.
#[derive(Debug, Default)]
pub struct AuthorizationCodeGrant;

#[async_trait::async_trait]
impl TokenGrant for AuthorizationCodeGrant {
    fn grant_type(&self) -> &str {
        "authorization_code"
    }

    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError> {
        let code = ctx.params.require("code")?;
        let invalid = || OAuthError::invalid_grant("the authorization code is invalid or expired");
        if !is_well_formed(TokenKind::AuthorizationCode, code) {
            return Err(invalid());
        }
        let store = ctx.server.store();
        // Consume first, check after: a code is burnt by any redemption attempt, so a
        // failed check cannot be retried with the same code (DESIGN.md rule 4).
        let rec = match store.take_code(&hash_token(code), ctx.now).await? {
            Take::Fresh(rec) => rec,
            Take::Replayed { family } => {
                // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
                // authorization server MUST deny the request and SHOULD revoke (when possible)
                // all tokens previously issued based on that authorization code."
                let revoked = store.revoke_family(&family).await?;
                tracing::warn!(client_id = %ctx.client.id, revoked, "authorization code replayed; family revoked");
                return Err(OAuthError::invalid_grant("the authorization code has already been used"));
            }
            Take::Unknown => return Err(invalid()),
        };
        // §4.1.3: "ensure that the authorization code was issued to the authenticated
        // confidential client, or if the client is public, ensure that the code was issued to
        // "client_id" in the request".
        if rec.client_id != ctx.client.id {
            return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
        }
        // §4.1.3: redirect_uri is REQUIRED if it was included in the authorization request,
        // and the values MUST be identical.
        match ctx.params.get("redirect_uri") {
            Some(uri) if uri != rec.redirect_uri => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ));
            }
            None if rec.redirect_uri_given => {
                return Err(OAuthError::invalid_request("missing required parameter 'redirect_uri'"));
            }
            _ => {}
        }
        let verifier = ctx.params.get("code_verifier");
        match (&rec.code_challenge, verifier) {
            (Some(challenge), Some(v)) => {
                // RFC 7636 §4.6: "If the values are not equal, an error response indicating
                // "invalid_grant" ... MUST be returned." A challenge stored without its method
                // fails closed rather than skipping the check.
                if !rec.code_challenge_method.is_some_and(|m| pkce::verify(m, challenge, v)) {
                    return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant("code_verifier is required for this code"));
            }
            // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a PKCE
            // downgrade attempt and MUST be rejected.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant("the code was issued without a code_challenge"));
            }
            (None, None) => {}
        }
        Ok(Issue {
            subject: Some(rec.subject),
            refresh_token: super::issues_refresh_token(ctx, &rec.scopes),
            // OIDC Core §3.1.3.3: `openid` makes this an OpenID Connect request.
            id_token: rec.scopes.contains("openid"),
            nonce: rec.nonce,
            scopes: rec.scopes,
            family: Some(rec.family),
            auth_time: rec.auth_time,
            ..Issue::default()
        })
    }
}
