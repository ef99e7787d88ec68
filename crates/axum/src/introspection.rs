//! Token verification in another process through an introspection endpoint (RFC 7662), with a
//! small bounded cache whose entries never outlive the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_core::model::secret::hash_token;
use portcullis_core::{Clock, ErrorCode, OAuthError, ScopeSet, SecretString, SystemClock, TokenInfo};
use serde_json::Value;

/// Calls `/introspect` as a confidential client.
pub struct IntrospectionClient {
    endpoint: String,
    client_id: String,
    client_secret: SecretString,
    http: reqwest::Client,
    ttl: Duration,
    capacity: usize,
    cache: Mutex<HashMap<String, (Option<TokenInfo>, Instant)>>,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish()
    }
}

fn unavailable(cause: impl std::fmt::Display) -> OAuthError {
    OAuthError::with(ErrorCode::TemporarilyUnavailable, "the token could not be verified right now")
        .caused_by(cause)
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl IntrospectionClient {
    /// A client for `endpoint` (e.g. `https://auth.example.com/introspect`) authenticating with
    /// `client_secret_basic`. Cache: 30 s, 10 000 entries by default.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: SecretString::new(client_secret.into()),
            http: reqwest::Client::new(),
            ttl: Duration::from_secs(30),
            capacity: 10_000,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How long a result may be reused (never longer than the token lives). Zero disables
    /// the cache: every request is introspected, so a revocation is seen at once.
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most entries kept.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Verify a token: cached, or introspected.
    pub async fn verify(&self, token: &str) -> Result<TokenInfo, OAuthError> {
        let key = hash_token(token);
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock() {
            if let Some((info, until)) = cache.get(&key) {
                if *until > now {
                    return info.clone().ok_or_else(inactive);
                }
            }
        }
        let info = self.introspect(token).await?;
        if !self.ttl.is_zero() {
            let wall = SystemClock.now();
            let lifetime = match &info {
                Some(i) => Duration::from_secs(u64::try_from(i.expires_at - wall).unwrap_or(0)).min(self.ttl),
                None => self.ttl,
            };
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= self.capacity {
                    cache.retain(|_, (_, until)| *until > now);
                    if cache.len() >= self.capacity {
                        cache.clear();
                    }
                }
                cache.insert(key, (info.clone(), now + lifetime));
            }
        }
        info.ok_or_else(inactive)
    }

    async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, OAuthError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let res = self
            .http
            .post(&self.endpoint)
            .basic_auth(form_encode(&self.client_id), Some(form_encode(self.client_secret.expose())))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(unavailable)?;
        if !res.status().is_success() {
            return Err(unavailable(format!("introspection answered {}", res.status())));
        }
        let body: Value = res.json().await.map_err(unavailable)?;
        Ok(parse(&body))
    }
}

fn inactive() -> OAuthError {
    OAuthError::with(ErrorCode::InvalidToken, "the access token is invalid, expired or revoked")
}

/// An RFC 7662 response → `TokenInfo` (`None` when inactive or not an access token).
fn parse(body: &Value) -> Option<TokenInfo> {
    if body.get("active").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    if body.get("token_type").and_then(Value::as_str).is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return None;
    }
    let client_id = body.get("client_id").and_then(Value::as_str)?.to_owned();
    let sub = body.get("sub").and_then(Value::as_str).map(str::to_owned);
    // Portcullis sets sub = client_id for tokens without a user (RFC 9068 §2.2).
    let subject = sub.filter(|s| *s != client_id || body.get("username").is_some());
    Some(TokenInfo {
        subject,
        scopes: ScopeSet::from_stored(body.get("scope").and_then(Value::as_str).unwrap_or("")),
        issued_at: body.get("iat").and_then(Value::as_i64).unwrap_or(0),
        expires_at: body.get("exp").and_then(Value::as_i64)?,
        jti: body.get("jti").and_then(Value::as_str).unwrap_or("").to_owned(),
        audience: match body.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        },
        client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_active_and_inactive() {
        assert_eq!(parse(&serde_json::json!({"active": false})), None);
        let i = parse(
            &serde_json::json!({"active": true, "client_id": "c", "sub": "c", "scope": "a b", "exp": 10, "token_type": "Bearer"}),
        );
        assert_eq!(i.as_ref().map(|i| i.subject.clone()), Some(None));
        assert!(i.is_some_and(|i| i.scopes.contains("b")));
        let u = parse(
            &serde_json::json!({"active": true, "client_id": "c", "sub": "u1", "username": "al", "exp": 10}),
        );
        assert_eq!(u.and_then(|i| i.subject), Some("u1".to_owned()));
    }
}
