//! # portcullis-core
//!
//! The protocol core of Portcullis, an OAuth 2.0 / OpenID Connect authorization server: it
//! parses, validates, decides and renders, with no web framework and no SQL. Storage is behind
//! the [`store::Store`] traits; HTTP is `http::Response` values built in [`wire`].
//!
//! | RFC | module |
//! |---|---|
//! | RFC 6749 §2.3 client authentication | [`client_auth`] |
//! | RFC 6749 §3.1, §4.1.1–4.1.2, RFC 9207 authorization endpoint | [`endpoint::authorize`] |
//! | RFC 6749 §3.2, §5 token endpoint | [`endpoint::token`], [`wire`] |
//! | RFC 6749 §3.3 scope | [`model::scope`] |
//! | RFC 6749 §4.1.3 authorization code | [`grant::authorization_code`] |
//! | RFC 6749 §4.3 password | [`grant::password`] |
//! | RFC 6749 §4.4 client credentials | [`grant::client_credentials`] |
//! | RFC 6749 §4.5 extension grants | [`grant::TokenGrant`] |
//! | RFC 6749 §5.2, RFC 6750 §3.1 errors | [`error`] |
//! | RFC 6749 §6, RFC 9700 §4.14 refresh + rotation | [`grant::refresh_token`] |
//! | RFC 6750 bearer tokens | [`bearer`], [`wire::bearer_error`] |
//! | RFC 7009 revocation | [`endpoint::revoke`] |
//! | RFC 7636 PKCE | [`pkce`] |
//! | RFC 7662 introspection | [`endpoint::introspect`] |
//! | RFC 7515, 7517, 7638, 8725 JWS, JWKS, key rotation | [`signing`] |
//! | RFC 8414, OIDC Discovery 1.0 metadata | [`endpoint::metadata`] |
//! | RFC 8707 resource indicators | [`endpoint::token`] |
//! | RFC 9068 JWT access tokens | [`server`], [`bearer`] |
//! | OIDC Core §2, §3.1.3.6, §5 ID token, UserInfo | [`id_token`], [`endpoint::userinfo`] |

pub mod bearer;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod grant;
pub mod id_token;
pub mod model;
pub mod params;
pub mod pkce;
pub mod server;
pub mod signing;
pub mod store;
pub mod wire;

pub use bearer::TokenInfo;
pub use clock::{Clock, SystemClock, UnixTime};
pub use config::Config;
pub use endpoint::authorize::{
    Authentication, AuthorizeOutcome, ConsentDecision, Interaction, InteractionKind,
};
pub use endpoint::introspect::Introspection;
pub use endpoint::reply::Reply;
pub use endpoint::revoke::Revoked;
pub use endpoint::token::{TokenReply, TokenRequest};
pub use error::{ErrorCode, OAuthError};
pub use grant::{GrantContext, Issue, Redeem, TokenGrant};
pub use model::account::Account;
pub use model::authorization::{AuthorizationCode, PendingAuthorization, ResponseType};
pub use model::client::{AccessTokenFormat, AuthMethod, Client};
pub use model::consent::Consent;
pub use model::key::{SigningAlg, SigningKeyRecord};
pub use model::scope::{ScopeDef, ScopeSet};
pub use model::secret::{SecretHash, SecretString};
pub use model::session::Session;
pub use model::token::{AccessTokenRecord, RefreshTokenRecord, Take};
pub use params::Params;
pub use server::{BuildError, Builder, NewAuthorizationCode, OAuthServer, TokenResponse};
pub use signing::KeyEncryptionKey;
pub use store::{Store, StoreError, StoreResult};
