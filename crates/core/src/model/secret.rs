//! Secrets and tokens (DESIGN.md "Secrets and tokens").
//!
//! Tokens, codes and generated client secrets are 256 random bits, prefixed with their kind
//! and suffixed with a checksum so secret scanners can find leaks (`pc_at_…`). The store keeps
//! only their SHA-256. An operator-imported client secret may be weak, so it is hashed with
//! Argon2id instead.
//!
//! **Ordered keys.** Access tokens, refresh tokens and codes also carry the time they were
//! made, in milliseconds, as 12 hex digits after the prefix (`pc_at_0194…`), and their store
//! key ([`hash_token`]) starts with those digits, followed by the SHA-256. Token families and
//! JWT ids are ordered the same way. A store that indexes keys in a B-tree (SQLite,
//! PostgreSQL) then appends each new token at the end of its indexes: a batch of a hundred
//! tokens dirties a handful of pages instead of two random pages per token, which is most of
//! the cost of issuing a token on a durable store. The time in a token tells its holder
//! nothing they do not know; the 256 random bits are unchanged, and the key still contains
//! nothing from which the token could be recovered. Tokens of the earlier layout (no time)
//! stay valid: their key is the plain SHA-256.
//!
//! Random bits come from the thread-local CSPRNG (`rand::thread_rng`: ChaCha, seeded and
//! periodically reseeded from the operating system), not a system call per token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a generated secret is for; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `pc_at_`
    AccessToken,
    /// `pc_rt_`
    RefreshToken,
    /// `pc_ac_`
    AuthorizationCode,
    /// `pc_cs_`
    ClientSecret,
}

impl TokenKind {
    /// The scanner-friendly prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::AccessToken => "pc_at_",
            Self::RefreshToken => "pc_rt_",
            Self::AuthorizationCode => "pc_ac_",
            Self::ClientSecret => "pc_cs_",
        }
    }
}

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself: for the one place that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

const CHECKSUM_LEN: usize = 6;
const RANDOM_LEN: usize = 43; // 32 bytes, base64url without padding
/// Milliseconds since the epoch, lowercase hex: 48 bits, enough until the year 10889.
const ORDER_LEN: usize = 12;
const PREFIX_LEN: usize = 6;
/// A token of the ordered layout: prefix, time, random part, checksum.
const ORDERED_TOKEN_LEN: usize = PREFIX_LEN + ORDER_LEN + RANDOM_LEN + CHECKSUM_LEN;
/// A JWT id: time, random part.
const ORDERED_JTI_LEN: usize = ORDER_LEN + RANDOM_LEN;

fn checksum(prefix: &str, body: &str) -> String {
    let digest = Sha256::new().chain_update(prefix).chain_update(body).finalize();
    URL_SAFE_NO_PAD.encode(&digest[..4])
}

/// 256 random bits, base64url.
fn random_part() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The time part of ordered keys: milliseconds since the epoch as 12 lowercase hex digits.
fn order_part() -> String {
    format!("{:012x}", crate::clock::ordering_millis() & 0xffff_ffff_ffff)
}

/// A fresh random token of the given kind: prefix, (for tokens and codes) the time, 256
/// random bits, checksum. Client secrets carry no time: they are looked up by client id.
pub fn generate(kind: TokenKind) -> SecretString {
    let body = match kind {
        TokenKind::ClientSecret => random_part(),
        TokenKind::AccessToken | TokenKind::RefreshToken | TokenKind::AuthorizationCode => {
            order_part() + &random_part()
        }
    };
    let sum = checksum(kind.prefix(), &body);
    SecretString(format!("{}{}{}", kind.prefix(), body, sum))
}

/// A JWT id (`jti`): the time, then 256 random bits; its store key is ordered like a token's.
pub fn generate_jti() -> String {
    order_part() + &random_part()
}

/// A random identifier (client ids, account ids): 22 alphanumeric characters (about 131
/// bits). Alphanumeric only, so an id never starts with `-` on a command line and needs no
/// escaping in URLs or HTML.
pub fn random_id() -> String {
    use rand::Rng;
    rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(22).map(char::from).collect()
}

/// A token family (grant) id: 22 alphanumeric characters like [`random_id`], of which the
/// first 8 are the time in milliseconds (base 62, digits before letters, so byte order is
/// time order) and the other 14 random (about 83 bits): unique, and appended at the end of
/// the `family` indexes.
pub fn ordered_id() -> String {
    use rand::Rng;
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut t = crate::clock::ordering_millis();
    let mut time = [b'0'; 8];
    for slot in time.iter_mut().rev() {
        *slot = DIGITS[usize::try_from(t % 62).unwrap_or(0)];
        t /= 62;
    }
    let mut id: String = time.iter().map(|&b| char::from(b)).collect();
    id.extend(rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(14).map(char::from));
    id
}

