//! Client authentication at the token endpoint (RFC 6749 §2.3).
//!
//! `client_secret_basic` (§2.3.1: id and secret are form-urlencoded, then joined with `:` and
//! base64-encoded), `client_secret_post`, and `none` for public clients. Using two methods at
//! once is `invalid_request` (§2.3: "MUST NOT use more than one authentication method in each
//! request"). Failure is 401 `invalid_client`, with `WWW-Authenticate: Basic` when the client
//! used the header (§5.2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::OAuthError;
use crate::model::client::{AuthMethod, Client};
use crate::model::secret::{SecretString, VerifiedSecrets};
use crate::params::Params;
use crate::store::Store;

/// Where the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The `Authorization: Basic` header.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Post,
    /// Only `client_id` in the body.
    IdOnly,
}

/// Credentials as presented, before the client is looked up.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `client_id`.
    pub client_id: String,
    /// The secret, if one was presented.
    pub secret: Option<SecretString>,
    /// Where they came from.
    pub via: Via,
}

/// The outcome of client authentication.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The client's registration (shared with the store's cache).
    pub client: std::sync::Arc<Client>,
    /// Whether the client proved possession of its secret (false for public clients and for
    /// confidential clients on a grant that does not require authentication).
    pub authenticated: bool,
}

fn basic_error(description: &'static str) -> OAuthError {
    OAuthError::invalid_request(description)
}

fn challenge(mut e: OAuthError, via: Via) -> OAuthError {
    e.basic_challenge = via == Via::Basic;
    e
}

/// RFC 6749 Appendix B decoding of one half of the Basic credentials.
fn form_decode(s: &str) -> Result<String, OAuthError> {
    // A '%' not followed by two hex digits is malformed (checklist 21.3).
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(basic_error("malformed percent-encoding in Basic credentials"));
        }
    }
    if !s.contains(['%', '+']) {
        // Nothing to decode (generated ids and secrets): the text as it is.
        return Ok(s.to_owned());
    }
    let decoded: Vec<u8> = form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    String::from_utf8(decoded).map_err(|_| basic_error("Basic credentials are not UTF-8"))
}

/// Parse `Authorization: Basic …` per RFC 6749 §2.3.1 and RFC 7617.
fn parse_basic(header: &str) -> Result<Option<(String, String)>, OAuthError> {
    let (scheme, rest) = match header.split_once(' ') {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    if rest.is_empty() || rest.contains(|c: char| c.is_ascii_whitespace()) {
        return Err(basic_error("malformed Basic credentials"));
    }
    let raw = STANDARD.decode(rest).map_err(|_| basic_error("Basic credentials are not valid base64"))?;
    let text = String::from_utf8(raw).map_err(|_| basic_error("Basic credentials are not UTF-8"))?;
    let (id, secret) = text.split_once(':').ok_or_else(|| basic_error("Basic credentials have no ':'"))?;
    Ok(Some((form_decode(id)?, form_decode(secret)?)))
}

/// Gather the presented credentials from the header and the body.
pub fn extract(params: &Params, authorization: Option<&str>) -> Result<Credentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(header) = authorization {
        let Some((id, secret)) = parse_basic(header)? else {
            let mut e = OAuthError::invalid_client("unsupported client authentication scheme");
            e.basic_challenge = true;
            return Err(e);
        };
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client must not use more than one authentication method",
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            ));
        }
        if id.is_empty() {
            return Err(challenge(OAuthError::invalid_client("client authentication failed"), Via::Basic));
        }
        let secret = (!secret.is_empty()).then(|| SecretString::new(secret));
        return Ok(Credentials { client_id: id, secret, via: Via::Basic });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Credentials {
            client_id: id.to_owned(),
            secret: Some(SecretString::new(secret)),
            via: Via::Post,
        }),
        (Some(id), None) => Ok(Credentials { client_id: id.to_owned(), secret: None, via: Via::IdOnly }),
        (None, Some(_)) => Err(OAuthError::invalid_request("client_secret without client_id")),
        (None, None) => Err(OAuthError::invalid_client("client authentication required")),
    }
}

