//! Server configuration. Every default is documented here and matches node-oauth2-server's.

use std::collections::BTreeMap;

use crate::model::key::SigningAlg;

/// Policy and lifetimes for an [`crate::OAuthServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The issuer identifier (RFC 8414 §2): an https URL in production. Used for `iss`.
    pub issuer: String,
    /// Access token lifetime in seconds. Default 3600.
    pub access_token_lifetime: i64,
    /// Refresh token lifetime in seconds. Default 1209600 (14 days).
    pub refresh_token_lifetime: i64,
    /// Authorization code lifetime in seconds. Default 300.
    pub authorization_code_lifetime: i64,
    /// Rotate refresh tokens: each use revokes the used one and issues a new one. Default true.
    pub always_issue_new_refresh_token: bool,
    /// Let grants add fields to the token response (node-oauth2-server's option). Default false.
    pub allow_extended_token_attributes: bool,
    /// Per `grant_type`: whether a confidential client must authenticate with its secret.
    /// Grants not listed require it (node-oauth2-server's `requireClientAuthentication`).
    pub require_client_authentication: BTreeMap<String, bool>,
    /// Require PKCE (RFC 7636) from every client, not only public ones. Default false.
    pub require_pkce: bool,
    /// Accept `code_challenge_method=plain`. Default false: S256 only (RFC 9700 §2.1.1).
    pub allow_plain_pkce: bool,
    /// Allow `response_type=token` (implicit grant) for clients that have the `implicit`
    /// grant type. Default false (RFC 9700 §2.1.2: SHOULD NOT be used).
    pub allow_implicit_grant: bool,
    /// Accept authorization requests without `state` (node-oauth2-server's `allowEmptyState`).
    /// Default false.
    pub allow_empty_state: bool,
    /// How long a pending authorization request waits for login and consent, seconds.
    /// Default 600.
    pub interaction_lifetime: i64,
    /// ID token lifetime in seconds (OIDC Core §2 `exp`). Default 3600.
    pub id_token_lifetime: i64,
    /// The algorithm new signing keys use. Default RS256, which OIDC requires every provider
    /// to support (OIDC Core §15.1; Discovery `id_token_signing_alg_values_supported`).
    pub signing_alg: SigningAlg,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            access_token_lifetime: 3600,
            refresh_token_lifetime: 1_209_600,
            authorization_code_lifetime: 300,
            always_issue_new_refresh_token: true,
            allow_extended_token_attributes: false,
            require_client_authentication: BTreeMap::new(),
            require_pkce: false,
            allow_plain_pkce: false,
            allow_implicit_grant: false,
            allow_empty_state: false,
            interaction_lifetime: 600,
            id_token_lifetime: 3600,
            signing_alg: SigningAlg::RS256,
        }
    }
}

impl Config {
    /// Check values that would make the server misbehave later.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer.is_empty() {
            return Err("issuer must not be empty".into());
        }
        if !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://")) {
            return Err("issuer must be an http(s) URL".into());
        }
        // RFC 8414 §2: the issuer has no query or fragment.
        if self.issuer.contains('?') || self.issuer.contains('#') {
            return Err("issuer must not contain a query or fragment".into());
        }
        for (name, v) in [
            ("access_token_lifetime", self.access_token_lifetime),
            ("refresh_token_lifetime", self.refresh_token_lifetime),
            ("authorization_code_lifetime", self.authorization_code_lifetime),
            ("interaction_lifetime", self.interaction_lifetime),
            ("id_token_lifetime", self.id_token_lifetime),
        ] {
            if v <= 0 {
                return Err(format!("{name} must be a positive number of seconds"));
            }
        }
        Ok(())
    }
}