/// Whether `token` is well formed for `kind` (prefix, length, checksum). Lets the server refuse
/// garbage without a store lookup.
pub fn is_well_formed(kind: TokenKind, token: &str) -> bool {
    let Some(rest) = token.strip_prefix(kind.prefix()) else { return false };
    // The ordered layout (time + random) or the earlier one (random only).
    let body_len = rest.len().wrapping_sub(CHECKSUM_LEN);
    if !(body_len == RANDOM_LEN || body_len == ORDER_LEN + RANDOM_LEN) || !rest.is_ascii() {
        return false;
    }
    let (body, sum) = rest.split_at(body_len);
    checksum(kind.prefix(), body).as_bytes().ct_eq(sum.as_bytes()).into()
}

/// The store key of a token, code, JWT id or session id: the only form in which they are
/// stored. The hex SHA-256, preceded by the time digits of an ordered token or JWT id (see
/// the module documentation); anything else (earlier tokens, session ids, garbage) gets the
/// plain SHA-256, which simply matches nothing that was stored with a time.
pub fn hash_token(token: &str) -> String {
    let digest = hex(&Sha256::digest(token.as_bytes()));
    match order_key(token) {
        Some(order) => {
            let mut key = String::with_capacity(ORDER_LEN + digest.len());
            key.push_str(order);
            key.push_str(&digest);
            key
        }
        None => digest,
    }
}

/// The time digits of an ordered token (`pc_xx_` + 12 hex + …) or JWT id (12 hex + …).
fn order_key(token: &str) -> Option<&str> {
    let order = match token.len() {
        ORDERED_TOKEN_LEN if token.starts_with("pc_") && token.as_bytes().get(5) == Some(&b'_') => {
            token.get(PREFIX_LEN..PREFIX_LEN + ORDER_LEN)?
        }
        ORDERED_JTI_LEN => token.get(..ORDER_LEN)?,
        _ => return None,
    };
    order.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')).then_some(order)
}

fn hex(bytes: &[u8]) -> String {
    // On every request (token and secret hashes): a table, not the formatting machinery.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// How a client secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretHash {
    /// A generated (high-entropy) secret: SHA-256 is enough and cheap to verify.
    Sha256(String),
    /// An imported secret, which may be weak: an Argon2id PHC string.
    Argon2(String),
}

impl SecretHash {
    /// Hash a secret generated by [`generate`].
    pub fn for_generated(secret: &SecretString) -> Self {
        Self::Sha256(hash_token(secret.expose()))
    }

    /// Hash an operator-supplied secret with Argon2id.
    pub fn for_imported(secret: &SecretString) -> Result<Self, String> {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        argon2::Argon2::default()
            .hash_password(secret.expose().as_bytes(), &salt)
            .map(|h| Self::Argon2(h.to_string()))
            .map_err(|e| e.to_string())
    }

    /// Constant-time verification of a presented secret.
    pub fn verify(&self, presented: &str) -> bool {
        match self {
            Self::Sha256(expected) => hash_token(presented).as_bytes().ct_eq(expected.as_bytes()).into(),
            Self::Argon2(phc) => verify_argon2(phc, presented),
        }
    }

    /// The single text column form: `sha256:<hex>` or the PHC string.
    pub fn to_stored(&self) -> String {
        match self {
            Self::Sha256(h) => format!("sha256:{h}"),
            Self::Argon2(phc) => phc.clone(),
        }
    }

    /// Inverse of [`SecretHash::to_stored`].
    pub fn from_stored(s: &str) -> Option<Self> {
        if let Some(h) = s.strip_prefix("sha256:") {
            Some(Self::Sha256(h.to_owned()))
        } else if s.starts_with("$argon2") {
            Some(Self::Argon2(s.to_owned()))
        } else {
            None
        }
    }
}

/// Verify a password or imported secret against an Argon2 PHC string.
pub fn verify_argon2(phc: &str, presented: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default().verify_password(presented.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Imported (Argon2id) client secrets that verified recently, so a client presenting the
/// right secret again costs one SHA-256 instead of an Argon2 run (tens of milliseconds and
/// 19 MiB each). Only successes are remembered, and only as a SHA-256 of a per-process random
/// key, the PHC string and the presented secret: nothing here is usable outside this process,
/// and rotating a secret (a new PHC string) forgets the old one. Generated secrets are
/// SHA-256-checked as before. Bounded: when full, it starts over.
pub struct VerifiedSecrets {
    key: [u8; 32],
    seen: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
    limit: usize,
}

impl std::fmt::Debug for VerifiedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSecrets").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl Default for VerifiedSecrets {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl VerifiedSecrets {
    /// Remember at most `limit` verified secrets.
    pub fn new(limit: usize) -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key, seen: std::sync::Mutex::default(), limit }
    }

    /// [`SecretHash::verify`], remembering Argon2id successes.
    pub fn verify(&self, hash: &SecretHash, presented: &str) -> bool {
        let SecretHash::Argon2(phc) = hash else { return hash.verify(presented) };
        let tag: [u8; 32] = Sha256::new()
            .chain_update(self.key)
            .chain_update((phc.len() as u64).to_le_bytes())
            .chain_update(phc)
            .chain_update(presented)
            .finalize()
            .into();
        let seen = || self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen().contains(&tag) {
            return true;
        }
        let ok = verify_argon2(phc, presented);
        if ok {
            let mut s = seen();
            if s.len() >= self.limit {
                s.clear();
            }
            s.insert(tag);
        }
        ok
    }
}

