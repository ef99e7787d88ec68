//! Authorization server metadata: RFC 8414 (`/.well-known/oauth-authorization-server`) and
//! OpenID Connect Discovery 1.0 §3 (`/.well-known/openid-configuration`), one document for
//! both, generated from what is enabled. Every URL derives from the configured issuer, so the
//! document is right behind a TLS-terminating proxy (RFC 8414 §3.3: `issuer` must be
//! identical to the one the metadata was fetched for).

use serde_json::{json, Value};

use crate::error::OAuthError;
use crate::id_token::claims_supported;
use crate::server::OAuthServer;

/// Path of the JWKS, relative to the issuer.
pub const JWKS_PATH: &str = "/jwks.json";

impl OAuthServer {
    /// The metadata document.
    pub async fn metadata(&self) -> Result<Value, OAuthError> {
        let cfg = self.config();
        let issuer = cfg.issuer.trim_end_matches('/');
        let url = |path: &str| format!("{issuer}{path}");
        let mut scopes: Vec<String> = self.store().list_scopes().await?.into_iter().map(|s| s.name).collect();
        // OIDC Discovery §3: scopes_supported "MUST" include openid.
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        // The algorithm of the keys that sign now or will (normally one).
        let now = self.now();
        let mut algs: Vec<&'static str> = self
            .store()
            .list_keys()
            .await?
            .iter()
            .filter(|k| k.verifies_at(now) && k.retire_at.is_none_or(|r| r > now))
            .map(|k| k.alg.as_str())
            .collect();
        if !algs.contains(&cfg.signing_alg.as_str()) {
            algs.push(cfg.signing_alg.as_str());
        }
        let pkce: &[&str] = if cfg.allow_plain_pkce { &["S256", "plain"] } else { &["S256"] };
        // The implicit grant answers in the fragment (RFC 6749 §4.2.2); only when enabled.
        let (response_types, response_modes): (&[&str], &[&str]) = if cfg.allow_implicit_grant {
            (&["code", "token"], &["query", "fragment"])
        } else {
            (&["code"], &["query"])
        };
        Ok(json!({
            "issuer": issuer,
            "authorization_endpoint": url("/authorize"),
            "token_endpoint": url("/token"),
            "jwks_uri": url(JWKS_PATH),
            "userinfo_endpoint": url("/userinfo"),
            "introspection_endpoint": url("/introspect"),
            "revocation_endpoint": url("/revoke"),
            "grant_types_supported": self.grant_types(),
            "response_types_supported": response_types,
            "response_modes_supported": response_modes,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            // RFC 7662 §2.1: a public client cannot introspect.
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": pkce,
            "scopes_supported": scopes,
            "claims_supported": claims_supported(),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_signing_alg_values_supported": Value::Null,
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            // Discovery §3: the default is true, so say it.
            "request_uri_parameter_supported": false,
        }))
        .map(|mut v| {
            if let Some(m) = v.as_object_mut() {
                m.retain(|_, v| !v.is_null());
            }
            v
        })
    }
}
