//! Signing keys with rotation, and JWS (RFC 7515) creation and verification for ID tokens
//! (OIDC Core §2) and JWT access tokens (RFC 9068).
//!
//! Keys live in the [`KeyStore`](crate::store::KeyStore); every node reads them from there, so
//! a rotation made by one node (or by `portcullis keys rotate`) is published by all at once
//! and signs on all within [`KEY_LIST_MAX_AGE`] (signing reuses the key list that long). The
//! life cycle is in [`SigningKeyRecord`]: a key is published from creation, signs from
//! `not_before` until a successor takes over, and stays published (so what it signed still
//! verifies) for the *retention* after that: the longest lifetime of anything it can have
//! signed, i.e. max(access token lifetime server-wide and per client, ID token lifetime) plus
//! [`CLOCK_SKEW`]. Refresh tokens are opaque and never signed, so they do not count.
//!
//! Private keys are PKCS#8 DER at rest, sealed with AES-256-GCM (the `kid` as associated data)
//! when a [`KeyEncryptionKey`] is configured.
//!
//! Verification is strict (RFC 8725): size cap before decoding, exactly three base64url
//! segments, no `crit`, an explicit `typ` (RFC 8725 §3.11), a `kid` that must be in our key
//! set (embedded `jwk`/`jku`/`x5u` are never used), `alg` from a fixed asymmetric allow-list
//! and equal to the key's own (never `none`, never HMAC: RFC 8725 §3.1, §2.1), integer
//! `exp`/`iat`/`nbf` (checklist 20.32), `iss`, and `aud` when the caller names one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;
use crate::error::{ErrorCode, OAuthError};
use crate::model::key::{SigningAlg, SigningKeyRecord};
use crate::model::secret::SecretString;
use crate::server::OAuthServer;

/// Seconds added to a retired key's retention and accepted as clock difference by remote
/// verifiers.
pub const CLOCK_SKEW: i64 = 60;

/// The largest JWT accepted for verification; checked before any decoding (checklist 21.4).
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// RSA modulus size for generated keys, and the smallest accepted when verifying (RFC 7518
/// §3.3: "A key of size 2048 bits or larger MUST be used").
const RSA_BITS: usize = 2048;

/// The key that seals private signing keys at rest (AES-256-GCM). Its `Debug` never shows it.
#[derive(Clone)]
pub struct KeyEncryptionKey(aes_gcm::Key<Aes256Gcm>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

const SEALED_PREFIX: &str = "aes256gcm:";
const PLAIN_PREFIX: &str = "pkcs8:";

impl KeyEncryptionKey {
    /// Parse 32 random bytes given in base64 (standard or URL-safe, padded or not), e.g. the
    /// output of `openssl rand -base64 32`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bytes = STANDARD
            .decode(t)
            .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
            .map_err(|_| "key_encryption_key must be base64 (e.g. `openssl rand -base64 32`)".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!("key_encryption_key must be 32 bytes of base64, got {} bytes", bytes.len()));
        }
        Ok(Self(*aes_gcm::Key::<Aes256Gcm>::from_slice(&bytes)))
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = Aes256Gcm::new(&self.0)
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: kid.as_bytes() })
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, String> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| "sealed key is not base64url".to_owned())?;
        if raw.len() < 12 + 16 {
            return Err("sealed key is too short".into());
        }
        let (nonce, ct) = raw.split_at(12);
        Aes256Gcm::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: kid.as_bytes() })
            .map_err(|_| "cannot decrypt the signing key: wrong key_encryption_key?".to_owned())
    }
}

/// The stored form of a private key: sealed when a key encryption key is given.
fn store_private(kek: Option<&KeyEncryptionKey>, kid: &str, pkcs8: &[u8]) -> Result<SecretString, String> {
    Ok(SecretString::new(match kek {
        Some(k) => k.seal(kid, pkcs8)?,
        None => format!("{PLAIN_PREFIX}{}", URL_SAFE_NO_PAD.encode(pkcs8)),
    }))
}

/// The PKCS#8 DER of a stored private key.
fn load_private(kek: Option<&KeyEncryptionKey>, kid: &str, stored: &SecretString) -> Result<Vec<u8>, String> {
    let s = stored.expose();
    if let Some(sealed) = s.strip_prefix(SEALED_PREFIX) {
        let kek = kek.ok_or("the signing keys are encrypted: set key_encryption_key")?;
        kek.open(kid, sealed)
    } else if let Some(plain) = s.strip_prefix(PLAIN_PREFIX) {
        URL_SAFE_NO_PAD.decode(plain).map_err(|_| "stored private key is not base64url".to_owned())
    } else {
        Err("stored private key has an unknown format".into())
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Generate a key pair for `alg`: the record to store (private key sealed when `kek` is given).
/// RSA generation takes a noticeable fraction of a second: do it at start-up or rotation, not
/// per request.
pub fn generate_key(
    alg: SigningAlg,
    kek: Option<&KeyEncryptionKey>,
    now: UnixTime,
    not_before: UnixTime,
) -> Result<SigningKeyRecord, String> {
    let mut rng = rand::rngs::OsRng;
    let (pkcs8, members): (Vec<u8>, Vec<(&str, String)>) = match alg {
        SigningAlg::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|e| e.to_string())?;
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            let members = vec![
                ("e", b64(&key.e().to_bytes_be())),
                ("kty", "RSA".to_owned()),
                ("n", b64(&key.n().to_bytes_be())),
            ];
            (der.as_bytes().to_vec(), members)
        }
        SigningAlg::ES256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut rng);
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            let point = key.public_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err("P-256 public key has no coordinates".into());
            };
            let members =
                vec![("crv", "P-256".to_owned()), ("kty", "EC".to_owned()), ("x", b64(x)), ("y", b64(y))];
            (der.as_bytes().to_vec(), members)
        }
        SigningAlg::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
            let members = vec![
                ("crv", "Ed25519".to_owned()),
                ("kty", "OKP".to_owned()),
                ("x", b64(&key.verifying_key().to_bytes())),
            ];
            (der.as_bytes().to_vec(), members)
        }
    };
    let kid = thumbprint(&members);
    let mut jwk = Map::new();
    for (k, v) in &members {
        jwk.insert((*k).to_owned(), Value::from(v.as_str()));
    }
    jwk.insert("use".into(), "sig".into());
    jwk.insert("alg".into(), alg.as_str().into());
    jwk.insert("kid".into(), kid.clone().into());
    let private_key = store_private(kek, &kid, &pkcs8)?;
    Ok(SigningKeyRecord {
        kid,
        alg,
        private_key,
        public_jwk: jwk,
        created_at: now,
        not_before,
        retire_at: None,
        expires_at: None,
    })
}

