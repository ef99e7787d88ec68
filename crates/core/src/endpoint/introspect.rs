//! Token introspection (RFC 7662).
//!
//! The endpoint is client-authenticated (§2.1: "the endpoint MUST also require some form of
//! authorization"). An unknown, expired, revoked or foreign token answers only
//! `{"active": false}` (§2.2: "the authorization server MUST NOT include any additional
//! information about an inactive token"). `token_type_hint` chooses which kind is looked up
//! first, but the token's own form decides what it is.

use serde_json::{json, Map, Value};

use crate::bearer::jti_from_hash;
use crate::client_auth;
use crate::clock::UnixTime;
use crate::endpoint::reply::Reply;
use crate::endpoint::token::TokenRequest;
use crate::error::OAuthError;
use crate::model::client::Client;
use crate::model::secret::{hash_token, is_well_formed, TokenKind};
use crate::server::OAuthServer;

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
        let mut m = Map::new();
        m.insert("active".into(), true.into());
        if !scopes.is_empty() {
            m.insert("scope".into(), scopes.to_string().into());
        }
        m.insert("client_id".into(), client_id.clone().into());
        if let Some(sub) = &subject {
            if let Some(account) = self.store().get_account(sub).await? {
                m.insert("username".into(), account.username.into());
            }
        }
        if let Some(t) = token_type {
            m.insert("token_type".into(), t.into());
        }
        m.insert("exp".into(), exp.into());
        m.insert("iat".into(), iat.into());
        m.insert("nbf".into(), iat.into());
        // RFC 9068 §2.2: for a client acting on its own behalf, sub is the client_id.
        m.insert("sub".into(), subject.unwrap_or(client_id).into());
        m.insert("iss".into(), self.config().issuer.clone().into());
        m.insert("jti".into(), jti_from_hash(&hash).into());
        Ok(Some(Introspection(Value::Object(m))))
    }
}
