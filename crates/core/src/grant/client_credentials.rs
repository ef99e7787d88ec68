//! Client credentials grant (RFC 6749 §4.4).

use super::{GrantContext, Issue, TokenGrant};
use crate::error::OAuthError;

/// `grant_type=client_credentials`.
#[derive(Debug, Default)]
pub struct ClientCredentialsGrant;

#[async_trait::async_trait]
impl TokenGrant for ClientCredentialsGrant {
    fn grant_type(&self) -> &str {
        "client_credentials"
    }

    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError> {
        // §4.4: "The client credentials grant type MUST only be used by confidential clients."
        if ctx.client.is_public() {
            return Err(OAuthError::unauthorized_client(
                "client_credentials is only for confidential clients",
            ));
        }
        if !ctx.authenticated {
            return Err(OAuthError::invalid_client("client authentication required"));
        }
        let scopes = ctx.server.resolve_scopes(ctx.client, ctx.params.get("scope")).await?;
        // §4.4.3: "A refresh token SHOULD NOT be included."
        Ok(Issue { scopes, ..Issue::default() })
    }
}
