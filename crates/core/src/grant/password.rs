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
}

/// What an unknown username's password is verified against, so a failed login takes the same
/// time whether or not the username exists: an Argon2id hash of a public password, with the
/// parameters of every hash `hash_password` makes (a unit test keeps them equal). A constant,
/// not a hash computed at start: that cost every server start an Argon2 run and left its
/// 19 MiB resident in the allocator's arena (a third of the idle server's memory).
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$QakHT3X4AjnEFt/ckZqnQw$M06Om7WUxaD+dWCjSePNtBsLA4UCHe01jpZoK3AOr/g";

impl StorePasswordAuthenticator {
    /// Authenticate against the store's accounts.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait::async_trait]
impl PasswordAuthenticator for StorePasswordAuthenticator {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Option<String>, OAuthError> {
        let account = self.store.find_account_by_username(username).await?;
        match account.as_ref().and_then(|a| a.password_hash.as_deref().map(|h| (a, h))) {
            Some((a, hash)) => Ok(verify_argon2(hash, password).then(|| a.id.clone())),
            None => {
                let _ = verify_argon2(DUMMY_HASH, password);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_ones() {
        use argon2::password_hash::PasswordHash;
        let real = crate::model::secret::hash_password("anything").unwrap();
        let (real, dummy) = (PasswordHash::new(&real).unwrap(), PasswordHash::new(DUMMY_HASH).unwrap());
        assert_eq!(real.algorithm, dummy.algorithm);
        assert_eq!(real.version, dummy.version);
        assert_eq!(real.params, dummy.params);
        assert!(verify_argon2(DUMMY_HASH, "portcullis-dummy-password"));
    }
}
