//! Proof Key for Code Exchange (RFC 7636).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 7636 §4.2 `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CodeChallengeMethod {
    /// `S256`: BASE64URL(SHA256(verifier)).
    S256,
    /// `plain`: only when explicitly enabled.
    Plain,
}

impl CodeChallengeMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// Parse the wire name (case-sensitive, RFC 7636 §4.3).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
/// §4.2 gives the challenge the same syntax.
pub fn is_valid_syntax(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: compare the transformed verifier with the stored challenge, in constant time.
pub fn verify(method: CodeChallengeMethod, challenge: &str, verifier: &str) -> bool {
    if !is_valid_syntax(verifier) {
        return false;
    }
    let computed = match method {
        CodeChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        CodeChallengeMethod::Plain => verifier.to_owned(),
    };
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert!(verify(CodeChallengeMethod::S256, C, V));
        assert!(!verify(CodeChallengeMethod::S256, C, &V.replace('d', "e")));
        assert!(verify(CodeChallengeMethod::Plain, V, V));
    }

    #[test]
    fn verifier_syntax() {
        assert!(!is_valid_syntax("short"));
        assert!(!is_valid_syntax(&"a".repeat(129)));
        assert!(!is_valid_syntax(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_syntax(&"a".repeat(43)));
    }
}
