//! `portcullis user …`: user accounts (resource owners).
//!
//! A password never comes from a flag value (it would sit in the shell history and the process
//! list): it is read from standard input (`--password-stdin`) or prompted for on a terminal.
//! Passwords are stored as Argon2id hashes, and no output ever shows the hash.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Subcommand};
use portcullis_core::model::secret::{hash_password, random_id};
use portcullis_core::store::StoreError;
use portcullis_core::Account;
use serde_json::{json, Map, Value};

use super::{fields, format_time, print_json, store_err, table, Ctx};

/// Claims a profile flag may not set: they describe a token, not a person, or (`sub`) are
/// the account id.
const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
];

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Create(CreateArgs),
    /// List every account.
    List,
    /// Show one account.
    Show {
        /// Username or account id.
        user: String,
    },
    /// Change an account's username or profile claims.
    Update(UpdateArgs),
    /// Set (or, with --no-password, remove) an account's password.
    SetPassword {
        /// Username or account id.
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Delete an account and revoke every token issued for it.
    Delete {
        /// Username or account id.
        user: String,
    },
}

/// Where the password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// No password: the account cannot log in with one.
    #[arg(long)]
    no_password: bool,
}

/// Profile claims, as OpenID Connect Core §5.1 names them.
#[derive(Debug, Args)]
pub struct Profile {
    /// `email` claim.
    #[arg(long)]
    email: Option<String>,
    /// `email_verified` claim (`--email-verified` or `--email-verified=false`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    email_verified: Option<bool>,
    /// `name` claim (full name).
    #[arg(long)]
    name: Option<String>,
    /// `given_name` claim.
    #[arg(long)]
    given_name: Option<String>,
    /// `family_name` claim.
    #[arg(long)]
    family_name: Option<String>,
    /// `middle_name` claim.
    #[arg(long)]
    middle_name: Option<String>,
    /// `nickname` claim.
    #[arg(long)]
    nickname: Option<String>,
    /// `preferred_username` claim (default: the username).
    #[arg(long)]
    preferred_username: Option<String>,
    /// `profile` claim (URL of the profile page).
    #[arg(long = "profile-url", value_name = "URL")]
    profile: Option<String>,
    /// `picture` claim (URL).
    #[arg(long)]
    picture: Option<String>,
    /// `website` claim (URL).
    #[arg(long)]
    website: Option<String>,
    /// `gender` claim.
    #[arg(long)]
    gender: Option<String>,
    /// `birthdate` claim, YYYY-MM-DD (or YYYY, or 0000-MM-DD).
    #[arg(long)]
    birthdate: Option<String>,
    /// `zoneinfo` claim, e.g. Europe/Paris.
    #[arg(long)]
    zoneinfo: Option<String>,
    /// `locale` claim, e.g. en-US.
    #[arg(long)]
    locale: Option<String>,
    /// `phone_number` claim, E.164 recommended (+1 555 0100).
    #[arg(long)]
    phone_number: Option<String>,
    /// `phone_number_verified` claim (`--phone-number-verified` or `=false`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    phone_number_verified: Option<bool>,
    /// `address` claim: a JSON object with OIDC Core §5.1.1 members (formatted,
    /// street_address, locality, region, postal_code, country).
    #[arg(long, value_name = "JSON")]
    address: Option<String>,
    /// Any claim, as key=value (repeatable). The value is read as JSON when it parses
    /// (42, true, {"a":1}), as a string otherwise; on update, key=null removes the claim.
    #[arg(long = "claim", value_name = "KEY=VALUE")]
    claims: Vec<String>,
}

/// `user create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Login name, unique.
    #[arg(long)]
    username: String,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    profile: Profile,
}

/// `user update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Username or account id.
    user: String,
    /// A new login name.
    #[arg(long)]
    username: Option<String>,
    #[command(flatten)]
    profile: Profile,
}

/// Run a `user` subcommand.
pub async fn run(command: UserCommand, ctx: &Ctx) -> Result<(), String> {
    match command {
        UserCommand::Create(args) => create(args, ctx).await,
        UserCommand::List => list(ctx).await,
        UserCommand::Show { user } => {
            let account = find(ctx, &user).await?;
            output(ctx, &account);
            Ok(())
        }
        UserCommand::Update(args) => update(args, ctx).await,
        UserCommand::SetPassword { user, password } => set_password(ctx, &user, &password).await,
        UserCommand::Delete { user } => delete(ctx, &user).await,
    }
}

/// An account by username, or else by id.
pub(super) async fn find(ctx: &Ctx, key: &str) -> Result<Account, String> {
    if let Some(a) = ctx.store.find_account_by_username(key).await.map_err(store_err)? {
        return Ok(a);
    }
    ctx.store.get_account(key).await.map_err(store_err)?.ok_or_else(|| format!("no user {key:?}"))
}

