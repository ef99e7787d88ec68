//! Verify JWT access tokens (RFC 9068) in a resource server that runs in another process, with
//! nothing but the issuer's published keys (`/jwks.json`).
//!
//! The key set is cached for `max_age` and fetched again early when a token names a `kid`
//! the cache does not know (a rotation), at most once per `min_refetch`, so a flood of tokens
//! with made-up `kid`s cannot turn into a flood of fetches. Verification is the core's
//! [`verify_jwt`]: `typ` `at+jwt`, an asymmetric `alg` equal to the key's, `iss`, `aud` (this
//! API's identifier, as requested with RFC 8707 `resource`), `exp`/`iat`/`nbf` with a small
//! leeway. A revoked token stays valid here until it expires: use short lifetimes, or
//! introspection where revocation must be seen at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_core::signing::{audiences, looks_like_jwt, verify_jwt, JwtCheck, JwtError, CLOCK_SKEW};
use portcullis_core::{Clock, ErrorCode, OAuthError, ScopeSet, SystemClock, TokenInfo};
use serde_json::{Map, Value};

/// The most keys taken from one JWKS document.
const MAX_KEYS: usize = 64;

/// A JWT access token verifier for one issuer and one audience.
pub struct JwksVerifier {
    jwks_uri: String,
    issuer: String,
    audience: String,
    http: reqwest::Client,
    max_age: Duration,
    min_refetch: Duration,
    cache: tokio::sync::Mutex<Cache>,
    last_attempt: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Cache {
    keys: Vec<Map<String, Value>>,
    fetched: Option<Instant>,
}

impl std::fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("jwks_uri", &self.jwks_uri)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

fn unavailable(cause: impl std::fmt::Display) -> OAuthError {
    OAuthError::with(ErrorCode::TemporarilyUnavailable, "the token could not be verified right now")
        .caused_by(cause)
}

impl JwksVerifier {
    /// Tokens from `issuer` (its `iss`, e.g. `https://auth.example.com`), keys from `jwks_uri`
    /// (`{issuer}/jwks.json`), accepted only when `aud` names `audience`. Cache: 5 minutes;
    /// refetch on an unknown `kid` at most every 10 seconds.
    pub fn new(jwks_uri: impl Into<String>, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            jwks_uri: jwks_uri.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            http: reqwest::Client::new(),
            max_age: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
            cache: tokio::sync::Mutex::new(Cache::default()),
            last_attempt: Mutex::new(None),
        }
    }

    /// How long a fetched key set is used before it is fetched again.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The shortest time between two fetches caused by unknown `kid`s.
    #[must_use]
    pub fn min_refetch(mut self, min_refetch: Duration) -> Self {
        self.min_refetch = min_refetch;
        self
    }

    /// Verify a bearer token.
    pub async fn verify(&self, token: &str) -> Result<TokenInfo, OAuthError> {
        if !looks_like_jwt(token) {
            return Err(JwtError::Malformed.into_oauth());
        }
        let now = SystemClock.now();
        let check = JwtCheck {
            typ: "at+jwt",
            issuer: &self.issuer,
            audience: Some(&self.audience),
            now,
            leeway: CLOCK_SKEW,
        };
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched.is_none_or(|t| t.elapsed() >= self.max_age);
        if stale {
            self.refresh(&mut cache).await?;
        }
        let claims = match verify_jwt(token, &cache.keys, &check) {
            Err(JwtError::UnknownKey) if !stale && self.may_refetch() => {
                // Perhaps the issuer rotated: look again, once.
                self.refresh(&mut cache).await?;
                verify_jwt(token, &cache.keys, &check)
            }
            other => other,
        }
        .map_err(JwtError::into_oauth)?;
        drop(cache);
        info_from_claims(&claims).ok_or_else(|| JwtError::Claims("client_id").into_oauth())
    }

    fn may_refetch(&self) -> bool {
        let Ok(last) = self.last_attempt.lock() else { return false };
        last.is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    async fn refresh(&self, cache: &mut Cache) -> Result<(), OAuthError> {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let res = self.http.get(&self.jwks_uri).send().await.map_err(unavailable)?;
        if !res.status().is_success() {
            return Err(unavailable(format!("the JWKS answered {}", res.status())));
        }
        let body: Value = res.json().await.map_err(unavailable)?;
        let keys = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| unavailable("the JWKS has no keys array"))?;
        cache.keys = keys.iter().filter_map(Value::as_object).take(MAX_KEYS).cloned().collect();
        cache.fetched = Some(Instant::now());
        Ok(())
    }
}

/// RFC 9068 §2.2 claims → the resource server's view of the token.
fn info_from_claims(claims: &Map<String, Value>) -> Option<TokenInfo> {
    let client_id = claims.get("client_id")?.as_str()?.to_owned();
    let sub = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
    Some(TokenInfo {
        // §2.2: a token without a resource owner has the client as `sub`.
        subject: sub.filter(|s| *s != client_id),
        scopes: ScopeSet::from_stored(claims.get("scope").and_then(Value::as_str).unwrap_or("")),
        issued_at: claims.get("iat").and_then(Value::as_i64)?,
        expires_at: claims.get("exp").and_then(Value::as_i64)?,
        jti: claims.get("jti").and_then(Value::as_str).unwrap_or("").to_owned(),
        audience: audiences(claims).ok()?,
        client_id,
    })
}
