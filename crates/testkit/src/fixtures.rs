//! A server over a [`MemoryStore`] and a [`FixedClock`], with helpers to register clients,
//! scopes and users and to send token requests the way the HTTP layer does.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portcullis_core::model::client::{AccessTokenFormat, AuthMethod, Client};
use portcullis_core::model::scope::{ScopeDef, ScopeSet};
use portcullis_core::model::secret::{generate, hash_password, random_id, SecretHash, TokenKind};
use portcullis_core::store::{AccountStore, ClientStore, ScopeStore};
use portcullis_core::{Account, Builder, Config, OAuthServer, TokenReply, TokenRequest, UnixTime};

use crate::clock::FixedClock;
use crate::memory::MemoryStore;

/// Where every [`Fixture`] clock starts: 2023-11-14T22:13:20Z.
pub const START: UnixTime = 1_700_000_000;

/// A client to register with [`Fixture::add_client`].
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// `client_id`; random when `None`.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// `client_secret_basic`, `client_secret_post` or `none` (public).
    pub auth_method: AuthMethod,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed scopes, space-separated.
    pub scopes: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Skips consent.
    pub trusted: bool,
    /// Per-client access token lifetime.
    pub access_token_lifetime: Option<i64>,
    /// Per-client refresh token lifetime.
    pub refresh_token_lifetime: Option<i64>,
    /// Per-client authorization code lifetime.
    pub authorization_code_lifetime: Option<i64>,
    /// Opaque (default) or JWT access tokens.
    pub access_token_format: AccessTokenFormat,
}

impl ClientSpec {
    /// A confidential client using `client_secret_basic`.
    pub fn confidential(grant_types: &[&str]) -> Self {
        Self {
            id: None,
            name: "test client".into(),
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: grant_types.iter().map(|g| (*g).to_owned()).collect(),
            scopes: String::new(),
            redirect_uris: vec!["https://app.example/cb".into()],
            trusted: false,
            access_token_lifetime: None,
            refresh_token_lifetime: None,
            authorization_code_lifetime: None,
            access_token_format: AccessTokenFormat::Opaque,
        }
    }

    /// A public client (`none`).
    pub fn public(grant_types: &[&str]) -> Self {
        Self { auth_method: AuthMethod::None, ..Self::confidential(grant_types) }
    }

    /// Authenticate with `client_secret_post` instead.
    #[must_use]
    pub fn post(mut self) -> Self {
        self.auth_method = AuthMethod::ClientSecretPost;
        self
    }

    /// A fixed `client_id`.
    #[must_use]
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Allowed scopes, space-separated.
    #[must_use]
    pub fn scopes(mut self, scopes: &str) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// Replace the redirect URIs with these.
    #[must_use]
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.redirect_uris = uris.iter().map(|u| (*u).to_owned()).collect();
        self
    }

    /// Mark the client trusted: it skips the consent page.
    #[must_use]
    pub fn trusted(mut self) -> Self {
        self.trusted = true;
        self
    }

    /// Per-client access token lifetime.
    #[must_use]
    pub fn access_token_lifetime(mut self, secs: i64) -> Self {
        self.access_token_lifetime = Some(secs);
        self
    }

    /// Per-client refresh token lifetime.
    #[must_use]
    pub fn refresh_token_lifetime(mut self, secs: i64) -> Self {
        self.refresh_token_lifetime = Some(secs);
        self
    }

    /// JWT access tokens (RFC 9068).
    #[must_use]
    pub fn jwt(mut self) -> Self {
        self.access_token_format = AccessTokenFormat::Jwt;
        self
    }

    /// Per-client authorization code lifetime.
    #[must_use]
    pub fn authorization_code_lifetime(mut self, secs: i64) -> Self {
        self.authorization_code_lifetime = Some(secs);
        self
    }
}

/// A server wired to a [`MemoryStore`] and a [`FixedClock`] standing at [`START`].
pub struct Fixture {
    /// The server under test.
    pub server: OAuthServer,
    /// Its store, for inspection.
    pub store: Arc<MemoryStore>,
    /// Its clock: move it instead of sleeping.
    pub clock: FixedClock,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Default configuration.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A given configuration.
    pub fn with_config(config: Config) -> Self {
        Self::with_builder(config, |b| b)
    }

