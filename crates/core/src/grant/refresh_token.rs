//! Refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

use super::{GrantContext, Issue, Redeem, TokenGrant};
use crate::error::OAuthError;
use crate::model::scope::ScopeSet;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::model::token::Take;

/// `grant_type=refresh_token`.
#[derive(Debug, Default)]
pub struct RefreshTokenGrant;

#[async_trait::async_trait]
impl TokenGrant for RefreshTokenGrant {
    fn grant_type(&self) -> &str {
        "refresh_token"
    }

    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError> {
        let token = ctx.params.require("refresh_token")?;
        let invalid = invalid_refresh_token;
        if !is_well_formed(TokenKind::RefreshToken, token) {
            return Err(invalid());
        }
        // Parse the requested scope before consuming anything: a malformed request changes nothing.
        let requested = ctx.params.get("scope").map(ScopeSet::parse).transpose()?;
        let store = ctx.server.store();
        let hash = hash_token(token);
        let rotate = ctx.server.config().always_issue_new_refresh_token;
        // Read, check, and let the server consume the token in the transaction that stores
        // its replacement (`Issue::redeems`): a request refused by the checks below (another
        // client's token aside) leaves the token usable, and a rotation whose new tokens
        // cannot be stored leaves the old one in place.
        let rec = match store.get_refresh(&hash, ctx.now).await? {
            Some(rec) => rec,
            // Not active. With rotation, taking tells a rotated-out or revoked token (a replay,
            // RFC 9700 §4.14.2) from an unknown or expired one.
            None if rotate => {
                let redeem = Redeem::Refresh(hash.clone());
                return Err(match store.take_refresh(&hash, ctx.now).await? {
                    Take::Replayed { family } => redeem.refused(store, &ctx.client.id, Some(&family)).await?,
                    Take::Fresh(_) | Take::Unknown => invalid(),
                });
            }
            None => return Err(invalid()),
        };
        // §6: the refresh token must have been issued to the authenticated client. Another
        // client holding it means it leaked: with rotation, the family is revoked.
        if rec.client_id != ctx.client.id {
            if rotate {
                store.revoke_family(&rec.family).await?;
            }
            return Err(invalid());
        }
        // §6: "The requested scope MUST NOT include any scope not originally granted by the
        // resource owner, and if omitted is treated as equal to the scope originally granted."
        let scopes = match requested {
            Some(req) if !req.is_subset(&rec.scopes) => {
                return Err(OAuthError::invalid_scope("the requested scope exceeds the original grant"));
            }
            Some(req) => req,
            None => rec.scopes.clone(),
        };
        Ok(Issue {
            subject: rec.subject,
            // OIDC Core §12.2: a refresh may return a new ID token (no nonce, original auth_time).
            id_token: scopes.contains("openid"),
            scopes,
            refresh_token: rotate,
            // §6: a new refresh token keeps the scope of the one it replaces.
            refresh_scopes: Some(rec.scopes),
            family: Some(rec.family),
            auth_time: rec.auth_time,
            redeems: rotate.then_some(Redeem::Refresh(hash)),
            ..Issue::default()
        })
    }
}

/// The one answer to a refresh token that cannot be used, whatever the reason (RFC 6749 §5.2
/// `invalid_grant`): telling unknown, expired, rotated-out and revoked tokens apart would only
/// help someone holding a stolen one.
pub(crate) fn invalid_refresh_token() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}
