//! Login sessions of the interactive pages: a cookie holds a random id; the store keeps its hash.

use crate::clock::UnixTime;

/// An authenticated browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the session id in the cookie.
    pub id_hash: String,
    /// The user (`sub`).
    pub subject: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// When the session ends.
    pub expires_at: UnixTime,
}
