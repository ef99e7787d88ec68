//! Registered clients (RFC 6749 §2).

use crate::clock::UnixTime;
use crate::model::scope::ScopeSet;
use crate::model::secret::SecretHash;

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1, credentials in the `Authorization: Basic` header.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1, credentials in the form body.
    ClientSecretPost,
    /// A public client: no secret.
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    /// Parse the RFC 7591 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// What kind of access tokens a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessTokenFormat {
    /// Random, stored by hash, checked against the store (the default).
    #[default]
    Opaque,
    /// A signed JWT (RFC 9068) that resource servers can verify with the JWKS alone.
    Jwt,
}

impl AccessTokenFormat {
    /// `opaque` or `jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }

    /// Parse `opaque` or `jwt`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "opaque" => Some(Self::Opaque),
            "jwt" => Some(Self::Jwt),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// The hashed secret; `None` for a public client.
    pub secret: Option<SecretHash>,
    /// Registered redirect URIs, compared as exact strings.
    pub redirect_uris: Vec<String>,
    /// The grant types this client may use.
    pub grant_types: Vec<String>,
    /// The scopes this client may receive.
    pub scopes: ScopeSet,
    /// Token endpoint authentication method.
    pub auth_method: AuthMethod,
    /// Trusted clients skip the consent page.
    pub trusted: bool,
    /// Per-client access token lifetime in seconds (server default when `None`).
    pub access_token_lifetime: Option<i64>,
    /// Per-client refresh token lifetime in seconds.
    pub refresh_token_lifetime: Option<i64>,
    /// Per-client authorization code lifetime in seconds.
    pub authorization_code_lifetime: Option<i64>,
    /// Opaque or JWT access tokens. A request with an RFC 8707 `resource` always gets a JWT.
    pub access_token_format: AccessTokenFormat,
    /// When the client was registered.
    pub created_at: UnixTime,
    /// When the client was last changed.
    pub updated_at: UnixTime,
}

impl Client {
    /// A public client has no secret and authenticates with `none`.
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Whether the client may use `grant_type`.
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}