/// RFC 7638 §3: the SHA-256 JWK thumbprint over the required members in lexicographic order,
/// without whitespace. `members` are given in that order and are base64url or fixed names, so
/// no JSON escaping is needed.
fn thumbprint(members: &[(&str, String)]) -> String {
    let body: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    b64(&Sha256::digest(format!("{{{}}}", body.join(",")).as_bytes()))
}

fn jose_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A private key parsed once from its PKCS#8 and kept, ready to sign. Parsing is the
/// expensive part (P-256 and Ed25519 derive the public key, a scalar multiplication; RSA
/// decodes and checks its big integers and precomputes the CRT values): done per token it
/// cost more than the signature itself. Every variant is `Send + Sync` and signs through
/// `&self`, so one parsed key serves all requests at once.
///
/// RS256 and ES256 sign with `ring` (constant-time, with assembly for the field arithmetic):
/// the pure-Rust P-256 signature was two thirds of the CPU of an ES256 access token (about
/// 250 µs a signature on the benchmark machine). Keys are still generated with `rsa` and
/// `p256`, and tokens verified with jsonwebtoken; `ring` only signs.
enum JwsSigner {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256(ring::signature::RsaKeyPair),
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    Es256(ring::signature::EcdsaKeyPair),
    /// Ed25519 (RFC 8037 §3.1).
    EdDsa(ed25519_dalek::SigningKey),
}

impl JwsSigner {
    /// Parse the PKCS#8 DER of a key of algorithm `alg`.
    fn parse(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, String> {
        use ring::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        Ok(match alg {
            SigningAlg::RS256 => Self::Rs256(RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| e.to_string())?),
            SigningAlg::ES256 => {
                let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
                // ring wants the public key inside the PKCS#8 (RFC 5915 `publicKey`); a document
                // without it is read with p256, which derives the public key.
                let key = match EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng) {
                    Ok(key) => key,
                    Err(_) => {
                        use p256::elliptic_curve::sec1::ToEncodedPoint;
                        use p256::pkcs8::DecodePrivateKey;
                        let secret = p256::SecretKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
                        let public = secret.public_key().to_encoded_point(false);
                        EcdsaKeyPair::from_private_key_and_public_key(
                            alg,
                            &secret.to_bytes(),
                            public.as_bytes(),
                            &rng,
                        )
                        .map_err(|e| e.to_string())?
                    }
                };
                Self::Es256(key)
            }
            SigningAlg::EdDSA => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                Self::EdDsa(ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?)
            }
        })
    }

    /// The JWS Signature over `signing_input` (RFC 7515 §5.1 step 5), as the bytes that are
    /// base64url-encoded into the third segment. The signatures are ring's and RustCrypto's;
    /// this only picks the encoding each algorithm's RFC prescribes.
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        match self {
            Self::Rs256(key) => {
                // PKCS#1 v1.5 signatures are deterministic; ring blinds the private-key
                // operation with `rng` (RUSTSEC-2023-0071, the Marvin timing attack, is
                // against unblinded RSA).
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, signing_input, &mut sig)
                    .map_err(|e| e.to_string())?;
                Ok(sig)
            }
            Self::Es256(key) => {
                // RFC 7518 §3.4: the signature is R and S as 32-byte big-endian integers,
                // concatenated (64 bytes), not DER: ring's FIXED encoding. The nonce is
                // random, hedged with the key (RFC 7518 does not ask for RFC 6979).
                let sig = key.sign(&rng, signing_input).map_err(|e| e.to_string())?;
                Ok(sig.as_ref().to_vec())
            }
            Self::EdDsa(key) => {
                // RFC 8037 §3.1: the 64-byte Ed25519 signature (RFC 8032 §5.1.6).
                use ed25519_dalek::Signer;
                let sig = key.try_sign(signing_input).map_err(|e| e.to_string())?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}

/// The JWS Protected Header we send: the same members, in the same order, as the JOSE
/// library's `Header` serialized before (`typ`, `alg`, `kid`; it skips unset members, so no
/// `null`s). `kid` (RFC 7515 §4.1.4) names the key; `typ` (§4.1.9) is `JWT` or `at+jwt`.
#[derive(serde::Serialize)]
struct ProtectedHeader<'a> {
    typ: &'a str,
    alg: &'static str,
    kid: &'a str,
}

/// A JWS in the Compact Serialization (RFC 7515 §7.1):
/// BASE64URL(UTF8(JWS Protected Header)) '.' BASE64URL(JWS Payload) '.' BASE64URL(JWS Signature),
/// where the signature is over the ASCII of the first two segments joined by '.' (§5.1 steps
/// 5-6). The payload is the JSON of the claims (RFC 7519 §7.1 step 1-2). Base64url without
/// padding (§2).
fn compact_jws(
    signer: &JwsSigner,
    alg: SigningAlg,
    kid: &str,
    typ: &str,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    let header =
        serde_json::to_vec(&ProtectedHeader { typ, alg: alg.as_str(), kid }).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    let mut jws = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
    URL_SAFE_NO_PAD.encode_string(&header, &mut jws);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
    let signature = signer.sign(jws.as_bytes())?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
    Ok(jws)
}

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

