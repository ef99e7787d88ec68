//! Framing of form-encoded POST requests to the machine endpoints.

use axum::body::Bytes;
use axum::extract::Request;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::Method;
use portcullis_core::OAuthError;

/// The largest form body accepted (checklist 21.6: bodies over 64 KiB are refused).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// How much of an oversized body is read and discarded before answering, so the client sees
/// the error instead of a connection reset. A body declared larger than this is refused
/// without reading, and the connection is closed.
const DRAIN_BYTES: usize = 1024 * 1024;

/// A framing failure: the error, and whether the connection must close because the body
/// was left unread.
#[derive(Debug)]
pub struct FramingError {
    /// The `invalid_request` to send.
    pub error: OAuthError,
    /// Send `Connection: close`.
    pub close: bool,
}

impl From<OAuthError> for FramingError {
    fn from(error: OAuthError) -> Self {
        Self { error, close: false }
    }
}

/// Read at most [`MAX_FORM_BYTES`], draining up to [`DRAIN_BYTES`] of anything larger.
async fn read_body(body: axum::body::Body) -> Result<Bytes, FramingError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = Vec::new();
    let mut total = 0usize;
    let unreadable =
        || FramingError { error: OAuthError::invalid_request("the request body is unreadable"), close: true };
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| unreadable())?.into_data() else { continue };
        total += data.len();
        if total <= MAX_FORM_BYTES {
            buf.extend_from_slice(&data);
        } else if total > DRAIN_BYTES {
            return Err(FramingError { error: too_large(), close: true });
        }
    }
    if total > MAX_FORM_BYTES {
        return Err(too_large().into());
    }
    Ok(Bytes::from(buf))
}

fn too_large() -> OAuthError {
    OAuthError::invalid_request("the request body is too large")
}

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
pub async fn read_form(req: Request) -> Result<FormRequest, FramingError> {
    if req.method() != Method::POST {
        // Whatever body came with it is left unread.
        return Err(FramingError {
            error: OAuthError::invalid_request("the request must use POST"),
            close: true,
        });
    }
    let refuse = |d: &'static str| FramingError { error: OAuthError::invalid_request(d), close: true };
    let headers = req.headers();
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("");
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(refuse("the body must be application/x-www-form-urlencoded"));
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim_matches('"');
            if k.trim().eq_ignore_ascii_case("charset") && !v.eq_ignore_ascii_case("utf-8") {
                return Err(refuse("the body must be UTF-8"));
            }
        }
    }
    let declared =
        headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES) {
        return Err(FramingError { error: too_large(), close: true });
    }
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let authorization = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(v), None) => {
            Some(v.to_str().map_err(|_| refuse("the Authorization header is malformed"))?.to_owned())
        }
        (Some(_), Some(_)) => {
            return Err(refuse("more than one Authorization header"));
        }
    };
    let body = read_body(req.into_body()).await?;
    if body.is_empty() {
        return Err(OAuthError::invalid_request("the request body is empty").into());
    }
    Ok(FormRequest { body, authorization })
}
