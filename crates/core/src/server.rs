//! [`OAuthServer`]: the single entry value, one async fn per endpoint.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::Config;
use crate::error::OAuthError;
use crate::grant::authorization_code::AuthorizationCodeGrant;
use crate::grant::client_credentials::ClientCredentialsGrant;
use crate::grant::password::{PasswordAuthenticator, PasswordGrant, StorePasswordAuthenticator};
use crate::grant::refresh_token::RefreshTokenGrant;
use crate::grant::{GrantRegistry, Issue, Redeem, TokenGrant};
use crate::id_token::{at_hash, IdTokenClaims, ID_TOKEN_TYP};
use crate::model::authorization::AuthorizationCode;
use crate::model::client::AccessTokenFormat;
use crate::model::client::Client;
use crate::model::scope::ScopeSet;
use crate::model::secret::{
    generate, generate_jti, hash_token, ordered_id, SecretString, TokenKind, VerifiedSecrets,
};
use crate::model::token::{AccessTokenRecord, RefreshTokenRecord, Take};
use crate::pkce::CodeChallengeMethod;
use crate::signing::{KeyCache, KeyEncryptionKey};
use crate::store::Store;

/// The authorization server. Cheap to clone (an `Arc` inside); build it once with [`Builder`].
#[derive(Clone)]
pub struct OAuthServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    grants: GrantRegistry,
    key_encryption_key: Option<KeyEncryptionKey>,
    key_cache: KeyCache,
    verified_secrets: VerifiedSecrets,
}

/// Why [`Builder::build`] refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// No store was given.
    #[error("a store is required")]
    MissingStore,
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An extension grant's `grant_type` is not an absolute URI or clashes with another.
    #[error("invalid extension grant type {0:?}: must be a unique absolute URI (RFC 6749 §4.5)")]
    InvalidGrantType(String),
}

/// Builds an [`OAuthServer`].
pub struct Builder {
    config: Config,
    store: Option<Arc<dyn Store>>,
    clock: Arc<dyn Clock>,
    extension_grants: Vec<Arc<dyn TokenGrant>>,
    password_authenticator: Option<Arc<dyn PasswordAuthenticator>>,
    key_encryption_key: Option<KeyEncryptionKey>,
}

impl Builder {
    /// Start from a configuration.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            store: None,
            clock: Arc::new(SystemClock),
            extension_grants: Vec::new(),
            password_authenticator: None,
            key_encryption_key: None,
        }
    }

    /// The store (required).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The clock (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Register an extension grant under its exact `grant_type` URI.
    #[must_use]
    pub fn grant(mut self, grant: Arc<dyn TokenGrant>) -> Self {
        self.extension_grants.push(grant);
        self
    }

    /// How the password grant checks credentials (default: the store's accounts).
    #[must_use]
    pub fn password_authenticator(mut self, a: Arc<dyn PasswordAuthenticator>) -> Self {
        self.password_authenticator = Some(a);
        self
    }

    /// Seal private signing keys at rest with this key (default: stored unencrypted).
    #[must_use]
    pub fn key_encryption_key(mut self, key: KeyEncryptionKey) -> Self {
        self.key_encryption_key = Some(key);
        self
    }

    /// Check everything and build the server.
    pub fn build(self) -> Result<OAuthServer, BuildError> {
        self.config.validate().map_err(BuildError::InvalidConfig)?;
        let store = self.store.ok_or(BuildError::MissingStore)?;
        let authenticator = self
            .password_authenticator
            .unwrap_or_else(|| Arc::new(StorePasswordAuthenticator::new(store.clone())));
        let mut grants = GrantRegistry::default();
        grants.insert(Arc::new(AuthorizationCodeGrant));
        grants.insert(Arc::new(ClientCredentialsGrant));
        grants.insert(Arc::new(RefreshTokenGrant));
        grants.insert(Arc::new(PasswordGrant::new(authenticator)));
        for g in self.extension_grants {
            let name = g.grant_type().to_owned();
            // RFC 6749 §4.5: an extension grant type is an absolute URI.
            let absolute = name.split_once(':').is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty()
            });
            if !absolute || grants.get(&name).is_some() {
                return Err(BuildError::InvalidGrantType(name));
            }
            grants.insert(g);
        }
        let verified_secrets = VerifiedSecrets::default();
        Ok(OAuthServer {
            inner: Arc::new(Inner {
                config: self.config,
                store,
                clock: self.clock,
                grants,
                key_encryption_key: self.key_encryption_key,
                key_cache: KeyCache::default(),
                verified_secrets,
            }),
        })
    }
}

