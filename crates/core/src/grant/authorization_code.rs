//! Authorization code grant, token half (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.5–4.6).

use super::{GrantContext, Issue, Redeem, TokenGrant};
use crate::error::OAuthError;
use crate::model::authorization::AuthorizationCode;
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
        let hash = hash_token(code);
        // Read and check; the server then consumes the code in the transaction that stores
        // the tokens (`Issue::redeems`). A code that is not redeemable is taken anyway, to tell
        // a replay (which revokes what the code issued) from an unknown or expired code.
        let Some(rec) = store.get_code(&hash, ctx.now).await? else {
            return Err(burn(store, ctx, &hash, None).await?);
        };
        if let Err(refused) = check(ctx, &rec) {
            // Any redemption attempt burns the code, so a failed check cannot be retried with
            // the same code (DESIGN.md rule 4; RFC 6749 §4.1.2 "MUST NOT be used more than
            // once").
            return Err(burn(store, ctx, &hash, Some(refused)).await?);
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
            redeems: Some(Redeem::Code(hash)),
            ..Issue::default()
        })
    }
}

/// Consume a code a request cannot redeem and say why: a replay (the code was consumed
/// already) is refused as such and revokes the family; otherwise the reason the checks gave,
/// or, without one, an unknown or expired code.
async fn burn(
    store: &dyn crate::store::Store,
    ctx: &GrantContext<'_>,
    hash: &str,
    refused: Option<OAuthError>,
) -> Result<OAuthError, OAuthError> {
    let redeem = Redeem::Code(hash.to_owned());
    match store.take_code(hash, ctx.now).await? {
        Take::Replayed { family } => redeem.refused(store, &ctx.client.id, Some(&family)).await,
        Take::Fresh(_) | Take::Unknown => match refused {
            Some(e) => Ok(e),
            None => redeem.refused(store, &ctx.client.id, None).await,
        },
    }
}

/// The token request's checks against the code it redeems (RFC 6749 §4.1.3, RFC 7636 §4.6).
fn check(ctx: &GrantContext<'_>, rec: &AuthorizationCode) -> Result<(), OAuthError> {
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
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
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
    Ok(())
}
