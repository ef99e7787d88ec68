//! `portcullis token …`: live access and refresh tokens, for operators. Only hash prefixes
//! are shown: the store never had the tokens themselves.

use std::collections::HashMap;

use clap::{Args, Subcommand};
use portcullis_core::store::{TokenFilter, TokenSummary};
use serde_json::{json, Value};

use super::{format_time, print_json, store_err, table, user, Ctx};

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List live (unexpired, unrevoked) tokens, newest first.
    List(FilterArgs),
    /// Revoke every live token of a client and/or a user.
    Revoke(FilterArgs),
}

/// Which tokens.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only tokens issued to this client.
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
    /// Only tokens of this user.
    #[arg(long, value_name = "USERNAME_OR_ID")]
    user: Option<String>,
}

/// Run a `token` subcommand.
pub async fn run(command: TokenCommand, ctx: &Ctx) -> Result<(), String> {
    match command {
        TokenCommand::List(args) => {
            let now = ctx.now();
            let filter = filter(ctx, &args).await?;
            let tokens = ctx.store.list_tokens(&filter, now).await.map_err(store_err)?;
            if ctx.json {
                print_json(&Value::Array(tokens.iter().map(token_json).collect()));
            } else if tokens.is_empty() {
                println!("no live tokens");
            } else {
                let usernames: HashMap<String, String> = ctx
                    .store
                    .list_accounts()
                    .await
                    .map_err(store_err)?
                    .into_iter()
                    .map(|a| (a.id, a.username))
                    .collect();
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        let user = t.subject.as_ref().map_or_else(
                            || "-".to_owned(),
                            |s| usernames.get(s).cloned().unwrap_or_else(|| s.clone()),
                        );
                        vec![
                            t.kind.to_owned(),
                            t.hash_prefix.clone(),
                            t.client_id.clone(),
                            user,
                            format_time(t.expires_at),
                            t.scopes.to_string(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["KIND", "HASH", "CLIENT", "USER", "EXPIRES", "SCOPE"], &rows));
            }
            Ok(())
        }
        TokenCommand::Revoke(args) => {
            if args.client.is_none() && args.user.is_none() {
                return Err("say which tokens to revoke: --client and/or --user".into());
            }
            let filter = filter(ctx, &args).await?;
            let n = ctx.store.revoke_tokens(&filter).await.map_err(store_err)?;
            if ctx.json {
                print_json(&json!({ "revoked": n }));
            } else {
                println!("revoked {n} token{}", if n == 1 { "" } else { "s" });
            }
            Ok(())
        }
    }
}

/// Resolve the flags: the client must exist, the user is a username or an account id.
async fn filter(ctx: &Ctx, args: &FilterArgs) -> Result<TokenFilter, String> {
    if let Some(id) = &args.client {
        if ctx.store.get_client(id).await.map_err(store_err)?.is_none() {
            return Err(format!("no client {id:?}"));
        }
    }
    let subject = match &args.user {
        Some(u) => Some(user::find(ctx, u).await?.id),
        None => None,
    };
    Ok(TokenFilter { client_id: args.client.clone(), subject })
}

fn token_json(t: &TokenSummary) -> Value {
    json!({
        "kind": t.kind,
        "hash_prefix": t.hash_prefix,
        "family": t.family,
        "client_id": t.client_id,
        "subject": t.subject,
        "scope": t.scopes.to_string(),
        "issued_at": t.issued_at,
        "expires_at": t.expires_at,
    })
}
