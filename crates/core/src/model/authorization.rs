//! Authorization codes (RFC 6749 §4.1.2) as the store keeps them.

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
