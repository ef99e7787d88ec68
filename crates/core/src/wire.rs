//! Outcomes → `http::Response`: the only place that decides statuses and headers.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::endpoint::token::TokenReply;
use crate::error::OAuthError;

/// Response extension naming the authenticated client, for the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity(pub String);

/// A JSON response that must not be cached (RFC 6749 §5.1: `Cache-Control: no-store`,
/// `Pragma: no-cache`).
pub fn json_no_store(status: StatusCode, body: &serde_json::Value) -> Response<String> {
    let mut res = Response::new(body.to_string());
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
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

impl TokenReply {
    /// The HTTP response, with [`ClientIdentity`] in its extensions when known.
    pub fn into_response(self) -> Response<String> {
        let mut res = match &self.result {
            Ok(t) => json_no_store(StatusCode::OK, &t.to_json()),
            Err(e) => json_error(e),
        };
        if let Some(id) = self.client_id {
            res.extensions_mut().insert(ClientIdentity(id));
        }
        res
    }
}
