//! `BearerLayer`: protect axum routes with Portcullis access tokens (RFC 6750).
//!
//! The layer reads the token (the `Authorization: Bearer` header; the `access_token` query or
//! form parameter only when allowed, RFC 6750 §2.2–2.3), verifies it (in process with
//! [`OAuthServer::verify_bearer`], or in another process through the introspection endpoint),
//! checks the route's scopes, and puts the [`TokenInfo`] in the request extensions for the
//! handler ([`Authenticated`] extracts it). Refusals follow RFC 6750 §3.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, Request, StatusCode};
use portcullis_core::wire::{bearer_error, json_error, put_scope_headers, scope_header_value};
use portcullis_core::{ErrorCode, OAuthError, OAuthServer, Params, ScopeSet, TokenInfo};
use tower::{Layer, Service};

/// How the layer checks a token.
#[derive(Clone)]
pub enum Verifier {
    /// In process, against the server's store.
    Local(OAuthServer),
    /// In another process, through `/introspect` (with a small bounded cache).
    #[cfg(feature = "introspection")]
    Remote(Arc<crate::introspection::IntrospectionClient>),
    /// In another process, JWT access tokens only, with the issuer's published keys.
    #[cfg(feature = "jwks")]
    Jwks(Arc<crate::jwks::JwksVerifier>),
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<TokenInfo, OAuthError> {
        match self {
            Self::Local(server) => server.verify_bearer(token).await,
            #[cfg(feature = "introspection")]
            Self::Remote(client) => client.verify(token).await,
            #[cfg(feature = "jwks")]
            Self::Jwks(v) => v.verify(token).await,
        }
    }
}

struct Settings {
    verifier: Verifier,
    required: ScopeSet,
    /// `required` as a header value, made once rather than per request.
    accepted: Option<http::HeaderValue>,
    realm: String,
    allow_query: bool,
    audience: Option<String>,
}

/// A tower layer that admits only requests with a valid bearer token carrying the route's
/// scopes.
///
/// ```no_run
/// # fn app(server: portcullis_core::OAuthServer) -> axum::Router {
/// use axum::{routing::get, Router};
/// use portcullis_axum::{Authenticated, BearerLayer};
/// async fn notes(Authenticated(token): Authenticated) -> String {
///     format!("notes of {}", token.subject.unwrap_or_default())
/// }
/// Router::new().route("/notes", get(notes)).route_layer(BearerLayer::local(server).scopes("notes:read"))
/// # }
/// ```
#[derive(Clone)]
pub struct BearerLayer {
    settings: Arc<Settings>,
}

impl BearerLayer {
    /// Verify tokens in process with `server`.
    pub fn local(server: OAuthServer) -> Self {
        Self::with_verifier(Verifier::Local(server))
    }

    /// Verify tokens through a remote introspection endpoint.
    #[cfg(feature = "introspection")]
    pub fn remote(client: crate::introspection::IntrospectionClient) -> Self {
        Self::with_verifier(Verifier::Remote(Arc::new(client)))
    }

    /// Verify JWT access tokens with the issuer's JWKS (no call per request; revocation is
    /// not seen until the token expires).
    #[cfg(feature = "jwks")]
    pub fn jwks(verifier: crate::jwks::JwksVerifier) -> Self {
        Self::with_verifier(Verifier::Jwks(Arc::new(verifier)))
    }

    /// Verify tokens with a [`Verifier`].
    pub fn with_verifier(verifier: Verifier) -> Self {
        Self {
            settings: Arc::new(Settings {
                verifier,
                required: ScopeSet::empty(),
                accepted: scope_header_value(&ScopeSet::empty()),
                realm: "portcullis".to_owned(),
                allow_query: false,
                audience: None,
            }),
        }
    }

    fn update(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut s = Settings {
            verifier: self.settings.verifier.clone(),
            required: self.settings.required.clone(),
            accepted: None,
            realm: self.settings.realm.clone(),
            allow_query: self.settings.allow_query,
            audience: self.settings.audience.clone(),
        };
        f(&mut s);
        s.accepted = scope_header_value(&s.required);
        self.settings = Arc::new(s);
        self
    }

    /// The scopes every request must carry (space-separated). Invalid scope tokens are ignored.
    #[must_use]
    pub fn scopes(self, scopes: &str) -> Self {
        let set = ScopeSet::from_stored(scopes);
        self.update(|s| s.required = set)
    }

    /// The `realm` of the challenge (default `portcullis`).
    #[must_use]
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.update(|s| s.realm = realm)
    }

    /// Accept only tokens whose audience (`aud`, RFC 8707 / RFC 9068) names this API. Opaque
    /// tokens carry no audience, so with this set only JWT access tokens requested with
    /// `resource=<audience>` pass. (`BearerLayer::jwks` always checks its own audience.)
    #[must_use]
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = Some(audience.into());
        self.update(|s| s.audience = audience)
    }

    /// Also accept the token as an `access_token` query parameter or form field (RFC 6750
    /// §2.2–2.3; off by default: URLs end up in logs and browser history).
    #[must_use]
    pub fn allow_bearer_tokens_in_query_string(self, allow: bool) -> Self {
        self.update(|s| s.allow_query = allow)
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer { inner, settings: self.settings.clone() }
    }
}