/// What the authorization endpoint decided, ready to become a code.
#[derive(Debug, Clone)]
pub struct NewAuthorizationCode {
    /// The client.
    pub client_id: String,
    /// The resource owner who approved.
    pub subject: String,
    /// Where the code is delivered.
    pub redirect_uri: String,
    /// Whether the request named the redirect URI explicitly.
    pub redirect_uri_given: bool,
    /// Approved scopes.
    pub scopes: ScopeSet,
    /// RFC 7636 challenge and method.
    pub code_challenge: Option<(String, CodeChallengeMethod)>,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<UnixTime>,
}

/// The JSON body of a successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: SecretString,
    /// `token_type`, always `Bearer`.
    pub token_type: &'static str,
    /// `expires_in` in seconds.
    pub expires_in: i64,
    /// `refresh_token`, when issued.
    pub refresh_token: Option<SecretString>,
    /// `scope` (sent whenever not empty).
    pub scope: Option<ScopeSet>,
    /// `id_token` (OIDC Core §3.1.3.3), when the scope includes `openid`.
    pub id_token: Option<SecretString>,
    /// Extended attributes (only with `allow_extended_token_attributes`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TokenResponse {
    /// The response body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m.insert("access_token".into(), self.access_token.expose().into());
        m.insert("token_type".into(), self.token_type.into());
        m.insert("expires_in".into(), self.expires_in.into());
        if let Some(rt) = &self.refresh_token {
            m.insert("refresh_token".into(), rt.expose().into());
        }
        if let Some(s) = &self.scope {
            m.insert("scope".into(), s.to_string().into());
        }
        if let Some(t) = &self.id_token {
            m.insert("id_token".into(), t.expose().into());
        }
        serde_json::Value::Object(m)
    }
}

impl OAuthServer {
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store, shared.
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// The current time, from the configured clock. Read once per request.
    pub fn now(&self) -> UnixTime {
        self.inner.clock.now()
    }

    /// Every supported `grant_type`, sorted.
    pub fn grant_types(&self) -> Vec<String> {
        self.inner.grants.names()
    }

    pub(crate) fn key_encryption_key(&self) -> Option<&KeyEncryptionKey> {
        self.inner.key_encryption_key.as_ref()
    }

    pub(crate) fn inner_key_cache(&self) -> &KeyCache {
        &self.inner.key_cache
    }

    pub(crate) fn verified_secrets(&self) -> &VerifiedSecrets {
        &self.inner.verified_secrets
    }

    pub(crate) fn grant(&self, grant_type: &str) -> Option<&Arc<dyn TokenGrant>> {
        self.inner.grants.get(grant_type)
    }

    /// RFC 6749 §3.3: resolve the `scope` parameter for a client. When omitted, the
    /// registered default scopes (those the client may have) apply. Every requested scope
    /// must be registered and allowed for the client, else `invalid_scope`.
    pub async fn resolve_scopes(
        &self,
        client: &Client,
        requested: Option<&str>,
    ) -> Result<ScopeSet, OAuthError> {
        let registered = self.store().list_scopes_shared().await?;
        let Some(requested) = requested else {
            let defaults: ScopeSet =
                registered.iter().filter(|s| s.is_default).map(|s| s.name.clone()).collect();
            return Ok(defaults.intersection(&client.scopes));
        };
        let set = ScopeSet::parse(requested)?;
        for s in set.iter() {
            if !registered.iter().any(|r| r.name == s) {
                return Err(OAuthError::invalid_scope(format!("unknown scope '{s}'")));
            }
            if !client.scopes.contains(s) {
                return Err(OAuthError::invalid_scope(format!("scope '{s}' is not allowed for this client")));
            }
        }
        Ok(set)
    }

