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
        // Validate resource indicators before the grant consumes anything.
        let resources = parse_resources(&req.params)?;
        let issue = grant.exchange(&ctx).await?;
        self.mint(&authed.client, issue, &resources, now).await
    }
}

/// RFC 8707 §2: each `resource` "MUST be an absolute URI ... MUST NOT include a fragment
/// component"; otherwise `invalid_target`. Repeats are allowed (and collapsed).
pub(crate) fn parse_resources(params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in params.get_all("resource") {
        if !is_absolute_uri_without_fragment(r) {
            return Err(OAuthError::with(
                ErrorCode::InvalidTarget,
                "resource must be an absolute URI without a fragment",
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

/// RFC 3986 §4.3 absolute-URI (scheme ":" hier-part), printable ASCII, no fragment.
fn is_absolute_uri_without_fragment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && s.len() <= 2048
        && !s.contains('#')
        && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_absolute_uris_without_fragments() {
        let ok = Params::from_pairs([("resource", "https://api.example/"), ("resource", "urn:x:y")]).ok();
        assert_eq!(
            ok.map(|p| parse_resources(&p).ok()),
            Some(Some(vec!["https://api.example/".to_owned(), "urn:x:y".to_owned()]))
        );
        for bad in ["/relative", "https://a/#f", "no-scheme", "1http://x", "https://a b", "x:"] {
            let p = Params::from_pairs([("resource", bad)]).ok();
            let e = p.map(|p| parse_resources(&p).err().map(|e| e.code));
            assert_eq!(e, Some(Some(ErrorCode::InvalidTarget)), "{bad}");
        }
    }
}