async fn create(args: CreateArgs, ctx: &Ctx) -> Result<(), String> {
    let now = ctx.now();
    let username = check_username(&args.username)?;
    let mut claims = Map::new();
    args.profile.apply(&mut claims)?;
    if ctx.store.find_account_by_username(&username).await.map_err(store_err)?.is_some() {
        return Err(format!("user {username:?} already exists"));
    }
    let password_hash = read_password(&args.password)?.map(|p| hash_password(&p)).transpose()?;
    let account =
        Account { id: random_id(), username, password_hash, claims, created_at: now, updated_at: now };
    ctx.store.create_account(&account).await.map_err(|e| match e {
        StoreError::Conflict(_) => format!("user {:?} already exists", account.username),
        other => store_err(other),
    })?;
    if ctx.json {
        print_json(&account_json(&account));
    } else {
        println!("created user {} (id {})", account.username, account.id);
    }
    Ok(())
}

async fn update(args: UpdateArgs, ctx: &Ctx) -> Result<(), String> {
    let now = ctx.now();
    if args.username.is_none() && args.profile.is_empty() {
        return Err("nothing to update: give --username or a profile flag (see --help)".into());
    }
    let mut account = find(ctx, &args.user).await?;
    if let Some(u) = &args.username {
        let u = check_username(u)?;
        if u != account.username && ctx.store.find_account_by_username(&u).await.map_err(store_err)?.is_some()
        {
            return Err(format!("user {u:?} already exists"));
        }
        account.username = u;
    }
    args.profile.apply(&mut account.claims)?;
    account.updated_at = now;
    save(ctx, &account).await?;
    output(ctx, &account);
    Ok(())
}

async fn set_password(ctx: &Ctx, user: &str, password: &PasswordArgs) -> Result<(), String> {
    let now = ctx.now();
    let mut account = find(ctx, user).await?;
    account.password_hash = read_password(password)?.map(|p| hash_password(&p)).transpose()?;
    account.updated_at = now;
    save(ctx, &account).await?;
    if ctx.json {
        print_json(&account_json(&account));
    } else if account.password_hash.is_some() {
        println!("password set for {}", account.username);
    } else {
        println!("password removed for {}: it can no longer log in with a password", account.username);
    }
    Ok(())
}

async fn save(ctx: &Ctx, account: &Account) -> Result<(), String> {
    ctx.store.update_account(account).await.map_err(|e| match e {
        StoreError::NotFound => format!("no user {:?}", account.username),
        StoreError::Conflict(_) => format!("user {:?} already exists", account.username),
        other => store_err(other),
    })
}

async fn list(ctx: &Ctx) -> Result<(), String> {
    let accounts = ctx.store.list_accounts().await.map_err(store_err)?;
    if ctx.json {
        print_json(&Value::Array(accounts.iter().map(account_json).collect()));
    } else if accounts.is_empty() {
        println!("no users");
    } else {
        let claim = |a: &Account, k: &str| a.claims.get(k).map_or_else(|| "-".to_owned(), claim_text);
        let rows: Vec<Vec<String>> = accounts
            .iter()
            .map(|a| {
                vec![
                    a.username.clone(),
                    a.id.clone(),
                    if a.password_hash.is_some() { "yes" } else { "no" }.to_owned(),
                    claim(a, "email"),
                    claim(a, "name"),
                ]
            })
            .collect();
        print!("{}", table(&["USERNAME", "ID", "PASSWORD", "EMAIL", "NAME"], &rows));
    }
    Ok(())
}

async fn delete(ctx: &Ctx, user: &str) -> Result<(), String> {
    let account = find(ctx, user).await?;
    if !ctx.store.delete_account(&account.id).await.map_err(store_err)? {
        return Err(format!("no user {user:?}"));
    }
    if ctx.json {
        print_json(&json!({ "id": account.id, "username": account.username, "deleted": true }));
    } else {
        println!("deleted user {} and revoked its tokens", account.username);
    }
    Ok(())
}

fn output(ctx: &Ctx, a: &Account) {
    if ctx.json {
        print_json(&account_json(a));
        return;
    }
    let mut pairs: Vec<(&str, String)> = vec![
        ("id", a.id.clone()),
        ("username", a.username.clone()),
        ("password", if a.password_hash.is_some() { "set" } else { "none" }.to_owned()),
        ("created", format_time(a.created_at)),
        ("updated", format_time(a.updated_at)),
    ];
    pairs.extend(a.claims.iter().map(|(k, v)| (k.as_str(), claim_text(v))));
    print!("{}", fields(&pairs));
}

/// An account as JSON: never the password hash, only whether there is one.
fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "username": a.username,
        "has_password": a.password_hash.is_some(),
        "claims": a.claims,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    })
}

