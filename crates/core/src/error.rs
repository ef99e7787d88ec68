//! One error vocabulary for every endpoint.
//!
//! Codes: RFC 6749 §4.1.2.1 (authorization endpoint), §5.2 (token endpoint), RFC 6750 §3.1
//! (resource servers), RFC 7009 §2.2.1 (revocation), OpenID Connect Core §3.1.2.6.
//! The `cause` is for logs and is never sent; only `wire.rs` turns an error into HTTP.

use std::borrow::Cow;
use std::fmt;

/// The registered OAuth error codes Portcullis emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §5.2
    InvalidRequest,
    /// RFC 6749 §5.2
    InvalidClient,
    /// RFC 6749 §5.2
    InvalidGrant,
    /// RFC 6749 §5.2
    UnauthorizedClient,
    /// RFC 6749 §5.2
    UnsupportedGrantType,
    /// RFC 6749 §5.2
    InvalidScope,
    /// RFC 6749 §4.1.2.1
    AccessDenied,
    /// RFC 6749 §4.1.2.1
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1
    ServerError,
    /// RFC 6749 §4.1.2.1
    TemporarilyUnavailable,
    /// RFC 6750 §3.1
    InvalidToken,
    /// RFC 6750 §3.1
    InsufficientScope,
    /// RFC 7009 §2.2.1
    UnsupportedTokenType,
    /// RFC 8707 §2: the `resource` is invalid or not accepted.
    InvalidTarget,
    /// OpenID Connect Core §3.1.2.6
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6
    InteractionRequired,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
        }
    }
}

impl ErrorCode {
    /// Every code, for parsing.
    const ALL: [ErrorCode; 16] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::UnsupportedTokenType,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
    ];

    /// The code with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error: a code, a human description that is safe to send, and a cause that is
/// only logged.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The registered error code.
    pub code: ErrorCode,
    /// `error_description`: restricted to the characters RFC 6749 §5.2 allows.
    pub description: Option<Cow<'static, str>>,
    /// `error_uri`.
    pub uri: Option<String>,
    /// Internal detail for the log. Never sent to the client.
    pub cause: Option<String>,
    /// RFC 6749 §5.2: the client authenticated with the `Authorization` header, so a 401 must
    /// carry `WWW-Authenticate: Basic`.
    pub basic_challenge: bool,
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthError")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {}", self.code, d),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for OAuthError {}

/// RFC 6749 §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E.
fn sanitize(text: Cow<'static, str>) -> Cow<'static, str> {
    let ok = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    if text.chars().all(ok) {
        text
    } else {
        Cow::Owned(text.chars().map(|c| if ok(c) { c } else { '?' }).collect())
    }
}

impl OAuthError {
    /// An error with a code and no description.
    pub fn new(code: ErrorCode) -> Self {
        Self { code, description: None, uri: None, cause: None, basic_challenge: false }
    }

    /// An error with a code and a description (sanitised to the allowed characters).
    pub fn with(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { description: Some(sanitize(description.into())), ..Self::new(code) }
    }

    /// Attach an internal cause, logged and never sent.
    #[must_use]
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::with(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client` with a description.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::with(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::with(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope` with a description.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::with(ErrorCode::InvalidScope, description)
    }

    /// `unauthorized_client` with a description.
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::with(ErrorCode::UnauthorizedClient, description)
    }

    /// `server_error`: the description is generic; the cause goes to the log.
    pub fn server_error(cause: impl fmt::Display) -> Self {
        Self::with(ErrorCode::ServerError, "the server could not complete the request").caused_by(cause)
    }

    /// The HTTP status this error is sent with (RFC 6749 §5.2, RFC 6750 §3.1).
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => {
                Self::with(ErrorCode::TemporarilyUnavailable, "the server is temporarily unavailable")
                    .caused_by(e)
            }
            _ => Self::server_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_is_restricted_to_rfc6749_characters() {
        let e = OAuthError::invalid_request("bad \"quote\" and \\ and \u{e9}");
        assert_eq!(e.description.as_deref(), Some("bad ?quote? and ? and ?"));
    }

    #[test]
    fn codes_parse_back() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn statuses_follow_rfc6749_and_rfc6750() {
        assert_eq!(OAuthError::invalid_client("x").status(), 401);
        assert_eq!(OAuthError::invalid_grant("x").status(), 400);
        assert_eq!(OAuthError::new(ErrorCode::InsufficientScope).status(), 403);
    }
}
