//! Resource owner password credentials grant (RFC 6749 §4.3).

use super::{GrantContext, Issue, TokenGrant};
use crate::error::OAuthError;
use crate::model::secret::verify_argon2;
use crate::store::Store;
use std::sync::Arc;

/// Checks a resource owner's username and password (node-oauth2-server's `getUser`).
#[async_trait::async_trait]
pub trait PasswordAuthenticator: Send + Sync + 'static {
    /// The subject (`sub`) when the credentials are right, `None` otherwise.
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<String>, OAuthError>;
}

/// The default authenticator: accounts from the store, passwords as Argon2id hashes.
pub struct StorePasswordAuthenticator {
    store: Arc<dyn Store>,
    dummy_hash: String,
}

impl StorePasswordAuthenticator {
    /// Authenticate against the store's accounts.
    pub fn new(store: Arc<dyn Store>) -> Self {
        // Verifying against a dummy hash when the user does not exist keeps the time of a
        // failed login the same whether or not the username exists.
        let dummy_hash = crate::model::secret::hash_password("portcullis-dummy-password").unwrap_or_default();
        Self { store, dummy_hash }
    }
}

#[async_trait::async_trait]
impl PasswordAuthenticator for StorePasswordAuthenticator {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<String>, OAuthError> {
        let account = self.store.find_account_by_username(username).await?;
        match account.as_ref().and_then(|a| a.password_hash.as_deref().map(|h| (a, h))) {
            Some((a, hash)) => Ok(verify_argon2(hash, password).then(|| a.id.clone())),
            None => {
                let _ = verify_argon2(&self.dummy_hash, password);
                Ok(None)
            }
        }
    }
}

/// `grant_type=password`.
pub struct PasswordGrant {
    authenticator: Arc<dyn PasswordAuthenticator>,
}

impl PasswordGrant {
    /// A password grant that checks credentials with `authenticator`.
    pub fn new(authenticator: Arc<dyn PasswordAuthenticator>) -> Self {
        Self { authenticator }
    }
}

#[async_trait::async_trait]
impl TokenGrant for PasswordGrant {
    fn grant_type(&self) -> &str {
        "password"
    }

    async fn exchange(&self, ctx: &GrantContext<'_>) -> Result<Issue, OAuthError> {
        let username = ctx.params.require("username")?;
        let password = ctx.params.require("password")?;
        let scopes = ctx.server.resolve_scopes(ctx.client, ctx.params.get("scope")).await?;
        let subject = self
            .authenticator
            .authenticate(username, password)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("invalid resource owner credentials"))?;
        Ok(Issue {
            subject: Some(subject),
            refresh_token: super::issues_refresh_token(ctx, &scopes),
            id_token: scopes.contains("openid"),
            scopes,
            auth_time: Some(ctx.now),
            ..Issue::default()
        })
    }
}