fn b64_len(s: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(s).ok().map(|b| b.len())
}

/// The algorithm and verification key of a public JWK, checked so the JOSE library is never
/// handed a key it could misuse: the `alg` member must be present and match the key type,
/// RSA moduli are at least 2048 bits, curve points have the right length.
pub fn decoding_key(jwk: &Map<String, Value>) -> Option<(SigningAlg, DecodingKey)> {
    let alg = SigningAlg::parse(str_member(jwk, "alg")?)?;
    if str_member(jwk, "use").is_some_and(|u| u != "sig") {
        return None;
    }
    let kty = str_member(jwk, "kty")?;
    let key = match (alg, kty) {
        (SigningAlg::RS256, "RSA") => {
            let (n, e) = (str_member(jwk, "n")?, str_member(jwk, "e")?);
            let n_bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
            let bits = n_bytes.iter().position(|b| *b != 0).map_or(0, |i| (n_bytes.len() - i) * 8);
            if bits < RSA_BITS || b64_len(e)? == 0 {
                return None;
            }
            DecodingKey::from_rsa_components(n, e).ok()?
        }
        (SigningAlg::ES256, "EC") => {
            let (x, y) = (str_member(jwk, "x")?, str_member(jwk, "y")?);
            if str_member(jwk, "crv")? != "P-256" || b64_len(x)? != 32 || b64_len(y)? != 32 {
                return None;
            }
            DecodingKey::from_ec_components(x, y).ok()?
        }
        (SigningAlg::EdDSA, "OKP") => {
            let x = str_member(jwk, "x")?;
            if str_member(jwk, "crv")? != "Ed25519" || b64_len(x)? != 32 {
                return None;
            }
            DecodingKey::from_ed_components(x).ok()?
        }
        _ => return None,
    };
    Some((alg, key))
}

/// Why a JWT was refused. Every variant is `invalid_token` to a caller; the variant is for
/// tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not a compact JWS we accept (size, segments, header, `crit`, `alg`).
    Malformed,
    /// `typ` is not the expected one (RFC 8725 §3.11).
    WrongType,
    /// No `kid`, or a `kid` not in the key set.
    UnknownKey,
    /// The signature does not verify with the named key.
    BadSignature,
    /// `exp` has passed (or `nbf`/`iat` lie in the future).
    Expired,
    /// A claim is missing, of the wrong type, or has the wrong value.
    Claims(&'static str),
}

impl JwtError {
    /// A description safe to send.
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the token is malformed",
            Self::WrongType => "the token has the wrong type",
            Self::UnknownKey => "the token was not signed by a known key",
            Self::BadSignature => "the token signature is invalid",
            Self::Expired => "the token expired",
            Self::Claims(_) => "the token claims are invalid",
        }
    }

    /// As an `invalid_token` error (RFC 6750 §3.1).
    pub fn into_oauth(self) -> OAuthError {
        OAuthError::with(ErrorCode::InvalidToken, self.description())
    }
}

/// What a JWT must satisfy besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct JwtCheck<'a> {
    /// The expected `typ` header, compared case-insensitively, with or without the
    /// `application/` prefix (RFC 7515 §4.1.9).
    pub typ: &'a str,
    /// The expected `iss`.
    pub issuer: &'a str,
    /// When given, `aud` must be this value or an array containing it.
    pub audience: Option<&'a str>,
    /// The current time.
    pub now: UnixTime,
    /// Seconds of clock difference tolerated for `exp`, `nbf` and `iat`.
    pub leeway: i64,
}

/// Whether `token` has the shape of a compact JWS (three dot-separated parts). A cheap test to
/// tell JWT access tokens from opaque ones; [`verify_jwt`] checks properly.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2 && !token.starts_with("pc_")
}

fn is_b64url(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A NumericDate (RFC 7519 §2): an integer. Strings, floats, booleans are refused
/// (checklist 20.32: a wrongly typed `exp` must not count as absent).
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(JwtError::Claims(name)),
        Some(_) => Err(JwtError::Claims(name)),
    }
}

/// The `aud` values: a string or a non-empty array of strings (RFC 7519 §4.1.3).
pub fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, JwtError> {
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() => {
            a.iter().map(|v| v.as_str().map(str::to_owned).ok_or(JwtError::Claims("aud"))).collect()
        }
        Some(_) => Err(JwtError::Claims("aud")),
    }
}

/// Verify a compact JWS against a set of public JWKs and return its claims.
pub fn verify_jwt<'k>(
    token: &str,
    keys: impl IntoIterator<Item = &'k Map<String, Value>>,
    check: &JwtCheck<'_>,
) -> Result<Map<String, Value>, JwtError> {
    if token.len() > MAX_JWT_BYTES {
        return Err(JwtError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_b64url(p)) {
        return Err(JwtError::Malformed);
    }
    // `alg: none` and unknown algorithms fail here: the library's Algorithm has no such value.
    let header: Header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    // RFC 7515 §4.1.11: extensions we do not understand must make the JWS invalid; we
    // understand none.
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        let t = t.strip_prefix("application/").unwrap_or(t);
        t.eq_ignore_ascii_case(check.typ)
    });
    if !typ_ok {
        return Err(JwtError::WrongType);
    }
    let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
    let jwk = keys.into_iter().find(|k| str_member(k, "kid") == Some(kid)).ok_or(JwtError::UnknownKey)?;
    let (alg, key) = decoding_key(jwk).ok_or(JwtError::UnknownKey)?;
    // The key decides the algorithm, never the token (RFC 8725 §2.1, §3.1).
    if header.alg != jose_alg(alg) {
        return Err(JwtError::BadSignature);
    }
    let mut validation = Validation::new(jose_alg(alg));
    validation.algorithms = vec![jose_alg(alg)];
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
            _ => JwtError::Malformed,
        })?;
    let claims = data.claims;
    // Time comes from the caller's clock, not the library's (DESIGN.md rule 3).
    let exp = numeric_date(&claims, "exp")?.ok_or(JwtError::Claims("exp"))?;
    if exp + check.leeway <= check.now {
        return Err(JwtError::Expired);
    }
    let iat = numeric_date(&claims, "iat")?.ok_or(JwtError::Claims("iat"))?;
    if iat > check.now + check.leeway {
        return Err(JwtError::Expired);
    }
    if numeric_date(&claims, "nbf")?.is_some_and(|nbf| nbf > check.now + check.leeway) {
        return Err(JwtError::Expired);
    }
    if claims.get("iss").and_then(Value::as_str) != Some(check.issuer) {
        return Err(JwtError::Claims("iss"));
    }
    let aud = audiences(&claims)?;
    if let Some(expected) = check.audience {
        if !aud.iter().any(|a| a == expected) {
            return Err(JwtError::Claims("aud"));
        }
    }
    Ok(claims)
}

