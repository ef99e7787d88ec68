//! The token endpoint (RFC 6749 §3.2, §5).

use crate::client_auth;
use crate::clock::UnixTime;
use crate::endpoint::reply::Reply;
use crate::error::{ErrorCode, OAuthError};
use crate::grant::GrantContext;
use crate::params::Params;
use crate::server::{OAuthServer, TokenResponse};

/// A parsed token request: the form body and the `Authorization` header.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The form parameters.
    pub params: Params,
    /// The `Authorization` header value, if one was sent.
    pub authorization: Option<String>,
}

impl TokenRequest {
    /// Parse a form body (repeated parameters are `invalid_request`).
    pub fn parse(body: &[u8], authorization: Option<&str>) -> Result<Self, OAuthError> {
        Ok(Self { params: Params::parse(body)?, authorization: authorization.map(str::to_owned) })
    }
}

/// The outcome of a token request, with the authenticated client for the request log.
pub type TokenReply = Reply<TokenResponse>;

impl OAuthServer {
    /// Handle a token request.
    pub async fn token(&self, req: TokenRequest) -> TokenReply {
        let now = self.now();
        let mut client_id = None;
        let result = self.token_at(&req, now, &mut client_id).await;
        Reply::finish(client_id, result, "token")
    }

    async fn token_at(
        &self,
        req: &TokenRequest,
        now: UnixTime,
        client_id: &mut Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = req.params.require("grant_type")?;
        let creds = client_auth::extract(&req.params, req.authorization.as_deref())?;
        let grant = self.grant(grant_type);
        let required = grant.is_none_or(|g| {
            self.config()
                .require_client_authentication
                .get(grant_type)
                .copied()
                .unwrap_or_else(|| g.requires_client_authentication())
        });
        let authed = self.authenticate_client(&creds, required).await?;
        *client_id = Some(authed.client.id.clone());
        let grant = grant.ok_or_else(|| {
            OAuthError::with(ErrorCode::UnsupportedGrantType, "the grant type is not supported")
        })?;
        if !authed.client.allows_grant(grant_type) {
            return Err(OAuthError::unauthorized_client("the client may not use this grant type"));
        }
        let ctx = GrantContext {
            server: self,
            client: &authed.client,
            authenticated: authed.authenticated,
            params: &req.params,
            now,
        };
        let issue = grant.exchange(&ctx).await?;
        self.mint(&authed.client, issue, now).await
    }
}