    /// Create and store an authorization code; returns the code to deliver. The
    /// authorization endpoint calls this after login and consent.
    pub async fn issue_authorization_code(
        &self,
        req: NewAuthorizationCode,
    ) -> Result<SecretString, OAuthError> {
        let now = self.now();
        let client = self
            .store()
            .get_client(&req.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("unknown client"))?;
        let lifetime =
            client.authorization_code_lifetime.unwrap_or(self.config().authorization_code_lifetime);
        let code = generate(TokenKind::AuthorizationCode);
        let (code_challenge, code_challenge_method) = match req.code_challenge {
            Some((c, m)) => (Some(c), Some(m)),
            None => (None, None),
        };
        let rec = AuthorizationCode {
            hash: hash_token(code.expose()),
            family: ordered_id(),
            client_id: req.client_id,
            subject: req.subject,
            redirect_uri: req.redirect_uri,
            redirect_uri_given: req.redirect_uri_given,
            scopes: req.scopes,
            code_challenge,
            code_challenge_method,
            nonce: req.nonce,
            auth_time: req.auth_time,
            issued_at: now,
            expires_at: now + lifetime,
        };
        self.store().create_code(&rec).await?;
        Ok(code)
    }

    /// Mint the tokens a grant decided on and store their hashes. `resources` are the
    /// request's RFC 8707 resource indicators (already validated).
    pub(crate) async fn mint(
        &self,
        client: &Client,
        issue: Issue,
        resources: &[String],
        now: UnixTime,
    ) -> Result<TokenResponse, OAuthError> {
        let cfg = self.config();
        let expires_in = client.access_token_lifetime.unwrap_or(cfg.access_token_lifetime);
        // RFC 9068 per client; a resource indicator always gets a JWT, so the resource server
        // named in `aud` can verify it with the JWKS alone.
        let jwt = client.access_token_format == AccessTokenFormat::Jwt || !resources.is_empty();
        let wants_id_token = issue.id_token && issue.subject.is_some();
        let key = if jwt || wants_id_token { Some(self.signing_key(now).await?) } else { None };
        let (access_token, access_hash) = if let (true, Some(key)) = (jwt, &key) {
            let jti = generate_jti();
            let claims = self.jwt_access_token_claims(client, &issue, resources, &jti, now, expires_in);
            let token = self.sign_jwt(key, "at+jwt", &claims)?;
            // The store keys a JWT access token by the hash of its `jti`, so it can be revoked.
            (SecretString::new(token), hash_token(&jti))
        } else {
            let t = generate(TokenKind::AccessToken);
            let h = hash_token(t.expose());
            (t, h)
        };
        // The family: the one handed down (code exchange, refresh), else a new one. An access
        // token issued alone (no refresh token) starts a family nothing else can join: it is
        // named by the token's own store key, so stores need not enter it in their family
        // index, where it would be one more b-tree write per token (`AccessTokenRecord::family`).
        let family = match (&issue.family, issue.refresh_token) {
            (Some(given), _) => given.clone(),
            (None, true) => ordered_id(),
            (None, false) => access_hash.clone(),
        };
        let id_token = match (&issue.subject, &key) {
            (Some(sub), Some(key)) if wants_id_token => {
                let claims = IdTokenClaims {
                    issuer: &cfg.issuer,
                    subject: sub,
                    client_id: &client.id,
                    now,
                    lifetime: cfg.id_token_lifetime,
                    auth_time: issue.auth_time,
                    nonce: issue.nonce.as_deref(),
                    // §3.1.3.6: the hash of the ID token's own `alg`.
                    at_hash: at_hash(key.alg, access_token.expose()),
                };
                Some(SecretString::new(self.sign_jwt(key, ID_TOKEN_TYP, &claims.to_map())?))
            }
            _ => None,
        };
        let refresh_token = issue.refresh_token.then(|| generate(TokenKind::RefreshToken));
        let refresh = refresh_token.as_ref().map(|rt| RefreshTokenRecord {
            hash: hash_token(rt.expose()),
            family: family.clone(),
            client_id: client.id.clone(),
            subject: issue.subject.clone(),
            scopes: issue.refresh_scopes.clone().unwrap_or_else(|| issue.scopes.clone()),
            auth_time: issue.auth_time,
            issued_at: now,
            expires_at: now + client.refresh_token_lifetime.unwrap_or(cfg.refresh_token_lifetime),
        });
        let access = AccessTokenRecord {
            hash: access_hash,
            family,
            client_id: client.id.clone(),
            subject: issue.subject,
            scopes: issue.scopes.clone(),
            issued_at: now,
            expires_at: now + expires_in,
            revoked: false,
            refresh_hash: refresh.as_ref().map(|r| r.hash.clone()),
        };
        match &issue.redeems {
            None => self.store().save_tokens(&access, refresh.as_ref()).await?,
            // One transaction consumes the code or old refresh token and stores what replaces
            // it (DESIGN.md: one store method, one atomic business operation).
            Some(redeem) => {
                let taken = match redeem {
                    Redeem::Code(hash) => {
                        self.store().redeem_code(hash, now, &access, refresh.as_ref()).await?
                    }
                    Redeem::Refresh(hash) => {
                        self.store().rotate_refresh(hash, now, &access, refresh.as_ref()).await?
                    }
                };
                match taken {
                    Take::Fresh(()) => {}
                    Take::Replayed { family } => {
                        return Err(redeem.refused(self.store(), &client.id, Some(&family)).await?)
                    }
                    Take::Unknown => return Err(redeem.refused(self.store(), &client.id, None).await?),
                }
            }
        }
        let mut extra = serde_json::Map::new();
        if cfg.allow_extended_token_attributes {
            const RESERVED: &[&str] =
                &["access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"];
            extra = issue.extra.into_iter().filter(|(k, _)| !RESERVED.contains(&k.as_str())).collect();
        }
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
            scope: (!issue.scopes.is_empty()).then_some(issue.scopes),
            id_token,
            extra,
        })
    }

    /// RFC 9068 §2.2 claims. Without a resource indicator the audience is this issuer: such a
    /// token is meant for Portcullis's own endpoints (UserInfo).
    fn jwt_access_token_claims(
        &self,
        client: &Client,
        issue: &Issue,
        resources: &[String],
        jti: &str,
        now: UnixTime,
        expires_in: i64,
    ) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let cfg = self.config();
        let mut m = serde_json::Map::new();
        m.insert("iss".into(), cfg.issuer.clone().into());
        // §2.2: with no resource owner (client credentials), `sub` identifies the client.
        m.insert("sub".into(), issue.subject.clone().unwrap_or_else(|| client.id.clone()).into());
        let aud = match resources {
            [] => Value::from(cfg.issuer.clone()),
            [one] => Value::from(one.clone()),
            many => Value::from(many.to_vec()),
        };
        m.insert("aud".into(), aud);
        m.insert("exp".into(), (now + expires_in).into());
        m.insert("iat".into(), now.into());
        m.insert("jti".into(), jti.into());
        m.insert("client_id".into(), client.id.clone().into());
        if !issue.scopes.is_empty() {
            m.insert("scope".into(), issue.scopes.to_string().into());
        }
        if let (Some(t), Some(_)) = (issue.auth_time, &issue.subject) {
            m.insert("auth_time".into(), t.into());
        }
        m
    }
}
