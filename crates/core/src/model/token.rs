//! Issued tokens as the store keeps them: hashes, never the tokens themselves.

use crate::clock::UnixTime;
use crate::model::scope::ScopeSet;

/// An issued access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// The grant this token descends from: a code, or the first token of a chain. Revoking
    /// the family revokes every token in it (RFC 9700 §4.14.2). A token issued alone (no
    /// refresh token, no family handed down: client credentials) is a family of its own, named
    /// by its own `hash`, so a store may leave such tokens out of its family index and find
    /// them by hash (see [`AccessTokenRecord::is_lone`]).
    pub family: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner, `None` for client credentials.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
    /// Whether it was revoked.
    pub revoked: bool,
    /// The refresh token issued with it, if any (RFC 7009 §2.1: revoking it revokes this).
    pub refresh_hash: Option<String>,
}

impl AccessTokenRecord {
    /// Whether the token is a family of its own (`family == hash`): nothing else was or can be
    /// issued in that family.
    pub fn is_lone(&self) -> bool {
        self.family == self.hash
    }
}

/// An issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 (hex) of the token.
    pub hash: String,
    /// See [`AccessTokenRecord::family`].
    pub family: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner, `None` when a grant has no user.
    pub subject: Option<String>,
    /// The scopes the resource owner granted; a refresh may narrow them, never widen them.
    pub scopes: ScopeSet,
    /// When the user authenticated (OIDC `auth_time`), carried along rotations.
    pub auth_time: Option<UnixTime>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry time.
    pub expires_at: UnixTime,
}

/// What a consuming store call found (DESIGN.md: single-use things are taken, not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take<T> {
    /// It existed, was unused and unexpired, and is now consumed by this call.
    Fresh(T),
    /// It existed but was already used or revoked: a replay. The caller revokes the family.
    Replayed {
        /// The family to revoke.
        family: String,
    },
    /// It does not exist or has expired.
    Unknown,
}

impl<T> Take<T> {
    /// The same outcome with the fresh value mapped (a replay keeps its family).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Take<U> {
        match self {
            Take::Fresh(v) => Take::Fresh(f(v)),
            Take::Replayed { family } => Take::Replayed { family },
            Take::Unknown => Take::Unknown,
        }
    }
}
