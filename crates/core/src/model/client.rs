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

    /// The registered redirect URI that `requested` matches, if any (see [`redirect_uri_matches`]).
    pub fn registered_redirect_uri(&self, requested: &str) -> Option<&str> {
        self.redirect_uris.iter().map(String::as_str).find(|r| redirect_uri_matches(r, requested))
    }
}

/// Whether a requested redirect URI matches a registered one.
///
/// RFC 9700 §4.1.3 and OAuth 2.1 §4.1.1: an exact, simple string comparison (RFC 3986 §6.2.1),
/// no normalisation. The one exception is the port of a loopback redirect URI (RFC 8252 §7.3:
/// "MUST allow any port to be specified at the time of the request for loopback IP redirect
/// URIs"): `http://127.0.0.1`, `http://[::1]` and, when registered as such, `http://localhost`
/// match with any port, everything else about them compared exactly.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Some(reg), Some(req)) = (loopback_parts(registered), loopback_parts(requested)) else {
        return false;
    };
    reg.0 == req.0 && reg.1 == req.1
}

/// `http://HOST[:PORT]REST` with HOST a loopback name → (HOST, REST), with the port dropped.
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, port) = authority.split_at(close + 1);
        valid_port(port)?;
        host
    } else {
        match authority.split_once(':') {
            Some((host, port)) => {
                valid_port(&format!(":{port}"))?;
                host
            }
            None => authority,
        }
    };
    matches!(host, "127.0.0.1" | "[::1]" | "localhost").then_some((host, path))
}

fn valid_port(port: &str) -> Option<()> {
    if port.is_empty() {
        return Some(());
    }
    let digits = port.strip_prefix(':')?;
    (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(())
}

#[cfg(test)]
mod tests {
    use super::redirect_uri_matches as m;

    #[test]
    fn exact_match_only_checklist_1_2() {
        let r = "https://c1.test/cb";
        assert!(m(r, r));
        for v in [
            "https://c1.test/cb/",
            "https://c1.test/CB",
            "https://C1.test/cb",
            "HTTPS://c1.test/cb",
            "https://c1.test/cb?x=1",
            "https://c1.test/cb#f",
            "https://c1.test:443/cb",
            "https://c1.test/%63b",
            "https://c1.test/cb/../cb",
            "https://c1.test%2Fcb@evil.test/",
            "https://c1.test/cb@evil.test",
            "https://c1.test.evil.test/cb",
            "https://c1.test/cb%00",
            " https://c1.test/cb",
            "http://c1.test/cb",
            "//evil.test/cb",
            "javascript:alert(1)",
        ] {
            assert!(!m(r, v), "{v}");
        }
    }

    #[test]
    fn registered_query_must_match_exactly_checklist_1_3() {
        let r = "https://q1.test/cb?x=1";
        assert!(m(r, r));
        for v in ["https://q1.test/cb?x=2", "https://q1.test/cb?x=1&y=2", "https://q1.test/cb"] {
            assert!(!m(r, v), "{v}");
        }
    }

    #[test]
    fn loopback_any_port_checklist_1_4() {
        assert!(m("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"));
        assert!(m("http://[::1]/cb", "http://[::1]:61023/cb"));
        assert!(m("http://localhost/cb", "http://localhost:8080/cb"));
        for v in [
            "http://127.0.0.1:51004/cb2",
            "http://127.0.0.2:1/cb",
            "http://127.0.0.1.evil.test:1/cb",
            "http://localhost:51004/cb",
            "https://127.0.0.1:1/cb",
            "http://127.0.0.1:abc/cb",
            "http://127.0.0.1:1@evil.test/cb",
        ] {
            assert!(!m("http://127.0.0.1/cb", v), "{v}");
        }
    }
}
