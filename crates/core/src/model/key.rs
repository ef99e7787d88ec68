//! Signing keys as the store keeps them (see [`crate::signing`] for their life cycle).

use crate::clock::UnixTime;
use crate::model::secret::SecretString;

/// A JWS algorithm Portcullis signs with (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys. The OIDC default (OIDC Core §15.1: "MUST
    /// support RS256").
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlg {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parse the JOSE `alg` name (exact, case-sensitive: RFC 7515 §4.1.1).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing key pair.
///
/// Life cycle, all times explicit so every node decides the same way:
/// - it signs from `not_before` until `retire_at` (the newest key that may sign, signs);
/// - it is published in the JWKS, and tokens it signed verify, until `expires_at`, which is
///   set when it is retired to the end of the longest lifetime of anything it signed;
/// - after `expires_at` it is gone (and purged).
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// `kid`: the RFC 7638 JWK thumbprint of the public key.
    pub kid: String,
    /// The algorithm the key signs with.
    pub alg: SigningAlg,
    /// The private key in its stored form: PKCS#8, encrypted with AES-256-GCM when a key
    /// encryption key is configured (see [`crate::signing::KeyEncryptionKey`]).
    pub private_key: SecretString,
    /// The public JWK (RFC 7517) as published: `kty`, `use`, `alg`, `kid` and the public members.
    pub public_jwk: serde_json::Map<String, serde_json::Value>,
    /// When it was generated.
    pub created_at: UnixTime,
    /// From when it may sign (it is published before, so caches learn it first).
    pub not_before: UnixTime,
    /// When it stops signing; `None` while no successor is scheduled.
    pub retire_at: Option<UnixTime>,
    /// When it leaves the JWKS and stops verifying; `None` while not retired.
    pub expires_at: Option<UnixTime>,
}

impl SigningKeyRecord {
    /// Whether it may sign at `now`.
    pub fn signs_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && self.retire_at.is_none_or(|r| now < r) && self.verifies_at(now)
    }

    /// Whether it is published, and verifies, at `now`.
    pub fn verifies_at(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    /// A word for operators: `pending`, `active`, `retired` or `expired`.
    pub fn status(&self, now: UnixTime) -> &'static str {
        if !self.verifies_at(now) {
            "expired"
        } else if self.not_before > now {
            "pending"
        } else if self.signs_at(now) {
            "active"
        } else {
            "retired"
        }
    }
}
