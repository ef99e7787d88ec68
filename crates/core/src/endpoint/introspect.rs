//! Token introspection (RFC 7662).
//!
//! The endpoint is client-authenticated (§2.1: "the endpoint MUST also require some form of
//! authorization"). An unknown, expired, revoked or foreign token answers only
//! `{"active": false}` (§2.2: "the authorization server MUST NOT include any additional
//! information about an inactive token"). `token_type_hint` chooses which kind is looked up
//! first, but the token's own form decides what it is.

use serde_json::{json, Map, Value};

use crate::bearer::jti_from_hash;
use crate::bearer::TokenInfo;
use crate::client_auth;
use crate::clock::UnixTime;
use crate::endpoint::reply::Reply;
use crate::endpoint::token::TokenRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::model::client::Client;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::server::OAuthServer;
use crate::signing::looks_like_jwt;

/// The introspection response body.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspection(pub Value);

impl Introspection {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self(json!({ "active": false }))
    }

    /// Whether the token is active.
    pub fn active(&self) -> bool {
        self.0.get("active").and_then(Value::as_bool).unwrap_or(false)
    }
}

impl OAuthServer {
    /// Handle an introspection request.
    pub async fn introspect(&self, req: TokenRequest) -> Reply<Introspection> {
        let now = self.now();
        let mut client_id = None;
        let result = self.introspect_at(&req, now, &mut client_id).await;
        Reply::finish(client_id, result, "introspection")
    }

    async fn introspect_at(
        &self,
        req: &TokenRequest,
        now: UnixTime,
        client_id: &mut Option<String>,
    ) -> Result<Introspection, OAuthError> {
        let creds = client_auth::extract(&req.params, req.authorization.as_deref())?;
        let authed = self.authenticate_client(&creds, true).await?;
        if !authed.authenticated {
            // A public client cannot be trusted with other tokens' metadata.
            let mut e = OAuthError::invalid_client("introspection requires a confidential client");
            e.basic_challenge = creds.via == client_auth::Via::Basic;
            return Err(e);
        }
        *client_id = Some(authed.client.id.clone());
        let token = req.params.require("token")?;
        if looks_like_jwt(token) {
            // A JWT access token (RFC 9068 §5: introspection works for them too).
            return match self.verify_jwt_access_token(token, now).await {
                Ok(info) => self.active_response(info, Some("Bearer")).await,
                Err(e) if e.code == ErrorCode::InvalidToken => Ok(Introspection::inactive()),
                Err(e) => Err(e),
            };
        }
        let kinds = match req.params.get("token_type_hint") {
            Some("refresh_token") => [TokenKind::RefreshToken, TokenKind::AccessToken],
            _ => [TokenKind::AccessToken, TokenKind::RefreshToken],
        };
        for kind in kinds {
            if let Some(found) = self.introspect_kind(kind, token, &authed.client, now).await? {
                return Ok(found);
            }
        }
        Ok(Introspection::inactive())
    }

    async fn introspect_kind(
        &self,
        kind: TokenKind,
        token: &str,
        caller: &Client,
        now: UnixTime,
    ) -> Result<Option<Introspection>, OAuthError> {
        if !is_well_formed(kind, token) {
            return Ok(None);
        }
        let hash = hash_token(token);
        let (subject, client_id, scopes, iat, exp, token_type) = match kind {
            TokenKind::AccessToken => match self.store().get_access(&hash).await? {
                Some(r) if !r.revoked && r.expires_at > now => {
                    (r.subject, r.client_id, r.scopes, r.issued_at, r.expires_at, Some("Bearer"))
                }
                _ => return Ok(Some(Introspection::inactive())),
            },
            TokenKind::RefreshToken => match self.store().get_refresh(&hash, now).await? {
                // A refresh token is only ever presented by its own client; to anyone else it
                // is foreign.
                Some(r) if r.client_id == caller.id => {
                    (r.subject, r.client_id, r.scopes, r.issued_at, r.expires_at, None)
                }
                _ => return Ok(Some(Introspection::inactive())),
            },
            _ => return Ok(None),
        };
        let info = TokenInfo {
            subject,
            client_id,
            scopes,
            issued_at: iat,
            expires_at: exp,
            jti: jti_from_hash(&hash),
            audience: Vec::new(),
        };
        self.active_response(info, token_type).await.map(Some)
    }

    /// The RFC 7662 §2.2 members of an active token.
    async fn active_response(
        &self,
        info: TokenInfo,
        token_type: Option<&str>,
    ) -> Result<Introspection, OAuthError> {
        let mut m = Map::new();
        m.insert("active".into(), true.into());
        if !info.scopes.is_empty() {
            m.insert("scope".into(), info.scopes.to_string().into());
        }
        m.insert("client_id".into(), info.client_id.clone().into());
        if let Some(sub) = &info.subject {
            if let Some(account) = self.store().get_account(sub).await? {
                m.insert("username".into(), account.username.into());
            }
        }
        if let Some(t) = token_type {
            m.insert("token_type".into(), t.into());
        }
        m.insert("exp".into(), info.expires_at.into());
        m.insert("iat".into(), info.issued_at.into());
        m.insert("nbf".into(), info.issued_at.into());
        // RFC 9068 §2.2: for a client acting on its own behalf, sub is the client_id.
        m.insert("sub".into(), info.subject.unwrap_or(info.client_id).into());
        match info.audience.as_slice() {
            [] => {}
            [one] => {
                m.insert("aud".into(), one.clone().into());
            }
            many => {
                m.insert("aud".into(), many.to_vec().into());
            }
        }
        m.insert("iss".into(), self.config().issuer.clone().into());
        m.insert("jti".into(), info.jti.into());
        Ok(Introspection(Value::Object(m)))
    }
}