    /// A given configuration plus whatever `customize` adds to the builder (extension grants,
    /// a password authenticator). Panics if the builder refuses.
    pub fn with_builder(config: Config, customize: impl FnOnce(Builder) -> Builder) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = FixedClock::new(START);
        let builder = Builder::new(config).store(store.clone()).clock(Arc::new(clock.clone()));
        let server = customize(builder).build().unwrap_or_else(|e| panic!("building the server: {e}"));
        Self { server, store, clock }
    }

    /// The fixture clock's current time.
    pub fn now(&self) -> UnixTime {
        use portcullis_core::Clock;
        self.clock.now()
    }

    /// Register a scope.
    pub async fn add_scope(&self, name: &str, default: bool) {
        let def = ScopeDef {
            name: name.into(),
            description: format!("the {name} scope"),
            is_default: default,
            translations: Default::default(),
        };
        self.store.create_scope(&def).await.unwrap_or_else(|e| panic!("adding scope {name}: {e}"));
    }

    /// Register a client; returns its `client_id` and secret (empty for a public client).
    pub async fn add_client(&self, spec: ClientSpec) -> (String, String) {
        let id = spec.id.unwrap_or_else(random_id);
        let (secret, hash) = if spec.auth_method == AuthMethod::None {
            (String::new(), None)
        } else {
            let s = generate(TokenKind::ClientSecret);
            let h = SecretHash::for_generated(&s);
            (s.expose().to_owned(), Some(h))
        };
        let now = self.now();
        let client = Client {
            id: id.clone(),
            name: spec.name,
            secret: hash,
            redirect_uris: spec.redirect_uris,
            grant_types: spec.grant_types,
            scopes: ScopeSet::from_stored(&spec.scopes),
            auth_method: spec.auth_method,
            trusted: spec.trusted,
            access_token_lifetime: spec.access_token_lifetime,
            refresh_token_lifetime: spec.refresh_token_lifetime,
            authorization_code_lifetime: spec.authorization_code_lifetime,
            access_token_format: spec.access_token_format,
            created_at: now,
            updated_at: now,
        };
        self.store.create_client(&client).await.unwrap_or_else(|e| panic!("adding client {id}: {e}"));
        (id, secret)
    }

    /// Register a user with an Argon2id-hashed password; returns the subject (`sub`).
    pub async fn add_user(&self, username: &str, password: &str) -> String {
        let hash = hash_password(password).unwrap_or_else(|e| panic!("hashing a password: {e}"));
        let now = self.now();
        let account = Account {
            id: random_id(),
            username: username.into(),
            password_hash: Some(hash),
            claims: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_account(&account).await.unwrap_or_else(|e| panic!("adding user {username}: {e}"));
        account.id
    }

    /// A token request from form pairs, with optional Basic credentials (id, secret).
    pub async fn token(&self, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> http::Response<String> {
        let body = form(pairs);
        let header = basic.map(|(id, secret)| basic_header(id, secret));
        self.token_raw(body.as_bytes(), header.as_deref()).await
    }

    /// A token request from a raw body and `Authorization` header, exactly as the HTTP layer
    /// passes them on.
    pub async fn token_raw(&self, body: &[u8], authorization: Option<&str>) -> http::Response<String> {
        match TokenRequest::parse(body, authorization) {
            Ok(req) => self.server.token(req).await.into_response(),
            Err(e) => TokenReply::error(e).into_response(),
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// The JSON body of a response. Panics if it is not JSON.
pub fn json_body(res: &http::Response<String>) -> serde_json::Value {
    serde_json::from_str(res.body()).unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", res.body()))
}

/// A string field of a JSON response body, if present.
pub fn field(res: &http::Response<String>, name: &str) -> Option<String> {
    json_body(res).get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

/// The `error` code of a response body, if any.
pub fn error_code(res: &http::Response<String>) -> Option<String> {
    field(res, "error")
}
