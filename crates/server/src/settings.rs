//! Settings: defaults, then a TOML file (`--config`), then `PORTCULLIS_*` environment
//! variables, then command-line flags, in rising precedence. Every key `some_key` is read from
//! `PORTCULLIS_SOME_KEY`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Every setting of the binary, with its default.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Issuer identifier (RFC 8414 §2). Defaults to `http://` + `listen`.
    pub issuer: String,
    /// Address to listen on.
    pub listen: String,
    /// Store: `sqlite://FILE` (default `sqlite://portcullis.db`) or
    /// `postgres://USER:PASSWORD@HOST/DATABASE` (several nodes on one database).
    pub database_url: String,
    /// Apply pending database migrations when `serve` (or a management command) opens the
    /// store. Off: the schema must be current (`portcullis migrate`), else startup fails.
    pub auto_migrate: bool,
    /// Access token lifetime, seconds.
    pub access_token_lifetime: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_lifetime: i64,
    /// Authorization code lifetime, seconds.
    pub authorization_code_lifetime: i64,
    /// Rotate refresh tokens on every use.
    pub always_issue_new_refresh_token: bool,
    /// Let grants add fields to token responses.
    pub allow_extended_token_attributes: bool,
    /// Per grant type, whether confidential clients must send their secret
    /// (`PORTCULLIS_REQUIRE_CLIENT_AUTHENTICATION="password=false"`).
    pub require_client_authentication: BTreeMap<String, bool>,
    /// Require PKCE from every client (public clients always need it).
    pub require_pkce: bool,
    /// Accept `code_challenge_method=plain` (off: S256 only).
    pub allow_plain_pkce: bool,
    /// Allow the implicit grant (`response_type=token`) for clients that have it.
    pub allow_implicit_grant: bool,
    /// Accept authorization requests without `state`.
    pub allow_empty_state: bool,
    /// How long a pending authorization request waits for login and consent, seconds.
    pub interaction_lifetime: i64,
    /// Login session lifetime, seconds.
    pub session_lifetime: i64,
    /// Failed logins per account or per address before sign-in is refused for a while.
    pub login_max_failures: u32,
    /// How long the refusal lasts (counted from the first failure), seconds.
    pub login_lockout: u64,
    /// Product name on the login and consent pages.
    pub product_name: String,
    /// Logo image URL on the pages (empty: none).
    pub logo_url: String,
    /// Seconds between purges of expired codes and tokens.
    pub purge_interval: u64,
    /// ID token lifetime, seconds.
    pub id_token_lifetime: i64,
    /// Algorithm of new signing keys: RS256 (default, required by OpenID Connect), ES256 or
    /// EdDSA. Changing it rotates the signing key at the next start.
    pub signing_alg: String,
    /// 32 random bytes in base64 (`openssl rand -base64 32`) that seal the private signing
    /// keys in the database (AES-256-GCM). Empty: stored unencrypted.
    pub key_encryption_key: String,
    /// Seconds between scheduled signing key rotations; 0 turns them off.
    pub key_rotation_interval: u64,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log: String,
}

impl Default for Settings {
    fn default() -> Self {
        let core = portcullis_core::Config::default();
        Self {
            issuer: String::new(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://portcullis.db".into(),
            auto_migrate: true,
            access_token_lifetime: core.access_token_lifetime,
            refresh_token_lifetime: core.refresh_token_lifetime,
            authorization_code_lifetime: core.authorization_code_lifetime,
            always_issue_new_refresh_token: core.always_issue_new_refresh_token,
            allow_extended_token_attributes: core.allow_extended_token_attributes,
            require_client_authentication: BTreeMap::new(),
            require_pkce: core.require_pkce,
            allow_plain_pkce: core.allow_plain_pkce,
            allow_implicit_grant: core.allow_implicit_grant,
            allow_empty_state: core.allow_empty_state,
            interaction_lifetime: core.interaction_lifetime,
            session_lifetime: 86_400,
            login_max_failures: 5,
            login_lockout: 900,
            product_name: "Portcullis".into(),
            logo_url: String::new(),
            purge_interval: 300,
            id_token_lifetime: core.id_token_lifetime,
            signing_alg: core.signing_alg.as_str().into(),
            key_encryption_key: String::new(),
            key_rotation_interval: 0,
            log: "info".into(),
        }
    }
}

impl std::fmt::Debug for Settings {
    /// The settings with secrets masked (`key_encryption_key`), never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Settings {{ {} }}",
            toml::to_string(&self.redacted()).unwrap_or_default().trim().replace('\n', ", ")
        )
    }
}