/// Hash a password (or any low-entropy secret) with Argon2id, returning the PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    SecretHash::for_imported(&SecretString::new(password)).map(|h| h.to_stored())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_and_checksummed() {
        let t = generate(TokenKind::AccessToken);
        assert!(t.expose().starts_with("pc_at_"));
        assert!(is_well_formed(TokenKind::AccessToken, t.expose()));
        assert!(!is_well_formed(TokenKind::RefreshToken, t.expose()));
        let mut tampered = t.expose().to_owned();
        tampered.replace_range(10..11, if &tampered[10..11] == "A" { "B" } else { "A" });
        assert!(!is_well_formed(TokenKind::AccessToken, &tampered));
    }

    #[test]
    fn tokens_keys_and_families_are_ordered_by_time() {
        let a = generate(TokenKind::AccessToken);
        assert_eq!(a.expose().len(), ORDERED_TOKEN_LEN);
        let key = hash_token(a.expose());
        assert_eq!(key.len(), ORDER_LEN + 64);
        assert_eq!(&key[..ORDER_LEN], &a.expose()[PREFIX_LEN..PREFIX_LEN + ORDER_LEN]);
        assert_eq!(&key[ORDER_LEN..], hex(&Sha256::digest(a.expose().as_bytes())));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = generate(TokenKind::RefreshToken);
        assert!(hash_token(b.expose()) > key, "a later token sorts after an earlier one");
        let (f1, j1) = (ordered_id(), generate_jti());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (f2, j2) = (ordered_id(), generate_jti());
        assert!(f2 > f1 && f1.len() == 22 && f1.chars().all(|c| c.is_ascii_alphanumeric()), "{f1} {f2}");
        assert!(hash_token(&j2) > hash_token(&j1) && hash_token(&j1).len() == ORDER_LEN + 64);
        assert!(!generate(TokenKind::ClientSecret).expose()[PREFIX_LEN..].starts_with(&key[..4]));
    }

    #[test]
    fn tokens_of_the_earlier_layout_stay_valid_with_plain_keys() {
        let body = "A".repeat(RANDOM_LEN);
        let old = format!("pc_at_{body}{}", checksum("pc_at_", &body));
        assert!(is_well_formed(TokenKind::AccessToken, &old));
        assert_eq!(hash_token(&old), hex(&Sha256::digest(old.as_bytes())));
        // A string of an ordered length whose time digits are not hex gets a plain key.
        let odd = format!("pc_at_{}", "Z".repeat(ORDERED_TOKEN_LEN - PREFIX_LEN));
        assert_eq!(hash_token(&odd).len(), 64);
    }

    #[test]
    fn random_ids_are_alphanumeric() {
        for _ in 0..200 {
            let id = random_id();
            assert_eq!(id.len(), 22);
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn verified_imported_secrets_are_remembered_and_wrong_ones_never() {
        let cache = VerifiedSecrets::new(4);
        let h = SecretHash::for_imported(&SecretString::new("weak")).unwrap();
        assert!(!cache.verify(&h, "wrong"));
        assert!(cache.verify(&h, "weak"));
        assert!(cache.verify(&h, "weak"), "remembered");
        assert!(!cache.verify(&h, "wrong"), "a failure is never remembered");
        let rotated = SecretHash::for_imported(&SecretString::new("new")).unwrap();
        assert!(!cache.verify(&rotated, "weak"), "a new PHC string forgets the old secret");
        let generated = generate(TokenKind::ClientSecret);
        let g = SecretHash::for_generated(&generated);
        assert!(cache.verify(&g, generated.expose()));
        assert!(!cache.verify(&g, "nope"));
    }

    #[test]
    fn token_hash_is_lowercase_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 Appendix B.1.
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn debug_never_shows_secret() {
        let s = SecretString::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn secret_hashes_round_trip_and_verify() {
        let s = generate(TokenKind::ClientSecret);
        let h = SecretHash::for_generated(&s);
        assert!(h.verify(s.expose()));
        assert!(!h.verify("nope"));
        assert_eq!(SecretHash::from_stored(&h.to_stored()), Some(h));
        let imported = SecretHash::for_imported(&SecretString::new("weak")).ok();
        assert!(imported.as_ref().is_some_and(|h| h.verify("weak") && !h.verify("weak2")));
        let stored = imported.map(|h| h.to_stored()).unwrap_or_default();
        assert!(stored.starts_with("$argon2id$"));
    }
}
