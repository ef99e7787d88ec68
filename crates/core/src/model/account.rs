//! Resource owners (users).

use crate::clock::UnixTime;

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Stable subject identifier (`sub`).
    pub id: String,
    /// Login name, unique.
    pub username: String,
    /// Argon2id PHC string; `None` for an account that cannot log in with a password.
    pub password_hash: Option<String>,
    /// Profile claims (`email`, `name`, …) as OpenID Connect names them.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}