/// The keys, for environment lookup and `config print-default`.
pub const KEYS: &[&str] = &[
    "issuer",
    "listen",
    "database_url",
    "auto_migrate",
    "access_token_lifetime",
    "refresh_token_lifetime",
    "authorization_code_lifetime",
    "always_issue_new_refresh_token",
    "allow_extended_token_attributes",
    "require_client_authentication",
    "require_pkce",
    "allow_plain_pkce",
    "allow_implicit_grant",
    "allow_empty_state",
    "interaction_lifetime",
    "session_lifetime",
    "login_max_failures",
    "login_lockout",
    "product_name",
    "logo_url",
    "purge_interval",
    "id_token_lifetime",
    "signing_alg",
    "key_encryption_key",
    "key_rotation_interval",
    "log",
];

/// Turn a textual value (environment or flag) into the TOML type of `key`'s default.
fn typed(key: &str, raw: &str, default: &toml::Table) -> Result<toml::Value, String> {
    let bad = |what: &str| format!("{key}: expected {what}, got {raw:?}");
    Ok(match default.get(key) {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
        }
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
        Some(toml::Value::Table(_)) => {
            let mut t = toml::Table::new();
            for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| bad("name=value pairs"))?;
                t.insert(k.trim().to_owned(), typed_bool(v).ok_or_else(|| bad("name=true|false pairs"))?);
            }
            toml::Value::Table(t)
        }
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn typed_bool(v: &str) -> Option<toml::Value> {
    match v.trim() {
        "true" => Some(toml::Value::Boolean(true)),
        "false" => Some(toml::Value::Boolean(false)),
        _ => None,
    }
}

