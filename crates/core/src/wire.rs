//! Outcomes → `http::Response`: the only place that decides statuses and headers.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::endpoint::introspect::Introspection;
use crate::endpoint::reply::Reply;
use crate::endpoint::revoke::Revoked;
use crate::error::OAuthError;
use crate::model::scope::ScopeSet;
use crate::server::TokenResponse;

/// Response extension naming the authenticated client, for the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity(pub String);

/// A JSON value as text: `serde_json::to_string` writes straight into a buffer (`Display`,
/// which `to_string()` uses, goes through the formatting machinery, visibly slower on the token
/// endpoint). Serializing a `Value` cannot fail.
fn json_text(body: &serde_json::Value) -> String {
    serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"))
}

/// A JSON response that must not be cached (RFC 6749 §5.1: `Cache-Control: no-store`,
/// `Pragma: no-cache`).
pub fn json_no_store(status: StatusCode, body: &serde_json::Value) -> Response<String> {
    let mut res = Response::new(json_text(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// How long clients may cache the metadata and the JWKS. A scheduled rotation publishes the
/// next key at least this long before it signs (checklist 19.5.1).
pub const PUBLIC_MAX_AGE: u32 = 300;

/// A public JSON document (metadata, JWKS): cacheable for [`PUBLIC_MAX_AGE`] seconds and
/// readable cross-origin, so browser applications can discover the issuer.
pub fn json_public(body: &serde_json::Value) -> Response<String> {
    let mut res = Response::new(json_text(body));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={PUBLIC_MAX_AGE}")) {
        h.insert(CACHE_CONTROL, v);
    }
    h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// A public document, or the error that prevented it (a store failure: 5xx).
pub fn public_document(result: Result<serde_json::Value, OAuthError>) -> Response<String> {
    match result {
        Ok(v) => json_public(&v),
        Err(e) => {
            tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "public document failed");
            json_error(&e)
        }
    }
}

/// The UserInfo response (OIDC Core §5.3.2), or its RFC 6750 §3 refusal. Personal data: not
/// cached.
pub fn userinfo_response(
    realm: &str,
    result: Result<serde_json::Map<String, serde_json::Value>, OAuthError>,
) -> Response<String> {
    let openid = ScopeSet::from_stored("openid");
    match result {
        Ok(claims) => json_no_store(StatusCode::OK, &serde_json::Value::Object(claims)),
        Err(e)
            if matches!(
                e.code,
                crate::ErrorCode::InvalidToken
                    | crate::ErrorCode::InsufficientScope
                    | crate::ErrorCode::InvalidRequest
            ) =>
        {
            bearer_error(realm, Some(&e), &openid, None)
        }
        Err(e) => {
            tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "userinfo failed");
            json_error(&e)
        }
    }
}

/// The RFC 6749 §5.2 error body.
pub fn error_body(err: &OAuthError) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("error".into(), err.code.as_str().into());
    if let Some(d) = &err.description {
        m.insert("error_description".into(), d.as_ref().into());
    }
    if let Some(u) = &err.uri {
        m.insert("error_uri".into(), u.as_str().into());
    }
    serde_json::Value::Object(m)
}

/// A token-endpoint style JSON error (RFC 6749 §5.2).
pub fn json_error(err: &OAuthError) -> Response<String> {
    let mut res = json_no_store(err.status(), &error_body(err));
    // §5.2: a 401 after the client used the Authorization header MUST carry WWW-Authenticate.
    if err.basic_challenge && err.status() == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"portcullis\""));
    }
    res
}

/// A successful endpoint body that knows its HTTP form.
pub trait ReplyBody {
    /// The 200 response.
    fn to_response(&self) -> Response<String>;
}

impl ReplyBody for TokenResponse {
    fn to_response(&self) -> Response<String> {
        json_no_store(StatusCode::OK, &self.to_json())
    }
}

impl ReplyBody for Introspection {
    fn to_response(&self) -> Response<String> {
        json_no_store(StatusCode::OK, &self.0)
    }
}

impl ReplyBody for Revoked {
    /// RFC 7009 §2.2: 200; "the content of the response body is ignored by the client".
    fn to_response(&self) -> Response<String> {
        let mut res = Response::new(String::new());
        res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }
}

impl<T: ReplyBody> Reply<T> {
    /// The HTTP response, with [`ClientIdentity`] in its extensions when known.
    pub fn into_response(self) -> Response<String> {
        let mut res = match &self.result {
            Ok(body) => body.to_response(),
            Err(e) => json_error(e),
        };
        if let Some(id) = self.client_id {
            res.extensions_mut().insert(ClientIdentity(id));
        }
        res
    }
}

/// A `quoted-string` value for `WWW-Authenticate` with nothing that could break the quoting.
fn quoted(s: &str) -> String {
    s.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect()
}

/// RFC 6750 §3: the response of a resource server that refuses a request.
///
/// `err` is `None` when the request carried no token at all: then the challenge has only the
/// realm and no error code (§3.1: "the resource server SHOULD NOT include an error code").
/// `required` is what the route needs (`X-Accepted-OAuth-Scopes`), `granted` what the token
/// has (`X-OAuth-Scopes`), as node-oauth2-server sends them.
pub fn bearer_error(
    realm: &str,
    err: Option<&OAuthError>,
    required: &ScopeSet,
    granted: Option<&ScopeSet>,
) -> Response<String> {
    let mut challenge = format!("Bearer realm=\"{}\"", quoted(realm));
    let (status, body) = match err {
        None => (StatusCode::UNAUTHORIZED, String::new()),
        Some(e) => {
            challenge.push_str(&format!(", error=\"{}\"", e.code.as_str()));
            if let Some(d) = &e.description {
                challenge.push_str(&format!(", error_description=\"{}\"", quoted(d)));
            }
            if e.code == crate::ErrorCode::InsufficientScope {
                challenge.push_str(&format!(", scope=\"{}\"", quoted(&required.to_string())));
            }
            (e.status(), error_body(e).to_string())
        }
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        h.insert(WWW_AUTHENTICATE, v);
    }
    if err.is_some() {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_scope_headers(h, required, granted);
    res
}

/// `X-Accepted-OAuth-Scopes` and `X-OAuth-Scopes`, comma-separated.
pub fn add_scope_headers(h: &mut http::HeaderMap, required: &ScopeSet, granted: Option<&ScopeSet>) {
    put_scope_headers(h, scope_header_value(required), granted.and_then(scope_header_value));
}

/// [`add_scope_headers`] with values already made ([`scope_header_value`]).
pub fn put_scope_headers(
    h: &mut http::HeaderMap,
    accepted: Option<HeaderValue>,
    granted: Option<HeaderValue>,
) {
    if let Some(v) = accepted {
        h.insert(X_ACCEPTED_OAUTH_SCOPES, v);
    }
    if let Some(v) = granted {
        h.insert(X_OAUTH_SCOPES, v);
    }
}

/// The header names of [`add_scope_headers`].
const X_ACCEPTED_OAUTH_SCOPES: http::header::HeaderName =
    http::header::HeaderName::from_static("x-accepted-oauth-scopes");
/// See [`X_ACCEPTED_OAUTH_SCOPES`].
const X_OAUTH_SCOPES: http::header::HeaderName = http::header::HeaderName::from_static("x-oauth-scopes");

/// A scope set as the value of a scope header (comma-separated); `None` if it cannot be one.
pub fn scope_header_value(s: &ScopeSet) -> Option<HeaderValue> {
    HeaderValue::from_str(&s.iter().collect::<Vec<_>>().join(", ")).ok()
}