fn claim_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check_username(u: &str) -> Result<String, String> {
    if u.is_empty() || u.chars().count() > 255 {
        return Err("--username must be 1 to 255 characters".into());
    }
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("invalid --username {u:?}: no spaces or control characters"));
    }
    Ok(u.to_owned())
}

/// The password: from standard input, or a prompt on a terminal; never a flag value.
fn read_password(args: &PasswordArgs) -> Result<Option<String>, String> {
    if args.password_stdin && args.no_password {
        return Err("--password-stdin and --no-password cannot be used together".into());
    }
    if args.no_password {
        return Ok(None);
    }
    let password = if args.password_stdin {
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        if n == 0 {
            return Err("no password on standard input".into());
        }
        let line = line.strip_suffix('\n').unwrap_or(&line);
        line.strip_suffix('\r').unwrap_or(line).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("Password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Repeat password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        first
    } else {
        return Err(
            "no password given and standard input is not a terminal: use --password-stdin (or --no-password)"
                .into(),
        );
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(Some(password))
}

impl Profile {
    fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.email_verified.is_none()
            && self.name.is_none()
            && self.given_name.is_none()
            && self.family_name.is_none()
            && self.middle_name.is_none()
            && self.nickname.is_none()
            && self.preferred_username.is_none()
            && self.profile.is_none()
            && self.picture.is_none()
            && self.website.is_none()
            && self.gender.is_none()
            && self.birthdate.is_none()
            && self.zoneinfo.is_none()
            && self.locale.is_none()
            && self.phone_number.is_none()
            && self.phone_number_verified.is_none()
            && self.address.is_none()
            && self.claims.is_empty()
    }

    /// Set the given claims on `claims`; a `--claim key=null` removes one.
    fn apply(&self, claims: &mut Map<String, Value>) -> Result<(), String> {
        if let Some(email) = &self.email {
            if email.chars().any(char::is_whitespace) || !email.contains('@') {
                return Err(format!("invalid --email {email:?}"));
            }
            claims.insert("email".into(), Value::from(email.as_str()));
        }
        if let Some(v) = self.email_verified {
            claims.insert("email_verified".into(), Value::Bool(v));
        }
        if let Some(v) = self.phone_number_verified {
            claims.insert("phone_number_verified".into(), Value::Bool(v));
        }
        if let Some(raw) = &self.address {
            claims.insert("address".into(), parse_address(raw)?);
        }
        if let Some(b) = &self.birthdate {
            if !valid_birthdate(b) {
                return Err(format!("invalid --birthdate {b:?}: use YYYY-MM-DD, YYYY or 0000-MM-DD"));
            }
        }
        for (key, value) in [
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("middle_name", &self.middle_name),
            ("nickname", &self.nickname),
            ("preferred_username", &self.preferred_username),
            ("profile", &self.profile),
            ("picture", &self.picture),
            ("website", &self.website),
            ("gender", &self.gender),
            ("birthdate", &self.birthdate),
            ("zoneinfo", &self.zoneinfo),
            ("locale", &self.locale),
            ("phone_number", &self.phone_number),
        ] {
            if let Some(v) = value {
                claims.insert(key.into(), Value::from(v.as_str()));
            }
        }
        for kv in &self.claims {
            let Some((key, raw)) = kv.split_once('=') else {
                return Err(format!("invalid --claim {kv:?}: use key=value"));
            };
            if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("invalid --claim {kv:?}: the key must be a non-empty word"));
            }
            if RESERVED_CLAIMS.contains(&key) {
                return Err(format!("--claim {key}: {key:?} is not a profile claim"));
            }
            let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::from(raw));
            if value.is_null() {
                claims.remove(key);
            } else {
                claims.insert(key.to_owned(), value);
            }
        }
        Ok(())
    }
}

/// OIDC Core §5.1.1: the address claim is a JSON object of string members.
fn parse_address(raw: &str) -> Result<Value, String> {
    const MEMBERS: &[&str] = &["formatted", "street_address", "locality", "region", "postal_code", "country"];
    let v: Value = serde_json::from_str(raw).map_err(|_| format!("invalid --address {raw:?}: not JSON"))?;
    let obj = v.as_object().ok_or("--address must be a JSON object")?;
    for (k, member) in obj {
        if !MEMBERS.contains(&k.as_str()) {
            return Err(format!("--address: unknown member {k:?} (use {})", MEMBERS.join(", ")));
        }
        if !member.is_string() {
            return Err(format!("--address: {k} must be a string"));
        }
    }
    Ok(v)
}

/// OIDC Core §5.1: birthdate is ISO 8601 YYYY-MM-DD; YYYY alone, or 0000 as the year, allowed.
fn valid_birthdate(s: &str) -> bool {
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    match s.split('-').collect::<Vec<_>>().as_slice() {
        [y] => digits(y, 4),
        [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2),
        _ => false,
    }
}