impl Settings {
    /// Load settings: defaults ← file ← environment (`env`) ← flags.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &[(&str, String)],
    ) -> Result<Self, String> {
        let default = toml::Table::try_from(Settings::default()).map_err(|e| e.to_string())?;
        let mut table = default.clone();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let from_file: toml::Table =
                toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
            for (k, v) in from_file {
                if !KEYS.contains(&k.as_str()) {
                    return Err(format!("{}: unknown setting {k:?}", path.display()));
                }
                table.insert(k, v);
            }
        }
        for key in KEYS {
            let var = format!("PORTCULLIS_{}", key.to_ascii_uppercase());
            if let Some(raw) = env(&var) {
                table.insert(
                    (*key).to_owned(),
                    typed(key, &raw, &default).map_err(|e| format!("{var}: {e}"))?,
                );
            }
        }
        for (key, raw) in flags {
            table.insert((*key).to_owned(), typed(key, raw, &default)?);
        }
        let mut s: Settings = table.try_into().map_err(|e: toml::de::Error| e.message().to_owned())?;
        // An empty issuer means "http://<the address serve binds>", filled in by `serve`.
        s.issuer = s.issuer.trim_end_matches('/').to_owned();
        Ok(s)
    }

    /// The core configuration these settings describe.
    pub fn core_config(&self) -> Result<portcullis_core::Config, String> {
        let signing_alg = portcullis_core::SigningAlg::parse(&self.signing_alg).ok_or_else(|| {
            format!("signing_alg: expected RS256, ES256 or EdDSA, got {:?}", self.signing_alg)
        })?;
        Ok(portcullis_core::Config {
            issuer: self.issuer.clone(),
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            authorization_code_lifetime: self.authorization_code_lifetime,
            always_issue_new_refresh_token: self.always_issue_new_refresh_token,
            allow_extended_token_attributes: self.allow_extended_token_attributes,
            require_client_authentication: self.require_client_authentication.clone(),
            require_pkce: self.require_pkce,
            allow_plain_pkce: self.allow_plain_pkce,
            allow_implicit_grant: self.allow_implicit_grant,
            allow_empty_state: self.allow_empty_state,
            interaction_lifetime: self.interaction_lifetime,
            id_token_lifetime: self.id_token_lifetime,
            signing_alg,
        })
    }

    /// The key that seals private signing keys, when one is set.
    pub fn key_encryption_key(&self) -> Result<Option<portcullis_core::KeyEncryptionKey>, String> {
        if self.key_encryption_key.is_empty() {
            return Ok(None);
        }
        portcullis_core::KeyEncryptionKey::parse(&self.key_encryption_key).map(Some)
    }

    /// A server over `store` for these settings (management commands use it too, for keys).
    pub fn build_server(
        &self,
        store: std::sync::Arc<dyn portcullis_core::Store>,
    ) -> Result<portcullis_core::OAuthServer, String> {
        let mut config = self.core_config()?;
        if config.issuer.is_empty() {
            config.issuer = format!("http://{}", self.listen);
        }
        let mut builder = portcullis_core::Builder::new(config).store(store);
        if let Some(kek) = self.key_encryption_key()? {
            builder = builder.key_encryption_key(kek);
        }
        builder.build().map_err(|e| e.to_string())
    }

    /// The settings as `config show` prints them: secrets masked.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        if !s.key_encryption_key.is_empty() {
            s.key_encryption_key = "********".into();
        }
        s
    }

    /// Every key with its default, as a commented TOML file.
    pub fn default_toml() -> String {
        let mut out = String::from(
            "# Portcullis settings. Every key can also be set with PORTCULLIS_<KEY> or a flag.\n\
             # issuer defaults to http://<listen>; set it to the public https URL in production.\n",
        );
        out.push_str(&toml::to_string(&Settings::default()).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:1\"\naccess_token_lifetime = 10\nrefresh_token_lifetime = 20\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "PORTCULLIS_ACCESS_TOKEN_LIFETIME" => Some("11".to_owned()),
            "PORTCULLIS_REFRESH_TOKEN_LIFETIME" => Some("21".to_owned()),
            "PORTCULLIS_REQUIRE_CLIENT_AUTHENTICATION" => Some("password=false".to_owned()),
            _ => None,
        };
        let s = Settings::load(Some(&f), env, &[("refresh_token_lifetime", "22".into())]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1");
        assert_eq!(s.issuer, "");
        assert_eq!(s.access_token_lifetime, 11);
        assert_eq!(s.refresh_token_lifetime, 22);
        assert_eq!(s.require_client_authentication.get("password"), Some(&false));
    }

    #[test]
    fn unknown_key_and_bad_type_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(&f, "lisen = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&f), |_| None, &[]).unwrap_err().contains("unknown setting"));
        let env = |k: &str| (k == "PORTCULLIS_PURGE_INTERVAL").then(|| "soon".to_owned());
        assert!(Settings::load(None, env, &[]).is_err());
    }

    #[test]
    fn the_key_encryption_key_is_never_shown() {
        let env = |k: &str| {
            (k == "PORTCULLIS_KEY_ENCRYPTION_KEY").then(|| "c2VjcmV0LWtleS1tYXRlcmlhbA==".to_owned())
        };
        let s = Settings::load(None, env, &[]).unwrap();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
        assert!(!toml::to_string(&s.redacted()).unwrap().contains("c2VjcmV0"));
        assert_eq!(s.key_encryption_key, "c2VjcmV0LWtleS1tYXRlcmlhbA==");
    }

    #[test]
    fn defaults_match_the_issue() {
        let s = Settings::load(None, |_| None, &[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://portcullis.db");
        assert_eq!(
            (s.access_token_lifetime, s.refresh_token_lifetime, s.authorization_code_lifetime),
            (3600, 1209600, 300)
        );
        assert!(Settings::default_toml().contains("database_url"));
        assert!(s.auto_migrate, "serve migrates at start unless told not to");
    }

    #[test]
    fn auto_migrate_from_env_and_flag() {
        let env = |k: &str| (k == "PORTCULLIS_AUTO_MIGRATE").then(|| "false".to_owned());
        assert!(!Settings::load(None, env, &[]).unwrap().auto_migrate);
        assert!(Settings::load(None, env, &[("auto_migrate", "true".into())]).unwrap().auto_migrate);
        assert!(Settings::default_toml().contains("auto_migrate = true"));
    }
}