/// Look the client up and verify its credentials. `required` is the grant's policy: when
/// false, a confidential client may identify itself by `client_id` alone.
pub async fn authenticate(
    store: &dyn Store,
    creds: &Credentials,
    required: bool,
) -> Result<AuthenticatedClient, OAuthError> {
    authenticate_with(store, None, creds, required).await
}

impl crate::server::OAuthServer {
    /// [`authenticate`] with the server's store and its memory of verified imported secrets.
    pub(crate) async fn authenticate_client(
        &self,
        creds: &Credentials,
        required: bool,
    ) -> Result<AuthenticatedClient, OAuthError> {
        authenticate_with(self.store(), Some(self.verified_secrets()), creds, required).await
    }
}

/// [`authenticate`], remembering imported (Argon2id) secrets that verified in `verified`.
pub async fn authenticate_with(
    store: &dyn Store,
    verified: Option<&VerifiedSecrets>,
    creds: &Credentials,
    required: bool,
) -> Result<AuthenticatedClient, OAuthError> {
    let failed = || challenge(OAuthError::invalid_client("client authentication failed"), creds.via);
    let client = store.get_client_shared(&creds.client_id).await?.ok_or_else(failed)?;
    if client.is_public() {
        if creds.secret.is_some() {
            return Err(challenge(
                OAuthError::invalid_client("a public client must not present a secret"),
                creds.via,
            ));
        }
        return Ok(AuthenticatedClient { client, authenticated: false });
    }
    let Some(secret) = &creds.secret else {
        if required {
            return Err(failed());
        }
        return Ok(AuthenticatedClient { client, authenticated: false });
    };
    let method_ok = match client.auth_method {
        AuthMethod::ClientSecretBasic => creds.via == Via::Basic,
        AuthMethod::ClientSecretPost => creds.via == Via::Post,
        AuthMethod::None => false,
    };
    let secret_ok = client.secret.as_ref().is_some_and(|h| match verified {
        Some(cache) => cache.verify(h, secret.expose()),
        None => h.verify(secret.expose()),
    });
    if !secret_ok {
        return Err(failed());
    }
    if !method_ok {
        return Err(challenge(
            OAuthError::invalid_client(format!(
                "the client is registered for {}",
                client.auth_method.as_str()
            )),
            creds.via,
        ));
    }
    Ok(AuthenticatedClient { client, authenticated: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    #[test]
    fn basic_credentials_are_form_decoded_rfc6749_appendix_b() {
        let p = Params::default();
        let c = extract(&p, Some(&basic("an%3Aidentifier:%2B%25%26+x"))).ok();
        assert_eq!(c.as_ref().map(|c| c.client_id.as_str()), Some("an:identifier"));
        assert_eq!(
            c.as_ref().and_then(|c| c.secret.clone()).map(|s| s.expose().to_owned()),
            Some("+%& x".to_owned())
        );
    }

    #[test]
    fn malformed_basic_is_invalid_request() {
        let p = Params::default();
        for h in ["Basic", "Basic !!!", &basic("nocolon"), &basic("foo with %:bar"), "Basic Zm9v YmFy"] {
            let e = extract(&p, Some(h)).err().map(|e| e.code);
            assert_eq!(e, Some(crate::ErrorCode::InvalidRequest), "{h}");
        }
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let p = Params::default();
        let h = basic("a:b").replace("Basic", "bAsIc");
        assert!(extract(&p, Some(&h)).is_ok());
    }

    #[test]
    fn two_methods_at_once_is_invalid_request() {
        let p = Params::from_pairs([("client_secret", "b")]).unwrap_or_default();
        let e = extract(&p, Some(&basic("a:b"))).err().map(|e| e.code);
        assert_eq!(e, Some(crate::ErrorCode::InvalidRequest));
    }

    #[test]
    fn other_scheme_is_invalid_client_with_basic_challenge() {
        let e = extract(&Params::default(), Some("Bearer xyz")).err();
        assert_eq!(e.as_ref().map(|e| e.code), Some(crate::ErrorCode::InvalidClient));
        assert!(e.is_some_and(|e| e.basic_challenge));
    }
}
