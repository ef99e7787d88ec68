//! Management commands: `client`, `user`, `scope`, `consent`, `token`.
//!
//! Each command works on the store named by the settings (the same database a running
//! `serve` uses, so the server sees a change at once), prints short aligned text or, with
//! `--json`, JSON on stdout, and fails with a one-line error (main prints `error: …`, exit 1).
//! Secrets are printed only when they are created (`client create`, `client rotate-secret`);
//! nothing else ever shows a secret, a hash of a password, or a token.

mod client;
mod consent;
mod keys;
mod scope;
mod token;
mod user;

use std::sync::Arc;

use clap::Subcommand;
use portcullis_core::store::StoreError;
use portcullis_core::{Clock, Store, SystemClock, UnixTime};

/// What a management command works with.
pub struct Ctx {
    /// The store named by the settings.
    pub store: Arc<dyn Store>,
    /// Print JSON.
    pub json: bool,
    /// The effective settings (for commands that need the server's configuration).
    pub settings: crate::settings::Settings,
}

impl Ctx {
    /// The current time, read once per command.
    fn now(&self) -> UnixTime {
        SystemClock.now()
    }
}

/// The management command groups.
#[derive(Debug, Subcommand)]
pub enum Manage {
    /// Registered clients (RFC 6749 §2).
    Client {
        #[command(subcommand)]
        command: client::ClientCommand,
    },
    /// User accounts (resource owners).
    User {
        #[command(subcommand)]
        command: Box<user::UserCommand>,
    },
    /// Registered scopes (RFC 6749 §3.3).
    Scope {
        #[command(subcommand)]
        command: scope::ScopeCommand,
    },
    /// Remembered consents.
    Consent {
        #[command(subcommand)]
        command: consent::ConsentCommand,
    },
    /// Issued access and refresh tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Signing keys for ID tokens and JWT access tokens (published at /jwks.json).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
}

/// Run a management command.
pub async fn run(command: Manage, ctx: Ctx) -> Result<(), String> {
    match command {
        Manage::Client { command } => client::run(command, &ctx).await,
        Manage::User { command } => user::run(*command, &ctx).await,
        Manage::Scope { command } => scope::run(command, &ctx).await,
        Manage::Consent { command } => consent::run(command, &ctx).await,
        Manage::Token { command } => token::run(command, &ctx).await,
        Manage::Keys { command } => keys::run(command, &ctx).await,
    }
}

/// A store failure as a one-line message.
fn store_err(e: StoreError) -> String {
    match e {
        StoreError::NotFound => "not found".to_owned(),
        other => other.to_string(),
    }
}

/// Print one JSON value on one line.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines with the values aligned.
fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{:<width$}  {}\n", format!("{k}:"), v, width = width + 1));
    }
    out
}

/// A Unix time as an RFC 3339 UTC timestamp, for human output.
fn format_time(t: UnixTime) -> String {
    format!("{}Z", crate::civil::CivilTime::from_unix(t))
}

/// A lifetime flag must be a positive number of seconds.
fn check_lifetime(flag: &str, value: Option<i64>) -> Result<Option<i64>, String> {
    match value {
        Some(v) if v <= 0 => Err(format!("--{flag} must be a positive number of seconds, got {v}")),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_rfc3339_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
