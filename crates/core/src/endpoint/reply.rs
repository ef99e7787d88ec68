//! The outcome of a machine-endpoint request, with the authenticated client for the log.

use crate::error::{ErrorCode, OAuthError};

/// A reply: the result and, once known, the authenticated client.
#[derive(Debug)]
pub struct Reply<T> {
    /// The client, once authenticated.
    pub client_id: Option<String>,
    /// The response body or the error.
    pub result: Result<T, OAuthError>,
}

impl<T> Reply<T> {
    /// A reply for a request that failed before reaching the server (e.g. bad framing).
    pub fn error(e: OAuthError) -> Self {
        Self { client_id: None, result: Err(e) }
    }

    /// Log a failure (server faults loudly, refusals quietly) and wrap the result.
    pub(crate) fn finish(
        client_id: Option<String>,
        result: Result<T, OAuthError>,
        what: &'static str,
    ) -> Self {
        if let Err(e) = &result {
            match e.code {
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
                    tracing::error!(error = %e.code, cause = e.cause.as_deref().unwrap_or(""), "{what} request failed");
                }
                _ => tracing::debug!(error = %e.code, "{what} request refused"),
            }
        }
        Self { client_id, result }
    }
}
