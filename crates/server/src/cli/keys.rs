//! `portcullis keys …`: the signing keys of ID tokens and JWT access tokens.
//!
//! `rotate` publishes a new key and moves signing to it (now, or after `--activate-in`); the
//! old key stays in the JWKS until everything it signed has expired. `retire` stops a key from
//! signing at once (generating a replacement when it was the signing key) and, with `--now`,
//! also removes it from the JWKS at once: for a compromised key, whose tokens must stop working.
//! Nothing here prints a private key.

use clap::Subcommand;
use portcullis_core::SigningKeyRecord;
use serde_json::{json, Value};

use super::{format_time, print_json, table, Ctx};

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys and their state (pending, active, retired, expired).
    List,
    /// Generate a new signing key (algorithm from `signing_alg`) and move signing to it.
    Rotate {
        /// Publish the key now but let it sign only after this many seconds, so clients that
        /// cache the JWKS learn it first.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        activate_in: i64,
    },
    /// Stop a key from signing; it stays published until its tokens expire, unless --now.
    Retire {
        /// The key's kid. A kid is a base64url thumbprint and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Remove it from the JWKS at once: tokens it signed stop verifying (compromised key).
        #[arg(long)]
        now: bool,
    },
}

/// Run a `keys` subcommand.
pub async fn run(command: KeysCommand, ctx: &Ctx) -> Result<(), String> {
    let server = ctx.settings.build_server(ctx.store.clone())?;
    let fail = |e: portcullis_core::OAuthError| match &e.cause {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    let now = server.now();
    match command {
        KeysCommand::List => {
            let keys = server.signing_keys().await.map_err(fail)?;
            if ctx.json {
                print_json(&Value::Array(keys.iter().map(|k| key_json(k, now)).collect()));
            } else if keys.is_empty() {
                println!("no signing keys (one is generated when the server starts)");
            } else {
                let when = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), format_time);
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.kid.clone(),
                            k.alg.as_str().to_owned(),
                            k.status(now).to_owned(),
                            format_time(k.not_before),
                            when(k.retire_at),
                            when(k.expires_at),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["KID", "ALG", "STATUS", "SIGNS_FROM", "SIGNS_UNTIL", "PUBLISHED_UNTIL"], &rows)
                );
            }
        }
        KeysCommand::Rotate { activate_in } => {
            if activate_in < 0 {
                return Err("--activate-in must not be negative".into());
            }
            let key = server.rotate_signing_key(activate_in).await.map_err(fail)?;
            if ctx.json {
                print_json(&key_json(&key, now));
            } else {
                println!(
                    "new signing key {} ({}), signing from {}",
                    key.kid,
                    key.alg,
                    format_time(key.not_before)
                );
            }
        }
        KeysCommand::Retire { kid, now: immediately } => {
            let done = server
                .retire_signing_key(&kid, immediately)
                .await
                .map_err(fail)?
                .ok_or_else(|| format!("no live signing key {kid:?}"))?;
            if ctx.json {
                print_json(&json!({
                    "retired": key_json(&done.key, now),
                    "replacement": done.replacement.as_ref().map(|k| key_json(k, now)),
                }));
            } else {
                let until = done.key.expires_at.map_or_else(|| "-".to_owned(), format_time);
                println!("retired signing key {kid}; published until {until}");
                if let Some(r) = &done.replacement {
                    println!("new signing key {} ({})", r.kid, r.alg);
                }
            }
        }
    }
    Ok(())
}

/// A key as JSON: public members only.
fn key_json(k: &SigningKeyRecord, now: i64) -> Value {
    json!({
        "kid": k.kid,
        "alg": k.alg.as_str(),
        "status": k.status(now),
        "created_at": k.created_at,
        "not_before": k.not_before,
        "retire_at": k.retire_at,
        "expires_at": k.expires_at,
        "public_jwk": k.public_jwk,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Keys {
        #[command(subcommand)]
        command: KeysCommand,
    }

    #[test]
    fn a_kid_may_start_with_a_hyphen() {
        for args in [["k", "retire", "-9x_Q", "--now"], ["k", "retire", "--now", "-9x_Q"]] {
            match Keys::try_parse_from(args).map(|k| k.command) {
                Ok(KeysCommand::Retire { kid, now }) => {
                    assert_eq!((kid.as_str(), now), ("-9x_Q", true), "{args:?}")
                }
                other => panic!("{args:?}: {:?}", other.err()),
            }
        }
    }
}
