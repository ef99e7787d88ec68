//! Authorization codes (RFC 6749 §4.1.2) as the store keeps them.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::model::scope::ScopeSet;
use crate::pkce::CodeChallengeMethod;

/// An issued authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 (hex) of the code.
    pub hash: String,
    /// The family of every token issued from this code (revoked together on replay).
    pub family: String,
    /// The client the code was issued to (RFC 6749 §4.1.3: bound to it).
    pub client_id: String,
    /// The resource owner who approved.
    pub subject: String,
    /// The redirect URI the code was delivered to.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the authorization request; if it was, the token request
    /// must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_given: bool,
    /// Approved scopes.
    pub scopes: ScopeSet,
    /// RFC 7636 `code_challenge`.
    pub code_challenge: Option<String>,
    /// RFC 7636 `code_challenge_method`.
    pub code_challenge_method: Option<CodeChallengeMethod>,
    /// OIDC `nonce`.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Option<UnixTime>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
}

/// What the authorization endpoint will deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    /// `code` (RFC 6749 §4.1).
    Code,
    /// `token`, the implicit grant (RFC 6749 §4.2): only when enabled (RFC 9700 §2.1.2).
    Token,
}

/// An authorization request waiting for the user to log in or consent. Stored server-side,
/// single use and short-lived, so login and consent may be answered by different processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// SHA-256 (hex) of the interaction id handed to the browser.
    pub id_hash: String,
    /// The client.
    pub client_id: String,
    /// The verified redirect URI.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was in the request.
    pub redirect_uri_given: bool,
    /// `response_type`.
    pub response_type: ResponseType,
    /// Resolved scopes.
    pub scopes: ScopeSet,
    /// `state`, echoed byte for byte.
    pub state: Option<String>,
    /// RFC 7636 challenge.
    pub code_challenge: Option<String>,
    /// RFC 7636 method.
    pub code_challenge_method: Option<CodeChallengeMethod>,
    /// OIDC `nonce`.
    pub nonce: Option<String>,
    /// `prompt=login` (or `select_account`): the user must authenticate anew.
    pub prompt_login: bool,
    /// `prompt=consent`: ask for consent even if remembered.
    pub prompt_consent: bool,
    /// OIDC `max_age` in seconds.
    pub max_age: Option<i64>,
    /// OIDC `login_hint`: prefills the username.
    pub login_hint: Option<String>,
    /// OIDC `ui_locales`, space-separated language tags.
    pub ui_locales: Option<String>,
    /// A request that failed validation while the user was not signed in: the error is
    /// delivered to the client only after the user has logged in (RFC 9700 §4.11.2).
    #[serde(default)]
    pub error: Option<PendingError>,
    /// When the request arrived.
    pub created_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
}

/// An authorization error waiting for the user's login before it is redirected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingError {
    /// The error code (`invalid_scope`, …).
    pub code: String,
    /// The description.
    pub description: Option<String>,
}
