//! `portcullis consent …`: remembered consents (the approvals that let a later request skip
//! the consent page).

use std::collections::HashMap;

use clap::Subcommand;
use portcullis_core::store::TokenFilter;
use portcullis_core::Consent;
use serde_json::{json, Value};

use super::{format_time, print_json, store_err, table, user, Ctx};

/// `consent` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// List remembered consents, newest first.
    List {
        /// Only this user's consents.
        #[arg(long, value_name = "USERNAME_OR_ID")]
        user: Option<String>,
        /// Only consents given to this client.
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
    },
    /// Forget a user's consent for a client and revoke the tokens it led to: the next request
    /// shows the consent page again.
    Revoke {
        /// The user.
        #[arg(long, value_name = "USERNAME_OR_ID")]
        user: String,
        /// The client.
        #[arg(long, value_name = "CLIENT_ID")]
        client: String,
        /// Keep the tokens already issued.
        #[arg(long)]
        keep_tokens: bool,
    },
}

/// Run a `consent` subcommand.
pub async fn run(command: ConsentCommand, ctx: &Ctx) -> Result<(), String> {
    match command {
        ConsentCommand::List { user, client } => {
            let subject = match &user {
                Some(u) => Some(user::find(ctx, u).await?.id),
                None => None,
            };
            let consents =
                ctx.store.list_consents(subject.as_deref(), client.as_deref()).await.map_err(store_err)?;
            let usernames: HashMap<String, String> = ctx
                .store
                .list_accounts()
                .await
                .map_err(store_err)?
                .into_iter()
                .map(|a| (a.id, a.username))
                .collect();
            let name = |sub: &str| usernames.get(sub).cloned().unwrap_or_else(|| sub.to_owned());
            if ctx.json {
                print_json(&Value::Array(
                    consents.iter().map(|c| consent_json(c, &name(&c.subject))).collect(),
                ));
            } else if consents.is_empty() {
                println!("no consents");
            } else {
                let rows: Vec<Vec<String>> = consents
                    .iter()
                    .map(|c| {
                        vec![
                            name(&c.subject),
                            c.client_id.clone(),
                            c.scopes.to_string(),
                            format_time(c.updated_at),
                        ]
                    })
                    .collect();
                print!("{}", table(&["USER", "CLIENT", "SCOPE", "UPDATED"], &rows));
            }
            Ok(())
        }
        ConsentCommand::Revoke { user, client, keep_tokens } => {
            let account = user::find(ctx, &user).await?;
            if !ctx.store.revoke_consent(&account.id, &client).await.map_err(store_err)? {
                return Err(format!("{} has no consent for client {client:?}", account.username));
            }
            let revoked = if keep_tokens {
                0
            } else {
                let filter =
                    TokenFilter { client_id: Some(client.clone()), subject: Some(account.id.clone()) };
                ctx.store.revoke_tokens(&filter).await.map_err(store_err)?
            };
            if ctx.json {
                print_json(
                    &json!({ "user": account.username, "client_id": client, "revoked_tokens": revoked }),
                );
            } else {
                println!(
                    "revoked the consent of {} for {client} ({revoked} tokens revoked)",
                    account.username
                );
            }
            Ok(())
        }
    }
}

fn consent_json(c: &Consent, username: &str) -> Value {
    json!({
        "subject": c.subject,
        "username": username,
        "client_id": c.client_id,
        "scope": c.scopes.to_string(),
        "granted_at": c.granted_at,
        "updated_at": c.updated_at,
    })
}