/// Per-process caches of what signing reads: the parsed private keys by `kid`, and the key
/// list from the store, reused for at most [`KEY_LIST_MAX_AGE`] (which says why that is
/// safe). Parsed keys are looked up by `kid` (the thumbprint of the public key, so a `kid`
/// never names two keys) only for a record the key list chose; a key retired by this process
/// is dropped from both at once.
pub(crate) struct KeyCache {
    signers: Mutex<HashMap<String, Arc<JwsSigner>>>,
    list: Mutex<KeyList>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            signers: Mutex::default(),
            list: Mutex::new(KeyList { generation: 0, max_age: KEY_LIST_MAX_AGE, current: None }),
        }
    }
}

struct KeyList {
    /// Bumped by every key write of this process, so a read that began before it is not kept.
    generation: u64,
    max_age: Duration,
    /// When the store read that produced the list began, and the list.
    current: Option<(Instant, Arc<Vec<SigningKeyRecord>>)>,
}

/// How long a server reuses the signing key list it read from the store before reading it
/// again, counted from when that read began. Issuing a signed token then costs no store read
/// (one was an eighth of a JWT issuance's CPU).
///
/// Which key of the list signs is still decided per token from the request's `now`
/// (`signs_at`), so a rotation published ahead (`not_before`) or a scheduled retirement
/// (`retire_at`) takes effect on time whatever the list's age. Staleness only concerns changes
/// to the stored rows:
/// - **Made by this server** (`ensure_signing_key`, `rotate_signing_key`,
///   `retire_signing_key`): each drops the list once its write has returned, and a read that
///   began before the drop is not kept, so every token whose signing starts after the call
///   returned uses the new rows. A key retired here never signs again; a key rotated in with
///   `activate_in = 0` signs the next token.
/// - **Made by another node or the CLI**: seen by every token signed 1 s or more after the
///   change was committed. Signing from a slightly older list never produces a token that
///   fails to verify: a key that stops signing stays in the JWKS for the retention (the
///   lifetime of anything it signed), and a new key is in the JWKS from the moment it is
///   stored. So during the up to 1 s in which this node still signs with the predecessor,
///   both keys verify. A key rotated in elsewhere starts signing here within the bound
///   (scheduled rotation publishes keys ahead, so there the switch is exact).
/// - **A key retired elsewhere for compromise** (`keys retire --now`) leaves the JWKS at once,
///   but this node may go on signing with it for up to 1 s after the retirement committed.
///   Those tokens fail verification here and at every verifier that has refetched the JWKS,
///   like the tokens the key signed earlier. No token is signed with it after the bound: a
///   failed store read is an error, never a reason to keep the old list longer.
///
/// [`OAuthServer::set_key_list_max_age`] changes the bound; zero reads the store for every
/// signed token.
pub const KEY_LIST_MAX_AGE: Duration = Duration::from_secs(1);

/// Entries kept before the cache starts over (a handful of keys are ever live).
const KEY_CACHE_CAPACITY: usize = 16;

fn server_error(cause: impl std::fmt::Display) -> OAuthError {
    OAuthError::server_error(cause)
}

/// What `retire_signing_key` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Retired {
    /// The retired key, as stored now.
    pub key: SigningKeyRecord,
    /// The key generated to replace it, when it was the one signing.
    pub replacement: Option<SigningKeyRecord>,
}

impl OAuthServer {
    /// How long a key stays published after it stops signing: the longest lifetime of a token
    /// it can have signed (server and per-client access token lifetimes, ID token lifetime)
    /// plus [`CLOCK_SKEW`].
    pub async fn key_retention(&self) -> Result<i64, OAuthError> {
        let cfg = self.config();
        let clients = self.store().list_clients().await?;
        let longest_client = clients.iter().filter_map(|c| c.access_token_lifetime).max().unwrap_or(0);
        Ok(cfg.access_token_lifetime.max(cfg.id_token_lifetime).max(longest_client) + CLOCK_SKEW)
    }

