//! ID tokens (OIDC Core §2, §3.1.3.6) and the claims of the UserInfo endpoint (§5.1, §5.4).
//!
//! Spec choices:
//! - The ID token carries the authentication claims only (`iss`, `sub`, `aud`, `exp`, `iat`,
//!   `auth_time`, `nonce`, `at_hash`). Profile claims requested by the `profile`, `email`,
//!   `address` and `phone` scopes are returned from the UserInfo endpoint: §5.4 says they are
//!   put in the ID token only "when no Access Token is issued", which never happens here.
//! - `aud` is the client alone, so `azp` is never needed (§2: "REQUIRED when the ID Token has
//!   a single audience value and that audience is different than the authorized party").
//! - An ID token accompanies every token response for a user whose scope includes `openid`:
//!   the code exchange (with the request's `nonce`), the password grant and refreshes. On a
//!   refresh (§12.2) `iss`, `sub`, `aud` and `auth_time` are those of the original
//!   authentication, `iat` is new, and there is no `nonce`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::clock::UnixTime;
use crate::model::account::Account;
use crate::model::key::SigningAlg;
use crate::model::scope::ScopeSet;

/// The `typ` of ID tokens: plain `JWT`, so one can never pass for an `at+jwt` access token.
pub const ID_TOKEN_TYP: &str = "JWT";

/// OIDC Core §3.1.3.6: `at_hash` is the base64url of the left half of the hash of the ASCII
/// access token, with the hash of the ID token's `alg`: SHA-256 for RS256 and ES256, SHA-512
/// for EdDSA with Ed25519 (the OpenID Foundation's reading for Ed25519, as other providers do).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The claims of an ID token, before signing.
pub(crate) struct IdTokenClaims<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub now: UnixTime,
    pub lifetime: i64,
    pub auth_time: Option<UnixTime>,
    pub nonce: Option<&'a str>,
    pub at_hash: String,
}

impl IdTokenClaims<'_> {
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("iss".into(), self.issuer.into());
        m.insert("sub".into(), self.subject.into());
        m.insert("aud".into(), self.client_id.into());
        m.insert("exp".into(), (self.now + self.lifetime).into());
        m.insert("iat".into(), self.now.into());
        if let Some(t) = self.auth_time {
            m.insert("auth_time".into(), t.into());
        }
        if let Some(n) = self.nonce {
            m.insert("nonce".into(), n.into());
        }
        m.insert("at_hash".into(), self.at_hash.clone().into());
        m
    }
}

impl crate::server::OAuthServer {
    /// Verify an ID token this server issued, as a relying party would (OIDC Core §3.1.3.7):
    /// signature by a published key, `typ`, `iss`, `exp`, `aud` containing `client_id`, and,
    /// when `nonce` is given, an equal `nonce` claim (§3.1.3.7 item 11).
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: Option<&str>,
    ) -> Result<Map<String, Value>, crate::OAuthError> {
        let claims = self.verify_own_jwt(token, ID_TOKEN_TYP, Some(client_id)).await?;
        if let Some(expected) = nonce {
            if claims.get("nonce").and_then(Value::as_str) != Some(expected) {
                return Err(crate::signing::JwtError::Claims("nonce").into_oauth());
            }
        }
        Ok(claims)
    }
}

/// OIDC Core §5.4: the standard claims each scope asks for.
pub const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Every claim this provider can return (Discovery `claims_supported`).
pub fn claims_supported() -> Vec<&'static str> {
    let mut v = vec!["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"];
    for (_, claims) in SCOPE_CLAIMS {
        v.extend_from_slice(claims);
    }
    v
}

/// The UserInfo response (§5.3.2) for an account and the token's scopes: `sub` always, then
/// every standard claim the scopes allow that the account has. `preferred_username` defaults
/// to the username and `updated_at` is the account's last change.
pub fn userinfo_claims(account: &Account, scopes: &ScopeSet) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), account.id.clone().into());
    for (scope, claims) in SCOPE_CLAIMS {
        if !scopes.contains(scope) {
            continue;
        }
        for claim in *claims {
            let value = match (*claim, account.claims.get(*claim)) {
                (_, Some(v)) if !v.is_null() => v.clone(),
                ("preferred_username", _) => account.username.clone().into(),
                ("updated_at", _) => account.updated_at.into(),
                _ => continue,
            };
            m.insert((*claim).to_owned(), value);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core Appendix A.3/A.4: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // with RS256 gives at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            at_hash(SigningAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(SigningAlg::EdDSA, "x").len(), 43);
    }

    #[test]
    fn userinfo_releases_only_what_the_scopes_allow() {
        let mut claims = Map::new();
        claims.insert("email".into(), "a@example.com".into());
        claims.insert("name".into(), "Alice".into());
        claims.insert("phone_number".into(), "+1 555".into());
        claims.insert("secret_note".into(), "x".into());
        let a = Account {
            id: "sub1".into(),
            username: "alice".into(),
            password_hash: None,
            claims,
            created_at: 1,
            updated_at: 2,
        };
        let only_openid = userinfo_claims(&a, &ScopeSet::from_stored("openid"));
        assert_eq!(Value::Object(only_openid), serde_json::json!({"sub": "sub1"}));
        let m = userinfo_claims(&a, &ScopeSet::from_stored("openid email profile"));
        assert_eq!(m.get("email"), Some(&Value::from("a@example.com")));
        assert_eq!(m.get("preferred_username"), Some(&Value::from("alice")));
        assert_eq!(m.get("updated_at"), Some(&Value::from(2)));
        assert!(!m.contains_key("phone_number") && !m.contains_key("secret_note"));
    }
}
