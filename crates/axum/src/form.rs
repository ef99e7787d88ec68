//! Framing of form-encoded POST requests to the machine endpoints.

use axum::body::Bytes;
use axum::extract::Request;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::Method;
use portcullis_core::OAuthError;

/// The largest form body accepted (checklist 21.6: bodies over 64 KiB are refused).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A framed form request: the raw body and the single `Authorization` header, if any.
#[derive(Debug)]
pub struct FormRequest {
    /// The raw `application/x-www-form-urlencoded` body.
    pub body: Bytes,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

/// RFC 6749 §3.2: the client MUST use POST with `application/x-www-form-urlencoded`.
/// Everything else is `invalid_request`.
pub async fn read_form(req: Request) -> Result<FormRequest, OAuthError> {
    if req.method() != Method::POST {
        return Err(OAuthError::invalid_request("the request must use POST"));
    }
    let headers = req.headers();
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("");
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim_matches('"');
            if k.trim().eq_ignore_ascii_case("charset") && !v.eq_ignore_ascii_case("utf-8") {
                return Err(OAuthError::invalid_request("the body must be UTF-8"));
            }
        }
    }
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let authorization = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(v), None) => Some(
            v.to_str()
                .map_err(|_| OAuthError::invalid_request("the Authorization header is malformed"))?
                .to_owned(),
        ),
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("more than one Authorization header"));
        }
    };
    let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| OAuthError::invalid_request("the request body is too large or unreadable"))?;
    if body.is_empty() {
        return Err(OAuthError::invalid_request("the request body is empty"));
    }
    Ok(FormRequest { body, authorization })
}