    /// Every stored key (for operators), ordered by `not_before`.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, OAuthError> {
        Ok(self.store().list_keys().await?)
    }

    /// The JSON Web Key Set (RFC 7517 §5): the public keys that are published now (pending,
    /// active and retired-but-unexpired ones). Never a private member.
    pub async fn jwks(&self) -> Result<Value, OAuthError> {
        let now = self.now();
        let keys = self.store().list_keys().await?;
        let published: Vec<Value> =
            keys.into_iter().filter(|k| k.verifies_at(now)).map(|k| Value::Object(k.public_jwk)).collect();
        Ok(serde_json::json!({ "keys": published }))
    }

    fn generate(&self, now: UnixTime, not_before: UnixTime) -> Result<SigningKeyRecord, OAuthError> {
        generate_key(self.config().signing_alg, self.key_encryption_key(), now, not_before)
            .map_err(server_error)
    }

    /// Refuse to add a key in the clear next to sealed ones: a management command run without
    /// the key encryption key must not quietly weaken the protection at rest.
    fn check_sealing(&self, keys: &[SigningKeyRecord], now: UnixTime) -> Result<(), OAuthError> {
        let sealed =
            keys.iter().any(|k| k.verifies_at(now) && k.private_key.expose().starts_with(SEALED_PREFIX));
        if sealed && self.key_encryption_key().is_none() {
            return Err(server_error("the signing keys are encrypted: set key_encryption_key"));
        }
        Ok(())
    }

    /// Make sure a key of the configured algorithm signs now: create the first key on first
    /// start, rotate when the signing key has another algorithm (after `signing_alg` changed)
    /// or when no key signs (every key retired). Returns the `kid` of a key it created.
    pub async fn ensure_signing_key(&self) -> Result<Option<String>, OAuthError> {
        let now = self.now();
        let keys = self.store().list_keys().await?;
        let alg = self.config().signing_alg;
        if keys.iter().rev().find(|k| k.signs_at(now)).is_some_and(|k| k.alg == alg) {
            return Ok(None);
        }
        self.check_sealing(&keys, now)?;
        if keys.iter().any(|k| k.verifies_at(now)) {
            return self.rotate_signing_key(0).await.map(|k| Some(k.kid));
        }
        let key = self.generate(now, now)?;
        let created = self.store().create_first_key(&key, now).await;
        // Whether this node or another was first, the cached list lacks the key now stored.
        self.forget_key_list();
        if created? {
            tracing::info!(kid = %key.kid, alg = %key.alg, "generated the first signing key");
            Ok(Some(key.kid))
        } else {
            Ok(None) // another node was first
        }
    }

    /// Generate a new key that signs from `activate_in` seconds on; every key without a
    /// successor stops signing then and stays published for the retention after it.
    pub async fn rotate_signing_key(&self, activate_in: i64) -> Result<SigningKeyRecord, OAuthError> {
        let now = self.now();
        self.check_sealing(&self.store().list_keys().await?, now)?;
        let key = self.generate(now, now + activate_in.max(0))?;
        let retention = self.key_retention().await?;
        let rotated = self.store().rotate_key(&key, retention).await;
        // Dropped even on error: the write may have committed before the error was reported.
        self.forget_key_list();
        rotated?;
        tracing::info!(kid = %key.kid, alg = %key.alg, not_before = key.not_before, "rotated the signing key");
        Ok(key)
    }

    /// Retire a key: it stops signing now. It stays published for the retention, so tokens it
    /// signed keep verifying, unless `immediately` (a compromised key): then it leaves the JWKS
    /// now and what it signed stops verifying. When it was the key signing, a replacement is
    /// generated first. `None` if no such key.
    pub async fn retire_signing_key(
        &self,
        kid: &str,
        immediately: bool,
    ) -> Result<Option<Retired>, OAuthError> {
        let now = self.now();
        let keys = self.store().list_keys().await?;
        let Some(target) = keys.iter().find(|k| k.kid == kid && k.verifies_at(now)) else {
            return Ok(None);
        };
        // Something must sign once this key stops: another key signing now, or a replacement.
        let others_sign = keys.iter().any(|k| k.kid != kid && k.signs_at(now));
        let replacement =
            if target.signs_at(now) && !others_sign { Some(self.rotate_signing_key(0).await?) } else { None };
        let retention = self.key_retention().await?;
        let expires_at = if immediately { now } else { now + retention };
        let retired = self.store().retire_key(kid, now, expires_at).await;
        self.forget_key_list();
        self.inner_key_cache().signers.lock().map(|mut m| m.remove(kid)).ok();
        retired?;
        let key = self
            .store()
            .list_keys()
            .await?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| server_error("retired key vanished"))?;
        tracing::warn!(kid, immediately, "retired a signing key");
        Ok(Some(Retired { key, replacement }))
    }

    /// Change how long the signing key list is reused ([`KEY_LIST_MAX_AGE`] by default, which
    /// explains the trade-off). Zero reads the store for every signed token, so a key change
    /// made by another process is seen at once; tests use a long one to show that this
    /// server's own changes never depend on it. Drops the list held now.
    pub fn set_key_list_max_age(&self, max_age: Duration) {
        if let Ok(mut l) = self.inner_key_cache().list.lock() {
            l.max_age = max_age;
            l.generation = l.generation.wrapping_add(1);
            l.current = None;
        }
    }

    /// Drop the cached key list (after this process wrote keys). A read already under way is
    /// not kept either.
    fn forget_key_list(&self) {
        if let Ok(mut l) = self.inner_key_cache().list.lock() {
            l.generation = l.generation.wrapping_add(1);
            l.current = None;
        }
    }

    /// The stored keys, from the cache when its list is younger than the bound.
    async fn key_list(&self) -> Result<Arc<Vec<SigningKeyRecord>>, OAuthError> {
        if let Ok(l) = self.inner_key_cache().list.lock() {
            if let Some((read_at, keys)) = &l.current {
                if read_at.elapsed() < l.max_age {
                    return Ok(keys.clone());
                }
            }
        }
        self.read_key_list().await
    }

    /// Read the keys from the store and cache them, stamped with the time the read began (so
    /// the bound counts from the oldest state the list can reflect). Not cached when this
    /// process wrote keys meanwhile, nor over a list from a later read.
    async fn read_key_list(&self) -> Result<Arc<Vec<SigningKeyRecord>>, OAuthError> {
        let cache = self.inner_key_cache();
        let generation = cache.list.lock().map(|l| l.generation).ok();
        let read_at = Instant::now();
        let keys = Arc::new(self.store().list_keys().await?);
        if let Ok(mut l) = cache.list.lock() {
            let newer = l.current.as_ref().is_none_or(|(at, _)| *at <= read_at);
            if Some(l.generation) == generation && newer && !l.max_age.is_zero() {
                l.current = Some((read_at, keys.clone()));
            }
        }
        Ok(keys)
    }

    /// The key that signs now, creating the first one if there is none. The key list comes
    /// from the cache (see [`KEY_LIST_MAX_AGE`] for how stale it may be and why that is safe).
    pub(crate) async fn signing_key(&self, now: UnixTime) -> Result<SigningKeyRecord, OAuthError> {
        let keys = self.key_list().await?;
        if let Some(k) = keys.iter().rev().find(|k| k.signs_at(now)) {
            return Ok(k.clone());
        }
        // None signs in what we hold: first use, every key retired, or a stale list. Create
        // or rotate if needed, then read the store itself.
        for _ in 0..2 {
            self.ensure_signing_key().await?;
            let keys = self.read_key_list().await?;
            if let Some(k) = keys.iter().rev().find(|k| k.signs_at(now)) {
                return Ok(k.clone());
            }
        }
        Err(server_error("no signing key is available"))
    }

    fn parsed_key(&self, key: &SigningKeyRecord) -> Result<Arc<JwsSigner>, OAuthError> {
        let cache = self.inner_key_cache();
        if let Some(k) = cache.signers.lock().ok().and_then(|m| m.get(&key.kid).cloned()) {
            return Ok(k);
        }
        let pkcs8 =
            load_private(self.key_encryption_key(), &key.kid, &key.private_key).map_err(server_error)?;
        let parsed = Arc::new(JwsSigner::parse(key.alg, &pkcs8).map_err(server_error)?);
        if let Ok(mut m) = cache.signers.lock() {
            if m.len() >= KEY_CACHE_CAPACITY {
                m.clear();
            }
            m.insert(key.kid.clone(), parsed.clone());
        }
        Ok(parsed)
    }

    /// Sign `claims` as a compact JWS with `key` (from [`OAuthServer::signing_key`]); `typ`
    /// goes in the header.
    pub(crate) fn sign_jwt(
        &self,
        key: &SigningKeyRecord,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<String, OAuthError> {
        let signer = self.parsed_key(key)?;
        compact_jws(&signer, key.alg, &key.kid, typ, claims).map_err(server_error)
    }

    /// Verify a JWT this server issued (`typ` as given) against the keys published now.
    pub async fn verify_own_jwt(
        &self,
        token: &str,
        typ: &str,
        audience: Option<&str>,
    ) -> Result<Map<String, Value>, OAuthError> {
        let now = self.now();
        self.verify_own_jwt_at(token, typ, audience, now).await
    }

    pub(crate) async fn verify_own_jwt_at(
        &self,
        token: &str,
        typ: &str,
        audience: Option<&str>,
        now: UnixTime,
    ) -> Result<Map<String, Value>, OAuthError> {
        // Refuse garbage before touching the store.
        if token.len() > MAX_JWT_BYTES || !looks_like_jwt(token) {
            return Err(JwtError::Malformed.into_oauth());
        }
        let keys = self.store().list_keys().await?;
        let published = keys.iter().filter(|k| k.verifies_at(now)).map(|k| &k.public_jwk);
        let check = JwtCheck { typ, issuer: &self.config().issuer, audience, now, leeway: 0 };
        verify_jwt(token, published, &check).map_err(JwtError::into_oauth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Map<String, Value> {
        let v = serde_json::json!({"iss": "https://as.test", "sub": "u", "aud": "c", "iat": now, "exp": now + 60});
        v.as_object().cloned().unwrap_or_default()
    }

    /// Sign the way the server does: parsed signer, our compact serialization.
    fn sign(key: &SigningKeyRecord, typ: &str, c: &Map<String, Value>) -> String {
        let pkcs8 = load_private(None, &key.kid, &key.private_key).unwrap();
        let signer = JwsSigner::parse(key.alg, &pkcs8).unwrap();
        compact_jws(&signer, key.alg, &key.kid, typ, c).unwrap()
    }

    /// The verification key of a public JWK, built straight from its members with the JOSE
    /// library (not through `decoding_key`).
    fn library_key(jwk: &Map<String, Value>) -> DecodingKey {
        let m = |n: &str| jwk.get(n).and_then(Value::as_str).unwrap();
        match m("kty") {
            "RSA" => DecodingKey::from_rsa_components(m("n"), m("e")).unwrap(),
            "EC" => DecodingKey::from_ec_components(m("x"), m("y")).unwrap(),
            "OKP" => DecodingKey::from_ed_components(m("x")).unwrap(),
            other => panic!("kty {other}"),
        }
    }

    #[test]
    fn our_compact_jws_verifies_with_the_jose_library_and_has_its_exact_header() {
        for (alg, sig_len) in [(SigningAlg::RS256, 256), (SigningAlg::ES256, 64), (SigningAlg::EdDSA, 64)] {
            let key = generate_key(alg, None, 0, 0).unwrap();
            let mut c = claims(100);
            c.insert("name".into(), "Zoë \"quoted\" </script>\u{2028}".into());
            for typ in ["at+jwt", "JWT"] {
                let token = sign(&key, typ, &c);
                let segments: Vec<&str> = token.split('.').collect();
                assert_eq!(segments.len(), 3, "{alg}");
                assert!(segments.iter().all(|s| is_b64url(s)), "base64url without padding: {token}");

                // The header is byte for byte what jsonwebtoken's `Header` serialized before,
                // and has exactly typ, alg and kid (no null members).
                let header = URL_SAFE_NO_PAD.decode(segments[0]).unwrap();
                let mut theirs = Header::new(jose_alg(alg));
                theirs.typ = Some(typ.into());
                theirs.kid = Some(key.kid.clone());
                assert_eq!(header, serde_json::to_vec(&theirs).unwrap(), "{alg}");
                let members: Value = serde_json::from_slice(&header).unwrap();
                let expected = serde_json::json!({"typ": typ, "alg": alg.as_str(), "kid": key.kid});
                assert_eq!(members, expected);
                // The payload is the claims' JSON, as jsonwebtoken encoded it.
                let payload = URL_SAFE_NO_PAD.decode(segments[1]).unwrap();
                assert_eq!(payload, serde_json::to_vec(&c).unwrap());
                // RFC 7518 §3.3/§3.4, RFC 8037 §3.1 signature sizes (ES256: R || S, not DER).
                assert_eq!(URL_SAFE_NO_PAD.decode(segments[2]).unwrap().len(), sig_len, "{alg}");

                // jsonwebtoken verifies it against the public key.
                let mut validation = Validation::new(jose_alg(alg));
                validation.set_audience(&["c"]);
                validation.validate_exp = false;
                let data = jsonwebtoken::decode::<Map<String, Value>>(
                    &token,
                    &library_key(&key.public_jwk),
                    &validation,
                )
                .unwrap_or_else(|e| panic!("{alg} {typ}: {e}"));
                assert_eq!(data.claims, c);
                assert_eq!(data.header.typ.as_deref(), Some(typ));
                assert_eq!(data.header.kid.as_deref(), Some(key.kid.as_str()));
                // Tampering with any segment breaks it.
                let tampered = format!("{}.{}.{}", segments[0], b64(b"{\"sub\":\"x\"}"), segments[2]);
                let err = jsonwebtoken::decode::<Map<String, Value>>(
                    &tampered,
                    &library_key(&key.public_jwk),
                    &validation,
                );
                assert!(err.is_err(), "{alg}");
            }
        }
    }

    #[test]
    fn es256_signatures_are_fixed_width_and_rs256_ones_match_the_unblinded_signer() {
        // ES256: 64 bytes, R || S (RFC 7518 §3.4); ring's nonces are random, so two tokens over
        // the same claims differ and both verify (with jsonwebtoken, not ring).
        let key = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        let (a, b) = (sign(&key, "JWT", &claims(100)), sign(&key, "JWT", &claims(100)));
        assert_ne!(a, b);
        for token in [&a, &b] {
            let (_, sig) = token.rsplit_once('.').unwrap();
            assert_eq!(URL_SAFE_NO_PAD.decode(sig).unwrap().len(), 64);
            assert!(verify_jwt(token, [&key.public_jwk], &check(100)).is_ok());
        }
        // RS256: PKCS#1 v1.5 is deterministic: ring's blinded signature is the one the `rsa`
        // crate computes without blinding.
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::{SignatureEncoding, Signer};
        let key = generate_key(SigningAlg::RS256, None, 0, 0).unwrap();
        let token = sign(&key, "JWT", &claims(100));
        let (input, sig) = token.rsplit_once('.').unwrap();
        let pkcs8 = load_private(None, &key.kid, &key.private_key).unwrap();
        let rsa_key =
            rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(sig).unwrap(), rsa_key.sign(input.as_bytes()).to_vec());
    }

    #[test]
    fn an_es256_key_without_its_public_key_in_the_pkcs8_still_signs() {
        // RFC 5915 makes `publicKey` optional; ring needs it, p256 derives it. The same key
        // as a bare PKCS#8 (RFC 5208): version 0, id-ecPublicKey with prime256v1, and an
        // ECPrivateKey of version 1 holding only the 32-byte scalar.
        use p256::pkcs8::DecodePrivateKey;
        let key = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        let pkcs8 = load_private(None, &key.kid, &key.private_key).unwrap();
        let scalar = p256::SecretKey::from_pkcs8_der(&pkcs8).unwrap().to_bytes();
        let mut bare = vec![0x30, 0x41, 0x02, 0x01, 0x00];
        bare.extend_from_slice(&[
            0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07,
        ]);
        bare.extend_from_slice(&[0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20]);
        bare.extend_from_slice(&scalar);
        assert_eq!(p256::SecretKey::from_pkcs8_der(&bare).unwrap().to_bytes(), scalar);
        assert!(ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &bare,
            &ring::rand::SystemRandom::new()
        )
        .is_err());
        let signer = JwsSigner::parse(SigningAlg::ES256, &bare).unwrap();
        let token = compact_jws(&signer, SigningAlg::ES256, &key.kid, "JWT", &claims(100)).unwrap();
        assert!(verify_jwt(&token, [&key.public_jwk], &check(100)).is_ok());
    }

    #[test]
    fn a_key_of_another_algorithm_does_not_parse() {
        let ec = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        let pkcs8 = load_private(None, &ec.kid, &ec.private_key).unwrap();
        assert!(JwsSigner::parse(SigningAlg::EdDSA, &pkcs8).is_err());
        assert!(JwsSigner::parse(SigningAlg::RS256, &pkcs8).is_err());
        assert!(JwsSigner::parse(SigningAlg::ES256, b"garbage").is_err());
    }

    fn check(now: i64) -> JwtCheck<'static> {
        JwtCheck { typ: "JWT", issuer: "https://as.test", audience: Some("c"), now, leeway: 0 }
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_kid_is_the_thumbprint() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256] {
            let key = generate_key(alg, None, 0, 0).unwrap();
            assert_eq!(key.public_jwk.get("kid").and_then(Value::as_str), Some(key.kid.as_str()));
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(!key.public_jwk.contains_key(private), "{alg} publishes {private}");
            }
            let token = sign(&key, "JWT", &claims(100));
            assert_eq!(verify_jwt(&token, [&key.public_jwk], &check(100)).map(|_| ()), Ok(()), "{alg}");
            assert_eq!(verify_jwt(&token, [&key.public_jwk], &check(160)).err(), Some(JwtError::Expired));
            let wrong_aud = JwtCheck { audience: Some("other"), ..check(100) };
            assert_eq!(
                verify_jwt(&token, [&key.public_jwk], &wrong_aud).err(),
                Some(JwtError::Claims("aud"))
            );
            let wrong_typ = JwtCheck { typ: "at+jwt", ..check(100) };
            assert_eq!(verify_jwt(&token, [&key.public_jwk], &wrong_typ).err(), Some(JwtError::WrongType));
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![("e", "AQAB".to_owned()), ("kty", "RSA".to_owned()), ("n", n.to_owned())];
        assert_eq!(thumbprint(&members), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn private_keys_are_sealed_with_the_kid_as_associated_data() {
        let kek = KeyEncryptionKey::parse(&STANDARD.encode([7u8; 32])).unwrap();
        let key = generate_key(SigningAlg::ES256, Some(&kek), 0, 0).unwrap();
        assert!(key.private_key.expose().starts_with(SEALED_PREFIX));
        assert!(load_private(Some(&kek), &key.kid, &key.private_key).is_ok());
        assert!(load_private(None, &key.kid, &key.private_key).is_err(), "sealed needs the KEK");
        assert!(load_private(Some(&kek), "other-kid", &key.private_key).is_err(), "bound to its kid");
        let other = KeyEncryptionKey::parse(&STANDARD.encode([8u8; 32])).ok();
        assert!(load_private(other.as_ref(), &key.kid, &key.private_key).is_err());
        assert!(KeyEncryptionKey::parse("c2hvcnQ=").is_err());
        assert!(!format!("{kek:?}").contains('7'));
    }

    #[test]
    fn hostile_tokens_are_refused() {
        let key = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        let good = sign(&key, "JWT", &claims(100));
        let parts: Vec<&str> = good.split('.').collect();
        let enc = |v: Value| b64(v.to_string().as_bytes());
        let hdr = |v: Value| format!("{}.{}.{}", enc(v), parts[1], parts[2]);
        let kid = key.kid.clone();
        let cases = [
            (format!("{}.{}", parts[0], parts[1]), JwtError::Malformed),
            (format!("{}.{}.", parts[0], parts[1]), JwtError::Malformed),
            (format!("{good}.x"), JwtError::Malformed),
            (format!("{}=.{}.{}", parts[0], parts[1], parts[2]), JwtError::Malformed),
            ("a".repeat(MAX_JWT_BYTES + 1), JwtError::Malformed),
            (hdr(serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})), JwtError::Malformed),
            (hdr(serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid})), JwtError::BadSignature),
            (hdr(serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "nope"})), JwtError::UnknownKey),
            (hdr(serde_json::json!({"alg": "ES256", "typ": "JWT"})), JwtError::UnknownKey),
            (hdr(serde_json::json!({"alg": "ES256", "kid": kid})), JwtError::WrongType),
            (
                hdr(serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid, "crit": ["x"]})),
                JwtError::Malformed,
            ),
        ];
        for (i, (t, want)) in cases.iter().enumerate() {
            assert_eq!(verify_jwt(t, [&key.public_jwk], &check(100)).err(), Some(*want), "case {i}");
        }
        // A duplicate header member is a JSON error, never "last one wins".
        let dup = format!(
            "{}.{}.{}",
            b64(format!("{{\"alg\":\"ES256\",\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"{kid}\"}}")
                .as_bytes()),
            parts[1],
            parts[2]
        );
        assert_eq!(verify_jwt(&dup, [&key.public_jwk], &check(100)).err(), Some(JwtError::Malformed));
        // Claims of the wrong type: exp as a string or a float.
        for bad in [serde_json::json!("200"), serde_json::json!(200.5), Value::Null] {
            let mut c = claims(100);
            c.insert("exp".into(), bad);
            let t = sign(&key, "JWT", &c);
            assert_eq!(verify_jwt(&t, [&key.public_jwk], &check(100)).err(), Some(JwtError::Claims("exp")));
        }
        let mut c = claims(100);
        c.insert("iss".into(), "https://evil.test".into());
        let t = sign(&key, "JWT", &c);
        assert_eq!(verify_jwt(&t, [&key.public_jwk], &check(100)).err(), Some(JwtError::Claims("iss")));
        // A key from outside the set, even with a kid we know.
        let mut stranger = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        stranger.kid = kid.clone();
        let t = sign(&stranger, "JWT", &claims(100));
        assert_eq!(verify_jwt(&t, [&key.public_jwk], &check(100)).err(), Some(JwtError::BadSignature));
    }

    #[test]
    fn hmac_with_the_public_key_as_secret_is_refused() {
        // Algorithm confusion (checklist 20.24): HS256 keyed with our public key material.
        let key = generate_key(SigningAlg::ES256, None, 0, 0).unwrap();
        let secret = Value::Object(key.public_jwk.clone()).to_string();
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("JWT".into());
        h.kid = Some(key.kid.clone());
        let t = jsonwebtoken::encode(
            &h,
            &claims(100),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        assert_eq!(verify_jwt(&t, [&key.public_jwk], &check(100)).err(), Some(JwtError::BadSignature));
    }

    #[test]
    fn weak_or_inconsistent_jwks_are_not_keys() {
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(decoding_key(&obj(serde_json::json!({"kty": "oct", "alg": "HS256", "k": "AAAA"}))).is_none());
        assert!(decoding_key(&obj(
            serde_json::json!({"kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"})
        ))
        .is_none());
        assert!(decoding_key(&obj(
            serde_json::json!({"kty": "OKP", "alg": "EdDSA", "crv": "Ed25519", "x": "AA"})
        ))
        .is_none());
        assert!(
            decoding_key(&obj(serde_json::json!({"kty": "EC", "alg": "RS256", "crv": "P-256"}))).is_none()
        );
    }
}
