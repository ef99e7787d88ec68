//! `portcullis scope …`: registered scopes (RFC 6749 §3.3).

use clap::Subcommand;
use portcullis_core::store::StoreError;
use portcullis_core::{ScopeDef, ScopeSet};
use serde_json::{json, Value};

use super::{print_json, store_err, table, Ctx};

/// `scope` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Register a scope.
    Create {
        /// The scope token (RFC 6749 §3.3: printable ASCII except space, '"' and '\').
        name: String,
        /// What the consent page shows.
        #[arg(long, default_value = "")]
        description: String,
        /// Grant this scope when a client omits `scope`.
        #[arg(long)]
        default: bool,
        /// A translated description for the consent page, `LANG=TEXT` (e.g. `de=Notizen lesen`);
        /// repeatable.
        #[arg(long = "translation", value_name = "LANG=TEXT")]
        translations: Vec<String>,
    },
    /// List every scope.
    List,
    /// Change a scope's description or default flag.
    Update {
        /// The scope token.
        name: String,
        /// What the consent page shows.
        #[arg(long)]
        description: Option<String>,
        /// Grant this scope when a client omits `scope`.
        #[arg(long)]
        default: bool,
        /// Stop granting this scope when a client omits `scope`.
        #[arg(long)]
        no_default: bool,
        /// Add or replace a translated description, `LANG=TEXT`; `LANG=` removes it. Repeatable.
        #[arg(long = "translation", value_name = "LANG=TEXT")]
        translations: Vec<String>,
    },
    /// Delete a scope.
    Delete {
        /// The scope token.
        name: String,
    },
}

/// Run a `scope` subcommand.
pub async fn run(command: ScopeCommand, ctx: &Ctx) -> Result<(), String> {
    match command {
        ScopeCommand::Create { name, description, default, translations } => {
            check_name(&name)?;
            let mut scope = ScopeDef {
                name,
                description: check_description(&description)?,
                is_default: default,
                translations: Default::default(),
            };
            apply_translations(&mut scope, &translations)?;
            ctx.store.create_scope(&scope).await.map_err(|e| match e {
                StoreError::Conflict(_) => format!("scope {:?} already exists", scope.name),
                other => store_err(other),
            })?;
            output(ctx, &scope, "created");
            Ok(())
        }
        ScopeCommand::List => {
            let scopes = ctx.store.list_scopes().await.map_err(store_err)?;
            if ctx.json {
                print_json(&Value::Array(scopes.iter().map(scope_json).collect()));
            } else if scopes.is_empty() {
                println!("no scopes");
            } else {
                let rows: Vec<Vec<String>> = scopes
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            if s.is_default { "yes" } else { "no" }.to_owned(),
                            s.description.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["NAME", "DEFAULT", "DESCRIPTION"], &rows));
            }
            Ok(())
        }
        ScopeCommand::Update { name, description, default, no_default, translations } => {
            if default && no_default {
                return Err("--default and --no-default cannot be used together".into());
            }
            if description.is_none() && !default && !no_default && translations.is_empty() {
                return Err(
                    "nothing to update: give --description, --translation, --default or --no-default".into(),
                );
            }
            let mut scope = ctx
                .store
                .get_scope(&name)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no scope {name:?}"))?;
            if let Some(d) = &description {
                scope.description = check_description(d)?;
            }
            if default {
                scope.is_default = true;
            }
            if no_default {
                scope.is_default = false;
            }
            apply_translations(&mut scope, &translations)?;
            ctx.store.update_scope(&scope).await.map_err(|e| match e {
                StoreError::NotFound => format!("no scope {name:?}"),
                other => store_err(other),
            })?;
            output(ctx, &scope, "updated");
            Ok(())
        }
        ScopeCommand::Delete { name } => {
            if !ctx.store.delete_scope(&name).await.map_err(store_err)? {
                return Err(format!("no scope {name:?}"));
            }
            if ctx.json {
                print_json(&json!({ "name": name, "deleted": true }));
            } else {
                println!("deleted scope {name}");
            }
            Ok(())
        }
    }
}

fn output(ctx: &Ctx, scope: &ScopeDef, what: &str) {
    if ctx.json {
        print_json(&scope_json(scope));
    } else {
        let default = if scope.is_default { " (default)" } else { "" };
        println!("{what} scope {}{default}", scope.name);
    }
}

fn scope_json(s: &ScopeDef) -> Value {
    json!({ "name": s.name, "description": s.description, "default": s.is_default, "translations": s.translations })
}

/// Apply `LANG=TEXT` flags; an empty text removes the language.
fn apply_translations(scope: &mut ScopeDef, flags: &[String]) -> Result<(), String> {
    for flag in flags {
        let (lang, text) =
            flag.split_once('=').ok_or_else(|| format!("invalid --translation {flag:?}: use LANG=TEXT"))?;
        let lang = lang.trim();
        let valid_tag = !lang.is_empty()
            && lang.len() <= 35
            && lang
                .split('-')
                .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid_tag {
            return Err(format!("invalid language tag {lang:?} in --translation (e.g. de, pt-BR)"));
        }
        let text = check_description(text)?;
        if text.is_empty() {
            scope.translations.remove(lang);
        } else {
            scope.translations.insert(lang.to_owned(), text);
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if ScopeDef::valid_name(name) {
        Ok(())
    } else {
        Err(format!(
            "invalid scope name {name:?}: use printable ASCII except space, '\"' and '\\' (RFC 6749 §3.3)"
        ))
    }
}

fn check_description(d: &str) -> Result<String, String> {
    if d.chars().any(char::is_control) {
        return Err("--description must not contain control characters".into());
    }
    Ok(d.trim().to_owned())
}

/// Parse a `--scope "a b"` flag (RFC 6749 §3.3); an empty value means no scopes.
pub(super) fn parse_scopes(value: &str) -> Result<ScopeSet, String> {
    if value.is_empty() {
        return Ok(ScopeSet::empty());
    }
    ScopeSet::parse(value).map_err(|_| {
        format!(
            "invalid --scope {value:?}: scope tokens are separated by single spaces and use printable \
             ASCII except space, '\"' and '\\' (RFC 6749 §3.3)"
        )
    })
}

/// Register every scope of `scopes` that is not registered yet, with an empty description, so
/// a client given `--scope x` can be granted `x` at once.
pub(super) async fn ensure_registered(ctx: &Ctx, scopes: &ScopeSet) -> Result<(), String> {
    for name in scopes.iter() {
        if ctx.store.get_scope(name).await.map_err(store_err)?.is_some() {
            continue;
        }
        let def = ScopeDef {
            name: name.to_owned(),
            description: String::new(),
            is_default: false,
            translations: Default::default(),
        };
        match ctx.store.create_scope(&def).await {
            // Registered meanwhile by someone else: just as good.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(store_err(e)),
        }
        eprintln!(
            "note: registered scope {name:?} with an empty description \
             (portcullis scope update {name} --description …)"
        );
    }
    Ok(())
}