/// The service [`BearerLayer`] wraps around a route.
#[derive(Clone)]
pub struct Bearer<S> {
    inner: S,
    settings: Arc<Settings>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for Bearer<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one to call (tower's Service contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let settings = self.settings.clone();
        Box::pin(async move {
            let s = &settings;
            let (req, token) = match extract(req, s.allow_query, s.allow_query).await {
                Ok(found) => found,
                Err(e) => return Ok(refuse(s, Some(&e), None)),
            };
            let Some(token) = token else {
                return Ok(refuse(s, None, None));
            };
            let info = match s.verifier.verify(&token).await {
                Ok(info) => info,
                Err(e) if e.code == ErrorCode::InvalidToken => return Ok(refuse(s, Some(&e), None)),
                Err(e) => {
                    tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "token verification failed");
                    return Ok(json_error(&e).into_response());
                }
            };
            if s.audience.as_ref().is_some_and(|a| !info.audience.contains(a)) {
                let e = OAuthError::with(ErrorCode::InvalidToken, "the access token is for another audience");
                return Ok(refuse(s, Some(&e), None));
            }
            if !info.has_scopes(&s.required) {
                let e =
                    OAuthError::with(ErrorCode::InsufficientScope, "the access token lacks a required scope");
                return Ok(refuse(s, Some(&e), Some(&info.scopes)));
            }
            // The scope headers (as `add_scope_headers`); a token with exactly the route's scopes
            // (the common case) reuses the value made once.
            let granted =
                if info.scopes == s.required { s.accepted.clone() } else { scope_header_value(&info.scopes) };
            let mut req = req;
            req.extensions_mut().insert(info);
            let mut res = inner.call(req).await?;
            put_scope_headers(res.headers_mut(), s.accepted.clone(), granted);
            Ok(res)
        })
    }
}

fn refuse(s: &Settings, err: Option<&OAuthError>, granted: Option<&ScopeSet>) -> Response {
    bearer_error(&s.realm, err, &s.required, granted).into_response()
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn invalid_request(d: &'static str) -> OAuthError {
    OAuthError::invalid_request(d)
}

/// Find the token: the header always; the query (§2.3) and a form body (§2.2) when allowed.
/// RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
/// request", so two methods are `invalid_request`; so is a token in a place not allowed.
pub(crate) async fn extract(
    req: Request<Body>,
    allow_query: bool,
    allow_body: bool,
) -> Result<(Request<Body>, Option<String>), OAuthError> {
    let mut found: Vec<String> = Vec::new();
    let mut headers = req.headers().get_all(AUTHORIZATION).iter();
    match (headers.next(), headers.next()) {
        (Some(_), Some(_)) => return Err(invalid_request("more than one Authorization header")),
        (Some(v), None) => {
            let v = v.to_str().map_err(|_| invalid_request("the Authorization header is malformed"))?;
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                if !is_b64token(rest) {
                    return Err(invalid_request("the Bearer credentials are malformed"));
                }
                found.push(rest.to_owned());
            }
            // Another scheme carries no bearer token: answered as a request without one.
        }
        _ => {}
    }
    let query = req.uri().query().map(|q| Params::parse(q.as_bytes())).transpose()?;
    if let Some(t) = query.as_ref().and_then(|q| q.get("access_token")) {
        if !allow_query {
            return Err(invalid_request("bearer tokens in the query string are not allowed"));
        }
        found.push(t.to_owned());
    }
    let is_form = req.method() == Method::POST
        && req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let req = if allow_body && is_form {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, crate::MAX_FORM_BYTES)
            .await
            .map_err(|_| invalid_request("the request body is too large or unreadable"))?;
        if let Some(t) = Params::parse(&bytes)?.get("access_token") {
            found.push(t.to_owned());
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    if found.len() > 1 {
        return Err(invalid_request("the access token was sent in more than one way"));
    }
    Ok((req, found.pop()))
}

/// The verified token of a request behind [`BearerLayer`].
#[derive(Debug, Clone)]
pub struct Authenticated(pub TokenInfo);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<TokenInfo>().cloned().map(Authenticated).ok_or_else(|| {
            tracing::error!("Authenticated used on a route without BearerLayer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64token_syntax() {
        assert!(is_b64token("pc_at_abc-._~+/=="));
        assert!(!is_b64token(""));
        assert!(!is_b64token("a b"));
        assert!(!is_b64token("a\"b"));
        assert!(!is_b64token("==="));
    }
}
